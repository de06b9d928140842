"""Footfall: door-counter crossings in, one `omo.presence.footfall.window` per counter and
minute out (in, out and an occupancy estimate).

A window is closed at its end: by the first crossing of a later minute, or by a tick once the
minute is over. Every configured counter reports every minute from the first tick on, quiet
minutes too, so a consumer can tell "nobody came" from "no data". The occupancy estimate
counts in minus out, never below zero (a door counter misses people, and a negative count
of shoppers means nothing), and can be reset to zero at a closing time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from drivers.readings import Direction, DoorCrossing, Reading
from edge.events import format_time
from edge.processing.processor import BaseProcessor, Output, Subscriptions

if TYPE_CHECKING:
    from edge.config import Config

WINDOW_S = 60.0
TICK_S = 5.0
MAX_EMPTY_WINDOWS = 24 * 60  # after a longer silence the quiet minutes are skipped
EVENT = "omo.presence.footfall.window"


@dataclass(frozen=True)
class CounterSpec:
    """A door counter as the processor needs it: its zone, and the local time of day (in
    `timezone`) at which its occupancy estimate goes back to zero, if any."""

    zone: str
    reset_at: time | None = None
    timezone: str = "UTC"

    def day(self, t: float) -> int | None:
        """Which trading day t falls in (days turn over at `reset_at`); None: never."""
        if self.reset_at is None:
            return None
        local = datetime.fromtimestamp(t, ZoneInfo(self.timezone))
        shifted = local - timedelta(hours=self.reset_at.hour, minutes=self.reset_at.minute)
        return shifted.toordinal()


@dataclass
class _Counter:
    spec: CounterSpec
    start: float | None = None  # the open window's start
    entered: int = 0
    left: int = 0
    occupancy: int = 0


class FootfallProcessor(BaseProcessor):
    """Per-minute in/out counts of each door counter (id -> CounterSpec). The occupancy
    estimate is set to zero after the window in which the counter's `reset_at` falls."""

    name = "footfall"
    subscriptions = Subscriptions(readings=(DoorCrossing,), tick_s=TICK_S)

    def __init__(self, counters: dict[str, CounterSpec]) -> None:
        self.doors = {cid: _Counter(spec) for cid, spec in sorted(counters.items())}
        self.unknown = 0  # crossings from counters not in the config: skipped

    def counters(self) -> dict[str, int]:
        return {"footfall.unknown_counter": self.unknown}

    def on_reading(self, reading: Reading, out: Output) -> None:
        if not isinstance(reading, DoorCrossing):
            return
        c = self.doors.get(reading.counter)
        if c is None:
            self.unknown += 1
            return
        self._advance(reading.counter, c, reading.t, out)
        if reading.direction is Direction.IN:
            c.entered += 1
            c.occupancy += 1
        else:
            c.left += 1
            c.occupancy = max(0, c.occupancy - 1)

    def on_tick(self, now: float, out: Output) -> None:
        for cid, c in self.doors.items():
            self._advance(cid, c, now, out)

    def _advance(self, cid: str, c: _Counter, t: float, out: Output) -> None:
        """Close every window that ended by `t`; open the one `t` falls in."""
        current = math.floor(t / WINDOW_S) * WINDOW_S
        if c.start is None:
            c.start = current
            return
        if current - c.start > MAX_EMPTY_WINDOWS * WINDOW_S:
            self._close(cid, c, out)
            c.start = current
            return
        while c.start < current:
            self._close(cid, c, out)

    def _close(self, cid: str, c: _Counter, out: Output) -> None:
        assert c.start is not None
        start, end = c.start, c.start + WINDOW_S
        out.emit(EVENT, {"counter": cid, "zone": c.spec.zone, "window_start": format_time(start),
                         "window_s": WINDOW_S, "in": c.entered, "out": c.left,
                         "occupancy": c.occupancy}, at=end)
        c.start, c.entered, c.left = end, 0, 0
        if c.spec.day(end) != c.spec.day(start):
            c.occupancy = 0


def build(config: Config) -> list[FootfallProcessor]:
    """One footfall processor for all door counters; none when no counter is configured."""
    if not config.door_counters:
        return []
    return [FootfallProcessor({
        d.id: CounterSpec(d.zone, _clock_time(d.occupancy_reset), config.timezone)
        for d in config.door_counters})]


def _clock_time(text: str | None) -> time | None:
    """"HH:MM" -> time (the config has checked the format); None stays None."""
    if not text:
        return None
    hour, minute = text.split(":")
    return time(int(hour), int(minute))
