"""Two hands in one move, told apart by the shape of the weight (edge/shelf/ramps.py): two
steady ramps that overlap or follow each other bend the move; one hand taking two items is
one straight ramp."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from edge.shelf.ramps import (
    RampSettings,
    cancel_by_hands,
    cancel_near,
    counts_by_ramps,
    mixed_by_hands,
    split,
    touch_among_hands,
    touch_by_hands,
    touches_by_hands,
)
from tests.test_shelf import of, ramp, run, spec

UNIT = 521.0


def trace(*ramps: tuple[float, float, float], seed: int = 3) -> list[tuple[float, float]]:
    """4 Hz samples of 5000 g plus the (start, end, grams) ramps and 1.2 g noise."""
    rng = random.Random(seed)
    out = []
    for k in range(80):
        t = 0.13 + k / 4
        g = 5000.0 + sum(ramp(a, b, grams)(t) for a, b, grams in ramps)
        out.append((t, g + rng.gauss(0, 1.2)))
    return out


@pytest.mark.parametrize(("first", "second"), [
    ((6.1, 7.04, -UNIT), (7.04, 8.77, -UNIT)),  # one hand, then the next, no pause
    ((5.4, 7.4, -UNIT), (7.0, 7.85, -UNIT)),  # overlapping
    ((5.0, 7.4, -2 * UNIT), (7.2, 7.8, -UNIT)),  # a pick of two, a quick one at its end
    ((5.0, 8.0, -UNIT), (6.0, 7.0, -UNIT)),  # a quick pick inside a slow one
])
def test_two_bent_ramps_are_two_changes(first: tuple[float, float, float],
                                        second: tuple[float, float, float]) -> None:
    samples = trace(first, second)
    total = first[2] + second[2]
    ramps = split(samples, 5000.0, 5000.0 + total, UNIT)
    assert ramps is not None
    want = sorted([first, second], key=lambda r: r[1])
    assert [round(r.grams / UNIT) for r in ramps] == [round(w[2] / UNIT) for w in want]
    for r, w in zip(ramps, want, strict=True):
        assert abs(r.end - w[1]) < 0.2


@pytest.mark.parametrize("seconds", [0.4, 0.9, 2.5])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_hand_taking_two_is_one_change(seconds: float, seed: int) -> None:
    samples = trace((6.07, 6.07 + seconds, -2 * UNIT), seed=seed)
    assert split(samples, 5000.0, 5000.0 - 2 * UNIT, UNIT) is None


def test_the_processor_reports_two_picks_of_one_for_a_bent_move() -> None:
    loads = [ramp(30.1, 31.04, -UNIT), ramp(31.04, 32.77, -UNIT)]
    emitted = run([spec(unit=UNIT)], {1: loads}, 60)
    assert [d["quantity"] for d in of(emitted, "item.picked")] == [1, 1]
    assert [(d["reason"], d["count"]) for d in of(emitted, "stock.changed")] == [
        ("initial", 18), ("pick", 17), ("pick", 16)]


def test_two_ramps_that_end_on_the_same_sample_stay_one_change() -> None:
    # the reader's sample timing can bend one hand's ramp of two items like this; hands
    # whose ends fall on one sample cannot be told apart from it (a pick of 2 on the full
    # path was split into two picks of 1 by one shopper): one change
    loads = [ramp(30.0, 32.9, -UNIT), ramp(31.2, 32.98, -UNIT)]
    emitted = run([spec(unit=UNIT)], {1: loads}, 60)
    assert [d["quantity"] for d in of(emitted, "item.picked")] == [2]


def test_a_return_and_a_pick_at_once_in_two_lanes_are_told_apart_by_their_breaks() -> None:
    # a return from 6.0 to 7.6 s (lane broken 5.8-7.8) and a pick from 6.4 to 7.9 s (lane
    # broken 6.2-8.1): the weight moves up, then back, never a whole unit away
    samples = trace((6.0, 7.6, UNIT), (6.4, 7.9, -UNIT))
    pair = cancel_by_hands(samples, 5000.0, 5000.0, UNIT, [(6.2, 8.1), (5.8, 7.8)])
    assert pair is not None
    (first, ret), (second, pick) = pair
    assert (first, second) == (1, 0)  # the return's hand is the second listed
    assert ret.grams == UNIT and pick.grams == -UNIT
    assert abs(ret.start - 6.0) < 0.3 and abs(pick.end - 7.9) < 0.3


def test_two_hands_in_that_move_nothing_are_no_pick_and_no_return() -> None:
    assert cancel_by_hands(trace(), 5000.0, 5000.0, UNIT, [(6.2, 8.1), (5.8, 7.8)]) is None


def test_a_return_and_a_pick_of_two_in_two_lanes_are_told_apart_by_their_breaks() -> None:
    # a quick return from 6.0 to 6.6 s (lane broken 5.9-7.9) and a slow pick of two from
    # 6.4 to 7.8 s (lane broken 5.95-7.95): the weight rises, then falls two units; the
    # net is one pick
    samples = trace((6.0, 6.6, UNIT), (6.4, 7.8, -2 * UNIT))
    hands = [(5.95, 7.95), (5.9, 7.9)]
    pair = mixed_by_hands(samples, 5000.0, 5000.0 - UNIT, UNIT, hands)
    assert pair is not None
    (first, ret), (second, pick) = pair
    assert {first, second} == {0, 1}  # (the breaks are too alike to say whose is whose)
    assert round(ret.grams / UNIT) == 1 and round(pick.grams / UNIT) == -2
    assert abs(ret.end - 6.6) < 0.3 and abs(pick.end - 7.8) < 0.3
    # two picks of one at once (no turn), or one hand's pick of one: nothing mixed
    assert mixed_by_hands(trace((6.0, 7.0, -UNIT), (6.4, 7.8, -UNIT)), 5000.0,
                          5000.0 - 2 * UNIT, UNIT, hands) is None
    assert mixed_by_hands(trace((6.0, 7.5, -UNIT)), 5000.0, 5000.0 - UNIT, UNIT,
                          hands) is None


def test_a_pick_of_two_and_a_return_at_once_are_told_apart_by_the_turn() -> None:
    # one hand takes two slowly, another puts one back quickly in between: the weight rises
    # before it falls; the net is one pick
    samples = trace((6.0, 8.3, -2 * UNIT), (6.35, 6.9, UNIT))
    ramps = split(samples, 5000.0, 5000.0 - UNIT, UNIT, mixed=True)
    assert ramps is not None
    assert [round(r.grams / UNIT) for r in ramps] == [1, -2]
    assert abs(ramps[0].end - 6.9) < 0.2 and abs(ramps[1].end - 8.3) < 0.2
    # one hand's pick of one does not turn: no split
    assert split(trace((6.0, 7.5, -UNIT)), 5000.0, 5000.0 - UNIT, UNIT, mixed=True) is None


def test_a_cancelling_excursion_in_one_lane_is_a_pick_and_a_return_when_deep_or_no_touch() -> None:
    # a pick and a return one after the other, overlapping a little: the weight goes most
    # of a unit away and comes back
    samples = trace((6.0, 7.25, -UNIT), (7.2, 8.2, UNIT))
    ramps = split(samples, 5000.0, 5000.0, UNIT, cancel=True)
    assert ramps is not None
    assert [round(r.grams / UNIT) for r in ramps] == [-1, 1]
    # a slow pick and a quick return overlapping: the weight moves less than half a unit
    # away and comes back, as a hand resting on the items does (far more often); but it
    # dips first and bends where the return ends, which no touch (in, held, out) does
    samples = trace((6.0, 8.25, -UNIT), (6.3, 7.15, UNIT))
    assert max(abs(g - 5000.0) for _, g in samples) < 0.5 * UNIT
    ramps = split(samples, 5000.0, 5000.0, UNIT, cancel=True)
    assert ramps is not None
    assert [round(r.grams / UNIT) for r in ramps] == [1, -1]
    assert split(samples, 5000.0, 5000.0, UNIT, RampSettings(turn_shaped=0.75),
                 cancel=True) is None
    # a touch as deep (0.45 of a unit, in, held 1 s, out): no split
    samples = trace((6.0, 6.4, 0.45 * UNIT), (7.4, 7.8, -0.45 * UNIT))
    assert split(samples, 5000.0, 5000.0, UNIT, cancel=True) is None


@pytest.mark.parametrize(("name", "lo", "hi", "unit", "ends"), [
    # normal-day seed 18: the best touch leaves 3.4 noise variances a sample (no fit)
    ("return_inside_a_pick_in_one_lane", 11.0, 16.0, 96.0, (14.02, 14.59)),
    # normal-day seed 42: the best touch fits, but as a peak (held 0.03 of a period)
    ("return_inside_a_pick_ending_together", 20.0, 24.9, 108.0, (23.84, 23.85)),
])
def test_a_return_inside_a_pick_in_one_lane_is_a_pair_when_no_touch_rests(
        name: str, lo: float, hi: float, unit: float, ends: tuple[float, float]) -> None:
    # tests/data/shelf_traces.json, the episode's samples: the two unit ramps fit within
    # the noise, at 0.3-0.6 of the best touch (over `shaped_better`), and no touch rests
    f = json.loads((Path(__file__).parent / "data" / "shelf_traces.json").read_text())[name]
    samples = [(t, g) for t, g in f["samples"] if lo <= t <= hi]
    before = sum(g for _, g in samples[:6]) / 6
    ramps = split(samples, before, before, unit, cancel=True)
    assert ramps is not None
    assert [round(r.grams / unit) for r in ramps] == [-1, 1]
    for r, end in zip(ramps, ends, strict=True):
        assert abs(r.end - end) < 0.2
    assert split(samples, before, before, unit, RampSettings(touch_rests=0.0),
                 cancel=True) is None


def test_a_hand_resting_on_the_items_is_no_pair_of_unit_ramps() -> None:
    # pressing on the items by 0.8 of a unit for 1.5 s, one lane: deep enough to try two
    # hands, but the weight holds flat at a fraction of a unit, which two unit ramps
    # cannot do (unless their slopes match exactly): one hand resting
    samples = trace((6.0, 6.3, 0.8 * UNIT), (7.8, 8.1, -0.8 * UNIT))
    assert split(samples, 5000.0, 5000.0, UNIT, cancel=True) is None
    assert split(samples, 5000.0, 5000.0, UNIT, RampSettings(fit_within=1e9),
                 cancel=True) is not None


# normal-day seed 10 (tuning), shelf-2 plate 2, 1117.5-1122 s, dated as the full path's
# reader dates samples (`--reader-tick 0.1`): a 48.5 g item put back, and a knock on the
# shelf at its start dips one sample by 34 g
KNOCK = [(10.5, 1148.8), (10.7, 1149.1), (11.0, 1148.4), (11.2, 1148.0), (11.5, 1148.1),
         (11.7, 1148.1), (12.0, 1114.2), (12.2, 1139.4), (12.5, 1170.9), (12.7, 1181.4),
         (13.0, 1193.5), (13.2, 1197.1), (13.5, 1196.1), (13.7, 1197.2), (14.0, 1197.9),
         (14.2, 1197.5), (14.5, 1196.6), (14.7, 1199.3), (15.0, 1197.9)]


def test_a_knock_during_a_return_is_no_pick() -> None:
    # the turn must hold for two samples: a hand moves an item over several, a knock lasts
    # one (a one-sample turn split this into a pick of one and a return of two)
    assert split(KNOCK, 1148.4, 1197.7, 48.5, mixed=True) is None


def read_by_ticks(samples: list[tuple[float, float]], tick: float = 0.1
                  ) -> list[tuple[float, float]]:
    """The samples dated as a reader with a `tick` dates them: at the end of the tick in
    which the controller wrote them (the full path's reader, `--reader-tick 0.1`)."""
    return [((int(t / tick) + 1) * tick, g) for t, g in samples]


@pytest.mark.parametrize(("unit", "first", "second"), [
    # rush-hour seed 9 (tuning), a 112 g item: two shoppers through one lane, overlapping
    (112.0, (6.0, 7.95), (7.12, 9.56)),
    # rush-hour seed 3, 108 g: one right after the other, no pause
    (108.0, (6.0, 8.25), (8.25, 9.07)),
])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_two_light_picks_read_by_ticks_are_two_changes(
        unit: float, first: tuple[float, float], second: tuple[float, float], seed: int
) -> None:
    # their bend is tens of noise variances a sample, under the reader's timing bend of a
    # heavy ramp (hundreds), which the old threshold (300) was set for: one pick of 2.
    # The episode's samples, as the detector hands them over: from the window before the
    # trigger to the first stable window after the move
    samples = [p for p in read_by_ticks(trace((*first, -unit), (*second, -unit), seed=seed))
               if 4.4 < p[0] < second[1] + 1.6]
    ramps = split(samples, 5000.0, 5000.0 - 2 * unit, unit)
    assert ramps is not None
    assert [round(r.grams / unit) for r in ramps] == [-1, -1]
    for r, w in zip(ramps, sorted((first[1], second[1])), strict=True):
        assert abs(r.end - w) < 0.3


@pytest.mark.parametrize("seconds", [1.3, 1.8, 2.5])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_heavy_hand_read_by_ticks_stays_one_change(seconds: float, seed: int) -> None:
    # a 538 g item, two at once: the reader's tick moves each steep sample by up to
    # 0.1 s times ~800 g/s, hundreds of noise variances; on the controller's steady
    # clock the ramp is straight again
    unit = 538.0
    samples = read_by_ticks(trace((6.07, 6.07 + seconds, -2 * unit), seed=seed))
    assert split(samples, 5000.0, 5000.0 - 2 * unit, unit) is None


def test_one_hand_read_in_a_burst_stays_one_change() -> None:
    # a busy reader: four samples read at once, one time for all of them, and a lost line
    unit = 538.0
    samples = trace((6.07, 7.9, -2 * unit), seed=4)
    burst = [(7.0 if 6.3 < t < 7.1 else t, g) for t, g in samples]
    del burst[40]
    assert split(burst, 5000.0, 5000.0 - 2 * unit, unit) is None


# real episodes (offline harness, `--reader-tick 0.1`) where the beam split gave two hands a
# pick and a return: the samples, the two hands' breaks, the counted grams, and which hand
# was a touch (null: none, the pair stands)
FITS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "shelf_touch_fits.json").read_text())


