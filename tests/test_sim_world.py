"""The world: deterministic from the seed, and its truth is consistent."""

from __future__ import annotations

import json

import pytest

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
