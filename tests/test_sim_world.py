"""The world: deterministic from the seed, and its truth is consistent."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sim.overrides import apply
from sim.shelf import ShelfGenerator
from sim.world import build_world, scenarios


def test_same_seed_gives_byte_identical_truth() -> None:
    s = scenarios()["normal-day"]
    a, b = build_world(s, 11, 600), build_world(s, 11, 600)
    assert a.truth_jsonl() == b.truth_jsonl()
    assert build_world(s, 12, 600).truth_jsonl() != a.truth_jsonl()


@pytest.mark.parametrize("name", sorted(scenarios()))
def test_truth_is_consistent(name: str) -> None:
    w = build_world(scenarios()[name], 3, 600)
    recs = [json.loads(line) for line in w.truth_jsonl().splitlines()]
    assert recs[0]["type"] == "run" and recs[0]["scenario"] == name
    times = [r["t"] for r in recs]
    assert times == sorted(times)
    started = {r["visitor"] for r in recs if r["type"] == "visit.started"}
    ended = {r["visitor"] for r in recs if r["type"] == "visit.ended"}
    assert started and ended <= started
    assert not any(v.startswith("s") for v in started)  # staff are not visits
    # every zone exit follows an entry of the same visitor and zone, with a matching dwell
    open_zone: dict[str, tuple[str, float]] = {}
    for r in recs:
        if r["type"] == "zone.entered":
            assert r["visitor"] not in open_zone
            open_zone[r["visitor"]] = (r["zone"], r["t"])
        elif r["type"] == "zone.exited":
            zone, t = open_zone.pop(r["visitor"])
            assert zone == r["zone"] and r["dwell_s"] == pytest.approx(r["t"] - t, abs=2e-3)
    # stock never goes below zero, returns never exceed what was picked
    held: dict[tuple[str, str], int] = {}
    for r in recs:
        if r["type"] in ("pick", "return"):
            key = (r["visitor"], r["sku"])
            held[key] = held.get(key, 0) + (r["quantity"] if r["type"] == "pick"
                                            else -r["quantity"])
            assert held[key] >= 0
    app = [r for r in recs if r["type"] == "visit.started" and r["opted_in"]]
    assert 0 < len(app) < len(started)
    assert any(r["type"] == "camera.pass" and r["watched"] for r in recs)
    # per pass: when the face was turned to the camera, and within that when it faced it
    passes = [r for r in recs if r["type"] == "camera.pass"]
    for p in passes:
        assert 0 <= p["gaze_s"] <= p["face_s"] <= p["t_end"] - p["t"] + 1e-6
        assert all(p["t"] <= a <= b <= p["t_end"] for a, b in p["faces"])
    assert any(p["face_s"] > 0 for p in passes) and any(p["face_s"] == 0 for p in passes)
    assert any(0 < p["gaze_s"] < p["face_s"] for p in passes)
    assert any(r["type"] == "bump" for r in recs)
    # the checkout sells no more than a shopper picked and kept, once per receipt
    receipts = [r["receipt"] for r in recs if r["type"] == "sale"]
    assert receipts and len(set(receipts)) == len(receipts)
    for r in recs:
        if r["type"] == "sale":
            for line in r["lines"]:
                assert 0 < line["quantity"] <= held[(r["visitor"], line["sku"])]


def test_rush_hour_brings_more_shoppers() -> None:
    normal = build_world(scenarios()["normal-day"], 4, 300)
    rush = build_world(scenarios()["rush-hour"], 4, 300)
    assert len(rush.agents) > 1.5 * len(normal.agents)


def test_outages_are_in_the_truth() -> None:
    w = build_world(scenarios()["sensor-unplug"], 1, 1000)
    kinds = [(r["type"], r["target"], r["t"]) for r in w.truth if "offline" in r["type"]
             or "online" in r["type"]]
    assert ("shelf.offline", "shelf-2", 350.0) in kinds and ("camera.online", "cam-1", 650.0) \
        in kinds


def test_touches_move_the_load_a_fraction_of_a_unit_and_change_nothing_else() -> None:
    # a hand presses on the items or lifts one partly, in a shopper's stop at the shelf,
    # and takes nothing: the load moves and comes back; the truth records it as a touch
    # (a non-event), and the rest of the world is the same without touches
    world = build_world(scenarios()["normal-day"], 3, 900.0)
    touches = [r for r in world.truth if r["type"] == "touch"]
    assert len(touches) == len(world.touches) >= 5
    units = {(s.id, p.number): p.unit_grams for s in world.layout.shelves for p in s.plates}
    looks = [r for r in world.truth if r["type"] == "look" and r["target_kind"] == "shelf"]
    gen = ShelfGenerator(world)
    for tc, rec in zip(world.touches, sorted(touches, key=lambda r: (r["shelf"], r["plate"],
                                                                     r["t"])), strict=True):
        assert 0.05 <= abs(tc.grams) / units[(tc.shelf, tc.plate)] <= 0.7
        assert 0.5 <= tc.t_end - tc.t - 2 * tc.rise_s <= 3.0
        assert rec["shelf"] == tc.shelf and rec["t"] == round(tc.t, 3)
        assert any(r["visitor"] == rec["visitor"] and r["t"] <= tc.t and tc.t_end <= r["t_end"]
                   for r in looks)
        middle = (tc.t + tc.t_end) / 2
        others = gen.load(tc.shelf, tc.plate, middle) - tc.grams
        gen.touches[(tc.shelf, tc.plate)].remove((tc.t, tc.t_end, tc.grams, tc.rise_s))
        assert gen.load(tc.shelf, tc.plate, middle) == pytest.approx(others)
    plain = build_world(replace(scenarios()["normal-day"], params=apply(
        scenarios()["normal-day"].params, {"shelf.touch_prob": 0.0})), 3, 900.0)
    assert not plain.touches
    assert plain.weight_changes == world.weight_changes and plain.bumps == world.bumps
    assert [r for r in plain.truth if r["type"] != "run"] == [
        r for r in world.truth if r["type"] not in ("run", "touch")]
