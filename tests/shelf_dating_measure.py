"""How well the full path dated the shelf readings: each weight and beam edge of a recorded
`omo-edge sim` run against the time its simulated controller wrote it (docs/shelf.md,
Measured: "The controller's clock").

    .venv/bin/python -m tests.shelf_dating_measure RUN_DIR [RUN_DIR ...]

RUN_DIR is an `omo-edge sim --record --out` folder (report.json, readings.rec.gz), e.g. the
seed-N folders of `omo-edge sim --seeds 521-525 --record --out DIR`. The world is rebuilt
from the report's scenario, seed and duration, its controllers' lines generated again tick
by tick (as the run stepped them: the same noise, seq for seq), and each recorded reading
found by its controller and seq. It prints, per run and pooled: readings, the share dated
more than 0.1 s and 0.01 s off, dated before they were written, the mean and worst error.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace
from pathlib import Path

from drivers.readings import BeamEdge, WeightSample
from drivers.shelf_serial import ProtocolError, parse_beam, parse_line
from edge.recording.format import RecordingReader
from sim.overrides import apply
from sim.shelf import ShelfGenerator
from sim.world import TICK_S, build_world, scenarios


def written_times(run: Path) -> tuple[dict[tuple[str, int], float], float]:
    """(controller, seq) -> when the controller wrote the line (sim s), and the epoch."""
    report = json.loads((run / "report.json").read_text())
    scenario = scenarios()[report["scenario"]]
    if report.get("overrides"):
        scenario = replace(scenario, params=apply(scenario.params, report["overrides"]))
    world = build_world(scenario, int(report["seed"]), float(report["duration_s"]))
    gen = ShelfGenerator(world)
    out: dict[tuple[str, int], float] = {}
    for k in range(round(world.duration / TICK_S)):
        for lines in gen.timed_lines(k * TICK_S, (k + 1) * TICK_S).values():
            for t, line in lines:
                try:
                    r = parse_line(line) if line.startswith(b"$W") else parse_beam(line)
                except ProtocolError:
                    continue
                out.setdefault((r.controller, r.seq), t)
    return out, world.start_epoch


def errors(run: Path) -> list[float]:
    """Each recorded shelf reading's time minus when it was written, s."""
    written, epoch = written_times(run)
    rec = RecordingReader(run / "readings.rec.gz")
    try:
        return [r.t - epoch - written[(r.controller, r.seq)] for r in rec.readings()
                if isinstance(r, WeightSample | BeamEdge) and (r.controller, r.seq) in written]
    finally:
        rec.close()


def line(name: str, errs: list[float]) -> str:
    n = len(errs)
    return (f"{name}: {n} readings, {sum(abs(e) > 0.1 for e in errs) / n:.1%} off by more "
            f"than 0.1 s, {sum(abs(e) > 0.01 for e in errs) / n:.1%} by more than 0.01 s, "
            f"{sum(e < -0.001 for e in errs) / n:.1%} dated before written; mean "
            f"{statistics.fmean(abs(e) for e in errs) * 1000:.1f} ms, worst "
            f"{max(abs(e) for e in errs):.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args()
    pooled: list[float] = []
    for run in args.runs:
        errs = errors(run)
        pooled += errs
        print(line(str(run), errs))
    if len(args.runs) > 1:
        print(line("pooled", pooled))


if __name__ == "__main__":
    main()
