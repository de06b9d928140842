"""Which command ids have run, kept in SQLite so a redelivered or resent command does not
run twice, even across restarts. The id is claimed before the command runs (at most once:
a crash while it runs leaves it claimed), and its outcome and result are kept so a
duplicate is answered with the original result. Entries older than `keep_s` are pruned."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    received_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    result TEXT
);
CREATE INDEX IF NOT EXISTS commands_received ON commands(received_at);
"""


class CommandStore:
    def __init__(self, path: str | os.PathLike[str], keep_s: float = 30 * 86400) -> None:
        self.path = Path(path)
        self.keep_s = keep_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def claim(self, command_id: str, name: str, now: float | None = None
              ) -> tuple[str, dict[str, Any] | None] | None:
        """Claim an id. Returns None if it is new (the caller runs the command), or the
        earlier (outcome, result) if it was seen before."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO commands(id, name, received_at, outcome) "
                "VALUES (?, ?, ?, 'running')", (command_id, name, now or time.time()))
            if cur.rowcount == 1:
                return None
            row = self._conn.execute("SELECT outcome, result FROM commands WHERE id = ?",
                                     (command_id,)).fetchone()
        result = json.loads(row[1]) if row and row[1] else None
        return (row[0] if row else "running"), result

    def finish(self, command_id: str, outcome: str, result: dict[str, Any] | None) -> None:
        with self._lock:
            self._conn.execute("UPDATE commands SET outcome = ?, result = ? WHERE id = ?",
                               (outcome, json.dumps(result) if result is not None else None,
                                command_id))

    def prune(self, now: float | None = None) -> int:
        cutoff = (now or time.time()) - self.keep_s
        with self._lock:
            return int(self._conn.execute("DELETE FROM commands WHERE received_at < ?",
                                          (cutoff,)).rowcount)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
