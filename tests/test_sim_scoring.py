"""The scorers' maths on synthetic truth and event pairs."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.app_beacon import customer_id
from edge.events import format_time
from sim.scoring import Truth, load_parts, match_by_time, ranks, score, spearman

T0 = 1_767_258_000.0


def truth(*records: dict[str, Any]) -> Truth:
    run = {"type": "run", "t": 0.0, "start_epoch": T0, "duration_s": 600.0, "layout": {
        "shelves": {"shelf-1": {"p1": "A", "p2": "B", "p3": "C"}},
        "cameras": {"cam-1": "screen-1"}}}
    return Truth([run, *records])


def ev(event_type: str, t: float, **data: Any) -> dict[str, Any]:
    return {"type": event_type, "time": format_time(T0 + t), "data": data}


def pick(t: float, plate: str, qty: int = 1, kind: str = "pick", sku: str = "A",
         visitor: str = "v1") -> dict[str, Any]:
    return {"type": kind, "visitor": visitor, "shelf": "shelf-1", "plate": plate, "sku": sku,
            "quantity": qty, "t": t - 1, "t_end": t}


def test_every_metric_is_registered_once_and_unscored_without_its_events() -> None:
    names = set(load_parts().scorers)
    assert names >= {"visit_precision_recall", "zone_accuracy", "zone_dwell_error",
                     "pick_return_precision_recall",
                     "quantity_accuracy", "opportunities_to_see_error", "watchers_error",
                     "attention_time_error", "product_interest_rho", "attribution_precision",
                     "footfall_in_error", "footfall_out_error", "funnel_count_error",
                     "offer_recall", "offer_wrong", "journey_picked_precision"}
    assert "visit_count_error" not in names and "zone_dwell_mae" not in names
    out = score(truth(), [ev("omo.device.daemon.started", 0, version="x", components=[])])
    assert all(not m["scored"] and m["reason"] and m["how"] for m in out.values())
    # errors improve downwards, precision, recall, accuracy and correlation upwards
    assert {n: m["better"] for n, m in out.items()} == {
        n: "lower" if n.endswith(("_error", "_mae", "_wrong")) or n.startswith("false_")
        else "higher"
        for n in names}


def test_footfall_errors_sum_windows_against_arrivals_and_departures() -> None:
    tr = truth(*({"type": "visit.started", "visitor": f"v{i}", "t": i} for i in range(10)),
               *({"type": "visit.ended", "visitor": f"v{i}", "t": 100 + i} for i in range(8)),
               {"type": "visit.ended", "visitor": "v8", "t": 125})  # after the last window
    w = {"zone": "entrance", "window_start": format_time(T0), "window_s": 60.0,
         "occupancy": 0}
    events = [ev("omo.presence.footfall.window", 60, counter="door-1", **w, **{"in": 6, "out": 0}),
              ev("omo.presence.footfall.window", 120, counter="door-1", **w,
                 **{"in": 3, "out": 9})]
    out = score(tr, events)
    fin, fout = out["footfall_in_error"], out["footfall_out_error"]
    assert fin["scored"] and fin["value"] == 0.1 and fin["details"]["events"] == 9
    assert fin["details"]["signed_error"] == -0.1 and fin["details"]["windows"] == 2
    assert fout["value"] == 0.125 and fout["details"]["truth"] == 8
    assert fout["details"]["per_counter"] == {"door-1": 9}
    assert fout["details"]["truth_after_last_window"] == 1


def visit(v: str, t0: float, t1: float, carries: str = "phone",
          zones: tuple[tuple[float, float, str], ...] = ()) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"type": "visit.started", "visitor": v, "t": t0, "opted_in": carries == "app",
         "carries": carries, "app_user": 1234 if carries == "app" else None},
        {"type": "visit.ended", "visitor": v, "t": t1, "duration_s": t1 - t0}]
    for a, b, z in zones:
        out += [{"type": "zone.entered", "visitor": v, "zone": z, "t": a},
                {"type": "zone.exited", "visitor": v, "zone": z, "t": b, "dwell_s": b - a}]
    return out


def found(vid: str, t0: float, t1: float, zones: tuple[tuple[float, float, str], ...] = ()
          ) -> list[dict[str, Any]]:
    out = [ev("omo.presence.visit.started", t0, visitor=vid, opted_in=False)]
    for a, b, z in zones:
        out += [ev("omo.presence.zone.entered", a, visitor=vid, zone=z),
                ev("omo.presence.zone.exited", b, visitor=vid, zone=z, dwell_s=b - a)]
    return [*out, ev("omo.presence.visit.ended", t1, visitor=vid, duration_s=t1 - t0)]


def test_visit_precision_recall_counts_only_visitors_a_receiver_can_hear() -> None:
    tr = truth(*visit("v1", 10, 100), *visit("v2", 200, 300, "app"),
               *visit("v3", 400, 500, "none"), *visit("v4", 410, 520))
    events = [*found("a" * 16, 12, 101), *found("b" * 16, 203, 298),
              *found("c" * 16, 600, 650),  # nobody there: a false visit
              ev("omo.presence.app_user.arrived", 203, visitor="b" * 16, customer="mya")]
    m = score(tr, events)["visit_precision_recall"]
    assert m["value"] == {"precision": round(2 / 3, 4), "recall": round(2 / 3, 4)}
    assert m["details"]["true_visits"] == 3  # v3 carries nothing
    assert m["details"]["app_matched"] == 1
    assert m["details"]["app_user_arrived_true_customer"] == 1  # "mya" is member 1234


def test_zone_accuracy_leaves_out_the_edges_of_true_zone_changes() -> None:
    tr = truth(*visit("v1", 0, 60, zones=((0, 30, "drinks"), (30, 60, "promo"))))
    # found: the change 2 s late (inside the left-out edge), and 10 s of promo seen as care
    events = found("a" * 16, 0, 60, ((0, 32, "drinks"), (32, 50, "promo"), (50, 60, "care")))
    m = score(tr, events)["zone_accuracy"]
    # entering at 0, the change at 30 and leaving at 60 are zone changes: counted are
    # (3, 27) and (33, 57) at 0.5 s steps, 47 instants each; wrong: [50, 57), 14 instants
    assert m["value"] == round((47 + 47 - 14) / (47 + 47), 4)
    assert m["details"]["per_zone"]["drinks"] == 1.0


def test_zone_accuracy_counts_an_unmatched_visit_as_nowhere() -> None:
    tr = truth(*visit("v1", 0, 40, zones=((0, 40, "drinks"),)),
               *visit("v2", 100, 140, zones=((100, 140, "drinks"),)))
    events = found("a" * 16, 1, 40, ((1, 40, "drinks"),))
    assert score(tr, events)["zone_accuracy"]["value"] == pytest.approx(0.5, abs=0.02)


def test_zone_dwell_error_is_relative_per_zone() -> None:
    tr = truth(*visit("v1", 0, 60, zones=((0, 20, "drinks"), (20, 60, "promo"))),
               *visit("v2", 100, 140, zones=((100, 140, "drinks"),)))
    events = [*found("a" * 16, 0, 60, ((0, 25, "drinks"), (25, 60, "promo"))),
              *found("b" * 16, 100, 140, ((100, 130, "drinks"), (130, 140, "care")))]
    m = score(tr, events)["zone_dwell_error"]
    # drinks: |25-20| + |30-40| over 60 true s; promo: 5 of 40; care: no true dwell, left out
    assert m["details"]["per_zone"] == {"drinks": 0.25, "promo": 0.125}
    assert m["value"] == pytest.approx((0.25 + 0.125) / 2)
    assert m["details"]["worst"] == ["drinks", 0.25]


def test_pick_return_precision_recall_and_quantity() -> None:
    tr = truth(pick(10, "p1"), pick(50, "p2", qty=2, sku="B"), pick(90, "p1"),
               pick(95, "p1", kind="return"),
               {"type": "bump", "shelf": "shelf-1", "plate": "p3", "t": 120.0, "grams": 80.0})
    events = [
        ev("omo.shelf.item.picked", 11, shelf="shelf-1", plate="p1", quantity=1),  # match
        ev("omo.shelf.item.picked", 52, shelf="shelf-1", plate="p2", quantity=1),  # qty wrong
        ev("omo.shelf.item.picked", 91, shelf="shelf-1", plate="p2", quantity=1),  # plate wrong
        ev("omo.shelf.item.picked", 121, shelf="shelf-1", plate="p3", quantity=1),  # a bump
        ev("omo.shelf.item.returned", 96, shelf="shelf-1", plate="p1", quantity=1),  # match
    ]
    out = score(tr, events)
    v = out["pick_return_precision_recall"]["value"]
    assert v == {"pick_precision": 0.5, "pick_recall": 0.6667, "return_precision": 1.0,
                 "return_recall": 1.0}
    assert out["quantity_accuracy"]["value"] == pytest.approx(2 / 3, abs=1e-4)


def test_match_by_time_is_one_to_one_and_closest_first() -> None:
    pairs = match_by_time([(10.0, "a"), (11.0, "a")], [(10.9, "a"), (30.0, "a")], 2.0)
    assert pairs == [(1, 0)]


def test_spearman() -> None:
    assert ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def interest(t: float, window_s: float, **scores: float) -> dict[str, Any]:
    return ev("omo.insight.product.interest", t, window_start=format_time(T0 + t - window_s),
              window_s=window_s, products=[
                  {"sku": s, "score": v, "zone_s": 0.0, "attention_s": 0.0, "picked": 0,
                   "returned": 0} for s, v in scores.items()])


def test_product_interest_rho_ranks_the_scores_of_the_windows_against_true_intent() -> None:
    def intent(visitor: str, t: float, *skus: str) -> dict[str, Any]:
        return {"type": "intent", "visitor": visitor, "t": t, "skus": list(skus),
                "online": []}

    tr = truth(intent("v1", 1.0, "A", "B"), intent("v2", 10.0, "A"),
               intent("v3", 40.0, "A", "X"),  # X: not on the shelves, not ranked
               pick(20, "p3", sku="C"), pick(21, "p3", sku="C"),  # picks are not intent
               intent("v4", 70.0, "C"), intent("v5", 71.0, "C"))  # after the windows
    events = [interest(30, 30, A=2.5, B=1.0), interest(60, 30, A=0.5, C=0.2)]
    m = score(tr, events)["product_interest_rho"]
    assert m["details"]["truth"] == {"A": 3.0, "B": 1.0, "C": 0.0}
    assert m["details"]["span_s"] == [0.0, 60.0]
    assert m["value"] == pytest.approx(1.0)
    reversed_scores = [interest(30, 30, A=0.1, B=1.0, C=2.0)]
    assert score(tr, reversed_scores)["product_interest_rho"]["value"] == pytest.approx(-1.0)


def test_funnel_count_error_counts_the_truth_by_the_processors_rules() -> None:
    def exited(visitor: str, zone: str, t: float, dwell: float) -> dict[str, Any]:
        return {"type": "zone.exited", "visitor": visitor, "zone": zone, "t": t,
                "dwell_s": dwell}

    tr = truth(exited("v1", "drinks", 40, 30), exited("v2", "drinks", 20, 5),
               exited("v3", "drinks", 11, 1),  # clipped a corner: no pass
               exited("v1", "drinks", 50, 5),  # the same visitor in the same window: once
               pick(10, "p1", qty=2), pick(15, "p1", kind="return"), pick(20, "p2", sku="B"),
               {"type": "sale", "visitor": "v1", "receipt": "r-v1", "t": 50.0,
                "lines": [{"sku": "A", "quantity": 1}]},
               pick(200, "p2", sku="B"))  # after the windows
    zones = [{"zone": "drinks", "passed": 2, "stopped": 2, "passed_seen": 1,
              "stopped_seen": 1}]
    products = [{"sku": "A", "picked": 2, "returned": 1, "bought": 1, "picked_not_bought": 0},
                {"sku": "B", "picked": 1, "returned": 0, "bought": 0, "picked_not_bought": 1}]
    events = [ev("omo.insight.funnel.window", 60, window_start=format_time(T0), window_s=60,
                 zones=zones, products=products)]
    m = score(tr, events)["funnel_count_error"]
    assert m["details"]["truth"] == {"passed": 2, "stopped": 1, "picked": 3, "returned": 1,
                                     "bought": 1, "picked_not_bought": 1}
    assert m["details"]["errors"]["stopped"] == 1.0 and m["details"]["errors"]["passed"] == 0
    assert m["value"] == 1.0 and m["better"] == "lower"


def test_audience_window_errors() -> None:
    tr = truth(
        {"type": "camera.pass", "camera": "cam-1", "person": "v1", "staff": False, "t": 5.0,
         "t_end": 25.0, "watched": True, "attention_s": 8.0},
        {"type": "camera.pass", "camera": "cam-1", "person": "v2", "staff": False, "t": 40.0,
         "t_end": 45.0, "watched": False, "attention_s": 0.0, "faces": [[41.0, 43.0]]},
        {"type": "camera.pass", "camera": "cam-1", "person": "v3", "staff": False, "t": 46.0,
         "t_end": 50.0, "watched": False, "attention_s": 0.0, "faces": []},
        {"type": "look", "visitor": "v1", "target_kind": "screen", "target": "screen-1",
         "t": 10.0, "t_end": 18.0, "skus": []})
    events = [ev("omo.vision.audience.window", 30, camera="cam-1", window_s=30, passing=1,
                 watchers=1, attention_s=6.0),
              ev("omo.vision.audience.window", 60, camera="cam-1", window_s=30, passing=2,
                 watchers=0, attention_s=0.0)]
    out = score(tr, events)
    # v3 passed with its back to the camera: no opportunity to see
    assert out["opportunities_to_see_error"]["value"] == 0.5  # 3 counted, 2 true
    assert out["watchers_error"]["value"] == 0.0
    assert out["attention_time_error"]["value"] == 0.25  # 6 s of 8
    assert out["opportunities_to_see_error"]["details"]["mae_per_window"] == 0.5
    left = [ev("omo.vision.person.left", 26, camera="cam-1", track=1, dwell_s=20,
               attention_s=8),
            ev("omo.vision.person.left", 44, camera="cam-1", track=2, dwell_s=1,
               attention_s=0),
            ev("omo.vision.person.left", 46, camera="cam-1", track=3, dwell_s=1,
               attention_s=0)]
    frag = score(tr, left)["track_fragmentation_error"]
    assert frag["value"] == 0.5  # 3 tracks for the 2 passes that showed a face
    assert frag["details"]["passes"] == {"cam-1": 2}


def test_a_glimpse_is_no_opportunity_to_see() -> None:
    """A pass whose face showed for under MIN_FACE_S in all is not counted (the old
    definition, every glimpse counted, stays in the details); a long enough pass counts in
    every window its face was in, however briefly there."""
    tr = truth(
        {"type": "camera.pass", "camera": "cam-1", "person": "v1", "staff": False, "t": 0.0,
         "t_end": 40.0, "faces": [[10.0, 30.2]]},  # 0.2 s in the second window
        {"type": "camera.pass", "camera": "cam-1", "person": "v2", "staff": False, "t": 0.0,
         "t_end": 10.0, "faces": [[5.0, 5.3]]},  # a 0.3 s glimpse
        {"type": "camera.pass", "camera": "cam-1", "person": "v3", "staff": False, "t": 0.0,
         "t_end": 10.0, "faces": [[2.0, 2.3], [6.0, 6.3]]})  # 0.6 s over two glimpses
    events = [ev("omo.vision.audience.window", 30, camera="cam-1", window_s=30, passing=2),
              ev("omo.vision.audience.window", 60, camera="cam-1", window_s=30, passing=1)]
    m = score(tr, events)["opportunities_to_see_error"]
    assert m["details"]["truth_total"] == 3  # v1 and v3, then v1
    assert m["value"] == 0.0
    assert m["details"]["any_glimpse"] == {"value": 0.25, "truth_total": 4}


def test_journey_picked_precision() -> None:
    tr = truth({"type": "visit.ended", "visitor": "v1", "t": 100.0, "duration_s": 80.0,
                "opted_in": True, "zones": [], "picked": ["A", "B"]},
               {"type": "visit.ended", "visitor": "v2", "t": 300.0, "duration_s": 60.0,
                "opted_in": True, "zones": [], "picked": []})
    events = [ev("omo.journey.completed", 103, visitor="1" * 16, duration_s=82,
                 picked=["A", "C"]),
              ev("omo.journey.completed", 500, visitor="2" * 16, duration_s=60, picked=["B"])]
    m = score(tr, events)["journey_picked_precision"]
    assert m["value"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["details"]["matched_visits"] == 1


def app_visit(visitor: str, member: int | None, t: float, t_end: float) -> list[dict[str, Any]]:
    return [{"type": "visit.started", "visitor": visitor, "t": t, "opted_in": member is not None,
             "app_user": member},
            {"type": "visit.ended", "visitor": visitor, "t": t_end, "duration_s": t_end - t,
             "opted_in": member is not None, "zones": [], "picked": []}]


def test_attribution_precision_names_the_app_user_who_picked() -> None:
    m1, m2 = customer_id(1001), customer_id(1002)
    tr = truth(*app_visit("v1", 1001, 0.0, 200.0), *app_visit("v2", 1002, 0.0, 200.0),
               *app_visit("v3", None, 0.0, 200.0),
               pick(50, "p1", visitor="v1"), pick(60, "p2", sku="B", visitor="v2"),
               pick(70, "p1", visitor="v3"),  # no app: nobody to attribute it to
               pick(90, "p3", sku="C", visitor="v1"))  # missed by the edge
    attributed = [
        ev("omo.journey.pick.attributed", 51, customer=m1, visitor="a" * 16, sku="A",
           plate="p1", quantity=1, confidence=0.99),
        ev("omo.journey.pick.attributed", 61, customer=m1, visitor="a" * 16, sku="B",
           plate="p2", quantity=1, confidence=0.98),  # v2 picked it, not m1
        ev("omo.journey.pick.attributed", 71, customer=m2, visitor="b" * 16, sku="A",
           plate="p1", quantity=1, confidence=0.98)]  # v3 picked it, not m2
    m = score(tr, attributed)["attribution_precision"]
    assert m["value"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["details"]["app_user_picks"] == 3
    assert m["details"]["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert not score(tr, [])["attribution_precision"]["scored"]


def test_offers_are_matched_to_true_opportunities_and_wrong_ones_counted() -> None:
    m1, m2, m3 = customer_id(1001), customer_id(1002), customer_id(1003)
    tr = truth(*app_visit("v1", 1001, 0.0, 200.0), *app_visit("v2", 1002, 100.0, 300.0),
               *app_visit("v3", 1003, 0.0, 100.0),
               {"type": "interests", "visitor": "v1", "customer": m1, "t": 0.0, "products": [
                   {"sku": "A", "expires_t": 9999.0, "expires": format_time(T0 + 9999)},
                   {"sku": "B", "expires_t": 9999.0, "expires": format_time(T0 + 9999)},
                   {"sku": "C", "expires_t": 50.0, "expires": format_time(T0 + 50)}]},
               {"type": "interests", "visitor": "v2", "customer": m2, "t": 50.0, "products": [
                   {"sku": "A", "expires_t": 9999.0, "expires": format_time(T0 + 9999)}]},
               {"type": "offer.opportunity", "visitor": "v1", "customer": m1, "sku": "A",
                "zone": "z", "t": 30.0},
               {"type": "offer.opportunity", "visitor": "v2", "customer": m2, "sku": "A",
                "zone": "z", "t": 130.0})

    def offer(t: float, customer: str, sku: str) -> dict[str, Any]:
        return ev("omo.journey.offer.triggered", t, customer=customer, visitor="x" * 16,
                  sku=sku, zone="z", screen="screen-1")

    events = [offer(31, m1, "A"), offer(40, m1, "A"),  # right, then repeated
              offer(60, m1, "B"),  # listed, but v1 never stayed in its zone
              offer(70, m1, "C"),  # expired at 50
              offer(80, m3, "A"),  # m3 has no list
              offer(50, m2, "A")]  # m2 is not in the store yet
    recall = score(tr, events)["offer_recall"]
    assert recall["value"] == 0.5 and recall["details"]["opportunities"] == 2
    wrong = score(tr, events)["offer_wrong"]
    assert wrong["value"] == 3 and wrong["better"] == "lower"
    assert {k: wrong["details"][k] for k in ("right", "repeated", "zone_not_reached",
                                             "expired", "not_listed", "wrong_shopper")} == {
        "right": 1, "repeated": 1, "zone_not_reached": 1, "expired": 1, "not_listed": 1,
        "wrong_shopper": 1}
    assert not score(tr, [])["offer_recall"]["scored"]