def touch_of(name: str, settings: RampSettings | None = None) -> int | None:
    f = FITS[name]
    return touch_by_hands([(t, g) for t, g in f["samples"]], f["before"],
                          (f["counted"][0], f["counted"][1]),
                          [(a, b) for a, b in f["hands"]], f["unit_grams"], settings)


@pytest.mark.parametrize("name", sorted(FITS))
def test_a_touch_beside_a_pick_is_one_that_holds(name: str) -> None:
    """A hand resting on the items holds its fraction of a unit: refined, such a touch
    beside the other hand's pick explains the samples to within the noise. A return and a
    pick that overlap with nearly equal slopes fit a touch within the noise too, but as a
    peak (in and straight out), not a hold: they stay a pair."""
    assert touch_of(name) == FITS[name]["toucher"], FITS[name]["why"]


def test_a_held_touch_the_coarse_grid_misses_needs_the_refined_fit() -> None:
    # the coarse grid alone leaves the touch at 0.18 of the pair's residual (> `better`)
    assert touch_of("touch_held_beside_a_pick", RampSettings(touch_held=0.0)) is None
    assert touch_of("touch_held_beside_a_pick") == 0


def test_a_return_and_picks_that_fit_a_touch_only_as_a_peak_stay_a_pair() -> None:
    # the three shoppers' return and picks stay a pair only because the touch must hold
    name = "return_and_picks_by_three_shoppers_in_two_lanes"
    assert touch_of(name, RampSettings(touch_held=0.5)) == 0
    assert touch_of(name) is None


