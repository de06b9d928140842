"""Scorers for the presence part: footfall, visits, zone accuracy and zone dwell.

Only visitors whose device advertises can be seen by BLE: the store app's beacon or a phone
(the truth's `carries` is "app" or "phone"). Visits of those visitors are matched one to one
with the log's visits by time (`match_visits`), and the zone scorers follow each matched
visitor's event stream (`omo.presence.zone.entered` / `.exited` under the matched visitor id).
A true visitor without a match counts as seen nowhere, so zone accuracy also pays for a
missed visit.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from drivers.app_beacon import parse_customer_id
from sim.scoring import EventView, Truth, ratio, scorer

SEEN = ("app", "phone")  # what a BLE receiver can hear
START_TOLERANCE_S = 20.0  # a found visit starts at most this far from the true one
END_TOLERANCE_S = 40.0  # and ends at most this far from it (when both have ended)
EDGE_S = 3.0  # zone accuracy leaves out this long either side of a true zone change
STEP_S = 0.5  # zone accuracy samples time at this step


@dataclass
class Visit:
    """One visit, true or found: who, when, and the zones it was in."""

    visitor: str
    start: float
    end: float | None
    zones: list[tuple[float, float, str]] = field(default_factory=list)  # (from, to, zone)

    def zone_at(self, t: float) -> str | None:
        starts = [z[0] for z in self.zones]
        i = bisect_right(starts, t) - 1
        if i >= 0 and self.zones[i][0] <= t < self.zones[i][1]:
            return self.zones[i][2]
        return None


def _intervals(records: list[tuple[float, str, str, float | None]], run_end: float
               ) -> dict[str, list[tuple[float, float, str]]]:
    """(t, visitor, zone, dwell or None for an entry) -> per visitor (from, to, zone) from
    entries and exits; an entry never closed lasts until the next entry or the run's end."""
    open_: dict[str, tuple[float, str]] = {}
    out: dict[str, list[tuple[float, float, str]]] = {}
    for t, visitor, zone, dwell in sorted(records, key=lambda r: (r[0], r[3] is None)):
        if dwell is None:
            prev = open_.pop(visitor, None)
            if prev is not None:
                out.setdefault(visitor, []).append((prev[0], t, prev[1]))
            open_[visitor] = (t, zone)
        else:
            prev = open_.pop(visitor, None)
            start = prev[0] if prev is not None and prev[1] == zone else t - dwell
            out.setdefault(visitor, []).append((start, t, zone))
    for visitor, (t, zone) in open_.items():
        out.setdefault(visitor, []).append((t, run_end, zone))
    return {v: sorted(z) for v, z in out.items()}


def true_visits(truth: Truth) -> list[Visit]:
    """The visits of visitors whose device a receiver can hear."""
    ends = {r["visitor"]: float(r["t"]) for r in truth.of("visit.ended")}
    zones = _intervals(
        [(float(r["t"]), r["visitor"], r["zone"], None) for r in truth.of("zone.entered")]
        + [(float(r["t"]), r["visitor"], r["zone"], float(r["dwell_s"]))
           for r in truth.of("zone.exited")], truth.duration)
    return [Visit(r["visitor"], float(r["t"]), ends.get(r["visitor"]),
                  zones.get(r["visitor"], []))
            for r in truth.of("visit.started") if r.get("carries") in SEEN]


def found_visits(events: list[EventView], run_end: float) -> list[Visit]:
    ends = {e.data["visitor"]: e.t for e in events
            if e.type == "omo.presence.visit.ended" and "visitor" in e.data}
    zones = _intervals(
        [(e.t, e.data["visitor"], e.data["zone"],
          None if e.type == "omo.presence.zone.entered" else float(e.data.get("dwell_s", 0.0)))
         for e in events
         if e.type in ("omo.presence.zone.entered", "omo.presence.zone.exited")
         and "visitor" in e.data and "zone" in e.data], run_end)
    return [Visit(e.data["visitor"], e.t, ends.get(e.data["visitor"]),
                  zones.get(e.data["visitor"], []))
            for e in events if e.type == "omo.presence.visit.started" and "visitor" in e.data]


