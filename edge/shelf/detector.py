"""One plate's weight stream in, weight changes out: a variance trigger, wait to settle, and
the stable-to-stable difference.

The detector sees net grams (calibrated: `(reading - tare) * scale`). It keeps a short window
of the newest samples. The plate is *stable* when the window spans at most `band_g` and its
two halves agree within `trend_g` (a slow ramp is never stable). While stable and idle, the
baseline follows the window's mean: that is the auto-zero that tracks slow drift. A sample
further than `trigger_g` from the baseline, or an unstable window, starts an episode; the
episode ends at the next stable window, and its change is the new level minus the baseline
before it. A bump or a leaning hand comes back to the old level: a change smaller than half
a unit is no change. So a slow pick (a ramp over seconds) is one change, measured once the
weight stops moving.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise


@dataclass(frozen=True)
class DetectorSettings:
    """Tuning shared by every plate (grams and samples)."""

    window: int = 6  # samples in the stability window (1.5 s at 4 Hz)
    band_g: float = 8.0  # a stable window spans at most this
    trend_g: float = 3.5  # and its halves' means differ by at most this
    trigger_g: float = 6.0  # a sample this far from the baseline starts an episode
    short: int = 3  # samples of a brief plateau inside an episode (0.75 s at 4 Hz)
    whole: float = 0.15  # a step within this many units of a whole count is a whole step


@dataclass(frozen=True)
class Change:
    """A settled weight change: `grams` signed (negative: load went down), from `t_start`
    (the first unsettled sample) to `t` (the first sample of the new stable window)."""

    grams: float
    t_start: float
    t: float
    level: float  # the new stable level


class Phase(StrEnum):
    LEARNING = "learning"  # no stable level yet
    IDLE = "idle"
    ACTIVE = "active"


class PlateDetector:
    """The change detector of one plate. `add(t, grams)` returns the Changes when an episode
    settles with a change of at least `min_change_g`, else None."""

    def __init__(self, unit_grams: float, settings: DetectorSettings | None = None) -> None:
        self.s = settings or DetectorSettings()
        self.unit = unit_grams
        self.min_change_g = unit_grams / 2
        self.plateaus: list[tuple[float, float]] = []  # (level, t) brief plateaus this episode
        self.window: deque[tuple[float, float]] = deque(maxlen=self.s.window)
        self.values: deque[float] = deque(maxlen=self.s.window)  # the window's grams
        self.phase = Phase.LEARNING
        self.baseline = 0.0
        self.before = 0.0
        self.t_start = 0.0
        self.drift_g = 0.0  # how far auto-zero has moved the baseline (for the drift fault)

    def stable_level(self, n: int | None = None) -> float | None:
        """The mean of the newest `n` samples (the window) if there are that many and they
        are stable, else None."""
        n = n or self.s.window
        if len(self.window) < n:
            return None
        w = self.values if n == len(self.values) else list(self.values)[-n:]
        lo, hi = min(w), max(w)
        if hi - lo > self.s.band_g:
            return None
        half = n // 2
        first = 0.0
        for i in range(half):
            first += w[i]
        total = first
        for i in range(half, n):
            total += w[i]
        last = total - first - (w[half] if n % 2 else 0.0)
        if abs(first / half - last / half) > self.s.trend_g:
            return None
        return total / n

    def rebase(self, level: float) -> None:
        """Take `level` as the settled level (after a calibration)."""
        self.baseline = level
        self.window.clear()
        self.values.clear()
        self.phase = Phase.LEARNING

    def shift(self, grams: float) -> None:
        """Move the zero by `grams` (the tare was learnt): every level drops by it."""
        self.baseline -= grams
        self.before -= grams
        self.window = deque(((t, g - grams) for t, g in self.window), maxlen=self.s.window)
        self.values = deque((g for _, g in self.window), maxlen=self.s.window)

    def add(self, t: float, grams: float) -> list[Change] | None:
        self.window.append((t, grams))
        self.values.append(grams)
        level = self.stable_level()
        if self.phase is Phase.LEARNING:
            if level is not None:
                self.baseline = level
                self.phase = Phase.IDLE
            return None
        if self.phase is Phase.IDLE:
            if level is not None and abs(grams - self.baseline) <= self.s.trigger_g:
                self.drift_g += level - self.baseline
                self.baseline = level
                return None
            if abs(grams - self.baseline) > self.s.trigger_g or level is None:
                self.phase = Phase.ACTIVE
                self.before = self.baseline
                self.t_start = t
                self.plateaus = []
            return None
        if level is None:
            brief = self.stable_level(self.s.short)
            if brief is not None:
                last = self.plateaus[-1][0] if self.plateaus else self.before
                if abs(brief - last) >= self.min_change_g:
                    self.plateaus.append((brief, self.window[-self.s.short][0]))
                elif self.plateaus:
                    self.plateaus[-1] = (brief, self.plateaus[-1][1])
            return None
        self.phase = Phase.IDLE
        self.baseline = level
        return self._steps(level)

    def _whole(self, grams: float) -> bool:
        units = abs(grams) / self.unit
        return round(units) >= 1 and abs(units - round(units)) <= self.s.whole

    def _steps(self, level: float) -> list[Change] | None:
        """The episode's changes: one, or one per brief plateau where the weight turned
        back (a pick then a return) or where every step is a whole count of units."""
        points = [(self.before, self.t_start), *self.plateaus, (level, self.window[0][0])]
        self.plateaus = []
        steps: list[tuple[float, float, float]] = []  # (grams, t, level)
        for (a, _), (b, tb) in pairwise(points):
            g = b - a
            if steps and (steps[-1][0] > 0) == (g > 0) and not (
                    self._whole(steps[-1][0]) and self._whole(g)):
                steps[-1] = (steps[-1][0] + g, tb, b)
            else:
                steps.append((g, tb, b))
        out = [Change(g, self.t_start, t, lv) for g, t, lv in steps
               if abs(g) >= self.min_change_g]
        return out or None