def test_two_touches_overlapping_in_two_lanes_are_no_pick_and_return() -> None:
    # lane A presses 0.5 of a unit for 2.4 s, lane B 0.3 for 1.8 s, pressing while A still
    # holds: the weight dips, steps, and comes back, which the beam split counts as a pick
    # and a return; each touch holds, so it is two touches
    samples = trace((6.0, 6.4, -0.5 * UNIT), (8.8, 9.2, 0.5 * UNIT),
                    (8.2, 8.6, -0.3 * UNIT), (10.4, 10.8, 0.3 * UNIT))
    hands = [(5.8, 9.4), (8.0, 11.2)]
    assert touches_by_hands(samples, 5000.0, (-UNIT, UNIT), hands, UNIT)
    assert not touches_by_hands(samples, 5000.0, (-UNIT, UNIT), hands, UNIT,
                                RampSettings(touch_cancel=False))
    assert cancel_by_hands(samples, 5000.0, 5000.0, UNIT, hands) is None


def test_a_return_and_a_pick_at_once_are_no_two_touches() -> None:
    # the weight moves up a unit and straight back: no touch holds (a peak), a pair stays
    samples = trace((6.0, 7.6, UNIT), (6.4, 7.9, -UNIT))
    hands = [(6.2, 8.1), (5.8, 7.8)]
    assert not touches_by_hands(samples, 5000.0, (-UNIT, UNIT), hands, UNIT)
    # held, as real touches are, but a whole unit each way and for a unit each: a pair
    samples = trace((6.0, 6.6, UNIT), (8.0, 8.6, -UNIT))
    hands = [(5.8, 7.0), (7.8, 8.9)]
    assert not touches_by_hands(samples, 5000.0, (UNIT, -UNIT), hands, UNIT)


