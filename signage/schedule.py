"""Which playlist a screen plays now, and whether the screen is on, in the store's time."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from edge.config.model import WEEKDAYS, Screen


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _within(start: int, end: int, now: int) -> bool:
    """Is minute-of-day `now` in [start, end)? end before start wraps past midnight."""
    if start == end:
        return True
    if start < end:
        return start <= now < end
    return now >= start or now < end


@dataclass(frozen=True)
class Schedule:
    screen: Screen
    tz: zoneinfo.ZoneInfo

    def _local(self, epoch: float) -> tuple[str, int, str]:
        t = dt.datetime.fromtimestamp(epoch, self.tz)
        yesterday = WEEKDAYS[(t.weekday() - 1) % 7]
        return WEEKDAYS[t.weekday()], t.hour * 60 + t.minute, yesterday

    def playlist(self, epoch: float) -> str:
        """The first schedule slot that applies at `epoch`, else the default playlist. A slot
        past midnight belongs to the weekday it started on."""
        day, minute, yesterday = self._local(epoch)
        for slot in self.screen.schedule:
            start, end = _minutes(slot.start), _minutes(slot.end)
            if start < end or start == end:
                if day in slot.days and _within(start, end, minute):
                    return slot.playlist
            elif (day in slot.days and minute >= start) or (yesterday in slot.days
                                                            and minute < end):
                return slot.playlist
        return self.screen.playlist

    def screen_on(self, epoch: float) -> bool:
        _, minute, _ = self._local(epoch)
        return _within(_minutes(self.screen.on), _minutes(self.screen.off), minute)
