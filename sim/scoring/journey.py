"""Scorers for journeys: picks attributed to a visitor."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sim.scoring import EventView, Truth, match_by_time, ratio, scorer

TOLERANCE_S = 15.0


@scorer("attribution_precision", part="journey", better="higher", needs=("omo.journey.completed",),
        how=f"journey-completed events are matched one-to-one to true visits ending within "
            f"{TOLERANCE_S:g} s (closest first, duration within {TOLERANCE_S:g} s); precision "
            "= products attributed to the right visit / all products attributed (an unmatched "
            "journey's products are all wrong)")
def attribution_precision(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    visits = truth.of("visit.ended")
    journeys = [e for e in events if e.type == "omo.journey.completed"]
    pairs = match_by_time(
        [(float(v["t"]), v) for v in visits], [(j.t, j) for j in journeys], TOLERANCE_S,
        lambda v, j: abs(float(v["duration_s"]) - float(j.data.get("duration_s", 0.0)))
        <= TOLERANCE_S)
    attributed = sum(len(j.data.get("picked", ())) for j in journeys)
    right = 0
    for i, k in pairs:
        got = Counter(journeys[k].data.get("picked", ()))
        want = Counter(visits[i]["picked"])
        right += sum((got & want).values())
    return {"value": ratio(right, attributed), "unit": "fraction",
            "details": {"journeys": len(journeys), "matched_visits": len(pairs),
                        "attributed": attributed, "right": right}}
