"""The insight processor, from event sequences: product interest and the funnel per window
(docs/insight.md), late events, resent receipts, the join of screen attention with the
product cards shown."""

from __future__ import annotations

from typing import Any

from edge.config import parse
from edge.events import Event, format_time
from edge.insight import build
from edge.insight.processor import FUNNEL, INTEREST, InsightProcessor, from_config
from edge.processing.processor import Output
from edge.processing.registry import build_processors

T0 = 1_767_258_000.0  # a multiple of 15 minutes


def config(**insight: Any) -> Any:
    return parse({
        "store": {"id": "s", "device": "d"},
        "zones": [{"id": "drinks", "kind": "shelf"}, {"id": "snacks", "kind": "shelf"},
                  {"id": "promo", "kind": "screen"}],
        "shelves": [
            {"id": "shelf-1", "port": "/dev/null", "zone": "drinks",
             "plates": [{"id": "p1", "sku": "COLA", "unit_grams": 500},
                        {"id": "p2", "sku": "TEA", "unit_grams": 350}]},
            {"id": "shelf-2", "port": "/dev/null2", "zone": "snacks",
             "plates": [{"id": "p1", "sku": "CHIPS", "unit_grams": 60}]}],
        "screens": [{"id": "screen-1", "zone": "promo"}],
        "cameras": [{"id": "cam-1", "source": "0", "zone": "promo", "screen": "screen-1"}],
        "insight": insight,
    }, env={})


def ev(event_type: str, t: float, **data: Any) -> Event:
    return Event.new(event_type, data, source="omo-edge://s/d", bootid="b" * 32, epoch_s=t)


Emitted = list[tuple[str, dict[str, Any], float]]


def _valid(o: Output) -> Emitted:
    for m in o:  # every emitted event matches its schema (raises InvalidEvent if not)
        ev(m.type, m.at, **m.data)
    return [(m.type, m.data, m.at) for m in o]


def feed(p: InsightProcessor, events: list[Event], until: float) -> Emitted:
    out: Emitted = []
    for e in events:
        o = Output(0.0)
        p.on_event(e, o)
        out += _valid(o)
    t = T0
    while t <= until:
        o = Output(t)
        p.on_tick(t, o)
        out += _valid(o)
        t += 10.0
    return out


def by_type(out: Emitted, t: str) -> list[dict[str, Any]]:
    return [d for k, d, _ in out if k == t]


def sale(t: float, receipt: str, *lines: tuple[str, int], sold: float | None = None) -> Event:
    return ev("omo.pos.sale.recorded", t, receipt=receipt, sold_at=format_time(sold or t),
              via="cloud", lines=[{"sku": s, "quantity": q} for s, q in lines])


def test_it_is_registered_and_can_be_turned_off() -> None:
    assert [p.name for p in build_processors(config()) if p.name == "insight"] == ["insight"]
    assert build(config(enabled=False)) == []


