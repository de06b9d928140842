"""The `omo-edge` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from edge import __version__
from edge.config import DEFAULT_PATH, Config, ConfigError, load

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2

# Subcommands and bench parts that live in their own modules register themselves as entry
# points (pyproject.toml: groups "omo_edge.commands" and "omo_edge.bench"), so this module
# imports none of them: `edge` never imports `sim`. Each module has `HELP` (one line),
# `add_arguments(parser)` (cheap: no heavy imports) and `main(args) -> int`.
COMMAND_GROUP = "omo_edge.commands"
BENCH_GROUP = "omo_edge.bench"


def _config_path(args: argparse.Namespace) -> Path:
    given = getattr(args, "config", None) or os.environ.get("OMO_EDGE_CONFIG")
    return Path(given) if given else DEFAULT_PATH


def load_config_or_exit(args: argparse.Namespace, *, require_secrets: bool = True) -> Config:
    path = _config_path(args)
    try:
        return load(path, require_secrets=require_secrets)
    except ConfigError as exc:
        print(f"omo-edge: config error in {path}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", metavar="PATH",
                   help=f"store config (TOML); default $OMO_EDGE_CONFIG or {DEFAULT_PATH}")


# ------------------------------------------------------------------------- run
def cmd_run(args: argparse.Namespace) -> int:
    from edge import logsetup
    from edge.daemon import Daemon
    from edge.eventlog import EventLogError

    # Nothing the daemon creates is world-readable or group-writable, even started by hand
    # (the unit's UMask=0027 says the same); a stricter umask is kept.
    os.umask(os.umask(0o027) | 0o027)
    config = load_config_or_exit(args)
    state = config.storage.state_dir
    if state.exists() and not state.is_dir():
        print(f"omo-edge: the state dir {state} is not a directory; set storage.state_dir "
              "to a directory writable by the omo-edge user", file=sys.stderr)
        return EXIT_FAIL
    logsetup.setup(args.log_level or config.log_level)
    try:
        daemon = Daemon(config)
    except EventLogError as exc:
        print(f"omo-edge: {exc}", file=sys.stderr)
        return EXIT_FAIL
    from edge.runtime import tune_gc

    tune_gc()
    return asyncio.run(daemon.run())


# ---------------------------------------------------------------------- status
def _fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmd_status(args: argparse.Namespace) -> int:
    from edge.status import StatusFileError, read_status

    config = load_config_or_exit(args, require_secrets=False)
    try:
        snap = read_status(config.storage.state_dir)
        return _show_status(args, config, snap)
    except StatusFileError as exc:
        print(f"omo-edge: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        print(f"omo-edge: the status file in {config.storage.state_dir} is malformed "
              f"({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_FAIL


def _show_status(args: argparse.Namespace, config: Config, snap: dict[str, Any] | None) -> int:
    running = False
    if snap is not None:
        age = time.time() - float(snap.get("updated_at", 0))
        running = (age < 3 * float(snap.get("interval_s", 2)) + 5
                   and not snap.get("stopped_at") and _alive(snap.get("pid")))
        snap["running"] = running
        snap["status_age_s"] = round(age, 1)
    if args.json:
        print(json.dumps(snap or {"running": False}, indent=2, sort_keys=True))
        return EXIT_OK if running else EXIT_FAIL
    if snap is None:
        print(f"not running: no status in {config.storage.state_dir} (start `omo-edge run`)")
        return EXIT_FAIL
    state = "running" if running else (
        "stopped" if snap.get("stopped_at") else
        f"NOT RUNNING (last status {snap['status_age_s']}s ago)")
    print(f"omo-edge {snap.get('version')} {snap.get('store')}/{snap.get('device')}: {state}")
    ob = snap.get("outbox", {})
    print(f"outbox: {ob.get('queued', 0)} queued, {ob.get('delivered', 0)} delivered, "
          f"{ob.get('dropped', 0)} dropped, oldest undelivered "
          f"{_fmt_age(ob.get('oldest_undelivered_age_s'))}, last seq {ob.get('last_seq')}")
    rates = snap.get("readings", {}).get("per_second", {})
    if rates:
        print("readings/s: " + ", ".join(f"{k} {v:g}" for k, v in sorted(rates.items())))
    print(f"{'COMPONENT':<24} {'HEALTH':<9} {'RESTARTS':>8}  DETAIL / LAST ERROR")
    worst = EXIT_OK
    for name, c in sorted(snap.get("components", {}).items()):
        detail = c.get("detail") or ""
        if c.get("last_error"):
            detail = (detail + "; " if detail else "") + f"last error: {c['last_error']}"
        counters = c.get("counters") or {}
        if counters:
            detail += "  [" + ", ".join(f"{k}={v}" for k, v in sorted(counters.items())) + "]"
        print(f"{name:<24} {c.get('health', '?'):<9} {c.get('restarts', 0):>8}  {detail}")
        if c.get("health") == "failed":
            worst = EXIT_FAIL
    return worst if running else EXIT_FAIL


# ---------------------------------------------------------------------- events
_REL = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def parse_when(text: str, now: float | None = None) -> str:
    """An RFC 3339 time, or a relative one such as 15m, 2h or 7d (ago)."""
    from edge.events import format_time, parse_time

    m = _REL.match(text)
    if m:
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return format_time((time.time() if now is None else now) - seconds)
    try:
        return format_time(parse_time(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use RFC 3339 (2026-11-23T09:00:00Z) or 15m, 2h, 7d"
        ) from None


def cmd_events(args: argparse.Namespace) -> int:
    import sqlite3

    from edge.eventlog import EventLogError, open_readonly

    db = (Path(args.db) if args.db
          else load_config_or_exit(args, require_secrets=False).storage.path)
    try:
        event_log = open_readonly(db)
    except EventLogError as exc:
        print(f"omo-edge: {exc}", file=sys.stderr)
        return EXIT_FAIL
    types = args.type or []
    last = 0

    def show(rows: Any) -> int:
        seen = 0
        for stored in rows:
            obj = stored.event.to_dict()
            if args.with_state:
                obj["delivered"] = stored.delivered
            print(json.dumps(obj, ensure_ascii=False), flush=True)
            seen = stored.event.seq
        return seen

    try:
        if args.tail and not args.since:
            rows = list(event_log.query(types=types, until=args.until, newest_first=True,
                                        limit=args.tail, undelivered_only=args.undelivered))
            last = show(reversed(rows)) or event_log.last_seq()
        else:
            last = show(event_log.query(types=types, since=args.since, until=args.until,
                                        limit=args.limit, undelivered_only=args.undelivered))
        while args.follow:
            time.sleep(0.5)
            last = show(event_log.query(types=types, after_seq=last)) or last
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    except sqlite3.DatabaseError as exc:
        print(f"omo-edge: the event log {db} is unreadable: {exc}", file=sys.stderr)
        return EXIT_FAIL
    finally:
        event_log.close()
    return EXIT_OK


# ---------------------------------------------------------------------- config
def cmd_config_check(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    print(f"{config.source_path}: ok (store {config.store}, device {config.device}; "
          f"{len(config.zones)} zones, {len(config.shelves)} shelves, {len(config.cameras)} "
          f"cameras, {len(config.ble.receivers)} BLE receivers, {len(config.screens)} screens; "
          f"broker {'on' if config.broker.enabled else 'off'})")
    return EXIT_OK


def cmd_config_example(args: argparse.Namespace) -> int:
    from edge.config.render import example_config

    print(example_config(), end="")  # equal to the packaged example-config.toml (tested)
    return EXIT_OK


# ------------------------------------------------------------- record, replay
def cmd_record(args: argparse.Namespace) -> int:
    import signal

    from edge.recording.tap import RecordClientError, print_progress, record, socket_path

    config = load_config_or_exit(args, require_secrets=False)
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"omo-edge: {out} exists; choose another --out or add --force", file=sys.stderr)
        return EXIT_USAGE
    seconds = args.minutes * 60.0
    print(f"recording the readings of {config.store}/{config.device} for {seconds:.0f} s "
          f"into {out} (Ctrl-C stops early and keeps what was recorded)", file=sys.stderr)

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            res = await record(socket_path(config.storage.state_dir), out, seconds,
                               progress=None if args.quiet else print_progress, stop=stop)
        except RecordClientError as exc:
            print(f"omo-edge: {exc}", file=sys.stderr)
            return EXIT_FAIL
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(res.readings.items())) or "none"
        print(f"recorded {sum(res.readings.values())} readings ({kinds}) in {res.seconds:.0f} s"
              f" to {out} ({out.stat().st_size / 1e3:.1f} kB)"
              + (f"; {res.dropped} dropped by the daemon" if res.dropped else "")
              + ("; the daemon stopped during the recording" if res.daemon_stopped else ""))
        print(f"replay it: omo-edge replay {out}")
        return EXIT_OK

    return asyncio.run(go())


def _positive_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not 0 < value <= 24 * 60:
        raise argparse.ArgumentTypeError("minutes must be above 0 and at most 1440")
    return value


def cmd_replay(args: argparse.Namespace) -> int:
    from edge.eventlog import EventLogError
    from edge.recording.format import RecordingError
    from edge.recording.replay import replay
    from edge.recording.tap import print_progress

    config = load_config_or_exit(args, require_secrets=False)
    recording = Path(args.file)
    db = Path(args.db) if args.db else recording.with_name(recording.name + ".replay.db")
    if db.exists():
        if not args.force:
            print(f"omo-edge: {db} exists; choose another --db or add --force to replace it",
                  file=sys.stderr)
            return EXIT_USAGE
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    try:
        res = asyncio.run(replay(recording, db, config,
                                 progress=None if args.quiet else print_progress))
    except (RecordingError, EventLogError, ValueError) as exc:
        print(f"omo-edge: {exc}", file=sys.stderr)
        return EXIT_FAIL
    t = res.tally
    summary = {
        "recording": str(recording), "event_log": str(db), "processors": res.processors,
        "readings": t.readings, "bad_lines": t.bad_lines, "truncated": t.truncated,
        "dropped_while_recording": t.dropped, "events": res.events,
        "simulated_s": round(res.simulated_s, 3), "wall_s": round(res.wall_s, 3),
        "speed_x_real_time": round(res.simulated_s / res.wall_s, 1) if res.wall_s else None,
        "counters": res.counters,
    }
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return EXIT_OK
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(t.readings.items())) or "none"
    print(f"replayed {t.total} readings ({kinds}) "
          f"covering {res.simulated_s:.0f} s in {res.wall_s:.2f} s into {db}")
    if t.truncated:
        print("  the recording was cut short (no footer): replayed what it holds")
    if t.bad_lines:
        print(f"  {t.bad_lines} damaged line(s) skipped")
    if t.dropped:
        print(f"  {t.dropped} reading(s) were dropped while recording (the recorder was slow)")
    if not res.processors:
        print("  no processors are configured: nothing to turn the readings into events")
    for name, n in sorted(res.events.items()):
        print(f"  {n:>8}  {name}")
    print(f"query it: omo-edge events --db {db}")
    return EXIT_OK


# ---------------------------------------------------------------------- doctor
def cmd_doctor(args: argparse.Namespace) -> int:
    from edge.doctor import run_checks

    path = _config_path(args)
    failures = 0
    try:
        config = load(path, require_secrets=False)
    except ConfigError as exc:
        print(f"FAIL config: {path}: " + "; ".join(exc.problems))
        print("     fix: correct the keys above, then run `omo-edge config check`")
        return EXIT_FAIL
    print(f"PASS config: {path}")
    try:
        load(path)
    except ConfigError as exc:  # only secrets can fail here: the rest passed above
        failures += 1
        print("FAIL secrets: " + "; ".join(exc.problems))
        print("     fix: put them in /etc/omo-edge/env (the service reads it) and, in a "
              "shell, export them before running omo-edge")
    for result in run_checks(config, timeout_s=args.timeout):
        print(result.line())
        failures += not result.ok
    print(f"{'all checks passed' if not failures else f'{failures} check(s) failed'}")
    return EXIT_OK if not failures else EXIT_FAIL


def cmd_version(args: argparse.Namespace) -> int:
    print(f"omo-edge {__version__} (python {sys.version.split()[0]})")
    return EXIT_OK


# ---------------------------------------------------------------------- parser
@dataclass(frozen=True)
class Plugin:
    name: str
    help: str
    module: ModuleType


def plugins(group: str) -> list[Plugin]:
    """The subcommands (or bench parts) registered in an entry-point group, by name. One
    that cannot be loaded is left out with a warning on stderr, not a traceback."""
    found: list[Plugin] = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            module = ep.load()
            help_text = str(module.HELP)
        except Exception as exc:  # a broken or half-installed part must not break the CLI
            print(f"omo-edge: warning: {group} {ep.name!r} ({ep.value}) cannot be loaded: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        found.append(Plugin(ep.name, help_text, module))
    return found


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="omo-edge",
        description="In-store edge service for OMO retail: sensors, on-device inference, "
                    "signage and store-and-forward cloud sync.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the daemon", description="Run the edge daemon in the "
                         "foreground (systemd runs it as a service). SIGTERM stops it cleanly.")
    _add_config(run)
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                     help="override logging.level from the config")
    run.set_defaults(func=cmd_run)

    for plugin in plugins(COMMAND_GROUP):
        sp = sub.add_parser(plugin.name, help=plugin.help, description=plugin.help)
        plugin.module.add_arguments(sp)
        sp.set_defaults(func=plugin.module.main)

    st = sub.add_parser("status", help="health of each component, counters and outbox lag",
                        description="Show the running daemon's health: each component, readings "
                        "per second per source, outbox queue and lag. Exit 1 if not running "
                        "or a component has failed.")
    _add_config(st)
    st.add_argument("--json", action="store_true", help="print the raw status as JSON")
    st.set_defaults(func=cmd_status)

    ev = sub.add_parser("events", help="tail and query the local event log (JSON lines)",
                        description="Query the local event log; prints one CloudEvent per line.",
                        epilog="examples:\n  omo-edge events --type omo.shelf --since 2h\n"
                               "  omo-edge events --tail 20 --follow",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_config(ev)
    ev.add_argument("--db", metavar="PATH", help="an event log file (instead of the config's)")
    ev.add_argument("--type", "-t", action="append", metavar="TYPE",
                    help="an event type or prefix (omo.shelf); repeat for several")
    ev.add_argument("--since", type=parse_when, metavar="WHEN",
                    help="RFC 3339 time or relative (15m, 2h, 7d)")
    ev.add_argument("--until", type=parse_when, metavar="WHEN", help="likewise, exclusive")
    ev.add_argument("--limit", type=int, metavar="N", help="at most N events (oldest first)")
    ev.add_argument("--tail", type=int, metavar="N", help="the newest N events")
    ev.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    ev.add_argument("--undelivered", action="store_true", help="only events not yet delivered")
    ev.add_argument("--with-state", action="store_true",
                    help="add a 'delivered' field to each line")
    ev.set_defaults(func=cmd_events)

    dr = sub.add_parser("doctor", help="check every configured part and say how to fix it",
                        description="Check the config, event log, free disk, model files, BLE "
                        "adapters, cameras, serial ports, display and broker. Each line passes "
                        "or fails with the fix. Exit 1 if any check fails.")
    _add_config(dr)
    dr.add_argument("--timeout", type=float, default=3.0, help="seconds per network check")
    dr.set_defaults(func=cmd_doctor)

    cf = sub.add_parser("config", help="validate or print a config")
    csub = cf.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    cc = csub.add_parser("check", help="validate a config; exit 2 with every problem if bad")
    _add_config(cc)
    cc.set_defaults(func=cmd_config_check)
    ce = csub.add_parser("example", help="print a commented example config")
    ce.set_defaults(func=cmd_config_example)

    rec = sub.add_parser(
        "record", help="record the readings a running daemon sees, for replay",
        description="Record the readings the running daemon sees (BLE adverts with hashed "
        "addresses, weight samples, door crossings; never camera frames) into a compact file "
        "(gzip'd JSON lines) for `omo-edge replay`. Needs the daemon's recording socket "
        "(<storage.state_dir>/record.sock): run as root or the daemon's user.")
    _add_config(rec)
    rec.add_argument("--minutes", type=_positive_minutes, required=True, metavar="N",
                     help="how long to record (fractions allowed: 0.5 is 30 s)")
    rec.add_argument("--out", required=True, metavar="FILE", help="the recording to write")
    rec.add_argument("--force", action="store_true", help="replace FILE if it exists")
    rec.add_argument("--quiet", action="store_true", help="no progress lines")
    rec.set_defaults(func=cmd_record)

    rp = sub.add_parser(
        "replay", help="run a recording through the configured processors",
        description="Run a recording from `omo-edge record` through the processors the "
        "config enables, as fast as the machine goes, into a fresh event log. The same "
        "readings give the same events as in the store (ids and boot ids differ).")
    _add_config(rp)
    rp.add_argument("file", metavar="FILE", help="a recording from `omo-edge record`")
    rp.add_argument("--db", metavar="PATH", help="the event log to write (default FILE.replay.db)")
    rp.add_argument("--force", action="store_true", help="replace the event log if it exists")
    rp.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    rp.add_argument("--quiet", action="store_true", help="no progress lines")
    rp.set_defaults(func=cmd_replay)

    vs = sub.add_parser("version", help="print the version")
    vs.set_defaults(func=cmd_version)

    bench = sub.add_parser("bench", help="measure a part's speed on this machine",
                           description="Benchmarks print a table, then one JSON object with "
                           "the figures and the machine on the last line.")
    bsub = bench.add_subparsers(dest="part", metavar="PART", required=True)
    for plugin in plugins(BENCH_GROUP):
        bp = bsub.add_parser(plugin.name, help=plugin.help, description=plugin.help)
        bp.add_argument("--json", action="store_true",
                        help="print only the JSON object (still one line)")
        plugin.module.add_arguments(bp)
        bp.set_defaults(func=plugin.module.main)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # the last resort: a message, never a traceback
        if os.environ.get("OMO_EDGE_DEBUG"):
            raise
        print(f"omo-edge: {args.command} failed: {type(exc).__name__}: {exc} (set "
              "OMO_EDGE_DEBUG=1 to see where)", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    raise SystemExit(main())