def match_visits(true: list[Visit], found: list[Visit]) -> list[tuple[int, int]]:
    """One-to-one (true index, found index): starts within START_TOLERANCE_S and, where both
    ended, ends within END_TOLERANCE_S; the closest pairs (start plus end gap) first."""
    pairs = []
    for i, tv in enumerate(true):
        for j, fv in enumerate(found):
            ds = abs(tv.start - fv.start)
            if ds > START_TOLERANCE_S:
                continue
            de = 0.0
            if tv.end is not None and fv.end is not None:
                de = abs(tv.end - fv.end)
                if de > END_TOLERANCE_S:
                    continue
            pairs.append((ds + de, i, j))
    used_t: set[int] = set()
    used_f: set[int] = set()
    out = []
    for _, i, j in sorted(pairs):
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            out.append((i, j))
    return sorted(out)


def _matched(truth: Truth, events: list[EventView]
             ) -> tuple[list[Visit], list[Visit], list[tuple[int, int]]]:
    true, found = true_visits(truth), found_visits(events, truth.duration)
    return true, found, match_visits(true, found)


def _member(customer: object) -> int | None:
    try:
        return parse_customer_id(str(customer))
    except ValueError:
        return None


@scorer("visit_precision_recall", part="presence", better="higher",
        needs=("omo.presence.visit.started",),
        how="visits of visitors whose device advertises (the app's beacon or a phone) matched "
            f"one to one with the log's visits: starts within {START_TOLERANCE_S:g} s and, "
            f"where both ended, ends within {END_TOLERANCE_S:g} s, closest first; precision = "
            "matched / visits in the log, recall = matched / true visits; details split the "
            "app's users, who also get omo.presence.app_user.arrived")
