"""Exponential back-off: how long to wait before the next attempt after `failures` failures
in a row (supervisor restarts, source reconnects, MQTT reconnects)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """``initial_s * factor**(failures-1)``, capped at ``max_s``.

    With an `rng` each delay is drawn from [half, full] of that (jitter), so devices that
    lost the broker together do not come back together; without one it is exact. A run
    that lasted ``reset_after_s`` counts as a success (the caller resets `failures`).
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    reset_after_s: float = 60.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        base = float(min(self.max_s, self.initial_s * self.factor ** max(0, failures - 1)))
        if rng is None:
            return base
        return base * rng.uniform(0.5, 1.0)
