"""`omo-edge bench store`: event log appends per second, single and batched, against raw
sqlite3 inserts with the same pragmas measured in the same run (the ceiling)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from edge.bench_machine import machine_info
from edge.eventlog import _SCHEMA, EventLog
from edge.events import Event, source_uri
from edge.ids import new_boot_id

HELP = "event log appends per second, single and batched"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=2000,
                        help="events per single-append run (default 2000)")
    parser.add_argument("--batched-events", type=int, default=50000,
                        help="events per batched run (default 50000)")
    parser.add_argument("--batch", type=int, default=500, help="events per batch (default 500)")
    parser.add_argument("--dir", help="where to put the database (default: a temp dir; use the "
                        "storage device you deploy on)")


def _events(n: int, bootid: str) -> list[Event]:
    src = source_uri("bench", "edge-01")
    now = time.time()
    return [Event.new("omo.test.sample.created", {"n": i, "payload": "x" * 200}, source=src,
                      bootid=bootid, epoch_s=now + i / 1000) for i in range(n)]


def _raw_sqlite(path: Path, events: list[Event], batch: int) -> float:
    """The ceiling: plain sqlite3 with the same schema, pragmas and transactions, and the
    rows already serialised."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(_SCHEMA)
    rows = [(e.id, e.type, e.time, e.priority, e.source, e.bootid, json.dumps(e.data))
            for e in events]
    t0 = time.perf_counter()
    for start in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO events(id, type, time, priority, source, bootid, data) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", rows[start:start + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return len(rows) / elapsed


def _log_rate(path: Path, events: list[Event], batch: int) -> float:
    with EventLog(path) as log:
        t0 = time.perf_counter()
        if batch == 1:
            for e in events:
                log.append(e)
        else:
            for start in range(0, len(events), batch):
                log.append_many(events[start:start + batch])
        elapsed = time.perf_counter() - t0
    return len(events) / elapsed


def run(n_single: int, n_batched: int, batch: int, where: str | None) -> dict[str, Any]:
    bootid = new_boot_id()
    with tempfile.TemporaryDirectory(prefix="omo-bench-", dir=where) as tmp:
        d = Path(tmp)
        single = _events(n_single, bootid)
        batched = _events(n_batched, bootid)
        results = {
            "single": {"eventlog_per_s": _log_rate(d / "a.db", single, 1),
                       "raw_sqlite_per_s": _raw_sqlite(d / "b.db", single, 1),
                       "events": n_single, "batch": 1},
            "batched": {"eventlog_per_s": _log_rate(d / "c.db", batched, batch),
                        "raw_sqlite_per_s": _raw_sqlite(d / "d.db", batched, batch),
                        "events": n_batched, "batch": batch},
        }
    for r in results.values():
        r["ratio"] = round(r["eventlog_per_s"] / r["raw_sqlite_per_s"], 3)
        r["eventlog_per_s"] = round(r["eventlog_per_s"], 1)
        r["raw_sqlite_per_s"] = round(r["raw_sqlite_per_s"], 1)
    return {"bench": "store", "synchronous": "FULL", "journal_mode": "WAL",
            "sqlite": sqlite3.sqlite_version, **results, "machine": machine_info(where)}


def main(args: argparse.Namespace) -> int:
    result = run(args.events, args.batched_events, args.batch, args.dir)
    if not args.json:
        print(f"{'mode':<10} {'events':>8} {'batch':>6} {'event log/s':>12} "
              f"{'raw sqlite/s':>13} {'ratio':>6}")
        for mode in ("single", "batched"):
            r = result[mode]
            print(f"{mode:<10} {r['events']:>8} {r['batch']:>6} {r['eventlog_per_s']:>12.0f} "
                  f"{r['raw_sqlite_per_s']:>13.0f} {r['ratio']:>6.2f}")
    print(json.dumps(result, separators=(",", ":")))
    return 0
