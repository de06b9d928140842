"""A robust RSSI filter per beacon and receiver: the median of a sliding time window, with the
spread (IQR) and variance of the same window reported beside it.

BLE RSSI is heavy-tailed (reflections, bodies, missed packets), so the median, not the mean,
is the level; the window's length trades lag for noise. Pure arithmetic over readings' own
times: no clock, no I/O.
"""

from __future__ import annotations

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

    __slots__ = ("_samples", "window_s")

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, t: float, rssi: int) -> None:
        self._samples.append((t, rssi))

    def expire(self, now: float) -> None:
        """Forget the samples older than the window."""
        horizon = now - self.window_s
        samples = self._samples
        while samples and samples[0][0] < horizon:
            samples.popleft()

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def last_t(self) -> float | None:
        return self._samples[-1][0] if self._samples else None

    def level(self, now: float) -> RssiLevel | None:
        """The filtered level over (now - window_s, now], or None if nothing was heard."""
        self.expire(now)
        if not self._samples:
            return None
        values = sorted(r for _, r in self._samples)
        n = len(values)
        median = _quantile(values, 0.5)
        mean = sum(values) / n
        variance = sum((v - mean) ** 2 for v in values) / n
        return RssiLevel(median, _quantile(values, 0.75) - _quantile(values, 0.25), variance, n)


def _quantile(ordered: list[int], q: float) -> float:
    """Linear-interpolated quantile of an ordered, non-empty list."""
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
