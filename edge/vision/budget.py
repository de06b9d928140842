"""The per-frame compute budget: when inference costs more than its share of a core, analyse
fewer frames (a lower rate), never queue them.

After a model run that took `cost` seconds (measured on the processing thread), the next
frame is analysed no sooner than `cost / max_share` seconds of frame time later; frames that
arrive before then are skipped and counted. With `max_share` 0.5 a 40 ms model runs at most
12.5 times a second. The frame source already keeps only the newest frame, so a slow model
lowers the analysed rate and never builds a backlog. Measured cost is the one input here
that is not from the readings: replaying with `max_share` 0 (no budget) is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ComputeBudget:
    max_share: float = 0.8  # 0: no budget
    cost_ewma_s: float = 0.0
    _next_t: float = float("-inf")
    skipped: int = 0

    def allows(self, t: float) -> bool:
        """True if a frame at time `t` may be analysed; counts it otherwise."""
        if self.max_share <= 0 or t >= self._next_t:
            return True
        self.skipped += 1
        return False

    def spent(self, t: float, cost_s: float) -> None:
        """Record that analysing the frame at `t` took `cost_s` seconds of compute."""
        self.cost_ewma_s = cost_s if self.cost_ewma_s == 0 else (
            0.8 * self.cost_ewma_s + 0.2 * cost_s)
        if self.max_share > 0:
            self._next_t = t + self.cost_ewma_s / self.max_share