def test_one_window_gives_interest_and_funnel_with_the_documented_formula() -> None:
    p = from_config(config(window_minutes=15, close_after_s=60, stop_dwell_s=10,
                           weight_zone_min=1.0, weight_attention_min=2.0, weight_pick=1.0,
                           weight_return=0.5, weight_offer=2.0))
    events = [
        ev("omo.presence.zone.entered", T0 + 10, visitor="a" * 16, zone="drinks"),
        ev("omo.presence.zone.entered", T0 + 12, visitor="b" * 16, zone="drinks"),
        ev("omo.presence.zone.exited", T0 + 130, visitor="a" * 16, zone="drinks", dwell_s=120.0),
        ev("omo.presence.zone.exited", T0 + 17, visitor="b" * 16, zone="drinks", dwell_s=5.0),
        ev("omo.shelf.item.picked", T0 + 40, shelf="shelf-1", plate="p1", sku="COLA",
           quantity=2),
        ev("omo.shelf.item.returned", T0 + 50, shelf="shelf-1", plate="p1", quantity=1),
        ev("omo.shelf.item.picked", T0 + 60, shelf="shelf-2", plate="p1", sku="CHIPS",
           quantity=1),
        sale(T0 + 300, "r-1", ("COLA", 1)),
        ev("omo.journey.offer.triggered", T0 + 70, customer="m1", visitor="a" * 16, sku="TEA",
           zone="drinks", screen=None),
    ]
    out = feed(p, events, T0 + 900 + 60)
    [interest] = by_type(out, INTEREST)
    [funnel] = by_type(out, FUNNEL)
    assert [t for _, _, t in out] == [T0 + 900, T0 + 900]
    rows = {r["sku"]: r for r in interest["products"]}
    # COLA: 120 s stopped in drinks shared by 2 products = 60 s -> 1 point; 2 picks; 1 return
    assert rows["COLA"] == {"sku": "COLA", "zone": "drinks", "score": 1.0 + 2 + 0.5,
                            "zone_s": 60.0, "attention_s": 0.0, "picked": 2, "paired": 0,
                            "paired_credit": 0.0, "returned": 1, "offered": 0}
    # TEA: its 60 s share of drinks -> 1 point; an opted-in shopper who browsed it online
    # reached its shelf -> 2 points
    assert rows["TEA"]["score"] == 1.0 + 2.0 and rows["TEA"]["offered"] == 1
    assert rows["CHIPS"]["score"] == 1.0
    assert interest["products"][0]["sku"] == "COLA"
    zones = {z["zone"]: z for z in funnel["zones"]}
    assert zones["drinks"] == {"zone": "drinks", "passed": 2, "stopped": 1, "passed_seen": 2,
                               "stopped_seen": 1}
    assert zones["promo"]["looked"] == 0  # a camera covers it
    cola = next(r for r in funnel["products"] if r["sku"] == "COLA")
    assert cola == {"sku": "COLA", "zone": "drinks", "passed": 2, "stopped": 1, "picked": 2,
                    "returned": 1, "bought": 1, "picked_not_bought": 0}
    chips = next(r for r in funnel["products"] if r["sku"] == "CHIPS")
    assert chips["picked_not_bought"] == 1


def test_picks_on_two_plates_of_a_shelf_within_a_second_count_as_paired() -> None:
    p = from_config(config(weight_zone_min=0.0, weight_pick=1.0, weight_pick_paired=0.5,
                           pair_split=0.0))
    events = [
        # one hand takes COLA (2 units) and TEA together: paired, half a point per unit
        ev("omo.shelf.item.picked", T0 + 40.0, shelf="shelf-1", plate="p1", sku="COLA",
           quantity=2),
        ev("omo.shelf.item.picked", T0 + 40.6, shelf="shelf-1", plate="p2", sku="TEA",
           quantity=1),
        # a third pick right after does not pair with a pick already paired
        ev("omo.shelf.item.picked", T0 + 41.0, shelf="shelf-1", plate="p1", sku="COLA",
           quantity=1),
        # the same plate twice, or picks 5 s apart, or on another shelf: not paired
        ev("omo.shelf.item.picked", T0 + 100.0, shelf="shelf-1", plate="p2", sku="TEA",
           quantity=1),
        ev("omo.shelf.item.picked", T0 + 100.2, shelf="shelf-2", plate="p1", sku="CHIPS",
           quantity=1),
        ev("omo.shelf.item.picked", T0 + 105.2, shelf="shelf-1", plate="p1", sku="COLA",
           quantity=1),
    ]
    [interest] = by_type(feed(p, events, T0 + 900 + 60), INTEREST)
    rows = {r["sku"]: r for r in interest["products"]}
    assert (rows["COLA"]["picked"], rows["COLA"]["paired"], rows["COLA"]["score"]) == (4, 2, 3.0)
    assert (rows["TEA"]["picked"], rows["TEA"]["paired"], rows["TEA"]["score"]) == (2, 1, 1.5)
    assert (rows["CHIPS"]["paired"], rows["CHIPS"]["score"]) == (0, 1.0)


