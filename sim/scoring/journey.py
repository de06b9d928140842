"""Scorers for the OMO journey: picks attributed to app users, offers at the shelf, and the
journey summaries."""

from __future__ import annotations

from collections import Counter
from typing import Any

from drivers.app_beacon import customer_id
from sim.scoring import EventView, Truth, match_by_time, ratio, scorer

TOLERANCE_S = 15.0
ATTRIBUTED = "omo.journey.pick.attributed"
OFFER = "omo.journey.offer.triggered"
COMPLETED = "omo.journey.completed"
VISIT_EARLY_S = 10.0  # an offer may come this early before the true visit's start ...
VISIT_LATE_S = 90.0  # ... or this late after its end (the edge ends a visit after silence)


def _customers(truth: Truth) -> dict[str, str]:
    """visitor -> customer id, for the app users (as `omo.presence.app_user.arrived` and
    `journey.interests` name them)."""
    return {r["visitor"]: customer_id(int(r["app_user"])) for r in truth.of("visit.started")
            if r.get("app_user")}


def _visits(truth: Truth) -> dict[str, tuple[float, float]]:
    """customer -> (start, end) of their visit, the run's end for a visit still open."""
    ends = {r["visitor"]: float(r["t"]) for r in truth.of("visit.ended")}
    out = {}
    for r in truth.of("visit.started"):
        if r.get("app_user"):
            out[customer_id(int(r["app_user"]))] = (
                float(r["t"]), ends.get(r["visitor"], truth.duration))
    return out


@scorer("attribution_precision", part="journey", better="higher", needs=(ATTRIBUTED,),
        how=f"each omo.journey.pick.attributed is matched one-to-one to a true pick of the "
            f"same product within {TOLERANCE_S:g} s of the end of its weight change (closest "
            "first) by the app user the event names; precision = matched / attributed, "
            "recall = matched / true picks by app users (the value is the precision; recall "
            "in details)")
def attribution_precision(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    customers = _customers(truth)
    picks = [r for r in truth.of("pick") if r["visitor"] in customers]
    found = [e for e in events if e.type == ATTRIBUTED]
    pairs = match_by_time(
        [(float(r["t_end"]), r) for r in picks], [(e.t, e) for e in found], TOLERANCE_S,
        lambda r, e: r["sku"] == e.data.get("sku")
        and customers[r["visitor"]] == e.data.get("customer"))
    right_units = sum(min(int(picks[i]["quantity"]), int(found[k].data.get("quantity", 1)))
                      for i, k in pairs)
    return {"value": ratio(len(pairs), len(found)), "unit": "fraction",
            "details": {"attributed": len(found), "right": len(pairs),
                        "app_user_picks": len(picks), "recall": ratio(len(pairs), len(picks)),
                        "right_units": right_units}}


@scorer("offer_recall", part="journey", better="higher", needs=(OFFER,),
        how="true offer opportunities (an app user with an interest list staying 2 s or more "
            "in the zone of a listed product before its expiry; once per product per visit) "
            "matched to omo.journey.offer.triggered by customer and sku within the customer's "
            f"visit ({VISIT_EARLY_S:g} s before its start to {VISIT_LATE_S:g} s after its "
            "end); recall = opportunities offered / opportunities")
def offer_recall(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    judged = _judge_offers(truth, events)
    n = len(truth.of("offer.opportunity"))
    return {"value": ratio(judged["right"], n), "unit": "fraction",
            "details": {"opportunities": n, **judged}}


@scorer("offer_wrong", part="journey", better="lower", needs=(OFFER,),
        how="omo.journey.offer.triggered events to the wrong shopper (a customer not in the "
            f"store then: outside their visit, {VISIT_EARLY_S:g} s before its start to "
            f"{VISIT_LATE_S:g} s after its end) or for a product not on their interest list "
            "(never listed, or its expiry passed); a count, 0 is right. Offers for a listed "
            "product whose zone the shopper never stayed in, and repeated offers, are in "
            "details")
def offer_wrong(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    judged = _judge_offers(truth, events)
    return {"value": judged["wrong"], "unit": "offers", "details": judged}


def _judge_offers(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    visits = _visits(truth)
    lists: dict[str, dict[str, float]] = {}
    for r in truth.of("interests"):
        lists.setdefault(r["customer"], {}).update(
            {p["sku"]: float(p["expires_t"]) for p in r["products"]})
    chances = {(r["customer"], r["sku"]) for r in truth.of("offer.opportunity")}
    offered: set[tuple[str, str]] = set()
    why: Counter[str] = Counter()
    for e in sorted((e for e in events if e.type == OFFER), key=lambda e: e.t):
        customer, sku = str(e.data.get("customer")), str(e.data.get("sku"))
        span = visits.get(customer)
        if span is None or not span[0] - VISIT_EARLY_S <= e.t <= span[1] + VISIT_LATE_S:
            why["wrong_shopper"] += 1
        elif sku not in lists.get(customer, {}):
            why["not_listed"] += 1
        elif lists[customer][sku] <= e.t:
            why["expired"] += 1
        elif (customer, sku) in offered:
            why["repeated"] += 1
        elif (customer, sku) in chances:
            offered.add((customer, sku))
            why["right"] += 1
        else:
            why["zone_not_reached"] += 1
    wrong = why["wrong_shopper"] + why["not_listed"] + why["expired"]
    return {"offers": sum(why.values()), "right": why["right"], "wrong": wrong,
            "wrong_shopper": why["wrong_shopper"], "not_listed": why["not_listed"],
            "expired": why["expired"], "repeated": why["repeated"],
            "zone_not_reached": why["zone_not_reached"]}


@scorer("journey_picked_precision", part="journey", better="higher", needs=(COMPLETED,),
        how=f"journey-completed events are matched one-to-one to true visits ending within "
            f"{TOLERANCE_S:g} s (closest first, duration within {TOLERANCE_S:g} s); precision "
            "= products in `picked` that the visit picked and kept / all products in "
            "`picked` (an unmatched journey's products are all wrong)")
def journey_picked_precision(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    visits = truth.of("visit.ended")
    journeys = [e for e in events if e.type == COMPLETED]
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
