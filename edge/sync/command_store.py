"""Which command ids have run, kept in SQLite so a redelivered or resent command does not
run twice, even across restarts. The id is claimed before the command runs (at most once:
a crash while it runs leaves it claimed), and its outcome and result are kept so a
duplicate is answered with the original result.

Ids are deduplicated per command name: the key is (name, id), so one command cannot squat
another's id. The store is bounded: entries older than `keep_s` are pruned, at most
`max_rows` are kept (the oldest go first), and a stored result over `MAX_RESULT_BYTES` is
kept without its result (a duplicate then says so). The sync component prunes it on a
schedule; `size_bytes` (database, WAL and shared-memory files) counts toward the storage
budget (see `edge.sync.bookkeeping`)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

MAX_ROWS = 20_000
MAX_RESULT_BYTES = 4096
KEEP_S = 30 * 86400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS command_ids (
    name TEXT NOT NULL,
    id TEXT NOT NULL,
    received_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    result TEXT,
    PRIMARY KEY (name, id)
);
CREATE INDEX IF NOT EXISTS command_ids_received ON command_ids(received_at);
"""

# Before ids were kept per command name, the table was `commands` keyed by id alone.
_MIGRATE = """
INSERT OR IGNORE INTO command_ids(name, id, received_at, outcome, result)
    SELECT name, id, received_at, outcome, result FROM commands;
DROP TABLE commands;
"""


def store_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files of a command store at `path`: the database, its WAL and shared memory."""
    p = Path(path)
    return [p, p.with_name(p.name + "-wal"), p.with_name(p.name + "-shm")]


class CommandStore:
    def __init__(self, path: str | os.PathLike[str], keep_s: float = KEEP_S,
                 max_rows: int = MAX_ROWS) -> None:
        self.path = Path(path)
        self.keep_s = keep_s
        self.max_rows = max_rows
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        old = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'commands'").fetchone()
        if old:
            self._conn.executescript("BEGIN;" + _MIGRATE + "COMMIT;")

    def claim(self, command_id: str, name: str, now: float | None = None
              ) -> tuple[str, dict[str, Any] | None] | None:
        """Claim an id for command `name`. Returns None if it is new (the caller runs the
        command), or the earlier (outcome, result) if it was seen before."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO command_ids(name, id, received_at, outcome) "
                "VALUES (?, ?, ?, 'running')", (name, command_id, now or time.time()))
            if cur.rowcount == 1:
                return None
            row = self._conn.execute(
                "SELECT outcome, result FROM command_ids WHERE name = ? AND id = ?",
                (name, command_id)).fetchone()
        result = json.loads(row[1]) if row and row[1] else None
        return (row[0] if row else "running"), result

    def finish(self, command_id: str, name: str, outcome: str,
               result: dict[str, Any] | None) -> None:
        text = json.dumps(result) if result is not None else None
        if text is not None and len(text) > MAX_RESULT_BYTES:
            text = json.dumps({"outcome": outcome, "result_omitted": True})
        with self._lock:
            self._conn.execute(
                "UPDATE command_ids SET outcome = ?, result = ? WHERE name = ? AND id = ?",
                (outcome, text, name, command_id))

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM command_ids").fetchone()[0])

    def prune(self, now: float | None = None) -> int:
        """Forget ids older than `keep_s`, and the oldest beyond `max_rows`; returns how
        many were forgotten. The WAL is checkpointed so the files shrink back."""
        cutoff = (now or time.time()) - self.keep_s
        with self._lock:
            gone = int(self._conn.execute("DELETE FROM command_ids WHERE received_at < ?",
                                          (cutoff,)).rowcount)
            gone += int(self._conn.execute(
                "DELETE FROM command_ids WHERE rowid IN (SELECT rowid FROM command_ids "
                "ORDER BY received_at DESC LIMIT -1 OFFSET ?)", (self.max_rows,)).rowcount)
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return gone

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in store_files(self.path) if p.exists())

    def close(self) -> None:
        with self._lock:
            self._conn.close()