def pair_after_picks(split: float) -> dict[str, dict[str, Any]]:
    p = from_config(config(weight_zone_min=0.0, weight_pick=1.0, weight_return=0.0,
                           weight_pick_paired=0.5, pair_split=split))
    events = [ev("omo.shelf.item.picked", T0 + t, shelf="shelf-1", plate="p1", sku="COLA",
                 quantity=1) for t in (10.0, 20.0, 30.0)]
    # one hand takes COLA (3 units picked before: the likelier one come for) and TEA
    events += [ev("omo.shelf.item.picked", T0 + 40.0, shelf="shelf-1", plate="p1",
                  sku="COLA", quantity=1),
               ev("omo.shelf.item.picked", T0 + 40.5, shelf="shelf-1", plate="p2", sku="TEA",
                  quantity=1)]
    [interest] = by_type(feed(p, events, T0 + 900 + 60), INTEREST)
    return {r["sku"]: r for r in interest["products"]}


def test_a_pair_is_credited_by_the_odds_from_the_picks_so_far() -> None:
    # picks so far at the report: COLA 4, TEA 1; odds (4 + 1) : (1 + 1) = 5 : 2
    rows = pair_after_picks(1.0)
    assert (rows["COLA"]["paired"], rows["TEA"]["paired"]) == (1, 1)
    assert rows["COLA"]["paired_credit"] == round(2 * 5 / 7, 3)
    assert rows["TEA"]["paired_credit"] == round(2 * 2 / 7, 3)
    assert rows["COLA"]["score"] == round(3 + 0.5 * 2 * 5 / 7, 3)  # 3 unpaired picks
    assert rows["TEA"]["score"] == round(0.5 * 2 * 2 / 7, 3)
    # the pair's total stays one product come for: 2 x weight_pick_paired
    assert abs(rows["COLA"]["paired_credit"] + rows["TEA"]["paired_credit"] - 2.0) < 1e-2
    # pair_split 0: halves, as if nothing were picked before
    even = pair_after_picks(0.0)
    assert (even["COLA"]["score"], even["TEA"]["score"]) == (3.5, 0.5)
    assert even["COLA"]["paired_credit"] == even["TEA"]["paired_credit"] == 1.0


def test_a_window_is_reported_only_after_its_grace_and_empty_windows_too() -> None:
    p = from_config(config(window_minutes=1, close_after_s=30))
    out = feed(p, [ev("omo.shelf.item.picked", T0 + 5, shelf="shelf-1", plate="p2",
                      quantity=1)], T0 + 60 + 20)
    assert out == []
    out = feed(p, [], T0 + 150)
    funnels = by_type(out, FUNNEL)
    assert [f["window_start"] for f in funnels] == [format_time(T0), format_time(T0 + 60)]
    assert next(r for r in funnels[0]["products"] if r["sku"] == "TEA")["picked"] == 1
    assert all(r["picked"] == 0 for r in funnels[1]["products"])


def test_late_inputs_go_to_the_oldest_open_window_and_are_counted() -> None:
    p = from_config(config(window_minutes=1, close_after_s=0))
    feed(p, [ev("omo.shelf.item.picked", T0 + 5, shelf="shelf-1", plate="p2", quantity=1)],
         T0 + 60)
    out = feed(p, [sale(T0 + 70, "r-9", ("TEA", 1), sold=T0 + 10)], T0 + 120)
    [f] = by_type(out, FUNNEL)
    assert f["late_sales"] == 1
    assert next(r for r in f["products"] if r["sku"] == "TEA")["bought"] == 1
    assert p.counters()["insight.late.sale"] == 1


def test_a_receipt_seen_twice_is_counted_once() -> None:
    p = from_config(config(window_minutes=1, close_after_s=0))
    out = feed(p, [sale(T0 + 1, "r-1", ("COLA", 2)), sale(T0 + 2, "r-1", ("COLA", 2)),
                   sale(T0 + 3, "r-2", ("GUM", 1))], T0 + 60)
    [f] = by_type(out, FUNNEL)
    rows = {r["sku"]: r for r in f["products"]}
    assert rows["COLA"]["bought"] == 2
    assert rows["GUM"] == {"sku": "GUM", "picked": 0, "returned": 0, "bought": 1,
                           "picked_not_bought": 0}  # sold, but on no shelf
    assert p.counters()["insight.sales.duplicate"] == 1


