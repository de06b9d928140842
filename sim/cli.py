"""`omo-edge sim`: run the simulated store end to end against the real daemon, and score it."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a multiple of real time, or 'max'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be positive")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="world seed (default 1)")
    parser.add_argument("--duration", type=float, default=900.0, metavar="S",
                        help="simulated seconds (default 900)")
    parser.add_argument("--speed", type=_speed, default=None, metavar="X|max",
                        help="multiple of real time, or 'max' (default)")
    parser.add_argument("--scenario", default="normal-day", metavar="NAME",
                        help="normal-day (default), rush-hour, broker-outage, sensor-unplug, "
                             "noisy-ble")
    parser.add_argument("--headless", action="store_true",
                        help="no window even if a display is there: save PNG snapshots")
    parser.add_argument("--out", type=Path, default=Path("sim-output"), metavar="DIR",
                        help="truth, event log, videos and snapshots go here (default "
                             "sim-output)")
    parser.add_argument("--report", type=Path, metavar="F", help="write the report JSON here")
    parser.add_argument("--snapshot-every", type=float, default=150.0, metavar="S",
                        help="simulated seconds between live-view snapshots (default 150)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--list-scenarios", action="store_true", help="list scenarios and exit")


def summary(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = [f"scenario {report['scenario']} seed {report['seed']}: simulated "
             f"{run['simulated_s']:.0f} s in {run['wall_s']:.1f} s "
             f"(x{run['speed_x_real_time']} real time); truth sha256 "
             f"{report['truth_sha256'][:16]}",
             "readings (total, per simulated second):"]
    for source, n in run["readings"].items():
        lines.append(f"  {source:<16} {n:>8}  {run['readings_per_sim_s'][source]:>8.2f}/s")
    lines.append("metrics:")
    for name, m in report["metrics"].items():
        if m["scored"]:
            lines.append(f"  {name:<30} {json.dumps(m['value'])} {m.get('unit', '')}")
        else:
            lines.append(f"  {name:<30} not scored: {m['reason']}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from edge import logsetup
    from sim.runner import Options, simulate
    from sim.world import scenarios

    if args.list_scenarios:
        for s in scenarios().values():
            print(f"{s.name:<15} {s.description}")
        return 0
    if args.scenario not in scenarios():
        print(f"omo-edge sim: no scenario {args.scenario!r}; scenarios: "
              + ", ".join(scenarios()), file=sys.stderr)
        return 2
    if args.duration <= 0:
        print("omo-edge sim: --duration must be positive", file=sys.stderr)
        return 2
    logsetup.setup("warning")
    opts = Options(scenario=args.scenario, seed=args.seed, duration=args.duration,
                   speed=args.speed, out=args.out, report=args.report, headless=args.headless,
                   snapshot_every_s=args.snapshot_every, progress=not args.quiet)
    result = asyncio.run(simulate(opts))
    print(summary(result.report))
    if result.snapshots:
        print(f"live view snapshots: {len(result.snapshots)} in {args.out / 'snapshots'}")
    print(f"status: omo-edge status -c {args.out / 'status.toml'}")
    print(f"truth: {args.out / 'truth.jsonl'}; event log: {args.out / 'events.db'}"
          + (f"; report: {args.report}" if args.report else ""))
    return 0 if not result.report["run"]["aborted"] else 130
