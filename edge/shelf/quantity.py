"""From a settled weight change to a count of units, with a tolerance and an explicit
ambiguity result when the weight alone cannot tell."""

from __future__ import annotations

import math
from dataclasses import dataclass

TOLERANCE = 0.25  # a change within this many units of a whole count is that count


@dataclass(frozen=True)
class Quantity:
    """`count` units (at least 1); `confidence` in [0, 1]; when `ambiguous`, `candidates`
    are the counts the weight lies between (nearest first) and `count` is the nearest."""

    count: int
    confidence: float
    ambiguous: bool = False
    candidates: tuple[int, ...] = ()


def quantity(grams: float, unit_grams: float, tolerance: float = TOLERANCE) -> Quantity | None:
    """The count of units in `abs(grams)`; None when it is under half a unit (no change).
    Raises ValueError if `unit_grams` is not positive."""
    if unit_grams <= 0:
        raise ValueError("unit_grams must be positive")
    units = abs(grams) / unit_grams
    nearest = round(units)
    if nearest < 1:
        if units < 0.5:
            return None
        nearest = 1
    off = abs(units - nearest)
    confidence = round(max(0.0, 1.0 - off / 0.5), 3)
    if off <= tolerance:
        return Quantity(nearest, confidence)
    lo, hi = math.floor(units), math.ceil(units)
    other = lo if nearest == hi else hi
    candidates = tuple(c for c in (nearest, other) if c >= 1)
    return Quantity(nearest, confidence, True, candidates)
