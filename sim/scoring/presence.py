"""Scorers for the presence part: visits and zone dwell."""

from __future__ import annotations

from typing import Any

from sim.scoring import EventView, Truth, ratio, scorer


@scorer("visit_count_error", part="presence", better="lower", needs=("omo.presence.visit.started",),
        how="|visits started in the log - true visits| / true visits, over the whole run "
            "(staff are not visits); details split opted-in (app) visits")
def visit_count_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    found = [e for e in events if e.type == "omo.presence.visit.started"]
    true = truth.of("visit.started")
    found_app = sum(1 for e in found if e.data.get("opted_in"))
    true_app = sum(1 for r in true if r.get("opted_in"))
    return {"value": ratio(abs(len(found) - len(true)), len(true)), "unit": "relative error",
            "details": {"events": len(found), "truth": len(true), "events_opted_in": found_app,
                        "truth_opted_in": true_app,
                        "opted_in_error": ratio(abs(found_app - true_app), true_app)}}


@scorer("zone_dwell_mae", part="presence", better="lower", needs=("omo.presence.zone.exited",),
        how="per zone, the mean dwell_s of zone-exited events against the mean true dwell; "
            "the value is the mean absolute difference over zones with true visits "
            "(a zone with true visits and no events counts its whole true mean)")
def zone_dwell_mae(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    true: dict[str, list[float]] = {}
    for r in truth.of("zone.exited"):
        true.setdefault(r["zone"], []).append(float(r["dwell_s"]))
    found: dict[str, list[float]] = {}
    for e in events:
        if e.type == "omo.presence.zone.exited" and "zone" in e.data:
            found.setdefault(e.data["zone"], []).append(float(e.data.get("dwell_s", 0.0)))
    per_zone = {}
    for zone, dwell in sorted(true.items()):
        t_mean = sum(dwell) / len(dwell)
        f = found.get(zone)
        f_mean = sum(f) / len(f) if f else 0.0
        per_zone[zone] = {"true_mean_s": round(t_mean, 2), "event_mean_s": round(f_mean, 2),
                          "true_n": len(dwell), "event_n": len(f or ())}
    errors = [abs(v["true_mean_s"] - v["event_mean_s"]) for v in per_zone.values()]
    return {"value": round(sum(errors) / len(errors), 3) if errors else None, "unit": "s",
            "details": per_zone}
