"""The journey processor from event sequences (docs/journey.md): offers once per product per
visit, the cooldown across visits, expiry, a list pushed while the shopper stands at the
shelf, pick attribution (and no attribution when candidates are close), the summary at the
visit's end; and the interest store kept across restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.config import parse
from edge.events import Event, format_time
from edge.journey import build
from edge.journey.attribution import Candidate, Outcome, Stay, decide
from edge.journey.interests import Interest, InterestsInvalid, load, parse_products, save
from edge.journey.processor import (
    ATTRIBUTED,
    COMPLETED,
    INTERESTS,
    OFFER,
    JourneyProcessor,
    from_config,
)
from edge.processing.processor import Output
from edge.signage_link.state import TRIGGER_FIRED

T0 = 1_767_258_000.0
ALICE, BOB, CAROL = "a" * 16, "b" * 16, "c" * 16


def config(tmp: Path | None = None, **journey: Any) -> Any:
    """The test store; attribution from presence alone unless a test asks for receipts."""
    journey.setdefault("attribution_needs_receipt", False)
    raw: dict[str, Any] = {
        "store": {"id": "s", "device": "d"},
        "zones": [{"id": "entrance", "kind": "entrance", "area": [0, 0, 2, 2]},
                  {"id": "drinks", "kind": "shelf", "area": [4, 0, 6, 2]},
                  {"id": "snacks", "kind": "shelf", "area": [8, 0, 10, 2]},
                  {"id": "checkout", "kind": "checkout", "area": [12, 0, 14, 2]}],
        "shelves": [
            {"id": "shelf-1", "port": "/dev/null", "zone": "drinks",
             "plates": [{"id": "p1", "sku": "TEA", "name": "お茶", "unit_grams": 500,
                         "price": 150},
                        {"id": "p2", "sku": "COLA", "unit_grams": 350}]},
            {"id": "shelf-2", "port": "/dev/null2", "zone": "snacks",
             "plates": [{"id": "p1", "sku": "CHIPS", "unit_grams": 60}]}],
        "screens": [{"id": "screen-drinks", "zone": "drinks"}],
        "journey": journey,
    }
    if tmp is not None:
        raw["storage"] = {"path": str(tmp / "events.db"), "state_dir": str(tmp / "state")}
    return parse(raw, env={})


def ev(event_type: str, t: float, **data: Any) -> Event:
    return Event.new(event_type, data, source="omo-edge://s/d", bootid="b" * 32, epoch_s=t)


def interests(customer: str, t: float, *items: tuple[str, float]) -> Event:
    return ev(INTERESTS, t, customer=customer,
              products=[{"sku": s, "expires": format_time(e)} for s, e in items])


def arrive(visitor: str, customer: str | None, t: float, zone: str = "entrance") -> list[Event]:
    out = [ev("omo.presence.visit.started", t, visitor=visitor, opted_in=customer is not None,
              zone=zone)]
    if customer is not None:
        out.append(ev("omo.presence.app_user.arrived", t, visitor=visitor, customer=customer,
                      zone=zone))
    return [*out, ev("omo.presence.zone.entered", t, visitor=visitor, zone=zone)]


def move(visitor: str, old: str, new: str, t: float) -> list[Event]:
    return [ev("omo.presence.zone.exited", t, visitor=visitor, zone=old, dwell_s=1.0),
            ev("omo.presence.zone.entered", t, visitor=visitor, zone=new)]


def leave(visitor: str, zone: str, t: float, duration: float) -> list[Event]:
    return [ev("omo.presence.zone.exited", t, visitor=visitor, zone=zone, dwell_s=1.0),
            ev("omo.presence.visit.ended", t, visitor=visitor, duration_s=duration)]


def pick(t: float, sku: str = "TEA", plate: str = "p1", quantity: int = 1) -> Event:
    return ev("omo.shelf.item.picked", t, shelf="shelf-1", plate=plate, sku=sku,
              quantity=quantity)


Emitted = list[tuple[str, dict[str, Any], float]]


def run(p: JourneyProcessor, events: list[Event], until: float) -> Emitted:
    """Feed the events in order with the host's ticks (every second, before any later
    input), as the processor host does; every emission is checked against its schema."""
    out: Emitted = []
    tick = T0

    def emitted(o: Output) -> None:
        for m in o:
            ev(m.type, m.at, **m.data)  # raises InvalidEvent if it breaks its schema
            out.append((m.type, m.data, m.at))

    def ticks_to(t: float) -> None:
        nonlocal tick
        while tick <= t:
            o = Output(tick)
            p.on_tick(tick, o)
            emitted(o)
            tick += 1.0

    for e in events:
        t = _t(e)
        ticks_to(t)
        o = Output(t)
        p.on_event(e, o)
        emitted(o)
    ticks_to(until)
    return out


def _t(e: Event) -> float:
    from edge.events import parse_time
    return parse_time(e.time)


def of(out: Emitted, event_type: str) -> list[dict[str, Any]]:
    return [d for t, d, _ in out if t == event_type]


def test_an_offer_once_per_product_per_visit_with_the_card_on_the_nearest_screen() -> None:
    p = from_config(config())
    far = T0 + 86400
    out = run(p, [interests("m1", T0, ("TEA", far), ("CHIPS", far)),
                  *arrive(ALICE, "m1", T0 + 1),
                  *move(ALICE, "entrance", "drinks", T0 + 10),
                  *move(ALICE, "drinks", "entrance", T0 + 20),
                  *move(ALICE, "entrance", "drinks", T0 + 30),  # back again: no new offer
                  *move(ALICE, "drinks", "snacks", T0 + 40),
                  *leave(ALICE, "snacks", T0 + 50, 49.0)], T0 + 100)
    offers = of(out, OFFER)
    assert offers == [
        {"customer": "m1", "visitor": ALICE, "sku": "TEA", "zone": "drinks",
         "screen": "screen-drinks"},
        {"customer": "m1", "visitor": ALICE, "sku": "CHIPS", "zone": "snacks",
         "screen": "screen-drinks"}]  # the only screen is the nearest one
    [tea, chips] = of(out, TRIGGER_FIRED)
    assert tea["product"] == {"sku": "TEA", "name": "お茶", "price": 150}
    assert tea["item"] == "product:TEA" and tea["screen"] == "screen-drinks"
    assert "m1" not in repr(tea) and ALICE not in repr(tea)  # never the shopper
    assert chips["product"]["sku"] == "CHIPS"
    [done] = of(out, COMPLETED)
    assert done["offers"] == ["TEA", "CHIPS"]
    assert done["zones"] == ["entrance", "drinks", "entrance", "drinks", "snacks"]
    assert done["duration_s"] == 49.0 and done["customer"] == "m1"


def test_the_cooldown_holds_across_visits_and_expired_products_are_never_offered() -> None:
    p = from_config(config(offer_cooldown_s=600))
    out = run(p, [interests("m1", T0, ("TEA", T0 + 86400), ("COLA", T0 + 5)),
                  *arrive(ALICE, "m1", T0 + 1),
                  *move(ALICE, "entrance", "drinks", T0 + 10),  # COLA expired at T0 + 5
                  *leave(ALICE, "drinks", T0 + 20, 19.0),
                  *arrive(BOB, "m1", T0 + 100),  # the same customer, a new visit
                  *move(BOB, "entrance", "drinks", T0 + 110),  # within the cooldown
                  *leave(BOB, "drinks", T0 + 120, 20.0),
                  *arrive(CAROL, "m1", T0 + 700),
                  *move(CAROL, "entrance", "drinks", T0 + 710),  # after it
                  *leave(CAROL, "drinks", T0 + 720, 20.0)], T0 + 800)
    assert [(o["visitor"], o["sku"]) for o in of(out, OFFER)] == [(ALICE, "TEA"),
                                                                  (CAROL, "TEA")]
    assert p.counters()["journey.offers.cooldown"] == 1
    assert p.counters()["journey.offers.expired"] >= 1
    assert [d["offers"] for d in of(out, COMPLETED)] == [["TEA"], [], ["TEA"]]


def test_a_list_pushed_while_at_the_shelf_offers_at_once_and_an_empty_one_clears() -> None:
    p = from_config(config())
    out = run(p, [*arrive(ALICE, "m1", T0 + 1),
                  *move(ALICE, "entrance", "drinks", T0 + 10),
                  interests("m1", T0 + 15, ("TEA", T0 + 86400)),
                  interests("m2", T0 + 16, ("CHIPS", T0 + 86400)),
                  interests("m2", T0 + 17)],  # cleared before m2 arrives
              T0 + 20)
    out += run(p, [*arrive(BOB, "m2", T0 + 21), *move(BOB, "entrance", "snacks", T0 + 25)],
               T0 + 30)
    assert [(o["customer"], o["sku"]) for o in of(out, OFFER)] == [("m1", "TEA")]
    assert p.counters()["journey.customers"] == 1


def test_a_pick_goes_to_the_one_opted_in_shopper_at_the_shelf_and_into_the_summary() -> None:
    p = from_config(config())
    out = run(p, [*arrive(ALICE, "m1", T0 + 1),
                  *move(ALICE, "entrance", "drinks", T0 + 10),
                  pick(T0 + 20, quantity=2),
                  pick(T0 + 25, sku="COLA", plate="p2"),
                  pick(T0 + 27, sku="COLA", plate="p2"),
                  ev("omo.shelf.item.returned", T0 + 30, shelf="shelf-1", plate="p2",
                     sku="COLA", quantity=1),  # one COLA put back
                  ev("omo.pos.sale.recorded", T0 + 40, receipt="R-1", via="cloud",
                     sold_at=format_time(T0 + 40), lines=[{"sku": "TEA", "quantity": 1}]),
                  *leave(ALICE, "drinks", T0 + 50, 49.0)], T0 + 100)
    attributed = of(out, ATTRIBUTED)
    assert [(a["sku"], a["quantity"], a["plate"]) for a in attributed] == [
        ("TEA", 2, "p1"), ("COLA", 1, "p2"), ("COLA", 1, "p2")]
    assert all(a["customer"] == "m1" and a["visitor"] == ALICE and a["confidence"] >= 0.6
               for a in attributed)
    [done] = of(out, COMPLETED)
    assert done["picked"] == ["TEA", "TEA", "COLA"]  # what she kept
    assert p.counters()["journey.returns.attributed"] == 1
    assert done["bought"] == ["TEA"]
    assert done["looked"] == ["TEA", "COLA"]  # a 40 s stay at the drinks shelf
    assert done["offers"] == []


def test_no_attribution_when_two_shoppers_are_close_nor_to_a_shopper_elsewhere() -> None:
    p = from_config(config())
    out = run(p, [*arrive(ALICE, "m1", T0 + 1), *arrive(BOB, None, T0 + 1),
                  *move(ALICE, "entrance", "drinks", T0 + 10),
                  *move(BOB, "entrance", "drinks", T0 + 11),
                  pick(T0 + 20),  # both there: ambiguous
                  *move(BOB, "drinks", "entrance", T0 + 30),
                  *move(ALICE, "drinks", "snacks", T0 + 31),
                  pick(T0 + 45),  # nobody at the drinks shelf
                  *leave(ALICE, "snacks", T0 + 50, 49.0),
                  *leave(BOB, "entrance", T0 + 50, 49.0)], T0 + 100)
    assert of(out, ATTRIBUTED) == []
    counters = p.counters()
    assert counters["journey.picks.ambiguous"] == 1
    assert counters["journey.picks.no_candidate"] == 1
    [done] = of(out, COMPLETED)  # only the opted-in visit is summarised
    assert done["visitor"] == ALICE and done["picked"] == []


@pytest.mark.parametrize(("picked_at", "attributed"), [(27.5, True), (29.0, False)])
def test_a_pick_as_the_shopper_leaves_the_zone_is_not_hers(picked_at: float,
                                                           attributed: bool) -> None:
    """Presence decides an exit a few seconds late: BLE leaving the zone within
    `attribution_stay_after_s` (2 s) of the pick means she may have been gone already."""
    p = from_config(config(attribution_stay_after_s=2.0))
    out = run(p, [*arrive(ALICE, "m1", T0 + 1), *move(ALICE, "entrance", "drinks", T0 + 10),
                  pick(T0 + picked_at), *move(ALICE, "drinks", "snacks", T0 + 30),
                  *leave(ALICE, "snacks", T0 + 50, 49.0)], T0 + 100)
    assert [a["visitor"] for a in of(out, ATTRIBUTED)] == ([ALICE] if attributed else [])
    assert p.counters().get("journey.picks.leaving", 0) == (0 if attributed else 1)


def test_a_zone_change_decided_after_the_pick_still_counts() -> None:
    """Presence dates zone changes back: the entry into the drinks zone reaches the log after
    the pick it covers; the pick waits `attribution_wait_s` for it."""
    p = from_config(config())
    events = [*arrive(ALICE, "m1", T0 + 1), pick(T0 + 12)]
    events += [ev("omo.presence.zone.exited", T0 + 10, visitor=ALICE, zone="entrance",
                  dwell_s=9.0),
               ev("omo.presence.zone.entered", T0 + 10, visitor=ALICE, zone="drinks")]
    out: Emitted = []
    for e in events:  # the late entry arrives at T0 + 16, in log order
        o = Output(T0 + 16)
        p.on_event(e, o)
    for t in range(int(T0) + 16, int(T0) + 40):
        o = Output(float(t))
        p.on_tick(float(t), o)
        out += [(m.type, m.data, m.at) for m in o]
    [a] = of(out, ATTRIBUTED)
    assert a["visitor"] == ALICE


def sale(t: float, *lines: tuple[str, int], receipt: str = "R-1") -> Event:
    return ev("omo.pos.sale.recorded", t, receipt=receipt, via="cloud", sold_at=format_time(t),
              lines=[{"sku": sku, "quantity": q} for sku, q in lines])


def checkout_visit(*extra: Event, sold: list[Event]) -> list[Event]:
    """ALICE picks one TEA at the drinks shelf, then leaves the checkout zone at T0 + 61.5:
    her receipt is the one sold `receipt_lead_s` (6 s) before, give or take 3 s."""
    return sorted([*arrive(ALICE, "m1", T0 + 1), *move(ALICE, "entrance", "drinks", T0 + 10),
                   pick(T0 + 20), *extra, *move(ALICE, "drinks", "checkout", T0 + 40), *sold,
                   *leave(ALICE, "checkout", T0 + 61.5, 60.5)], key=_t)


@pytest.mark.parametrize(("extra", "sold", "attributed", "count"), [
    ((), [sale(T0 + 55, ("TEA", 1))], ["TEA"], "picks.confirmed"),
    # someone BLE cannot see picks a TEA beside her: her receipt has one, two were picked
    ((pick(T0 + 26),), [sale(T0 + 55, ("TEA", 1))], [], "picks.not_on_receipt"),
    ((), [sale(T0 + 55, ("COLA", 1))], [], "picks.not_on_receipt"),
    ((), [sale(T0 + 40, ("TEA", 1))], [], "picks.no_receipt"),  # nothing sold as she left
    ((), [sale(T0 + 54, ("TEA", 1)), sale(T0 + 56, ("TEA", 1), receipt="R-2")], [],
     "picks.no_receipt"),  # two receipts then: which is hers is unknown
])
def test_with_receipts_a_pick_is_hers_only_when_her_own_receipt_accounts_for_it(
        extra: tuple[Event, ...], sold: list[Event], attributed: list[str], count: str) -> None:
    p = from_config(config(attribution_needs_receipt=True))
    out = run(p, checkout_visit(*extra, sold=sold), T0 + 120)
    assert [a["sku"] for a in of(out, ATTRIBUTED)] == attributed
    assert p.counters()[f"journey.{count}"] >= 1
    done = of(out, COMPLETED)
    assert len(done) == 1 and done[0]["picked"] == attributed
    if attributed:  # dated at the pick, decided at the visit's end
        assert [at for t, _, at in out if t == ATTRIBUTED] == [T0 + 20]


def test_the_decision_rule() -> None:
    alone = [Candidate(ALICE, True, (Stay("drinks", 0.0, None),))]
    assert decide(alone, "drinks", 10.0, window_s=3, threshold=0.6,
                  ambiguity_ratio=0.5).outcome is Outcome.ATTRIBUTED
    # Bob left 2 s before the pick: presence 1/6 against Alice's 1: a clear winner
    passing = [*alone, Candidate(BOB, False, (Stay("drinks", 0.0, 8.0),))]
    d = decide(passing, "drinks", 10.0, window_s=3, threshold=0.6, ambiguity_ratio=0.5)
    assert d.outcome is Outcome.ATTRIBUTED and d.visitor == ALICE
    assert d.confidence == pytest.approx(1 / (1 + 1 / 6))
    # Bob there half the window: close enough to refuse
    half = [*alone, Candidate(BOB, False, (Stay("drinks", 0.0, 10.0),))]
    assert decide(half, "drinks", 10.0, window_s=3, threshold=0.6,
                  ambiguity_ratio=0.5).outcome is Outcome.AMBIGUOUS
    # Alice arrived just at the pick: too little evidence
    late = [Candidate(ALICE, True, (Stay("drinks", 9.5, None),))]
    assert decide(late, "drinks", 10.0, window_s=3, threshold=0.6,
                  ambiguity_ratio=0.5).outcome is Outcome.LOW_CONFIDENCE


def test_interest_lists_are_kept_across_a_restart_with_caps(tmp_path: Path) -> None:
    cfg = config(tmp_path, max_customers=2, max_products=2)
    now = T0
    items, expired = parse_products(
        [{"sku": "TEA", "expires": format_time(now + 60)},
         {"sku": "TEA", "expires": format_time(now + 600)},
         {"sku": "COLA", "expires": format_time(now - 1)}], now, 2)
    assert items == (Interest("TEA", now + 600),) and expired == 1
    with pytest.raises(InterestsInvalid, match="at most 2"):
        parse_products([{"sku": s, "expires": format_time(now + 60)}
                        for s in ("A", "B", "C")], now, 2)
    with pytest.raises(InterestsInvalid, match="args/products/0/expires"):
        parse_products([{"sku": "A", "expires": "2026-13-45T00:00:00Z"}], now, 2)
    state = cfg.storage.state_dir
    for customer in ("m1", "m2", "m3"):
        save(state, customer, items, max_customers=2)
    kept = load(state, 10)
    assert len(kept) == 2 and "m3" in kept
    save(state, "m3", (), max_customers=2)  # an empty list clears
    assert "m3" not in load(state, 10)
    (state / "journey" / "interests" / "m9.json").write_text("{not json")
    [p] = build(cfg)
    assert isinstance(p, JourneyProcessor) and set(p.interests) == set(load(state, 10))


MARK = "zz-HOSTILE-zz"  # text that must never reach an answer, the log or the state folder


def test_the_interests_command_keeps_a_list_records_it_and_refuses_bad_args_clearly(
        tmp_path: Path) -> None:
    """`journey.interests` through its handler on a real event log: a good list is kept
    and recorded (expired entries dropped, said in the result); bad args are refused naming
    the field and the rule, never quoting what was sent, and change nothing."""
    import asyncio
    import json

    from edge.clock import SystemClock
    from edge.eventlog import EventLog
    from edge.journey.command import UPDATED, InterestDesk
    from edge.runtime import Emitter
    from edge.services import Services
    from edge.sync.commands import CommandRejected

    cfg = config(tmp_path, max_products=3)
    clock = SystemClock()
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    soon, later = format_time(clock.now() + 600), format_time(clock.now() + 3600)
    bad: list[tuple[Any, str]] = [
        ({"customer": MARK, "products": []}, "args/customer"),
        ({"customer": "m1", "products": [{"sku": MARK + "/" * 80, "expires": soon}]},
         "args/products/0/sku"),
        ({"customer": "m1", "products": [{"sku": "A", "expires": MARK}]},
         "args/products/0/expires"),
        ({"customer": "m1", "products": [{"sku": "A", "expires": "2026-02-30T00:00:00Z"}]},
         "args/products/0/expires: not a valid"),
        ({"customer": "m1", "products": [{"sku": s, "expires": soon} for s in "ABCD"]},
         "at most 3"),
        ({"customer": "m1", "products": [], "name": MARK}, "args"),
        ({"customer": "m1"}, "args"),
    ]

    async def scenario() -> None:
        log = EventLog(cfg.storage.path)
        emitter = Emitter(log, clock, source="omo-edge://s/d", bootid="b" * 32)
        await emitter.start()
        try:
            desk = InterestDesk(cfg, Services(config=cfg, clock=clock, event_log=log,
                                              emitter=emitter))
            results.append(await desk.update({"customer": "m1", "products": [
                {"sku": "TEA", "expires": soon}, {"sku": "TEA", "expires": later},
                {"sku": "COLA", "expires": "2020-01-01T00:00:00Z"}]}))
            for args, says in bad:
                with pytest.raises(CommandRejected) as info:
                    await desk.update(args)
                assert says in str(info.value), (says, str(info.value))
                errors.append(str(info.value))
            results.append(await desk.update({"customer": "m2", "products": []}))
            assert desk.counts["rejected"] == len(bad)
        finally:
            await emitter.stop()
        recorded = [s.event.data for s in log.query(types=[UPDATED])]
        log.close()
        assert recorded == [{"customer": "m1", "products": [{"sku": "TEA",
                                                             "expires": later}]},
                            {"customer": "m2", "products": []}]

    asyncio.run(scenario())
    assert results[0] == {"customer": "m1", "products": 1, "expired": 1, "cleared": False,
                          "dropped_customers": 0}
    assert results[1]["cleared"] is True
    assert MARK not in json.dumps(errors)
    kept = load(cfg.storage.state_dir, 10)
    assert set(kept) == {"m1"} and MARK not in json.dumps(
        [p.name for p in (cfg.storage.state_dir / "journey" / "interests").iterdir()])


def test_shoppers_ble_cannot_see_lower_the_confidence() -> None:
    """The door counter counts six people in the store while BLE follows only Alice: the
    others may stand at the shelf too, so her lone presence is not enough evidence."""
    def scenario(occupancy: int) -> tuple[Emitted, dict[str, int]]:
        p = from_config(config())
        out = run(p, [*arrive(ALICE, "m1", T0 + 1),
                      ev("omo.presence.footfall.window", T0 + 5, counter="door-1",
                         zone="entrance", window_start=format_time(T0 - 55), window_s=60.0,
                         occupancy=occupancy, **{"in": occupancy, "out": 0}),
                      *move(ALICE, "entrance", "drinks", T0 + 10),
                      pick(T0 + 20),
                      *leave(ALICE, "drinks", T0 + 50, 49.0)], T0 + 100)
        return out, p.counters()

    out, counters = scenario(occupancy=6)
    assert of(out, ATTRIBUTED) == [] and counters["journey.picks.low_confidence"] == 1
    out, counters = scenario(occupancy=1)  # Alice alone in the store
    assert len(of(out, ATTRIBUTED)) == 1


def test_presence_from_adverts_drives_the_offer_the_attribution_and_the_summary() -> None:
    """The seam from BLE adverts on: an app user's beacon heard by two receivers goes through
    the real presence processor (zone changes decided late and dated back, the visit ended by
    the silence), its events in the order presence decided them, with a pick at the shelf
    between them, into the journey processor."""
    from drivers.app_beacon import customer_id, encode_token
    from tests.test_presence import APP_UUID, KEY, ibeacon, walk
    from tests.test_presence import processor as presence_processor

    member = 424242
    customer = customer_id(member)
    cfg = parse({"store": {"id": "s", "device": "d"},
                 "zones": [{"id": "left", "kind": "entrance", "area": [0, 0, 6, 6]},
                           {"id": "right", "kind": "shelf", "area": [6, 0, 12, 6]}],
                 "shelves": [{"id": "shelf-1", "port": "/dev/null", "zone": "right",
                              "plates": [{"id": "p1", "sku": "TEA", "unit_grams": 500}]}],
                 "screens": [{"id": "screen-right", "zone": "right"}],
                 "journey": {"attribution_needs_receipt": False}}, env={})
    presence = presence_processor()
    token = encode_token(KEY.secret, member, T0, 600.0)
    decided: list[tuple[float, Event]] = [(T0, interests(customer, T0, ("TEA", T0 + 3600)))]
    tick = T0 + 1.0
    for a in walk(15, 30, ibeacon(*token, APP_UUID)):
        while tick <= a.t:
            o = Output(tick)
            presence.on_tick(tick, o)
            decided += [(tick, ev(m.type, m.at, **m.data)) for m in o]
            tick += 1.0
        presence.on_reading(a, Output(a.t))
    while tick <= T0 + 90:
        o = Output(tick)
        presence.on_tick(tick, o)
        decided += [(tick, ev(m.type, m.at, **m.data)) for m in o]
        tick += 1.0
    decided.append((T0 + 36.0, pick(T0 + 35.0)))  # the shelf reports it at once
    decided.sort(key=lambda d: d[0])

    journey = from_config(cfg)
    out: Emitted = []
    tick = T0 + 1.0
    for at, event in decided:
        while tick <= at:
            o = Output(tick)
            journey.on_tick(tick, o)
            out += [(m.type, m.data, m.at) for m in o]
            tick += 1.0
        o = Output(_t(event))
        journey.on_event(event, o)
        out += [(m.type, m.data, m.at) for m in o]
    while tick <= T0 + 150:
        o = Output(tick)
        journey.on_tick(tick, o)
        out += [(m.type, m.data, m.at) for m in o]
        tick += 1.0

    [offer] = of(out, OFFER)
    assert offer["customer"] == customer and offer["zone"] == "right"
    assert offer["sku"] == "TEA" and offer["screen"] == "screen-right"
    [shown] = of(out, TRIGGER_FIRED)
    assert shown["screen"] == "screen-right" and shown["product"]["sku"] == "TEA"
    [attributed] = of(out, ATTRIBUTED)
    assert attributed["customer"] == customer and attributed["sku"] == "TEA"
    [done] = of(out, COMPLETED)
    assert done["zones"] == ["left", "right"] and done["picked"] == ["TEA"]
    assert done["offers"] == ["TEA"] and done["duration_s"] == pytest.approx(45, abs=1)


def test_a_visit_whose_end_never_comes_is_dropped_after_hours() -> None:
    p = from_config(config())
    run(p, [*arrive(ALICE, "m1", T0 + 1)], T0 + 60)
    assert p.counters()["journey.visits"] == 1
    run(p, [], T0 + 7 * 3600)
    assert p.counters()["journey.visits"] == 0 and p.counters()["journey.visits.stale"] == 1
