"""`omo-edge sim`: run the simulated store end to end against the real daemon, and score it."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import re
import sys
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.runner import Options

DEFAULT_SEED = 1
MQTT_PORT = 1883

HELP = "run the simulated store end to end and score it"
RECORDING = "readings.rec.gz"
VISION_CAMERA = {"camera.width": 640, "camera.height": 480, "camera.fps": 10.0}


def _is_host(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return bool(re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9])?",
                                 name))
    return True


def parse_broker_url(text: str) -> tuple[str, int]:
    """`mqtt://HOST[:PORT]` -> (host, port); ValueError says what is wrong."""
    want = "expected mqtt://HOST:PORT (such as mqtt://localhost:1883)"
    try:
        url = urllib.parse.urlsplit(text)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}; {want}") from None
    try:
        port = url.port
    except ValueError:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535") from None
    if url.scheme != "mqtt":
        extra = (" (TLS is not supported here: the simulator syncs without it)"
                 if url.scheme in ("mqtts", "ssl", "tls") else "")
        raise ValueError(f"{text!r}: {want}{extra}")
    if url.username is not None or url.password is not None:
        raise ValueError(f"{text!r}: user names and passwords are not supported here; "
                         f"{want}")
    if url.path not in ("", "/") or url.query or url.fragment:
        raise ValueError(f"{text!r}: no path, query or fragment; {want}")
    if not url.hostname:
        raise ValueError(f"{text!r}: no host; {want}")
    if not _is_host(url.hostname):
        raise ValueError(f"{text!r}: {url.hostname!r} is not a host name or IP address")
    if port == 0:
        raise ValueError(f"{text!r}: port 0; {want}")
    return url.hostname, MQTT_PORT if port is None else port


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


def _start(text: str) -> float:
    """`--start`: a date (09:00 UTC that day, when the default run starts) or an RFC 3339
    time with an offset, as seconds since the epoch."""
    from datetime import UTC, datetime

    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            when = datetime.fromisoformat(text + "T09:00:00+00:00")
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a date (YYYY-MM-DD) or an RFC 3339 time such as "
            "2026-01-05T10:00:00Z") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give the offset (Z or +09:00)")
    return when.astimezone(UTC).timestamp()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=None,
                        help=f"world seed (default {DEFAULT_SEED})")
    parser.add_argument("--seeds", metavar="LIST",
                        help="run several seeds (1-10, 1,3,5 or mixed) and report each "
                             "metric's mean, standard deviation and worst case; each run "
                             "goes to DIR/seed-N")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        dest="overrides",
                        help="override a world parameter (repeatable; --list-params lists "
                             "them), e.g. --set ble.miss=0.3 --set world.stops=1,2")
    parser.add_argument("--broker", metavar="mqtt://HOST:PORT",
                        help="sync the run's events to this broker instead of none (not "
                             "with broker-outage, which runs its own)")
    parser.add_argument("--duration", type=float, default=900.0, metavar="S",
                        help="simulated seconds (default 900)")
    parser.add_argument("--start", type=_start, default=None, metavar="WHEN",
                        help="when the simulated run starts: YYYY-MM-DD (09:00 UTC that day) "
                             "or an RFC 3339 time; default 2026-01-01T09:00:00Z. Runs on "
                             "several dates make a simulated week for `omo-edge report`")
    parser.add_argument("--speed", type=_speed, default=None, metavar="X|max",
                        help="multiple of real time, or 'max' (default)")
    parser.add_argument("--scenario", default="normal-day", metavar="NAME",
                        help="normal-day (default), rush-hour, broker-outage, sensor-unplug, "
                             "noisy-ble")
    parser.add_argument("--vision", action="store_true",
                        help="run the vision processor on the cameras' videos (the configured "
                             "face model) and score it; off by default: it is the slowest part. "
                             "The cameras then render 640x480 at 10 frames/s (the default "
                             "320x240 at 2 frames/s draws faces too small to find) unless "
                             "--set camera.* says otherwise")
    parser.add_argument("--no-screens", dest="screens", action="store_false",
                        help="do not play the screens (by default the real signage player "
                             "plays each screen offscreen on the simulated clock, so proof of "
                             "play and the audience per content item are in the log)")
    parser.add_argument("--headless", action="store_true",
                        help="no window even if a display is there: save PNG snapshots")
    parser.add_argument("--out", type=Path, default=Path("sim-output"), metavar="DIR",
                        help="truth, event log, videos and snapshots go here (default "
                             "sim-output)")
    parser.add_argument("--report", type=Path, metavar="F", help="write the report JSON here")
    parser.add_argument("--shelf-clock", action="store_true",
                        help="the shelf readers date each line on its controller's clock "
                             "(shelves[].date_on_clock; the simulated controllers always send "
                             "it): the full path as `sim.shelf_offline --date-on-clock`")
    parser.add_argument("--record", action="store_true",
                        help="also record the readings the daemon sees to DIR/readings.rec.gz "
                             "(what `omo-edge record` writes; replay with `omo-edge replay`)")
    parser.add_argument("--snapshot-every", type=float, default=150.0, metavar="S",
                        help="simulated seconds between live-view snapshots (default 150)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--list-scenarios", action="store_true", help="list scenarios and exit")
    parser.add_argument("--list-params", action="store_true",
                        help="list the world parameters (for --set) and exit")


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


def _usage(message: str) -> int:
    print(f"omo-edge sim: {message}", file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    from edge import logsetup
    from sim.overrides import ParamError, parameter_table, parse_sets
    from sim.runner import Options
    from sim.seeds import parse_seeds
    from sim.world import scenarios

    if args.list_scenarios:
        for s in scenarios().values():
            print(f"{s.name:<15} {s.description}")
        return 0
    if args.list_params:
        print(parameter_table())
        return 0
    if args.scenario not in scenarios():
        return _usage(f"no scenario {args.scenario!r}; scenarios: " + ", ".join(scenarios()))
    if args.duration <= 0:
        return _usage("--duration must be positive")
    try:
        overrides = parse_sets(args.overrides)
    except ParamError as exc:
        print("omo-edge sim: bad --set:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    broker = None
    if args.broker is not None:
        try:
            broker = parse_broker_url(args.broker)
        except ValueError as exc:
            return _usage(f"--broker {exc}")
        if scenarios()[args.scenario].broker:
            return _usage(f"--broker: scenario {args.scenario!r} stops and restarts its own "
                          "broker, so it cannot use an external one; drop --broker or pick "
                          "another scenario")
    seeds = None
    if args.seeds is not None:
        if args.seed is not None:
            return _usage("give --seed or --seeds, not both")
        try:
            seeds = parse_seeds(args.seeds)
        except ValueError as exc:
            return _usage(f"--seeds: {exc}")
    logsetup.setup("warning")
    if args.vision:  # the cameras a face model can be scored against, unless --set says else
        overrides = {**VISION_CAMERA, **overrides}
    opts = Options(scenario=args.scenario,
                   seed=DEFAULT_SEED if args.seed is None else args.seed,
                   duration=args.duration, speed=args.speed, out=args.out, report=args.report,
                   headless=args.headless, snapshot_every_s=args.snapshot_every,
                   progress=not args.quiet, overrides=overrides, broker=broker,
                   record=args.out / RECORDING if args.record else None,
                   vision=args.vision, screens=args.screens, start_epoch=args.start,
                   shelf_clock=args.shelf_clock)
    if seeds is not None:
        return _many(opts, seeds)
    return _one(opts, args.broker)


def _one(opts: Options, broker_url: str | None) -> int:
    from sim.runner import simulate

    result = asyncio.run(simulate(opts))
    print(summary(result.report))
    if result.snapshots:
        print(f"live view snapshots: {len(result.snapshots)} in {opts.out / 'snapshots'}")
    if broker_url is not None:
        print(_delivered(opts.out, broker_url))
    if opts.record is not None:
        print(f"recording: {opts.record} (omo-edge replay {opts.record} -c CONFIG)")
    print(f"status: omo-edge status -c {opts.out / 'status.toml'}")
    print(f"truth: {opts.out / 'truth.jsonl'}; event log: {opts.out / 'events.db'}"
          + (f"; report: {opts.report}" if opts.report else ""))
    return 0 if not result.report["run"]["aborted"] else 130


def _delivered(out: Path, broker_url: str) -> str:
    from edge.eventlog import open_readonly

    el = open_readonly(out / "events.db")
    try:
        stats = el.stats()
    finally:
        el.close()
    return (f"broker {broker_url}: {stats.delivered} of {stats.total} events delivered"
            + (f" ({stats.queued} undelivered stay in the event log)" if stats.queued else ""))


def _many(opts: Options, seeds: list[int]) -> int:
    """Run each seed into DIR/seed-N, then print and write the aggregate."""
    from dataclasses import replace

    from sim.runner import simulate
    from sim.seeds import aggregate, table

    reports: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    aborted = False
    for i, seed in enumerate(seeds, start=1):
        out = opts.out / f"seed-{seed}"
        if opts.progress:
            print(f"[sim] seed {seed} ({i}/{len(seeds)}) -> {out}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        result = asyncio.run(simulate(replace(
            opts, seed=seed, out=out, report=out / "report.json",
            record=out / RECORDING if opts.record else None)))
        report = result.report
        scored = len(report["scored"])
        if opts.progress:
            print(f"[sim] seed {seed} ({i}/{len(seeds)}) done in {time.monotonic() - t0:.1f} s: "
                  f"{scored} of {len(report['metrics'])} metrics scored",
                  file=sys.stderr, flush=True)
        if report["run"]["aborted"]:
            aborted = True
            break
        reports.append(report)
        runs.append({"seed": seed, "out": str(out), "truth_sha256": report["truth_sha256"],
                     "wall_s": report["run"]["wall_s"],
                     "metrics": {n: m.get("value") for n, m in report["metrics"].items()
                                 if m["scored"]}})
    agg = aggregate(reports)
    full = {"scenario": opts.scenario, "duration_s": opts.duration,
            "overrides": dict(sorted(opts.overrides.items())), **agg, "runs": runs,
            "aborted": aborted}
    print(f"scenario {opts.scenario}, {len(reports)} seeds "
          f"({', '.join(str(r['seed']) for r in reports) or 'none'}), "
          f"{opts.duration:g} simulated s each")
    print(table(agg))
    print(f"runs: {opts.out}/seed-N (truth, event log, report.json each)")
    if opts.report is not None:
        opts.report.parent.mkdir(parents=True, exist_ok=True)
        opts.report.write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
        print(f"report: {opts.report}")
    return 130 if aborted else 0
