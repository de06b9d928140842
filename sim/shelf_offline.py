"""The shelf part scored without the daemon: the simulated world's controller lines parsed and
fed straight to the shelf processor, then the shelf scorers. Seconds per 30-minute run, so
detection can be tuned quickly; the full path (ptys, readers, event log) is `omo-edge sim`.

    .venv/bin/python -m sim.shelf_offline --seeds 11-15 --duration 1800

The line noise, drift, bumps and picks are the simulator's own (`sim.shelf.ShelfGenerator`);
a sample's time is the time the controller wrote it (no reader latency).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from drivers.readings import Reading
from drivers.shelf_serial import ShelfReader
from edge.processing.processor import Output
from edge.shelf import plate_specs
from edge.shelf.detector import DetectorSettings
from edge.shelf.processor import ShelfProcessor, ShelfSettings
from sim.overrides import ParamError, Value, apply, parse_sets
from sim.runner import sim_config
from sim.scoring import EventView, Truth
from sim.scoring.shelf import (
    false_from_bumps_restocks,
    pick_return_pr,
    quantity_accuracy,
    stock_level_error,
)
from sim.shelf import ShelfGenerator
from sim.world import build_world, scenarios

STEP_S = 0.5
TICK_S = 10.0
METRICS = ("pick_precision", "pick_recall", "return_precision", "return_recall",
           "quantity_exact", "stock_level_error", "false_from_bumps_restocks")


def run(scenario: str, seed: int, duration: float,
        overrides: Mapping[str, Value] | None = None,
        detector: DetectorSettings | None = None) -> dict[str, Any]:
    """One run's shelf metrics (and the processor's counters); `detector` replaces the
    default detector settings (to try a tuning)."""
    chosen = scenarios()[scenario]
    if overrides:
        chosen = replace(chosen, params=apply(chosen.params, overrides))
    world = build_world(chosen, seed, duration)
    config = sim_config(world, Path("/nonexistent-sim-offline"), None)
    settings = ShelfSettings(detector=detector) if detector is not None else None
    proc = ShelfProcessor(plate_specs(config), settings)
    gen = ShelfGenerator(world)
    epoch = world.start_epoch
    readers = {s.id: ShelfReader(s.id, "loop://", 115200, now=lambda: 0.0)
               for s in world.layout.shelves}
    events: list[EventView] = []

    def feed(reading: Reading, t: float) -> None:
        out = Output(t)
        proc.on_reading(reading, out)
        events.extend(EventView(e.type, e.at - epoch, e.data) for e in out.emissions)

    t, next_tick = 0.0, TICK_S
    while t < duration:
        t1 = min(t + STEP_S, duration)
        for shelf_id, lines in gen.timed_lines(t, t1).items():
            reader = readers[shelf_id]
            for when, line in lines:
                reader.now = lambda when=when: epoch + when  # type: ignore[misc]
                for part in reader.lines.feed(line):
                    reading = reader.handle(part)
                    if reading is not None:
                        feed(reading, epoch + when)
        t = t1
        if t >= next_tick:
            out = Output(epoch + t)
            proc.on_tick(epoch + t, out)
            events.extend(EventView(e.type, e.at - epoch, e.data) for e in out.emissions)
            next_tick += TICK_S
    truth = Truth(world.truth)
    pr = pick_return_pr(truth, events)["value"]
    return {**pr, "quantity_exact": quantity_accuracy(truth, events)["value"],
            "stock_level_error": stock_level_error(truth, events)["value"],
            "false_from_bumps_restocks": false_from_bumps_restocks(truth, events)["value"],
            "counters": proc.counters()}


def seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def detector_settings(items: list[str]) -> DetectorSettings | None:
    """`key=value` items as DetectorSettings (None when there are none); ValueError on an
    unknown key or a bad number."""
    if not items:
        return None
    base = DetectorSettings()
    known = {f.name: type(getattr(base, f.name)) for f in fields(base)}
    values: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or key not in known:
            raise ValueError(f"{item!r}: expected KEY=VALUE with KEY one of {sorted(known)}")
        try:
            values[key] = known[key](text)
        except ValueError:
            raise ValueError(f"{item!r}: not a {known[key].__name__}") from None
    return replace(base, **values)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="normal-day")
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="a world parameter, as `omo-edge sim --set`")
    ap.add_argument("--detector", action="append", default=[], metavar="KEY=VALUE",
                    help="a detector setting (edge.shelf.detector.DetectorSettings)")
    ap.add_argument("--json", action="store_true", help="one JSON line per run, then summary")
    args = ap.parse_args(argv)
    try:
        overrides = parse_sets(args.overrides)
    except ParamError as exc:
        print("bad --set: " + "; ".join(exc.problems), file=sys.stderr)
        return 2
    try:
        detector = detector_settings(args.detector)
    except ValueError as exc:
        print(f"bad --detector: {exc}", file=sys.stderr)
        return 2
    runs = []
    for seed in seeds(args.seeds):
        r = run(args.scenario, seed, args.duration, overrides, detector)
        runs.append(r)
        if args.json:
            print(json.dumps({"seed": seed, **r}))
        else:
            print(f"seed {seed}: " + " ".join(
                f"{m} {r[m]:.3f}" if isinstance(r[m], float) else f"{m} {r[m]}"
                for m in METRICS))
    summary: dict[str, Any] = {}
    for m in METRICS:
        vals = [r[m] for r in runs if r[m] is not None]
        worst = (max if m in ("stock_level_error", "false_from_bumps_restocks") else min)(vals)
        summary[m] = {"mean": round(statistics.fmean(vals), 3), "worst": round(worst, 3)}
    print(json.dumps({"scenario": args.scenario, "seeds": args.seeds, "set": args.overrides,
                      "duration_s": args.duration, "summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
