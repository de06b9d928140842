"""A robust RSSI filter per beacon and receiver: the median of a sliding time window, with the
spread (IQR) and variance of the same window reported beside it.

BLE RSSI is heavy-tailed (reflections, bodies, missed packets), so the median, not the mean,
is the level; the window's length trades lag for noise. Pure arithmetic over readings' own
times: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RssiLevel:
    """A receiver's filtered view of one beacon: the window's median, spread and size."""

    median: float
    iqr: float
    variance: float
    count: int


class RssiWindow:
    """The RSSI samples of one beacon at one receiver over the last `window_s` seconds."""

    __slots__ = ("_times", "_values", "window_s")

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._values: deque[int] = deque()

    def add(self, t: float, rssi: int) -> None:
        self._times.append(t)
        self._values.append(rssi)

    def expire(self, now: float) -> None:
        """Forget the samples older than the window."""
        horizon = now - self.window_s
        times, values = self._times, self._values
        while times and times[0] < horizon:
            times.popleft()
            values.popleft()

    def __len__(self) -> int:
        return len(self._values)

    def median(self, now: float) -> float:
        """The window's median at `now`; NaN if nothing was heard in it (the fast path the
        locator takes every tick)."""
        self.expire(now)
        n = len(self._values)
        if n == 0:
            return math.nan
        if n == 1:
            return float(self._values[0])
        ordered = sorted(self._values)
        half = n // 2
        return float(ordered[half]) if n % 2 else (ordered[half - 1] + ordered[half]) / 2

    def level(self, now: float) -> RssiLevel | None:
        """The filtered level over [now - window_s, now], or None if nothing was heard."""
        self.expire(now)
        if not self._values:
            return None
        values = sorted(self._values)
        n = len(values)
        mean = sum(values) / n
        variance = sum((v - mean) ** 2 for v in values) / n
        return RssiLevel(_quantile(values, 0.5), _quantile(values, 0.75) - _quantile(values, 0.25),
                         variance, n)


def _quantile(ordered: list[int], q: float) -> float:
    """Linear-interpolated quantile of an ordered, non-empty list."""
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