def test_two_real_touches_in_two_lanes_are_two_touches() -> None:
    # normal-day seed 50, shelf-2 plate 1 (tests/data/shelf_traces.json): lane 2 presses
    # 0.53 of a 66 g unit for 3 s, lane 5 0.33 for 1.5 s, their breaks overlapping
    f = json.loads((Path(__file__).parent / "data" / "shelf_traces.json").read_text())[
        "two_touches_overlapping_in_two_lanes"]
    samples = [(t, g) for t, g in f["samples"] if 7.0 <= t <= 15.5]
    before = sum(g for t, g in f["samples"] if t < 7.9) / sum(
        1 for t, _ in f["samples"] if t < 7.9)
    hands = [(7.9, 12.0), (11.4, 14.2)]
    assert touches_by_hands(samples, before, (-66.0, 66.0), hands, 66.0)
    assert not touches_by_hands(samples, before, (-66.0, 66.0), hands, 66.0,
                                RampSettings(touch_cancel=False))


def test_a_held_touch_among_three_hands_is_found_with_the_others_counts_weighed_again() -> None:
    # lane A picks one, lane B lifts 0.6 of a unit meanwhile and holds it 2.6 s, lane C
    # returns one: counted a pick of 2 (A) and a return each (B, C). Over whole breaks no
    # touch fits (each hand's ramp is half its break); refined, B's touch holds, and
    # weighed on the refined ramps A's count is 1
    samples = trace((6.2, 7.2, -UNIT), (6.6, 7.0, -0.6 * UNIT), (9.6, 10.0, 0.6 * UNIT),
                    (10.6, 11.2, UNIT))
    hands = [(5.7, 7.7), (6.3, 10.3), (10.2, 11.7)]
    assert touch_among_hands(samples, 5000.0, 5000.0, UNIT, hands, [-2, 1, 1]) == (1, [-1, 0, 1])
    assert touch_among_hands(samples, 5000.0, 5000.0, UNIT, hands, [-2, 1, 1],
                             RampSettings(touch_among_held=False)) is None


