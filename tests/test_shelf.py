"""The shelf processor: detection on synthetic weight streams, stock, faults, and a short
simulated run scored end to end."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.readings import WeightSample
from edge.catalogue import catalogue
from edge.processing.processor import Emission, Output
from edge.processing.registry import build_processors
from edge.shelf.processor import PlateSpec, ShelfProcessor, ShelfSettings
from edge.shelf.quantity import quantity
from sim.runner import sim_config
from sim.world import build_world, scenarios
from tests.sim_fixtures import short_run

RATE_HZ = 4.0
Load = Callable[[float], float]


def spec(number: int = 1, unit: float = 100.0, **kw: Any) -> PlateSpec:
    base: dict[str, Any] = {"shelf": "s1", "plate": f"p{number}", "number": number,
                            "sku": f"sku-{number}", "unit_grams": unit, "capacity": 24,
                            "low_stock": 3, "stock": 18}
    return PlateSpec(**{**base, **kw})


def ramp(t0: float, t1: float, grams: float) -> Load:
    """A weight change of `grams` spread evenly over [t0, t1]."""
    def load(t: float) -> float:
        if t <= t0:
            return 0.0
        return grams if t >= t1 else grams * (t - t0) / (t1 - t0)
    return load


def bump(t0: float, length: float, grams: float) -> Load:
    def load(t: float) -> float:
        if not t0 < t < t0 + length:
            return 0.0
        return grams * (1 - abs(2 * (t - t0) / length - 1))
    return load


def run(plates: list[PlateSpec], loads: dict[int, list[Load]], seconds: float, *,
        noise: float = 1.2, drift_g_per_min: float = 0.0, seed: int = 7,
        tare: float = 310.0, settings: ShelfSettings | None = None,
        raw: Callable[[int, float, float], float] | None = None) -> list[Emission]:
    """Feed `seconds` of 4 Hz samples of every plate (tare + stock + loads + drift + noise)
    through a fresh processor; return what it emitted."""
    rng = random.Random(seed)
    proc = ShelfProcessor(plates, settings)
    emitted: list[Emission] = []
    n = int(seconds * RATE_HZ)
    drift = {p.number: 0.0 for p in plates}
    for k in range(n):
        t = 1000.0 + k / RATE_HZ
        for p in plates:
            drift[p.number] += drift_g_per_min / 60 / RATE_HZ
            g = tare + (p.stock or 0) * p.unit_grams + sum(f(t - 1000.0) for f in
                                                             loads.get(p.number, []))
            g += drift[p.number] + rng.gauss(0, noise)
            if raw is not None:
                g = raw(p.number, t - 1000.0, g)
            out = Output(t)
            proc.on_reading(WeightSample("s1", "C1", p.number, round(g, 1), k, t), out)
            emitted += out.emissions
        if k % int(10 * RATE_HZ) == 0:
            out = Output(t)
            proc.on_tick(t, out)
            emitted += out.emissions
    return emitted


def of(emitted: list[Emission], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in emitted if e.type == f"omo.shelf.{kind}"]


def test_noise_alone_gives_only_the_initial_count() -> None:
    emitted = run([spec()], {}, 600)
    assert [e.type for e in emitted] == ["omo.shelf.stock.changed"]
    assert emitted[0].data["count"] == 18 and emitted[0].data["reason"] == "initial"


def test_slow_drift_is_tracked_not_reported() -> None:
    emitted = run([spec(unit=15.2)], {}, 1800, drift_g_per_min=3.0)
    assert [e.type for e in emitted] == ["omo.shelf.stock.changed"]


def test_a_pick_is_one_event_with_its_quantity_and_count() -> None:
    emitted = run([spec()], {1: [ramp(30, 30.8, -200.0)]}, 60)
    assert of(emitted, "item.picked") == [
        {"shelf": "s1", "plate": "p1", "sku": "sku-1", "quantity": 2, "grams": pytest.approx(
            200, abs=3), "confidence": pytest.approx(1, abs=0.1)}]
    picked = next(e for e in emitted if e.type == "omo.shelf.item.picked")
    assert 30.0 <= picked.at - 1000.0 <= 32.5  # at the end of the weight change
    assert of(emitted, "stock.changed")[-1] == {
        "shelf": "s1", "plate": "p1", "sku": "sku-1", "count": 16, "delta": -2,
        "reason": "pick"}


def test_a_slow_pick_of_a_light_item_is_one_pick() -> None:
    emitted = run([spec(unit=15.2)], {1: [ramp(30, 32.5, -15.2)]}, 60)
    assert [d["quantity"] for d in of(emitted, "item.picked")] == [1]


@pytest.mark.parametrize("grams", [-400.0, -60.0, 60.0, 400.0])
def test_bumps_and_leaning_hands_are_not_picks(grams: float) -> None:
    # a knock, then a hand leaning on the plate for a second (less than the settle window)
    loads = [bump(20, 0.4, grams), ramp(40, 40.6, abs(grams)), ramp(41.2, 41.8, -abs(grams))]
    emitted = run([spec()], {1: loads}, 80)
    assert of(emitted, "item.picked") == [] and of(emitted, "item.returned") == []


def test_simultaneous_picks_on_neighbouring_plates_stay_apart() -> None:
    plates = [spec(1, unit=538.0), spec(2, unit=521.0)]
    emitted = run(plates, {1: [ramp(30, 31.5, -538.0)], 2: [ramp(30.2, 31.2, -1042.0)]}, 60)
    assert sorted((d["plate"], d["quantity"]) for d in of(emitted, "item.picked")) == [
        ("p1", 1), ("p2", 2)]


def test_a_weight_between_counts_is_ambiguous_with_candidates() -> None:
    emitted = run([spec()], {1: [ramp(30, 31, -140.0)]}, 60)
    (picked,) = of(emitted, "item.picked")
    assert picked["ambiguous"] is True and picked["candidates"] == [1, 2]
    assert picked["quantity"] == 1 and picked["confidence"] < 0.5
    q = quantity(-250.0, 100.0)
    assert q is not None and q.ambiguous and set(q.candidates) == {2, 3}
    assert quantity(40.0, 100.0) is None


def test_a_return_after_a_pick_and_a_restock_beyond_it() -> None:
    loads = [ramp(30, 31, -200.0), ramp(60, 61, 100.0), ramp(120, 125, 800.0)]
    emitted = run([spec()], {1: loads}, 160)
    assert [d["quantity"] for d in of(emitted, "item.returned")] == [1]
    changes = [(d["reason"], d["count"]) for d in of(emitted, "stock.changed")]
    assert changes == [("initial", 18), ("pick", 16), ("return", 17), ("restock", 25)]


def test_a_pick_held_while_staff_restock_may_still_be_returned() -> None:
    loads = [ramp(30, 31, -100.0), ramp(40, 47, 700.0), ramp(60, 61, 100.0)]
    emitted = run([spec()], {1: loads}, 100)
    changes = [(d["reason"], d["count"]) for d in of(emitted, "stock.changed")]
    assert changes == [("initial", 18), ("pick", 17), ("restock", 24), ("return", 25)]


def test_low_and_out_of_stock_fire_once() -> None:
    loads = [ramp(30, 31, -200.0), ramp(60, 61, -200.0), ramp(90, 91, -200.0)]
    emitted = run([spec(stock=6)], {1: loads}, 120, tare=0.0)
    assert of(emitted, "stock.low") == [{"shelf": "s1", "plate": "p1", "sku": "sku-1",
                                         "remaining": 2, "threshold": 3}]
    assert of(emitted, "stock.out") == [{"shelf": "s1", "plate": "p1", "sku": "sku-1"}]


def test_with_a_tare_the_count_comes_from_the_weight() -> None:
    emitted = run([spec(stock=None, tare_grams=310.0)], {}, 20)
    assert of(emitted, "stock.changed")[0]["count"] == 0  # stock None: 310 + 0 units
    emitted = run([spec(stock=None, tare_grams=10.0)], {}, 20)
    assert of(emitted, "stock.changed")[0]["count"] == 3  # 300 g over the tare


def test_a_stuck_sensor_is_a_fault_raised_then_cleared() -> None:
    def stuck(_: int, t: float, g: float) -> float:
        return 2110.0 if 10 <= t < 100 else g
    emitted = run([spec()], {}, 130, raw=stuck)
    faults = [(d["fault"], d["active"]) for d in of(emitted, "sensor.fault")]
    assert faults == [("stuck", True), ("stuck", False)]


def test_a_saturated_sensor_is_a_fault_and_no_pick() -> None:
    def rail(_: int, t: float, g: float) -> float:
        return 30_000.0 if 20 <= t < 30 else g
    emitted = run([spec()], {}, 60, raw=rail)
    faults = [(d["fault"], d["active"]) for d in of(emitted, "sensor.fault")]
    assert faults == [("saturated", True), ("saturated", False)]
    assert of(emitted, "item.picked") == [] and of(emitted, "item.returned") == []


def test_a_fast_moving_zero_is_a_drifting_fault() -> None:
    emitted = run([spec()], {}, 600, drift_g_per_min=40.0)
    assert ("drifting", True) in [(d["fault"], d["active"])
                                  for d in of(emitted, "sensor.fault")]


def test_unknown_plates_are_counted_and_skipped() -> None:
    proc = ShelfProcessor([spec()])
    out = Output(1.0)
    proc.on_reading(WeightSample("s1", "C1", 9, 100.0, 0, 1.0), out)
    proc.on_reading(WeightSample("other", "C1", 1, 100.0, 1, 1.0), out)
    assert out.emissions == [] and proc.counters()["shelf.unknown_plate"] == 2


def test_every_emitted_event_fits_its_schema() -> None:
    cat = catalogue()
    loads = [ramp(30, 31, -140.0), ramp(60, 61, 100.0), ramp(120, 125, 800.0)]
    emitted = run([spec(stock=4)], {1: loads}, 160)
    emitted += run([spec()], {}, 600, drift_g_per_min=40.0)
    for e in emitted:
        cat[e.type].validator.validate(e.data)


def test_the_builder_is_registered_and_follows_the_config(tmp_path: Path) -> None:
    world = build_world(scenarios()["normal-day"], 1, 60.0)
    config = sim_config(world, tmp_path, None)
    shelf = [p for p in build_processors(config) if p.name == "shelf"]
    assert len(shelf) == 1 and isinstance(shelf[0], ShelfProcessor)
    assert len(shelf[0].plates) == sum(len(s.plates) for s in world.layout.shelves)


def test_a_short_simulated_run_scores_picks(tmp_path: Path) -> None:
    result = asyncio.run(short_run(tmp_path, seed=3, duration=240.0))
    report = result.report["metrics"]
    pr = report["pick_return_precision_recall"]
    assert pr["scored"] and pr["details"]["pick"]["truth"] > 0
    assert pr["value"]["pick_precision"] == 1.0 and pr["value"]["pick_recall"] >= 0.9
    assert report["stock_level_error"]["scored"]
    assert report["false_from_bumps_restocks"]["value"] == 0


# ------------------------------------------------------------------ calibration commands
class _Emitter:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.emitted.append((event_type, data))


def _command_path(tmp_path: Path) -> tuple[Any, _Emitter, Any]:
    """The real command processor (schema checks, answers) with the default handlers; the
    services stand-in only collects what the handlers emit."""
    from types import SimpleNamespace

    from edge.sync.command_store import CommandStore
    from edge.sync.commands import CommandProcessor
    from edge.sync.handlers import DefaultHandlers
    from edge.sync.topics import Topics

    world = build_world(scenarios()["normal-day"], 1, 60.0)
    config = sim_config(world, tmp_path, None)
    emitter = _Emitter()
    services = SimpleNamespace(emitter=emitter)
    handlers = DefaultHandlers(config, services, bootid="b").table()  # type: ignore[arg-type]
    answers: list[dict[str, Any]] = []

    async def record(_: dict[str, Any]) -> None:
        return None

    proc = CommandProcessor(topics=Topics("omo/v1", "sim-store", "sim-edge"), handlers=handlers,
                            store=CommandStore(tmp_path / "commands.db"), record=record,
                            answer=lambda _t, payload: answers.append(__import__("json").loads(
                                payload)), max_bytes=4096)
    return proc, emitter, config


_IDS = iter(range(1, 1000))


def _send(proc: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
    import json

    answer = asyncio.run(proc.handle(f"omo/v1/sim-store/sim-edge/cmd/{name}",
                                     json.dumps({"id": f"c-{next(_IDS)}", "args": args}).encode()))
    assert answer is not None
    return dict(answer)


def _feed(proc: ShelfProcessor, grams: Callable[[float], float], t0: float, seconds: float,
          rng: random.Random) -> list[Emission]:
    emitted: list[Emission] = []
    for k in range(int(seconds * RATE_HZ)):
        t = t0 + k / RATE_HZ
        out = Output(t)
        proc.on_reading(WeightSample("shelf-1", "C1", 1, round(grams(t) + rng.gauss(0, 1.2),
                                                               1), k, t), out)
        emitted += out.emissions
    return emitted


def test_tare_and_calibrate_commands_reach_the_processor(tmp_path: Path) -> None:
    from edge.events import Event
    from edge.shelf import plate_specs
    from edge.shelf.commands import CALIBRATED, REQUESTED

    cmds, emitter, config = _command_path(tmp_path)
    assert _send(cmds, "shelf.tare", {"shelf": "shelf-1", "plate": "nope"})["outcome"] \
        == "rejected"
    assert _send(cmds, "shelf.calibrate", {"shelf": "shelf-1", "plate": "p1"})["outcome"] \
        == "rejected"  # no grams: the schema says so
    ok = _send(cmds, "shelf.tare", {"shelf": "shelf-1", "plate": "p1", "count": 5})
    assert ok["outcome"] == "ok" and ok["result"]["pending"] is True
    assert (config.storage.state_dir / "shelf" / "calibration.json").exists()
    ok = _send(cmds, "shelf.calibrate", {"shelf": "shelf-1", "plate": "p1", "grams": 1000})
    assert ok["outcome"] == "ok"
    (tare_type, tare_req), (cal_type, cal_req) = emitter.emitted
    assert tare_type == cal_type == REQUESTED
    assert tare_req == {"shelf": "shelf-1", "plate": "p1", "action": "tare", "count": 5}

    # the processor: a plate reading 1.1 g per gram (an uncalibrated cell), emptied, tared
    rng = random.Random(3)
    proc = ShelfProcessor(plate_specs(config))
    unit = plate_specs(config)[0].unit_grams
    _feed(proc, lambda t: 200 + 1.1 * 18 * unit, 0.0, 10.0, rng)
    _feed(proc, lambda t: 200.0, 10.0, 10.0, rng)
    proc.on_event(Event.new(REQUESTED, {**tare_req, "count": 0}, source="x", bootid="b",
                            epoch_s=20.0), Output(20.0))
    emitted = _feed(proc, lambda t: 200.0, 20.0, 5.0, rng)
    (tared,) = [e.data for e in emitted if e.type == CALIBRATED]
    assert tared["action"] == "tare" and tared["tare_grams"] == pytest.approx(200, abs=1.5)
    assert proc.count_of("shelf-1", 1) == 0
    # a known kilogram put on, the command, the kilogram taken off, then 5 colas stocked
    _feed(proc, lambda t: 1300.0, 25.0, 10.0, rng)
    proc.on_event(Event.new(REQUESTED, cal_req, source="x", bootid="b", epoch_s=35.0),
                  Output(35.0))
    emitted = _feed(proc, lambda t: 1300.0 if t < 45 else 200.0, 35.0, 20.0, rng)
    (cal,) = [e.data for e in emitted if e.type == CALIBRATED]
    assert cal["scale"] == pytest.approx(1 / 1.1, rel=0.005)
    assert [e for e in emitted if e.type.startswith("omo.shelf.item")] == []  # not a pick
    assert proc.count_of("shelf-1", 1) == 0
    _feed(proc, lambda t: 200 + 1.1 * 5 * unit, 55.0, 10.0, rng)
    assert proc.count_of("shelf-1", 1) == 5


# ------------------------------------------------------------------------ scorers
def test_stock_level_and_false_from_bumps_restocks_scorers() -> None:
    from sim.scoring import EventView, Truth
    from sim.scoring.shelf import false_from_bumps_restocks, stock_level_error

    base = {"shelf": "shelf-1", "plate": "p1"}
    truth = Truth([
        {"type": "pick", **base, "quantity": 1, "t": 9.0, "t_end": 10.0, "stock": 17},
        {"type": "restock", **base, "quantity": 7, "t": 50.0, "t_end": 55.0, "stock": 24},
        {"type": "bump", **base, "t": 80.0, "grams": 100.0},
        {"type": "touch", **base, "t": 88.0, "t_end": 90.5, "grams": -40.0},
        {"type": "pick", **base, "quantity": 1, "t": 99.0, "t_end": 100.0, "stock": 23}])

    def changed(t: float, count: int) -> EventView:
        return EventView("omo.shelf.stock.changed", t, {**base, "count": count})

    right = [changed(10.3, 17), changed(55.3, 24), changed(100.2, 23)]
    assert stock_level_error(truth, right)["value"] == 0
    wrong = [changed(10.3, 17), changed(55.3, 25), changed(100.2, 24)]
    assert stock_level_error(truth, wrong)["value"] == pytest.approx(2 / 3, abs=1e-3)
    picked = [EventView("omo.shelf.item.picked", t, {**base, "quantity": 1})
              for t in (10.2, 80.5, 100.3)]
    out = false_from_bumps_restocks(truth, picked)
    assert out["value"] == 1 and out["details"]["from_bump"] == 1
    # a hand that touched an item and took nothing: a pick reported for it is false too
    returned = [EventView("omo.shelf.item.returned", 90.9, {**base, "quantity": 1})]
    out = false_from_bumps_restocks(truth, picked + returned)
    assert out["value"] == 2 and out["details"]["from_touch"] == 1


def test_a_gap_in_the_stream_is_a_correction_not_a_pick() -> None:
    proc = ShelfProcessor([spec()])
    rng = random.Random(5)
    emitted: list[Emission] = []
    for k in range(200):  # 50 s, then the controller is unplugged for 60 s; 2 units gone
        t = k / RATE_HZ if k < 100 else 60.0 + k / RATE_HZ
        grams = 310 + (18 if k < 100 else 16) * 100 + rng.gauss(0, 1.2)
        out = Output(t)
        proc.on_reading(WeightSample("s1", "C1", 1, round(grams, 1), k, t), out)
        emitted += out.emissions
    assert of(emitted, "item.picked") == []
    assert [(d["reason"], d["count"]) for d in of(emitted, "stock.changed")] == [
        ("initial", 18), ("correction", 16)]
    assert proc.counters()["shelf.gaps"] == 1


def test_an_item_taken_while_unplugged_may_be_returned_after() -> None:
    # 2 units gone while the controller was away (a correction); one of them comes back
    # once it is connected again: a shopper's return, not staff restocking one unit
    proc = ShelfProcessor([spec()])
    rng = random.Random(5)
    emitted: list[Emission] = []
    for k in range(300):
        t = k / RATE_HZ if k < 100 else 60.0 + k / RATE_HZ
        units = 18 if k < 100 else 16 if k < 200 else 17
        grams = 310 + units * 100 + rng.gauss(0, 1.2)
        out = Output(t)
        proc.on_reading(WeightSample("s1", "C1", 1, round(grams, 1), k, t), out)
        emitted += out.emissions
    assert [(d["reason"], d["count"]) for d in of(emitted, "stock.changed")] == [
        ("initial", 18), ("correction", 16), ("return", 17)]
    assert [d["quantity"] for d in of(emitted, "item.returned")] == [1]
