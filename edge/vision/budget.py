"""The per-frame compute budget: when inference costs more than its share of a core, analyse
fewer frames (a lower rate), never queue them.

A token bucket in seconds of compute: every second of frame time earns `max_share` seconds,
up to `burst_s`; a model run spends what it took (measured on the processing thread); a
frame is analysed while the balance is positive, else skipped and counted. With `max_share`
0.5 a 40 ms model runs at most 12.5 times a second on average. The bucket (not a fixed wait
after each run) lets several cameras whose frames come at the same moment share one budget:
each is analysed as long as the sum stays within the share. The frame source already keeps
only the newest frame, so a slow model lowers the analysed rate and never builds a backlog.
Measured cost is the one input here that is not from the readings: replaying with
`max_share` 0 (no budget) is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ComputeBudget:
    max_share: float = 0.8  # 0: no budget
    burst_s: float = 0.25  # the most compute saved up while idle (seconds)
    cost_ewma_s: float = 0.0
    skipped: int = 0
    _credit_s: float = 0.0
    _t: float | None = None

    def _earn(self, t: float) -> None:
        if self._t is None:
            self._credit_s, self._t = self.burst_s, t
        elif t > self._t:
            self._credit_s = min(self.burst_s, self._credit_s + (t - self._t) * self.max_share)
            self._t = t

    def allows(self, t: float) -> bool:
        """True if a frame at time `t` may be analysed; counts it otherwise."""
        if self.max_share <= 0:
            return True
        self._earn(t)
        if self._credit_s > 0:
            return True
        self.skipped += 1
        return False

    def spent(self, t: float, cost_s: float) -> None:
        """Record that analysing the frame at `t` took `cost_s` seconds of compute."""
        self.cost_ewma_s = cost_s if self.cost_ewma_s == 0 else (
            0.8 * self.cost_ewma_s + 0.2 * cost_s)
        if self.max_share > 0:
            self._earn(t)
            self._credit_s -= cost_s