def test_a_pick_a_return_and_a_pick_among_three_hands_are_no_touch() -> None:
    # the return in lane B comes up a whole unit and stays: no touch holds a fraction of a
    # unit and comes back, the counts stand
    samples = trace((6.0, 7.4, -UNIT), (6.5, 7.5, UNIT), (10.0, 11.2, -UNIT))
    hands = [(5.8, 7.6), (6.3, 7.7), (9.8, 11.4)]
    assert touch_among_hands(samples, 5000.0, 5000.0 - UNIT, UNIT, hands, [-1, 1, -1]) is None


@pytest.mark.parametrize(("name", "hands", "counted", "toucher", "counts"), [
    # normal-day seed 34, shelf-1 plate 2: lane 5 presses 0.69 of a unit among four hands
    ("touch_held_among_five_hands",
     [(9.644, 12.444), (11.844, 14.144), (12.044, 16.044), (15.744, 16.844), (17.744, 20.444)],
     [-1, 1, -2, 1, -1], 2, [-1, -1, 0, 1, -1]),
    # normal-day seed 56, shelf-2 plate 3: lane 1 lifts 0.65 of a unit beside a pick
    ("lift_held_among_three_hands", [(11.972, 13.472), (12.072, 15.772), (16.272, 17.672)],
     [-2, 1, 1], 1, [-1, 0, 1]),
])
def test_real_touches_among_three_hands_or_more_hold(
        name: str, hands: list[tuple[float, float]], counted: list[int], toucher: int,
        counts: list[int]) -> None:
    f = json.loads((Path(__file__).parent / "data" / "shelf_traces.json").read_text())[name]
    a, b = hands[0][0] - 1.0, hands[-1][1] + 1.5
    samples = [(t, g) for t, g in f["samples"] if a <= t <= b]
    settled = [g for t, g in f["samples"] if t < hands[0][0]][-8:]
    before = sum(settled) / len(settled)
    after = before + sum(counted) * f["unit_grams"]
    assert touch_among_hands(samples, before, after, f["unit_grams"], hands, counted) == (
        toucher, counts)
    assert touch_among_hands(samples, before, after, f["unit_grams"], hands, counted,
                             RampSettings(touch_among_held=False)) is None


