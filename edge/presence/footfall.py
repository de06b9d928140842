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
from typing import TYPE_CHECKING

from drivers.readings import Direction, DoorCrossing, Reading
from edge.events import format_time
from edge.processing.processor import BaseProcessor, Output, Subscriptions

if TYPE_CHECKING:
    from edge.config import Config

WINDOW_S = 60.0
TICK_S = 5.0
MAX_EMPTY_WINDOWS = 24 * 60  # after a longer silence the quiet minutes are skipped
EVENT = "omo.presence.footfall.window"


@dataclass
class _Counter:
    zone: str
    start: float | None = None  # the open window's start
    entered: int = 0
    left: int = 0
    occupancy: int = 0


class FootfallProcessor(BaseProcessor):
    """Per-minute in/out counts of each door counter.

    `reset_every_s`/`reset_offset_s`: the occupancy is set to zero whenever a window
    crosses a multiple of `reset_every_s` shifted by `reset_offset_s` (epoch seconds, e.g.
    a day and the closing time's UTC offset); None never resets."""

    name = "footfall"
    subscriptions = Subscriptions(readings=(DoorCrossing,), tick_s=TICK_S)

    def __init__(self, counters: dict[str, str], *, reset_every_s: float | None = None,
                 reset_offset_s: float = 0.0) -> None:
        self.counters = {cid: _Counter(zone) for cid, zone in sorted(counters.items())}
        self.reset_every_s = reset_every_s
        self.reset_offset_s = reset_offset_s
        self.unknown = 0  # crossings from counters not in the config: skipped

    def on_reading(self, reading: Reading, out: Output) -> None:
        if not isinstance(reading, DoorCrossing):
            return
        c = self.counters.get(reading.counter)
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
        for cid, c in self.counters.items():
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
        out.emit(EVENT, {"counter": cid, "zone": c.zone, "window_start": format_time(start),
                         "window_s": WINDOW_S, "in": c.entered, "out": c.left,
                         "occupancy": c.occupancy}, at=end)
        c.start, c.entered, c.left = end, 0, 0
        every = self.reset_every_s
        if every is not None and math.floor((end - self.reset_offset_s) / every) \
                > math.floor((start - self.reset_offset_s) / every):
            c.occupancy = 0


def build(config: Config) -> list[FootfallProcessor]:
    """One footfall processor for all door counters; none when no counter is configured."""
    if not config.door_counters:
        return []
    return [FootfallProcessor({d.id: d.zone for d in config.door_counters})]