def test_coverage_scales_zone_counts_to_the_door_counters_footfall() -> None:
    p = from_config(config(window_minutes=1, close_after_s=0))
    events = [ev("omo.presence.visit.started", T0 + 2, visitor=f"{i:016x}", opted_in=False)
               for i in range(10)]
    # a visit after the door counter's last window is compared with the next one
    events.append(ev("omo.presence.visit.started", T0 + 40, visitor="f" * 16, opted_in=False))
    events.append(ev("omo.presence.footfall.window", T0 + 30, counter="door", zone="drinks",
                     window_start=format_time(T0), window_s=30, **{"in": 20}, out=0,
                     occupancy=20))
    events += [ev("omo.presence.zone.entered", T0 + 3, visitor=f"{i:016x}", zone="snacks")
               for i in range(5)]
    [f] = by_type(feed(p, events, T0 + 60), FUNNEL)
    assert f["coverage"] == 0.5
    snacks = next(z for z in f["zones"] if z["zone"] == "snacks")
    assert (snacks["passed_seen"], snacks["passed"]) == (5, 10)


def test_screen_attention_goes_to_the_product_cards_shown_meanwhile() -> None:
    p = from_config(config(window_minutes=1, close_after_s=0))
    events = [
        ev("omo.signage.item.played", T0 + 30, screen="screen-1", item="product:TEA",
           duration_s=20.0, start=format_time(T0 + 10), end=format_time(T0 + 30)),
        ev("omo.signage.item.played", T0 + 40, screen="screen-1", item="logo.png",
           duration_s=10.0, start=format_time(T0 + 30), end=format_time(T0 + 40)),
        # seen from T0 + 20 to T0 + 40: half of it with the TEA card on screen
        ev("omo.vision.person.left", T0 + 40, camera="cam-1", zone="promo", screen="screen-1",
           track=1, dwell_s=20.0, attention_s=8.0, looked=True),
    ]
    out = feed(p, events, T0 + 60)
    [interest] = by_type(out, INTEREST)
    [funnel] = by_type(out, FUNNEL)
    tea = next(r for r in interest["products"] if r["sku"] == "TEA")
    assert tea["attention_s"] == 4.0 and tea["score"] == round(2.0 * 4.0 / 60, 3)
    assert next(z for z in funnel["zones"] if z["zone"] == "promo")["looked"] == 1
    assert next(r for r in funnel["products"] if r["sku"] == "TEA")["looked"] == 1


def test_malformed_inputs_are_skipped_and_counted() -> None:
    p = from_config(config(window_minutes=1, close_after_s=0))
    bad = Event("0" * 8 + "-0000-7000-8000-" + "0" * 12, "omo.shelf.item.picked",
                "omo-edge://s/d", format_time(T0 + 1), {"shelf": "x", "plate": "y",
                                                        "quantity": 1}, "b" * 32)
    out = feed(p, [bad], T0 + 60)
    assert p.counters()["insight.skipped.no_product"] == 1
    assert out == []  # nothing countable came: no window was opened


def test_recomputing_from_stored_events_gives_the_same_windows() -> None:
    from edge.insight.recompute import recompute

    events = [
        ev("omo.presence.zone.entered", T0 + 10, visitor="a" * 16, zone="drinks"),
        ev("omo.presence.zone.exited", T0 + 130, visitor="a" * 16, zone="drinks",
           dwell_s=120.0),
        ev("omo.shelf.item.picked", T0 + 40, shelf="shelf-1", plate="p1", sku="COLA",
           quantity=2),
        sale(T0 + 300, "r-1", ("COLA", 1)),
        ev("omo.shelf.item.picked", T0 + 1000, shelf="shelf-1", plate="p2", quantity=1),
    ]
    stored = [e.with_seq(i) for i, e in enumerate(events, start=1)]
    live = feed(from_config(config(window_minutes=5)), events, T0 + 1200)
    again = recompute(from_config(config(window_minutes=5)), stored, until=T0 + 1200)
    assert [(m.type, m.data, m.at) for m in again] == live
    assert len(by_type(live, FUNNEL)) == 3