def visit_precision_recall(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    true, found, matches = _matched(truth, events)
    kinds = {r["visitor"]: r.get("carries") for r in truth.of("visit.started")}
    app_true = sum(1 for v in true if kinds.get(v.visitor) == "app")
    app_matched = sum(1 for i, _ in matches if kinds.get(true[i].visitor) == "app")
    arrived = {r["visitor"]: r.get("app_user") for r in truth.of("visit.started")
               if r.get("carries") == "app"}
    app_events = [e for e in events if e.type == "omo.presence.app_user.arrived"]
    members = {m for m in arrived.values() if m is not None}
    known = sum(1 for e in app_events if _member(e.data.get("customer")) in members)
    return {"value": {"precision": ratio(len(matches), len(found)),
                      "recall": ratio(len(matches), len(true))},
            "unit": "share",
            "details": {"true_visits": len(true), "found_visits": len(found),
                        "matched": len(matches), "app_true": app_true,
                        "app_matched": app_matched,
                        "app_user_arrived_events": len(app_events),
                        "app_user_arrived_true_customer": known,
                        "app_users_true": len(arrived)}}


@scorer("zone_accuracy", part="presence", better="higher",
        needs=("omo.presence.zone.entered",),
        how=f"every {STEP_S:g} s of every true visit of a visitor whose device advertises, "
            f"leaving out {EDGE_S:g} s either side of each true zone change: the share of those "
            "instants at which the matched visitor's zone events place them in the true zone "
            "(a visit without a match is in no zone)")
def zone_accuracy(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    true, found, matches = _matched(truth, events)
    match_of = dict(matches)
    good = total = 0
    per_zone: dict[str, list[int]] = {}
    for i, tv in enumerate(true):
        fv = found[match_of[i]] if i in match_of else None
        changes = [z[0] for z in tv.zones] + [z[1] for z in tv.zones]
        for start, end, zone in tv.zones:
            t = start
            while t < end:
                if all(abs(t - c) > EDGE_S for c in changes):
                    ok = fv is not None and fv.zone_at(t) == zone
                    good += ok
                    total += 1
                    z = per_zone.setdefault(zone, [0, 0])
                    z[0] += ok
                    z[1] += 1
                t += STEP_S
    return {"value": ratio(good, total), "unit": "share",
            "details": {"instants": total, "step_s": STEP_S, "edge_s": EDGE_S,
                        "per_zone": {z: ratio(g, n) for z, (g, n) in sorted(per_zone.items())}}}


@scorer("zone_dwell_error", part="presence", better="lower",
        needs=("omo.presence.zone.exited",),
        how="per zone, over matched visits: sum of |found - true| seconds spent in the zone "
            "per visit, divided by the true seconds (relative mean absolute error); the value "
            "is the mean over zones with true dwell, details give each zone, the worst, and "
            "the relative error of the mean stay per zone")
def zone_dwell_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    true, found, matches = _matched(truth, events)
    abs_err: dict[str, float] = {}
    true_s: dict[str, float] = {}
    stays_true: dict[str, list[float]] = {}
    stays_found: dict[str, list[float]] = {}
    for i, j in matches:
        for a, b, z in true[i].zones:
            stays_true.setdefault(z, []).append(b - a)
        for a, b, z in found[j].zones:
            stays_found.setdefault(z, []).append(b - a)
        t_dwell: dict[str, float] = {}
        f_dwell: dict[str, float] = {}
        for a, b, z in true[i].zones:
            t_dwell[z] = t_dwell.get(z, 0.0) + b - a
        for a, b, z in found[j].zones:
            f_dwell[z] = f_dwell.get(z, 0.0) + b - a
        for z in set(t_dwell) | set(f_dwell):
            abs_err[z] = abs_err.get(z, 0.0) + abs(t_dwell.get(z, 0.0) - f_dwell.get(z, 0.0))
            true_s[z] = true_s.get(z, 0.0) + t_dwell.get(z, 0.0)
    per_zone = {z: round(abs_err[z] / true_s[z], 4) for z in sorted(true_s) if true_s[z] > 0}
    worst = max(per_zone.items(), key=lambda kv: kv[1]) if per_zone else None
    mean_stay = {}
    for z, stays in sorted(stays_true.items()):
        t_mean = sum(stays) / len(stays)
        f = stays_found.get(z, [])
        f_mean = sum(f) / len(f) if f else 0.0
        mean_stay[z] = {"true_mean_s": round(t_mean, 1), "found_mean_s": round(f_mean, 1),
                        "relative_error": round(abs(f_mean - t_mean) / t_mean, 4)
                        if t_mean else None}
    return {"value": round(sum(per_zone.values()) / len(per_zone), 4) if per_zone else None,
            "unit": "relative error",
            "details": {"per_zone": per_zone, "worst": list(worst) if worst else None,
                        "matched_visits": len(matches),
                        "mean_stay": mean_stay,
                        "mean_stay_note": "per zone, the mean length of one stay found against "
                                          "the true mean (a coarser view: errors that cancel "
                                          "out across visits do not count)"}}


FOOTFALL = "omo.presence.footfall.window"


def _footfall(truth: Truth, events: list[EventView], key: str, truth_type: str
              ) -> dict[str, Any]:
    windows = [e for e in events if e.type == FOOTFALL]
    found = sum(int(e.data.get(key, 0)) for e in windows)
    # the windows cover the run up to the end of the last one (a window still open when
    # the run stops is never emitted): the truth after that is left out, and said so
    covered = max((e.t for e in windows), default=0.0)
    records = truth.of(truth_type)
    true = sum(1 for r in records if float(r["t"]) < covered)
    per_counter: dict[str, int] = {}
    for e in windows:
        counter = str(e.data.get("counter", ""))
        per_counter[counter] = per_counter.get(counter, 0) + int(e.data.get(key, 0))
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
