"""The player's own small SQLite store: proof-of-play records until the daemon acks them,
and the last playlists it received (so it plays them after a restart with no daemon)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from pathlib import Path

from signage.protocol import Played, Playlist, _item


class PlayerStore:
    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL: a commit survives the player crashing or being killed, not a power
        # cut (the last records may roll back); FULL's fsync per record cost 4-5 ms of a
        # frame on an SD-card-class disk, in the path from a trigger to its first frame.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS played (seq INTEGER PRIMARY KEY "
                        "AUTOINCREMENT, id TEXT UNIQUE NOT NULL, body TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS playlists (name TEXT PRIMARY KEY, "
                        "body TEXT NOT NULL)")

    def add_played(self, played: Played) -> None:
        body = json.dumps(asdict(played), separators=(",", ":"))
        self.db.execute("INSERT OR IGNORE INTO played (id, body) VALUES (?, ?)",
                        (played.id, body))

    def unacked(self, limit: int = 10_000) -> list[Played]:
        rows = self.db.execute("SELECT body FROM played ORDER BY seq LIMIT ?", (limit,))
        out = []
        for (body,) in rows:
            raw = json.loads(body)
            raw.pop("kind", None)
            out.append(Played(**raw))
        return out

    def ack(self, ids: tuple[str, ...]) -> int:
        if not ids:
            return 0
        cur = self.db.executemany("DELETE FROM played WHERE id = ?", [(i,) for i in ids])
        return cur.rowcount

    def pending(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM played").fetchone()[0])

    def save_playlist(self, playlist: Playlist) -> None:
        body = json.dumps([asdict(i) for i in playlist.items], ensure_ascii=False)
        self.db.execute("INSERT OR REPLACE INTO playlists (name, body) VALUES (?, ?)",
                        (playlist.name, body))

    def playlists(self) -> list[Playlist]:
        out = []
        for name, body in self.db.execute("SELECT name, body FROM playlists"):
            try:
                out.append(Playlist(name=name, items=tuple(_item(i) for i in json.loads(body))))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def close(self) -> None:
        self.db.close()
