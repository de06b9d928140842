"""IR beam lanes: the protocol's beam edges, the simulated store's beams, and the detector
using them to split two hands on one plate (and working without them)."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.readings import BeamEdge, WeightSample
from drivers.shelf_serial import ProtocolError, ShelfReader, checksum, encode_beam, parse_beam
from drivers.weighing import Skip
from edge.processing.bus import POLICIES, Policy, kind_of
from edge.processing.processor import Emission, Output
from edge.shelf.processor import PlateSpec, ShelfProcessor
from sim.overrides import apply
from sim.shelf import ShelfGenerator, beam_lanes
from sim.world import build_world, scenarios

RATE_HZ = 4.0
PICKED, RETURNED = "omo.shelf.item.picked", "omo.shelf.item.returned"


def test_beam_line_round_trip_noise_and_bad_checksum() -> None:
    line = encode_beam("C2", 3, 4, True, 70000)
    body = b"B,C2,3,4,1,4464"
    assert line == b"$" + body + b"*" + f"{checksum(body):02X}".encode() + b"\r\n"
    r = parse_beam(b"\x00\xffjunk" + line.rstrip())
    assert (r.controller, r.plate, r.lane, r.broken, r.seq) == ("C2", 3, 4, True, 4464)
    assert parse_beam(encode_beam("C2", 3, 4, False, 1)).broken is False
    reader = ShelfReader("shelf-2", "loop://", 115200, now=lambda: 5.0)
    edges = [reader.handle(x) for x in reader.lines.feed(
        b"noise" + encode_beam("C2", 1, 2, True, 9) + encode_line_bad() + b"$B,C2,1")]
    assert edges[0] is None  # the noise in front, on a line of its own
    assert edges[1] == BeamEdge("shelf-2", "C2", 1, 2, True, 9, 5.0)
    assert edges[2] is None and reader.skipped[Skip.BAD_CHECKSUM] == 1
    assert len(edges) == 3  # the partial edge at the end waits for the rest
    assert reader.counters()["beam_edges"] == 1


def encode_line_bad() -> bytes:
    good = encode_beam("C2", 1, 2, False, 10)
    return good[:-4] + (b"00" if good[-4:-2] != b"00" else b"11") + b"\r\n"


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.binary(max_size=80).map(lambda b: b"$B," + b))
def test_the_beam_parser_returns_an_edge_or_a_counted_reason(data: bytes) -> None:
    try:
        r = parse_beam(data)
    except ProtocolError as exc:
        assert isinstance(exc.reason, Skip)
    else:
        assert 1 <= r.plate <= 99 and 1 <= r.lane <= 9 and 0 <= r.seq <= 65535


def test_beam_edges_are_queued_not_thinned_by_the_bus() -> None:
    edge = BeamEdge("s", "C1", 1, 1, True, 0, 0.0)
    assert POLICIES[kind_of(edge)] is Policy.QUEUE


def test_the_simulated_store_breaks_beams_for_hands_and_never_for_bumps() -> None:
    world = build_world(scenarios()["normal-day"], 3, 900.0)
    gen = ShelfGenerator(world)
    assert gen.edges and all(b for _, _, _, _, b in gen.edges[::2]) is not None
    lanes = {s.id: beam_lanes(s, world.params.shelf.beam_pitch_m)
             for s in world.layout.shelves}
    opened: dict[tuple[str, int, int], float] = {}
    spans: list[tuple[str, int, float, float]] = []
    for t, shelf, plate, lane, broken in gen.edges:
        assert 1 <= lane <= lanes[shelf.id]
        key = (shelf.id, plate, lane)
        if broken:
            assert key not in opened
            opened[key] = t
        else:
            spans.append((shelf.id, plate, opened.pop(key), t))
    assert not opened
    # every hand's break covers a weight change or a touch on its plate; a bump alone
    # breaks nothing
    moves = [(c.shelf, c.plate, c.t, c.t_end) for c in world.weight_changes] + [
        (c.shelf, c.plate, c.t, c.t_end) for c in world.touches]
    assert world.touches
    for shelf_id, plate, a, b in spans:
        assert any(s == shelf_id and p == plate and a < t0 and t1 < b for s, p, t0, t1 in moves)
    lone_bumps = [(s, p, t) for s, p, t, _, _ in world.bumps
                  if not any(s == s2 and p == p2 and t0 - 3 < t < t1 + 3
                             for s2, p2, t0, t1 in moves)]
    assert lone_bumps
    for s, p, t in lone_bumps:
        assert not any(sh == s and pl == p and a <= t <= b for sh, pl, a, b in spans)
    # and the lines reach the wire: a beam line per edge, in the controller's sequence
    data = b"".join(gen.step(0.0, 900.0).get("shelf-1", b"").splitlines(keepends=True))
    assert data.count(b"$B,C1,") == sum(1 for e in gen.edges if e[1].id == "shelf-1")


def test_damaged_beam_lines_are_counted_and_skipped() -> None:
    world = build_world(replace(scenarios()["normal-day"], params=apply(
        scenarios()["normal-day"].params, {"shelf.garbled": 0.2})), 3, 600.0)
    gen = ShelfGenerator(world)
    data = gen.step(0.0, 600.0)
    assert gen.garbled_beams > 5
    edges = sum(1 for e in gen.edges if e[1].id == "shelf-1")
    reader = ShelfReader("shelf-1", "loop://", 115200, now=lambda: 0.0)
    got = [reader.handle(x) for x in reader.lines.feed(data["shelf-1"])]
    beams = [x for x in got if isinstance(x, BeamEdge)]
    # every edge arrives or is lost to line noise; a damaged line is counted, never an edge
    assert edges - gen.garbled_beams <= len(beams) < edges
    assert reader.counters()["beam_edges"] == len(beams)
    assert reader.bad > 0


def _run(hands: list[tuple[float, float, float, int]], beams: bool,
         bumps: tuple[tuple[float, float, float], ...] = (),
         breaks: list[tuple[float, float, int]] | None = None,
         seen: list[float] | None = None, unit: float = 100.0) -> list[Emission]:
    """One plate (`unit` 100 g, 18 stocked), 4 Hz samples with noise; `hands` are
    (start, end, grams, lane): a linear ramp of the weight over [start, end], with the lane
    broken from 0.15 s before to 0.15 s after when `beams` (or as `breaks` says)."""
    if breaks is not None:
        hands_breaks = [(a + 0.15, b - 0.15, 0.0, lane) for a, b, lane in breaks]
    else:
        hands_breaks = hands
    spec = PlateSpec("s1", "p1", 1, "sku-1", unit, 24, 3, stock=18)
    proc = ShelfProcessor([spec])
    rng = random.Random(5)
    edges = sorted([(a - 0.15, lane, True) for a, _, _, lane in hands_breaks]
                   + [(b + 0.15, lane, False) for _, b, _, lane in hands_breaks]) \
        if beams else []
    emitted: list[Emission] = []
    for k in range(int(40 * RATE_HZ)):
        t = k / RATE_HZ
        while edges and edges[0][0] <= t:
            te, lane, broken = edges.pop(0)
            proc.on_reading(BeamEdge("s1", "C1", 1, lane, broken, 0, te), Output(te))
        g = 310 + 18 * unit + rng.gauss(0, 1.2)
        for a, b, grams, _ in hands:
            g += grams * min(1.0, max(0.0, (t - a) / (b - a)))
        for a, length, grams in bumps:
            if a < t < a + length:
                g += grams * (1 - abs(2 * (t - a) / length - 1))
        out = Output(t)
        proc.on_reading(WeightSample("s1", "C1", 1, round(g, 1), k, t), out)
        emitted += out.emissions
        if seen is not None:
            seen += [t for e in out.emissions if e.type == PICKED]
    return emitted


def _items(emitted: list[Emission]) -> list[tuple[str, Any]]:
    return [(e.type, e.data["quantity"]) for e in emitted if e.type in (PICKED, RETURNED)]


def test_two_overlapping_picks_on_one_plate_are_two_picks_with_beams() -> None:
    hands = [(10.0, 11.5, -100.0, 1), (10.8, 12.6, -100.0, 3)]
    assert _items(_run(hands, beams=True)) == [(PICKED, 1), (PICKED, 1)]
    # the weight alone tells them apart too: two 100 g ramps bend the move by tens of noise
    # variances a sample, and edge.shelf.ramps fits on the controller's steady clock, so a
    # reader's timing jitter no longer hides a bend that slight
    assert _items(_run(hands, beams=False)) == [(PICKED, 1), (PICKED, 1)]


def test_a_pick_and_a_return_at_once_are_both_reported_with_beams() -> None:
    # an earlier pick of two, then one hand puts one back while another takes one
    hands = [(5.0, 6.0, -200.0, 2), (15.0, 16.0, 100.0, 1), (15.8, 17.2, -100.0, 4)]
    with_beams = _items(_run(hands, beams=True))
    assert with_beams == [(PICKED, 2), (RETURNED, 1), (PICKED, 1)]
    assert _items(_run(hands, beams=False)) == [(PICKED, 2)]  # net zero: nothing seen


def test_a_return_inside_another_hands_slow_pick_is_both_with_beams() -> None:
    # one hand takes an item slowly; meanwhile another puts one back through another lane:
    # the weight nets out, the two beam breaks tell the two changes apart
    hands = [(5.0, 6.0, -200.0, 5), (10.0, 11.7, -100.0, 1), (10.35, 11.0, 100.0, 3)]
    assert _items(_run(hands, beams=True)) == [(PICKED, 2), (RETURNED, 1), (PICKED, 1)]
    assert _items(_run(hands, beams=False)) == [(PICKED, 2)]  # the weight alone: nothing


def test_two_hands_one_after_the_other_in_one_lane_are_two_picks() -> None:
    # the second hand reaches in 0.5 s after the first took its item, through the same lane
    # (one break for both): a pause of two samples between the two ramps splits them
    hands = [(10.0, 10.6, -100.0, 2), (11.1, 11.7, -100.0, 2)]
    assert _items(_run(hands, beams=True, breaks=[(9.9, 11.8, 2)])) \
        == _items(_run(hands, beams=False)) == [(PICKED, 1), (PICKED, 1)]
    # one hand taking two in one slow move is one pick of two; a bump's peak is no pause
    assert _items(_run([(10.0, 12.5, -200.0, 1)], beams=False)) == [(PICKED, 2)]
    assert _items(_run([], beams=False, bumps=((8.0, 0.6, 200.0),))) == []


def test_a_return_and_a_pick_in_one_lane_that_cancel_are_both_reported() -> None:
    # an earlier pick; then one shopper puts an item back quickly while another, through
    # the same lane (one break for both), takes one slowly: the weight comes back to where
    # it was, and the shape of the excursion (up a unit, then down) tells the two apart
    hands = [(5.0, 6.0, -200.0, 2), (15.1, 15.6, 100.0, 1), (15.8, 18.1, -100.0, 1)]
    assert _items(_run(hands, beams=True, breaks=[(5.0, 6.0, 2), (15.0, 18.2, 1)])) == [
        (PICKED, 2), (RETURNED, 1), (PICKED, 1)]
    # a bump while a hand is in the shelf moving nothing is no pick and no return
    assert _items(_run([], beams=True, bumps=((15.3, 0.6, 70.0),),
                       breaks=[(15.0, 16.5, 1)])) == []


def test_two_shoppers_in_one_lane_after_another_hand_are_split_by_the_shape() -> None:
    # a pick through lane 2; right after it (one episode) two shoppers through lane 1, a
    # slow pick of one then a quick pick of two overlapping it: the beam split gives lane 1
    # three units, the bend of its move (while no other hand was in) splits them (a 400 g
    # unit: a 100 g unit's bend is within what the reader's timing does to one hand's ramp)
    hands = [(5.1, 6.2, -400.0, 2), (6.5, 8.5, -400.0, 1), (8.0, 9.2, -800.0, 1)]
    assert _items(_run(hands, beams=True, breaks=[(5.0, 6.3, 2), (6.4, 9.3, 1)],
                       unit=400.0)) == [(PICKED, 1), (PICKED, 1), (PICKED, 2)]


def test_a_pick_of_two_and_a_return_at_once_in_one_lane_are_both_reported() -> None:
    # an earlier pick; then, through one lane, one shopper takes two slowly while another
    # puts one back quickly: the weight rises before it falls, the net is one pick
    hands = [(2.0, 3.0, -100.0, 2), (10.0, 12.3, -200.0, 1), (10.35, 10.9, 100.0, 1)]
    assert _items(_run(hands, beams=True, breaks=[(2.0, 3.0, 2), (9.8, 12.5, 1)])) == [
        (PICKED, 1), (RETURNED, 1), (PICKED, 2)]


def test_a_cancelling_pick_and_return_in_one_lane_before_another_hand() -> None:
    # a pick and a quick return through one lane whose weights cancel, then a return
    # through another lane before the weight settled: one episode, in which the beam split
    # gives the first lane nothing
    hands = [(2.0, 3.0, -200.0, 2), (10.0, 11.25, -100.0, 1), (11.1, 12.1, 100.0, 1),
             (13.7, 15.4, 100.0, 6)]
    breaks = [(2.0, 3.0, 2), (9.8, 12.2, 1), (13.4, 15.6, 6)]
    assert _items(_run(hands, beams=True, breaks=breaks)) == [
        (PICKED, 2), (PICKED, 1), (RETURNED, 1), (RETURNED, 1)]
    # overlapping more, the excursion is less than half a unit (below `turn_one_lane`), but
    # no touch's shape (away, held, back) explains it and two unit ramps do
    # (`turn_shaped`): still the pick and the return
    hands[1:3] = [(10.0, 12.25, -100.0, 1), (10.3, 11.15, 100.0, 1)]
    breaks[1] = (9.8, 12.5, 1)
    assert _items(_run(hands, beams=True, breaks=breaks)) == [
        (PICKED, 2), (RETURNED, 1), (PICKED, 1), (RETURNED, 1)]  # the return ended first


@pytest.mark.parametrize("unit", [100.0, 400.0])
def test_a_pick_and_a_return_at_once_in_two_lanes_that_leave_a_net_change(unit: float
                                                                          ) -> None:
    # an earlier pick of two; then two shoppers reach in through two lanes at nearly the
    # same moment (their breaks differ by 0.05 s): one puts one back quickly, the other
    # takes two slowly. The beam split (each hand a ramp over its whole break) cannot tell
    # the hands apart and gave the net pick of one; each hand's ramp with free ends inside
    # its break, whole units either way, finds the return and the pick of two
    hands = [(2.0, 3.0, -2 * unit, 2), (10.0, 10.6, unit, 1), (10.4, 11.8, -2 * unit, 4)]
    breaks = [(2.0, 3.0, 2), (9.9, 11.9, 1), (9.95, 11.95, 4)]
    assert _items(_run(hands, beams=True, breaks=breaks, unit=unit)) == [
        (PICKED, 2), (RETURNED, 1), (PICKED, 2)]
    # the other way round: a quick pick of one and a slow return of two
    hands = [(2.0, 3.0, -2 * unit, 2), (10.0, 10.6, -unit, 1), (10.4, 11.8, 2 * unit, 4)]
    assert _items(_run(hands, beams=True, breaks=breaks, unit=unit)) == [
        (PICKED, 2), (PICKED, 1), (RETURNED, 2)]
    # two picks at once through the two lanes stay two picks (no turn, nothing mixed)
    hands = [(2.0, 3.0, -2 * unit, 2), (10.0, 11.0, -unit, 1), (10.4, 11.8, -unit, 4)]
    assert sorted(_items(_run(hands, beams=True, breaks=breaks, unit=unit))) == [
        (PICKED, 1), (PICKED, 1), (PICKED, 2)]


def test_the_plate_is_weighed_once_the_hand_has_left() -> None:
    # one item taken at 10.0-10.5 s, the hand stays in the shelf until 14.8 s
    hands = [(10.0, 10.5, -100.0, 2)]
    seen_beams: list[float] = []
    seen_weight: list[float] = []
    assert _items(_run(hands, beams=True, breaks=[(9.8, 14.8, 2)], seen=seen_beams)) \
        == _items(_run(hands, beams=False, seen=seen_weight)) == [(PICKED, 1)]
    assert seen_weight[0] < 14.8 <= seen_beams[0]  # reported once the hand is out


def test_bumps_without_a_hand_are_no_picks_with_or_without_beams() -> None:
    bumps = [(8.0, 0.4, 350.0), (20.0, 0.3, -250.0)]
    for beams in (True, False):
        assert _items(_run([], beams=beams, bumps=bumps)) == []


def test_the_offline_harness_scores_a_short_run_with_and_without_beams() -> None:
    from sim.shelf_offline import run

    with_beams = run("normal-day", 4, 600.0)
    # without beams nothing says a hand is resting on the items: one held still longer
    # than the settle window is weighed (docs/shelf.md); touches left out here
    without = run("normal-day", 4, 600.0, {"shelf.beam_pitch_m": 0.0, "shelf.touch_prob": 0.0})
    assert with_beams["counters"]["shelf.beam_edges"] > 50
    assert without["counters"]["shelf.beam_edges"] == 0
    for r in (with_beams, without):
        assert r["pick_precision"] == r["return_precision"] == 1.0
        assert r["false_from_bumps_restocks"] == 0
    assert with_beams["pick_recall"] == with_beams["quantity_exact"] == 1.0
    assert without["pick_recall"] < 0.99 and without["quantity_exact"] < 0.99


def test_beam_edges_are_recorded_and_read_back() -> None:
    import json

    from edge.recording.format import decode, encode

    edge = BeamEdge("shelf-1", "C1", 2, 3, True, 17, 1234.5)
    assert decode(json.loads(encode(edge))) == edge


def test_the_fast_weight_sample_is_the_dataclass() -> None:
    import dataclasses

    from drivers.readings import weight_sample

    fast = weight_sample("s1", "C1", 2, 12.5, 7, 3.0, stable=True)
    slow = WeightSample("s1", "C1", 2, 12.5, 7, 3.0, stable=True)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    try:
        fast.grams = 1.0  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a WeightSample must stay frozen")


def test_two_hands_changes_are_dated_when_their_weight_stopped_not_when_they_left() -> None:
    # a pick of 2 in lane 1 whose hand lingers in the shelf long after, and a pick of 1 in
    # lane 9 that ends later but whose hand leaves first: dated at the clears they came out
    # in the wrong order, and a scorer (or a journey) matching by time swapped their
    # quantities (normal-day seed 2, tuning, had two such picks ending 0.28 s apart)
    hands = [(10.0, 12.4, -200.0, 1), (11.0, 13.0, -100.0, 9)]
    breaks = [(9.9, 14.6, 1), (10.9, 13.2, 9)]
    emitted = _run(hands, beams=True, breaks=breaks)
    picks = sorted((e.at, e.data["quantity"]) for e in emitted if e.type == PICKED)
    assert [q for _, q in picks] == [2, 1]
    for (at, _), end in zip(picks, (12.4, 13.0), strict=True):
        assert abs(at - end) < 0.3


@pytest.mark.parametrize(("hands", "lane_break", "short"), [
    # lifts an item partly (0.6 of a unit) and holds it 2 s: a plateau a fraction of a
    # unit away is no level between a pick and a return
    ([(10.0, 10.4, -60.0, 1), (12.4, 12.8, 60.0, 1)], (9.9, 12.9, 1), False),
    # lifts one (0.7 of a unit) for a second
    ([(10.0, 10.3, -70.0, 1), (11.3, 11.6, 70.0, 1)], (9.9, 11.7, 1), True),
    # presses on the items (0.4 of a unit) for half a second
    ([(10.0, 10.3, 40.0, 2), (10.8, 11.1, -40.0, 2)], (9.9, 11.2, 2), True),
    # leans on them (0.3 of a unit), slowly, for a second
    ([(10.0, 10.6, 30.0, 3), (11.6, 12.2, -30.0, 3)], (9.8, 12.4, 3), True),
])
def test_a_hand_resting_on_the_items_is_no_pick_and_no_return(
        hands: list[tuple[float, float, float, int]], lane_break: tuple[float, float, int],
        short: bool) -> None:
    # one hand in one lane, the weight back where it was: a touch, not a pick and a
    # return at once (the simulated store's touches, sim/world.py `_touches`)
    assert _items(_run(hands, beams=True, breaks=[lane_break])) == []
    if short:  # without beams, a hand held still past the settle window is weighed
        assert _items(_run(hands, beams=False)) == []


@pytest.mark.parametrize(("touch", "depth"), [
    ((10.3, 10.6, 11.0, 11.3), 60.0),  # presses 0.6 of a unit while the other hand picks
    ((9.9, 10.2, 11.2, 11.6), -65.0),  # lifts one partly, round the other's whole pick
])
def test_a_hand_resting_on_the_items_beside_another_hands_pick_is_no_return(
        touch: tuple[float, float, float, float], depth: float) -> None:
    # one hand takes an item through lane 1 while another rests on the items in lane 3:
    # the beam split fits the touch about one unit (a return) and gives the picker two;
    # a touch and the net change explain the samples far better
    a1, b1, a2, b2 = touch
    hands = [(10.0, 11.5, -100.0, 1), (a1, b1, depth, 3), (a2, b2, -depth, 3)]
    breaks = [(9.9, 11.6, 1), (a1 - 0.1, b2 + 0.1, 3)]
    assert _items(_run(hands, beams=True, breaks=breaks)) == [(PICKED, 1)]
    # (a real pick and return beside each other stay both: the tests above, with a net
    # change and without)


@pytest.mark.parametrize(("hands", "breaks"), [
    # presses half a unit before the other hand's pick and lets go after it (the touch
    # ends last: before, a pick of 2)
    ([(10.2, 10.5, 50.0, 3), (10.6, 11.7, -100.0, 1), (12.7, 13.1, -50.0, 3)],
     [(9.6, 12.0, 1), (9.7, 13.3, 3)]),
    # lifts one partly (0.65 of a unit) before the other hand reaches in, and puts it
    # down as the other's pick ends (before, a return)
    ([(9.2, 9.5, -65.0, 3), (10.6, 12.0, -100.0, 1), (11.7, 12.0, 65.0, 3)],
     [(9.0, 12.1, 3), (10.3, 12.4, 1)]),
])
def test_a_touch_given_the_others_pick_by_the_beam_split_is_no_return(
        hands: list[tuple[float, float, float, int]],
        breaks: list[tuple[float, float, int]]) -> None:
    # the touch fit tries either hand as the one resting on the items (normal-day seeds
    # 22 and 55): before, only the hand counted one unit against the net change
    assert _items(_run(hands, beams=True, breaks=breaks)) == [(PICKED, 1)]