DOUBT = RampSettings(counts_doubt=0.2)
LONG_SHORT = [(11.75, 13.72), (12.15, 13.11)]  # a long break, a short one inside it


def test_counts_in_doubt_are_weighed_again_on_refined_ramps() -> None:
    # two picks, the short one inside the long one: ramps over whole breaks fit about -0.5
    # and -1.5 of a unit, rounded to nothing and a pick of 2
    samples = trace((12.0, 13.53, -UNIT), (12.28, 12.9, -UNIT))
    assert counts_by_ramps(samples, 5000.0, 5000.0 - 2 * UNIT, UNIT, LONG_SHORT,
                           [-0.46, -1.53], [0, -2], DOUBT) == [-1, -1]
    assert counts_by_ramps(samples, 5000.0, 5000.0 - 2 * UNIT, UNIT, LONG_SHORT,
                           [-0.46, -1.53], [0, -2], RampSettings()) is None  # off


def test_a_pick_of_two_by_one_hand_keeps_its_count() -> None:
    samples = trace((12.28, 12.9, -2 * UNIT))  # the short break's hand took two
    assert counts_by_ramps(samples, 5000.0, 5000.0 - 2 * UNIT, UNIT, LONG_SHORT,
                           [-0.46, -1.53], [0, -2], DOUBT) is None


