"""Scorers for the presence part: footfall, visits and zone dwell."""

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


FOOTFALL = "omo.presence.footfall.window"


def _footfall(truth: Truth, events: list[EventView], field: str, truth_type: str
              ) -> dict[str, Any]:
    windows = [e for e in events if e.type == FOOTFALL]
    found = sum(int(e.data.get(field, 0)) for e in windows)
    # the windows cover the run up to the end of the last one (a window still open when
    # the run stops is never emitted): the truth after that is left out, and said so
    covered = max((e.t for e in windows), default=0.0)
    records = truth.of(truth_type)
    true = sum(1 for r in records if float(r["t"]) < covered)
    per_counter: dict[str, int] = {}
    for e in windows:
        counter = str(e.data.get("counter", ""))
        per_counter[counter] = per_counter.get(counter, 0) + int(e.data.get(field, 0))
    return {"value": ratio(abs(found - true), true), "unit": "relative error",
            "details": {"events": found, "truth": true, "windows": len(windows),
                        "covered_s": round(covered, 1),
                        "truth_after_last_window": len(records) - true,
                        "signed_error": ratio(found - true, true),
                        "per_counter": dict(sorted(per_counter.items()))}}


@scorer("footfall_in_error", part="presence", better="lower", needs=(FOOTFALL,),
        how="|sum of the footfall windows' `in` - true arrivals| / true arrivals, over the "
            "span the windows cover (run start to the end of the last window; staff never "
            "cross the door)")
def footfall_in_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    return _footfall(truth, events, "in", "visit.started")


@scorer("footfall_out_error", part="presence", better="lower", needs=(FOOTFALL,),
        how="|sum of the footfall windows' `out` - true departures| / true departures, over "
            "the span the windows cover (run start to the end of the last window)")
def footfall_out_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    return _footfall(truth, events, "out", "visit.ended")
