"""No tracebacks from the CLI: hostile input gives a clear message and a non-zero exit, and
`doctor` fails every config that `run` rejects."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
Case = Callable[[Path], list[str]]


def _config(tmp: Path, storage: str = "", name: str = "c.toml") -> Path:
    p = tmp / name
    storage = storage or f'path = "{tmp / "e.db"}"'
    p.write_text('[store]\nid = "store-1"\ndevice = "edge-01"\n'
                 f'[storage]\nmin_free_mb = 0\n{storage}\n')
    return p


def _deep(tmp: Path) -> Path:
    p = tmp / "deep.toml"
    p.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    return p


def _fifo(tmp: Path) -> Path:
    p = tmp / "fifo.toml"
    os.mkfifo(p)
    return p


def _state_is_file(tmp: Path) -> Path:
    (tmp / "state").write_text("")
    return _config(tmp, f'path = "{tmp}/e.db"\nstate_dir = "{tmp}/state"')


def _status(tmp: Path, content: str | None) -> Path:
    cfg = _config(tmp)
    if content is None:  # unreadable: a directory where the file should be
        (tmp / "status.json").mkdir()
    else:
        (tmp / "status.json").write_text(content)
    return cfg


def _status_bytes(tmp: Path, content: bytes) -> Path:
    cfg = _config(tmp)
    (tmp / "status.json").write_bytes(content)
    return cfg


def _db(tmp: Path, kind: str) -> Path:
    db = tmp / "e.db"
    if kind == "garbage":
        db.write_bytes(b"\x07garbage, not a database\x00" * 400)
    elif kind == "foreign":
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.commit()
        conn.close()
    else:
        db.write_bytes(b"")
    return db


CASES: dict[str, tuple[Case, str]] = {
    "config check: deeply nested TOML": (
        lambda t: ["config", "check", "-c", str(_deep(t))], "nested too deeply"),
    "config check: a FIFO": (
        lambda t: ["config", "check", "-c", str(_fifo(t))], "FIFO"),
    "config check: /dev/zero": (
        lambda t: ["config", "check", "-c", "/dev/zero"], "device"),
    "config check: a directory": (
        lambda t: ["config", "check", "-c", str(t)], "directory"),
    "config check: NUL in a path": (
        lambda t: ["config", "check", "-c", str(_config(t, 'path = "/tmp/a\\u0000b.db"'))],
        "NUL"),
    "run: /dev/zero": (lambda t: ["run", "-c", "/dev/zero"], "device"),
    "run: deeply nested TOML": (lambda t: ["run", "-c", str(_deep(t))], "nested too deeply"),
    "run: a state dir that is a file": (
        lambda t: ["run", "-c", str(_state_is_file(t))], "not a directory"),
    "run: a foreign database": (
        lambda t: [*(["run", "-c", str(_config(t))] if _db(t, "foreign") else [])],
        "not an omo-edge event log"),
    "run: storage.path is a device": (
        lambda t: ["run", "-c", str(_config(t, 'path = "/dev/null"'))], "not a regular file"),
    "doctor: a FIFO": (lambda t: ["doctor", "-c", str(_fifo(t))], "FIFO"),
    "doctor: deeply nested TOML": (
        lambda t: ["doctor", "-c", str(_deep(t))], "nested too deeply"),
    "doctor: a state dir that is a file": (
        lambda t: ["doctor", "-c", str(_state_is_file(t))], "not a directory"),
    "doctor: a foreign database": (
        lambda t: [*(["doctor", "-c", str(_config(t))] if _db(t, "foreign") else [])],
        "not a readable omo-edge event log"),
    "doctor: storage.path is a device": (
        lambda t: ["doctor", "-c", str(_config(t, 'path = "/dev/null"'))],
        "not a regular file"),
    "status: /dev/zero": (lambda t: ["status", "-c", "/dev/zero"], "device"),
    "status: a state dir that is a file": (
        lambda t: ["status", "-c", str(_state_is_file(t))], "not a directory"),
    "status: garbage status file": (
        lambda t: ["status", "-c", str(_status(t, "{not json"))], "malformed"),
    "status: status file not an object": (
        lambda t: ["status", "-c", str(_status(t, "[1, 2]"))], "malformed"),
    "status: wrong types in the status file": (
        lambda t: ["status", "-c", str(_status(t, json.dumps(
            {"updated_at": 1e18, "components": [1], "outbox": "x"})))], "malformed"),
    "status --json: unreadable status file": (
        lambda t: ["status", "--json", "-c", str(_status(t, None))], "status.json"),
    "status: binary status file": (
        lambda t: ["status", "-c", str(_status_bytes(t, b"\xff\xfe{"))], "status file"),
    "events: a zero-length database": (
        lambda t: ["events", "--db", str(_db(t, "empty"))], "not an omo-edge event log"),
    "events: a foreign database": (
        lambda t: ["events", "--db", str(_db(t, "foreign"))], "not an omo-edge event log"),
    "events: a garbage database": (
        lambda t: ["events", "--db", str(_db(t, "garbage"))], "not a database"),
    "events: --db is a directory": (
        lambda t: ["events", "--db", str(t)], "not an event log file"),
    "events: /dev/zero config": (lambda t: ["events", "-c", "/dev/zero"], "device"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_gives_a_clear_message_and_no_traceback(case: str, tmp_path: Path) -> None:
    make, expected = CASES[case]
    args = make(tmp_path)
    r = subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True,
                       timeout=30, cwd=ROOT, errors="replace", text=True,
                       env={**os.environ, "OMO_EDGE_DEBUG": ""})
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Traceback" not in out, out
    assert expected in out, out
