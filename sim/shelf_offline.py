"""The shelf part scored without the daemon: the simulated world's controller lines parsed and
fed straight to the shelf processor, then the shelf scorers. Seconds per 30-minute run, so
detection can be tuned quickly; the full path (ptys, readers, event log) is `omo-edge sim`.

    .venv/bin/python -m sim.shelf_offline --seeds 11-15 --duration 1800

The line noise, drift, bumps and picks are the simulator's own (`sim.shelf.ShelfGenerator`);
a sample's time is the time the controller wrote it (no reader latency), which is what
dating each line on its controller's own clock gives (`drivers/device_clock.py`).
`--reader-tick 0.1` has the reader read each tick's lines at its end, as `omo-edge sim`
does, and date them then, as the full path does by default; with `--date-on-clock` it dates
them on the controllers' clocks (the simulated controllers send it), as `omo-edge sim
--shelf-clock` (`shelves[].date_on_clock`) does.
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

from drivers.device_clock import ClockSettings
from drivers.readings import BeamEdge, Reading, WeightSample
from drivers.shelf_serial import ShelfReader
from edge.processing.processor import Output
from edge.shelf import plate_specs
from edge.shelf.detector import DetectorSettings
from edge.shelf.processor import ShelfProcessor, ShelfSettings
from sim.overrides import ParamError, Value, apply, parse_sets
from sim.runner import sim_config
from sim.scoring import EventView, Truth, match_by_time
from sim.scoring.shelf import (
    KINDS,
    TOLERANCE_S,
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
        detector: DetectorSettings | None = None, misses: bool = False,
        reader_tick: float = 0.0, reconnect_s: float = 1.0,
        date_on_clock: bool = False, clock: bool = True) -> dict[str, Any]:
    """One run's shelf metrics (and the processor's counters); `detector` replaces the
    default detector settings (to try a tuning). `misses`: also "misses", each true pick or
    return not matched, each event matching none, and each wrong quantity, with its plate's
    samples and beam edges around it (`trace`, as in tests/data/shelf_traces.json).
    `reader_tick` > 0: each tick's lines are read at its end, as the full path's reader
    reads them (`omo-edge sim` writes a tick's lines at once), instead of each when the
    controller wrote it, and dated then, or with `date_on_clock` on its controller's clock
    (`clock` False: old firmware, the lines carry none). A scenario's shelf outage
    (an unplugged controller) loses that shelf's lines from the unplug until `reconnect_s`
    after the replug (the reader's back-off)."""
    chosen = scenarios()[scenario]
    if overrides:
        chosen = replace(chosen, params=apply(chosen.params, overrides))
    world = build_world(chosen, seed, duration)
    config = sim_config(world, Path("/nonexistent-sim-offline"), None)
    settings = ShelfSettings(detector=detector) if detector is not None else None
    proc = ShelfProcessor(plate_specs(config), settings)
    gen = ShelfGenerator(world, clock=clock)
    epoch = world.start_epoch
    readers = {s.id: ShelfReader(s.id, "loop://", 115200, now=lambda: 0.0,
                                 clock=ClockSettings() if date_on_clock else None)
               for s in world.layout.shelves}
    events: list[EventView] = []
    kept: dict[tuple[str, int], list[WeightSample | BeamEdge]] = {}

    def feed(reading: Reading, t: float) -> None:
        if misses and isinstance(reading, WeightSample | BeamEdge):
            kept.setdefault((reading.shelf, reading.plate), []).append(reading)
        out = Output(t)
        proc.on_reading(reading, out)
        events.extend(EventView(e.type, e.at - epoch, e.data) for e in out.emissions)

    away: dict[str, list[tuple[float, float]]] = {}
    for target, off, on in world.outages("shelf"):
        away.setdefault(target, []).append((off, on))
    t, next_tick, k = 0.0, TICK_S, 0
    while t < duration:
        # with a reader's tick, the world is stepped tick by tick as `omo-edge sim` steps
        # it (`k * tick` to `(k + 1) * tick`): the generator draws its noise plate by plate
        # within a step, so only the same steps give the same samples as the full path
        k += 1
        t1 = min(k * reader_tick if reader_tick > 0 else t + STEP_S, duration)
        for shelf_id, lines in gen.timed_lines(t, t1).items():
            reader = readers[shelf_id]
            sent = [(when, line) for when, line in lines if not any(
                off <= when < on + reconnect_s for off, on in away.get(shelf_id, ()))]
            reads = [(t1, [line for _, line in sent])] if reader_tick > 0 else [
                (when, [line]) for when, line in sent]  # one read a tick, or a line
            for when, chunk in reads:
                parts = [part for line in chunk for part in reader.lines.feed(line)]
                for reading in reader.handle_lines(parts, epoch + when):
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
            "counters": proc.counters(),
            **({"misses": _misses(truth, events, kept, config, epoch)} if misses else {})}


def _misses(truth: Truth, events: list[EventView],
            kept: dict[tuple[str, int], list[WeightSample | BeamEdge]],
            config: Any, epoch: float) -> list[dict[str, Any]]:
    """The true picks and returns not matched, the events matching none and the matched
    ones with a wrong quantity, matched as the scorers match them."""
    numbers = {(s.shelf, s.plate): (s.number, s.unit_grams) for s in plate_specs(config)}
    out: list[dict[str, Any]] = []
    for kind, etype in KINDS.items():
        true = truth.of(kind)
        found = [e for e in events if e.type == etype]
        pairs = match_by_time(
            [(float(r["t_end"]), r) for r in true], [(e.t, e) for e in found], TOLERANCE_S,
            lambda r, e: r["shelf"] == e.data.get("shelf") and r["plate"] == e.data.get("plate"))
        got = {i for i, _ in pairs}
        used = {j for _, j in pairs}
        items = [("missed", r["shelf"], r["plate"], float(r["t"]), float(r["t_end"]),
                  r["quantity"]) for i, r in enumerate(true) if i not in got]
        items += [("false", e.data["shelf"], e.data["plate"], e.t, e.t, e.data["quantity"])
                  for j, e in enumerate(found) if j not in used]
        items += [("quantity", true[i]["shelf"], true[i]["plate"], float(true[i]["t"]),
                   float(true[i]["t_end"]), f"{found[j].data['quantity']} for "
                   f"{true[i]['quantity']}") for i, j in pairs
                  if found[j].data.get("quantity") != true[i]["quantity"]]
        for what, shelf, plate, t0, t1, qty in items:
            number, unit = numbers[(shelf, plate)]
            lo, hi = t0 - 12.0, t1 + 8.0
            readings = [r for r in kept.get((shelf, number), ()) if lo <= r.t - epoch <= hi]
            near = [{"type": k, "t": round(float(r["t"]) - lo, 3),
                     "t_end": round(float(r["t_end"]) - lo, 3), "quantity": r["quantity"]}
                    for k in KINDS for r in truth.of(k)
                    if r["shelf"] == shelf and r["plate"] == plate
                    and lo <= float(r["t"]) and float(r["t_end"]) <= hi]
            found_near = [{"type": e.type.rsplit(".", 1)[-1], "t": round(e.t - lo, 3),
                           "quantity": e.data["quantity"]} for e in events
                          if e.type in KINDS.values() and e.data.get("shelf") == shelf
                          and e.data.get("plate") == plate and lo <= e.t <= hi]
            out.append({
                "what": what, "kind": kind, "shelf": shelf, "plate": plate, "t": round(t0, 3),
                "t_end": round(t1, 3), "quantity": qty, "source": f"{shelf} plate {number}, "
                f"{lo:.0f}-{hi:.0f} s", "unit_grams": unit, "truth": sorted(
                    near, key=lambda r: r["t"]), "found": found_near,
                "beams": [[round(r.t - epoch - lo, 3), r.lane, r.broken] for r in readings
                          if isinstance(r, BeamEdge)],
                "samples": [[round(r.t - epoch - lo, 3), r.grams] for r in readings
                            if isinstance(r, WeightSample)]})
    return out


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
    known = {f.name: type(getattr(base, f.name)) for f in fields(base) if f.name != "ramps"}
    known |= {f"ramps.{f.name}": type(getattr(base.ramps, f.name)) for f in fields(base.ramps)}
    values: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or key not in known:
            raise ValueError(f"{item!r}: expected KEY=VALUE with KEY one of {sorted(known)}")
        try:
            if known[key] is bool:
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                values[key] = text.lower() in ("true", "1")
            else:
                values[key] = known[key](text)
        except ValueError:
            raise ValueError(f"{item!r}: not a {known[key].__name__}") from None
    ramps = {k.removeprefix("ramps."): values.pop(k) for k in list(values)
             if k.startswith("ramps.")}
    return replace(base, ramps=replace(base.ramps, **ramps), **values)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="normal-day")
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="a world parameter, as `omo-edge sim --set`")
    ap.add_argument("--detector", action="append", default=[], metavar="KEY=VALUE",
                    help="a detector setting (edge.shelf.detector.DetectorSettings; "
                    "ramps.KEY: edge.shelf.ramps.RampSettings)")
    ap.add_argument("--json", action="store_true", help="one JSON line per run, then summary")
    ap.add_argument("--reader-tick", type=float, default=0.0, metavar="S",
                    help="read each S-second tick's lines at its end and date them then, as "
                         "the full path's reader does (omo-edge sim: 0.1); 0 (the default): "
                         "each line when it was written, which is what dating it on its "
                         "controller's clock gives")
    ap.add_argument("--date-on-clock", action="store_true",
                    help="date each line on its controller's clock (the simulated "
                         "controllers send it), as omo-edge sim --shelf-clock "
                         "(shelves[].date_on_clock) does")
    ap.add_argument("--reconnect-s", type=float, default=1.0, metavar="S",
                    help="an unplugged controller's lines are lost until S seconds after "
                         "it is plugged back in (the reader's back-off)")
    ap.add_argument("--misses", action="store_true",
                    help="list each missed, false or wrongly counted pick and return")
    ap.add_argument("--dump", type=Path, metavar="FILE",
                    help="with --misses: write them with their plates' traces (JSON)")
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
    dumped: dict[str, Any] = {}
    for seed in seeds(args.seeds):
        r = run(args.scenario, seed, args.duration, overrides, detector, args.misses,
                args.reader_tick, args.reconnect_s, args.date_on_clock)
        runs.append(r)
        for m in r.pop("misses", []):
            print(f"  seed {seed} {m['what']} {m['kind']} {m['shelf']}/{m['plate']} "
                  f"t {m['t']:.1f}-{m['t_end']:.1f} quantity {m['quantity']}")
            dumped[f"{args.scenario} seed {seed} {m['what']} {m['kind']} {m['shelf']}/"
                   f"{m['plate']} {m['t']:.1f}"] = m
        if args.json:
            print(json.dumps({"seed": seed, **r}))
        else:
            print(f"seed {seed}: " + " ".join(
                f"{m} {r[m]:.3f}" if isinstance(r[m], float) else f"{m} {r[m]}"
                for m in METRICS))
    if args.dump is not None:
        args.dump.write_text(json.dumps(dumped, indent=1))
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