def test_counts_in_doubt_never_gain_a_count_against_the_net_change() -> None:
    samples = trace((12.0, 13.53, -UNIT), (12.28, 12.9, -UNIT))
    hands = [*LONG_SHORT, (13.6, 16.0)]
    got = counts_by_ramps(samples, 5000.0, 5000.0 - 2 * UNIT, UNIT, hands,
                          [-0.46, -1.53, 0.45], [0, -2, 0], DOUBT)
    assert got == [-1, -1, 0]


def test_counts_not_in_doubt_are_not_weighed_again() -> None:
    samples = trace((12.0, 13.53, -UNIT), (12.28, 12.9, -UNIT))
    assert counts_by_ramps(samples, 5000.0, 5000.0 - 2 * UNIT, UNIT, LONG_SHORT,
                           [-0.1, -1.9], [0, -2], DOUBT) is None


NEAR = RampSettings(cancel_near=4.0)


@pytest.mark.parametrize("seed", [3, 4])
def test_a_pick_and_a_return_whose_weights_nearly_cancel_are_found_with_cancel_near(
        seed: int) -> None:
    # a pick and a return of 521 g at once, 0.05 s apart at each end: the weight moves
    # about 16 g each way, short of `excursion` for `cancel_by_hands`
    samples = trace((6.0, 7.6, -UNIT), (5.95, 7.7, UNIT), seed=seed)
    hands = [(5.85, 7.8), (5.85, 7.85)]
    assert cancel_by_hands(samples, 5000.0, 5000.0, UNIT, hands) is None
    pair = cancel_near(samples, 5000.0, 5000.0, UNIT, hands, NEAR)
    assert pair is not None
    assert sorted(round(r.grams) for _, r in pair) == [-UNIT, UNIT]
    assert [round(r.end, 1) for _, r in pair] == [7.6, 7.7]  # in the order they ended
    assert cancel_near(samples, 5000.0, 5000.0, UNIT, hands) == pair  # on by default
    assert cancel_near(samples, 5000.0, 5000.0, UNIT, hands, RampSettings(cancel_near=0.0)) \
        is None  # 0: off


def test_small_touches_in_two_lanes_are_no_nearly_cancelling_pair() -> None:
    # two hands resting on the items at once, 0.05 and 0.04 of a unit, each held
    samples = trace((6.0, 6.4, -0.05 * UNIT), (8.8, 9.2, 0.05 * UNIT),
                    (6.2, 6.6, 0.04 * UNIT), (8.4, 8.8, -0.04 * UNIT))
    assert cancel_near(samples, 5000.0, 5000.0, UNIT, [(5.8, 9.4), (6.0, 9.0)], NEAR) is None


def test_real_touches_in_two_lanes_are_no_nearly_cancelling_pair() -> None:
    f = json.loads((Path(__file__).parent / "data" / "shelf_traces.json").read_text())[
        "two_touches_overlapping_in_two_lanes"]
    samples = [(t, g) for t, g in f["samples"] if 7.0 <= t <= 15.5]
    before = sum(g for t, g in f["samples"] if t < 7.9) / sum(
        1 for t, _ in f["samples"] if t < 7.9)
    assert cancel_near(samples, before, before, 66.0, [(7.9, 12.0), (11.4, 14.2)], NEAR) is None


def test_hands_one_after_the_other_or_a_net_change_are_not_weighed_by_cancel_near() -> None:
    samples = trace((6.0, 7.6, -UNIT), (5.95, 7.7, UNIT))
    assert cancel_near(samples, 5000.0, 5000.0, UNIT, [(5.0, 5.5), (5.85, 7.85)], NEAR) is None
    assert cancel_near(samples, 5000.0, 5000.0 - UNIT, UNIT, [(5.85, 7.8), (5.85, 7.85)],
                       NEAR) is None
