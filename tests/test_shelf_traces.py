"""Cases the shelf detector once got wrong, each a plate's real trace from the simulated store
(tuning seeds; `tests/data/shelf_traces.json` says where each comes from): the weights and
beam edges as the reader handed them over, and the true picks and returns. Each must come out
as the truth, with its quantity, dated within a second of the end of its weight change."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from drivers.readings import BeamEdge, Reading, WeightSample
from edge.processing.processor import Output
from edge.shelf.detector import DetectorSettings
from edge.shelf.processor import PlateSpec, ShelfProcessor, ShelfSettings
from sim.scoring import match_by_time
from sim.scoring.shelf import TOLERANCE_S

TRACES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "shelf_traces.json").read_text())
KINDS = {"omo.shelf.item.picked": "pick", "omo.shelf.item.returned": "return"}


def replay(trace: dict[str, Any]) -> list[tuple[str, int, float]]:
    """The trace through a fresh processor: (kind, quantity, time) of each pick and return.
    A trace's `ramps` (optional) switches on `RampSettings` fields that are off by default
    (a case such a switch fixes); `detector` (optional) sets `DetectorSettings` fields."""
    base = DetectorSettings()
    settings = ShelfSettings(detector=replace(
        base, **trace.get("detector", {}), ramps=replace(base.ramps, **trace.get("ramps", {})))) \
        if "ramps" in trace or "detector" in trace else None
    proc = ShelfProcessor([PlateSpec("s", "p", 1, "sku", trace["unit_grams"], 30, 3, stock=20)],
                          settings)
    readings: list[Reading] = [WeightSample("s", "C1", 1, g, k, t)
                               for k, (t, g) in enumerate(trace["samples"])]
    readings += [BeamEdge("s", "C1", 1, lane, broken, 0, t) for t, lane, broken in trace["beams"]]
    found: list[tuple[str, int, float]] = []
    for r in sorted(readings, key=lambda r: r.t):
        out = Output(r.t)
        proc.on_reading(r, out)
        found += [(KINDS[e.type], e.data["quantity"], e.at) for e in out.emissions
                  if e.type in KINDS]
    return found


@pytest.mark.parametrize("name", sorted(TRACES))
def test_a_real_trace_gives_its_true_picks_and_returns(name: str) -> None:
    trace = TRACES[name]
    found = replay(trace)
    truth = trace["truth"]
    assert [(k, q) for k, q, _ in found] == [(r["type"], r["quantity"]) for r in truth], \
        trace["why"]
    for (_, _, t), r in zip(found, truth, strict=True):
        assert abs(t - r["t_end"]) < 1.0, (trace["why"], t, r)


def test_two_touches_in_two_lanes_are_no_pick_and_return_only_with_touch_cancel() -> None:
    trace = TRACES["two_touches_overlapping_in_two_lanes"]
    assert replay(trace) == []
    assert replay({**trace, "ramps": {"touch_cancel": False}}) != []


@pytest.mark.parametrize("name", ["touch_held_among_five_hands", "lift_held_among_three_hands"])
def test_touches_among_three_hands_or_more_need_touch_among_held(name: str) -> None:
    trace = TRACES[name]
    off = replay({**trace, "ramps": {"touch_among_held": False}})
    assert [(k, q) for k, q, _ in off] != [(r["type"], r["quantity"]) for r in trace["truth"]]


def test_a_pause_between_two_hands_splits_them_only_with_split_at_gap() -> None:
    trace = TRACES["touch_then_pick_then_return_after_a_pause"]
    assert replay({**trace, "detector": {"split_at_gap": False}}) == []


@pytest.mark.parametrize(("name", "off"), [
    ("return_inside_a_pick_in_one_lane", {"ramps": {"touch_rests": 0.0}}),
    ("return_inside_a_pick_ending_together", {"ramps": {"touch_rests": 0.0}}),
    ("return_inside_a_pick_ending_together", {"detector": {"opposite_same_end": False}}),
])
def test_a_return_inside_a_pick_in_one_lane_is_found_only_with_its_switches(
        name: str, off: dict[str, dict[str, Any]]) -> None:
    trace = TRACES[name]
    truth = [(r["type"], r["quantity"]) for r in trace["truth"]]
    assert [(k, q) for k, q, _ in replay(trace)] == truth
    found = [(k, q) for k, q, _ in replay({**trace, **off})]
    assert found.count(("return", 1)) == truth.count(("return", 1)) - 1
    assert found.count(("pick", 1)) == truth.count(("pick", 1)) - 1


@pytest.mark.parametrize("name", ["lift_beside_a_pick_counted_a_pick_of_three_and_a_return_of_two",
                                  "press_beside_a_gum_pick_counted_a_pick_of_three_and_a_return_of_two"])
def test_a_touch_counted_two_units_against_the_net_change_needs_touch_against(name: str) -> None:
    """With `touch_against` off the beam split's pick of 3 and return of 2 stand (the pick's
    quantity is wrong, and the return, after earlier picks, a false one)."""
    trace = TRACES[name]
    off = replay({**trace, "ramps": {"touch_against": 0.0}})
    assert next((k, q) for k, q, _ in off) == ("pick", 3)
    assert [(k, q) for k, q, _ in off] != [(r["type"], r["quantity"]) for r in trace["truth"]]


def test_two_picks_one_inside_the_other_need_counts_doubt() -> None:
    trace = TRACES["two_picks_one_short_inside_a_long_break"]
    off = replay({**trace, "ramps": {"counts_doubt": 0.0}})
    assert [(k, q) for k, q, _ in off] == [("pick", 1), ("pick", 2)]


@pytest.mark.parametrize("name", ["pick_and_return_at_once_nearly_cancelling_in_two_lanes",
                                  "pick_and_return_at_once_cancelling_heavy_items"])
def test_a_pick_and_a_return_that_nearly_cancel_need_cancel_near(name: str) -> None:
    """With `cancel_near` off the weight barely moved and nothing is reported for the two
    hands (only the earlier pick in the trace)."""
    trace = TRACES[name]
    off = replay({**trace, "ramps": {"cancel_near": 0.0}})
    assert [(k, q) for k, q, _ in off] == [("pick", 1)]


@pytest.mark.parametrize("name", ["gum_lift_in_one_lane_read_as_a_pick_and_a_return",
                                  "gum_press_after_a_pick_read_as_a_return_and_a_pick"])
def test_a_light_touch_read_near_a_unit_needs_touch_deep(name: str) -> None:
    """With `touch_deep` off the touch's plateau is a level: a false pick and a false
    return of 1 (either order) beside the truth."""
    trace = TRACES[name]
    off = [(k, q) for k, q, _ in replay({**trace, "ramps": {"touch_deep": 0.0}})]
    truth = [(r["type"], r["quantity"]) for r in trace["truth"]]
    assert sorted(off) == sorted([*truth, ("pick", 1), ("return", 1)])


def test_touch_deep_is_on_by_default() -> None:
    assert DetectorSettings().ramps.touch_deep == 0.9


def test_two_picks_ending_close_among_three_hands_need_ends_among() -> None:
    """Matched as the scorer matches (closest in time first), each pick's quantity is
    right only when the two overlapping hands are dated by their ramps' ends."""
    trace = TRACES["two_picks_ending_close_among_three_hands"]

    def matched(found: list[tuple[str, int, float]]) -> list[tuple[int, int]]:
        truth = trace["truth"]
        pairs = match_by_time([(r["t_end"], r) for r in truth], [(t, q) for _, q, t in found],
                              TOLERANCE_S)
        return [(truth[i]["quantity"], found[j][1]) for i, j in pairs]

    on = matched(replay(trace))
    assert len(on) == 3 and all(a == b for a, b in on)
    off = matched(replay({**trace, "ramps": {"ends_among": False}}))
    assert any(a != b for a, b in off)


def test_ends_among_is_off_by_default() -> None:
    assert DetectorSettings().ramps.ends_among is False
