"""Who picked it: a shelf pick attributed to one visitor, or to nobody.

Every visitor BLE follows leaves stays (zone, start, end). For a pick at time `t` on a plate
in zone `Z`, each visitor's **presence** is the share of `[t - w, t + w]` they spent in `Z`
(`w` = `journey.attribution_window_s`; with `w` = 0, 1 if they were there at `t`). The best
candidate's **confidence** is its presence times its share of everyone's presence,
counting the shoppers BLE does not follow (no advertising phone) that are expected there:

    confidence = p_best * p_best / (sum(p) + unseen)

`unseen` is the processor's estimate (the door counter's occupancy less the visits BLE
follows, times the zone's share of the time visitors spend in zones; 0 without a door
counter).

A pick is attributed only when the best candidate is an opted-in app user, no runner-up
comes close (`p_second < ambiguity_ratio * p_best`: else it is *ambiguous*, and nobody gets
it) and the confidence is at least `attribution_threshold`. Every other outcome is counted
by its reason (`Outcome`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


@dataclass
class Stay:
    """A visitor in a zone from `start` to `end` (None: still there)."""

    zone: str
    start: float
    end: float | None = None

    def overlap(self, zone: str, lo: float, hi: float) -> float:
        if zone != self.zone:
            return 0.0
        end = math.inf if self.end is None else self.end
        return max(0.0, min(end, hi) - max(self.start, lo))

    def covers(self, zone: str, t: float) -> bool:
        return zone == self.zone and self.start <= t and (self.end is None or t < self.end)


class Outcome(StrEnum):
    ATTRIBUTED = "attributed"
    NO_CANDIDATE = "no_candidate"  # nobody BLE follows was in the zone
    AMBIGUOUS = "ambiguous"  # several candidates close: never guess
    NOT_OPTED_IN = "not_opted_in"  # the best candidate is not an app user
    LOW_CONFIDENCE = "low_confidence"


@dataclass(frozen=True)
class Candidate:
    visitor: str
    opted_in: bool
    stays: tuple[Stay, ...]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    visitor: str | None = None
    confidence: float = 0.0


def presence(stays: Iterable[Stay], zone: str, t: float, window_s: float) -> float:
    """The share of `[t - window_s, t + window_s]` spent in `zone` (0..1)."""
    if window_s <= 0:
        return 1.0 if any(s.covers(zone, t) for s in stays) else 0.0
    lo, hi = t - window_s, t + window_s
    return min(1.0, sum(s.overlap(zone, lo, hi) for s in stays) / (hi - lo))


def decide(candidates: Iterable[Candidate], zone: str, t: float, *, window_s: float,
           threshold: float, ambiguity_ratio: float, unseen: float = 0.0) -> Decision:
    """The attribution of a pick at `t` in `zone` (see the module's docstring)."""
    scored = sorted(((presence(c.stays, zone, t, window_s), c.visitor, c.opted_in)
                     for c in candidates), reverse=True)
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        return Decision(Outcome.NO_CANDIDATE)
    best, visitor, opted_in = scored[0]
    if len(scored) > 1 and scored[1][0] >= ambiguity_ratio * best:
        return Decision(Outcome.AMBIGUOUS)
    confidence = best * best / (sum(s[0] for s in scored) + max(0.0, unseen))
    if not opted_in:
        return Decision(Outcome.NOT_OPTED_IN, confidence=confidence)
    if confidence < threshold:
        return Decision(Outcome.LOW_CONFIDENCE, visitor, confidence)
    return Decision(Outcome.ATTRIBUTED, visitor, confidence)
