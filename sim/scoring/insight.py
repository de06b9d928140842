"""Scorers for the insight part: which products draw interest, and the funnel's counts."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from sim.scoring import EventView, Truth, scorer, spearman

INTEREST = "omo.insight.product.interest"
FUNNEL = "omo.insight.funnel.window"
STOP_DWELL_S = 10.0  # insight.stop_dwell_s as the simulator configures it (the default)
MIN_PASS_S = 2.0  # a shorter stay clips a zone's corner: no pass (BLE cannot see it either)
STAGES = ("passed", "stopped", "picked", "returned", "bought", "picked_not_bought")


def _span(events: list[EventView], kind: str) -> tuple[float, float] | None:
    """The run time (start, end) the windows of `kind` cover, or None without any."""
    ends = [(e.t - float(e.data["window_s"]), e.t) for e in events if e.type == kind]
    if not ends:
        return None
    return min(a for a, _ in ends), max(b for _, b in ends)


@scorer("product_interest_rho", part="insight", better="higher", needs=(INTEREST,),
        how="Spearman's rho (ties averaged) between products ranked by the truth's intent "
            "(shoppers whose visit starts in the run time the reported windows cover and who "
            "came for the product: the truth's `intent` records, online interest that drew "
            "them in included) and by the sum of their scores in "
            "omo.insight.product.interest, over every product on the shelves")
def product_interest_rho(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    span = _span(events, INTEREST)
    assert span is not None
    t0, t1 = span
    skus = sorted(set(truth.plates.values()))
    true = dict.fromkeys(skus, 0.0)
    for r in truth.of("intent"):
        if t0 <= float(r["t"]) < t1:
            for sku in r.get("skus", ()):
                if sku in true:
                    true[sku] += 1
    found = dict.fromkeys(skus, 0.0)
    for e in events:
        if e.type == INTEREST:
            for row in e.data.get("products", ()):
                if row.get("sku") in found:
                    found[row["sku"]] += float(row.get("score", 0.0))
    rho = spearman([true[s] for s in skus], [found[s] for s in skus])
    return {"value": None if rho is None else round(rho, 4), "unit": "rho",
            "details": {"span_s": [round(t0, 1), round(t1, 1)], "truth": true,
                        "events": {s: round(v, 2) for s, v in found.items()}}}


def _true_funnel(truth: Truth, window_s: float, t0: float, t1: float) -> Counter[str]:
    """The funnel's stages from the truth, by the processor's rules (docs/insight.md):
    visitors per zone and window (passed: a stay of MIN_PASS_S or more; stopped: of
    STOP_DWELL_S or more; both by the stay's start), units picked, returned and bought,
    and per product and window picked - returned - bought when above 0."""
    counts: Counter[str] = Counter()

    def win(t: float) -> int | None:
        return math.floor(t / window_s) if t0 <= t < t1 else None

    passed = {(win(float(r["t"]) - float(r["dwell_s"])), r["zone"], r["visitor"])
              for r in truth.of("zone.exited") if float(r["dwell_s"]) >= MIN_PASS_S}
    counts["passed"] = sum(1 for k in passed if k[0] is not None)
    stopped = {(win(float(r["t"]) - float(r["dwell_s"])), r["zone"], r["visitor"])
               for r in truth.of("zone.exited") if float(r["dwell_s"]) >= STOP_DWELL_S}
    counts["stopped"] = sum(1 for k in stopped if k[0] is not None)
    per: dict[tuple[int, str], Counter[str]] = {}
    for kind, stage in (("pick", "picked"), ("return", "returned")):
        for r in truth.of(kind):
            w = win(float(r["t"]))
            if w is not None:
                per.setdefault((w, r["sku"]), Counter())[stage] += int(r["quantity"])
    for r in truth.of("sale"):
        w = win(float(r["t"]))
        if w is not None:
            for line in r["lines"]:
                per.setdefault((w, line["sku"]), Counter())["bought"] += int(line["quantity"])
    for c in per.values():
        counts.update(c)
        counts["picked_not_bought"] += max(0, c["picked"] - c["returned"] - c["bought"])
    return counts


@scorer("funnel_count_error", part="insight", better="lower", needs=(FUNNEL,),
        how="per funnel stage (passed and stopped: visitors per zone and window, passes "
            f"from {MIN_PASS_S:g} s; picked, "
            "returned, bought, picked_not_bought: units per product and window), "
            "abs(sum over the omo.insight.funnel.window events - the truth's count by the "
            f"same rules, stops from {STOP_DWELL_S:g} s) / the truth's count, over the run "
            "time the windows cover; the value is the worst stage, every stage in details "
            "(looked is not scored: the simulator's cameras watch screens, not shelves)")
def funnel_count_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    span = _span(events, FUNNEL)
    assert span is not None
    t0, t1 = span
    funnels = [e for e in events if e.type == FUNNEL]
    window_s = float(funnels[0].data["window_s"])
    found: Counter[str] = Counter()
    for e in funnels:
        for z in e.data.get("zones", ()):
            found["passed"] += int(z.get("passed", 0))
            found["stopped"] += int(z.get("stopped", 0))
        for p in e.data.get("products", ()):
            for stage in ("picked", "returned", "bought", "picked_not_bought"):
                found[stage] += int(p.get(stage, 0))
    true = _true_funnel(truth, window_s, t0, t1)
    errors = {s: round(abs(found[s] - true[s]) / true[s], 4) if true[s] else None
              for s in STAGES}
    scored = [v for v in errors.values() if v is not None]
    return {"value": max(scored) if scored else None, "unit": "fraction",
            "details": {"errors": errors, "events": {s: found[s] for s in STAGES},
                        "truth": {s: true[s] for s in STAGES},
                        "mean_error": round(sum(scored) / len(scored), 4) if scored else None,
                        "span_s": [round(t0, 1), round(t1, 1)], "window_s": window_s}}
