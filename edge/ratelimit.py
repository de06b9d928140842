"""Rate limits: a token bucket, and a log line that is written at most once an interval."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; it starts full.

    Time comes from the caller (`now`, a monotonic reading) so tests drive it by hand.
    """

    def __init__(self, rate: float, burst: float, *, now: float | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = time.monotonic() if now is None else now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def take(self, now: float) -> bool:
        """Take one token if there is one; False means over the rate."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_s(self, now: float) -> float:
        """Seconds until a token is available (0 if one is now)."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate)

    def refill(self, now: float) -> None:
        """Start again full (e.g. on a new connection)."""
        self.tokens, self.at = self.burst, now


class LogEvery:
    """Says whether to write a repeated log line: the first time, whenever its key changes,
    and otherwise at most once every `every_s` seconds."""

    def __init__(self, every_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self._monotonic = monotonic
        self._key: str | None = None
        self._at = float("-inf")

    def due(self, key: str = "") -> bool:
        now = self._monotonic()
        if key != self._key or now - self._at >= self.every_s:
            self._key, self._at = key, now
            return True
        return False

    def reset(self) -> None:
        self._key, self._at = None, float("-inf")
