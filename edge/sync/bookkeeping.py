"""What cloud commands leave on disk, bounded: the command store (`commands.db`), the
signage hand-off files under ``<state_dir>/signage/`` and the POS receipt ids
(``<state_dir>/receipts.db``, bounded and pruned by `edge.insight.pos`).

The limits (each enforced with a clear `rejected` answer by the handlers, or by pruning):

    MAX_FILES[kind]   files in signage/show (screens), playlists, orders (boards)
    KEEP_S            a hand-off file not rewritten for 30 days is removed
    command store     see edge/sync/command_store.py (MAX_ROWS, KEEP_S, MAX_RESULT_BYTES)

The sync component prunes both every hour while it runs (`PRUNE_EVERY_S`), not only at
start. `bookkeeping_bytes(config)` is the hook for the storage budget: the bytes these take,
to be counted with the event log's so disk pressure never sheds real events because of
command bookkeeping.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from edge.config import Config
from edge.events import parse_time
from edge.sync.command_store import store_files

KEEP_S = 30 * 86400
MAX_FILES: dict[str, int] = {"show": 64, "playlists": 64, "orders": 16}
MAX_ORDERS_PER_BOARD = 200
MAX_PLAYLIST_ITEMS = 500   # also the schema's maxItems
STALE_TEMP_S = 3600        # an interrupted atomic write's temporary file


def command_store_path(config: Config) -> Path:
    return config.storage.path.parent / "commands.db"


def receipts_path(config: Config) -> Path:
    """Where the POS receipt ids are kept (`edge.insight.pos`)."""
    return config.storage.state_dir / "receipts.db"


def signage_dir(config: Config) -> Path:
    return config.storage.state_dir / "signage"


def _files(folder: Path) -> list[Path]:
    with contextlib.suppress(OSError):
        return [p for p in folder.iterdir() if p.is_file()]
    return []


def bookkeeping_bytes(config: Config) -> int:
    """Bytes on disk of command bookkeeping: commands.db and receipts.db (each with its WAL
    and shared memory) and every file under <state_dir>/signage/. Never raises (a missing
    file counts 0)."""
    total = 0
    paths = store_files(command_store_path(config)) + store_files(receipts_path(config))
    for kind in MAX_FILES:
        paths += _files(signage_dir(config) / kind)
    for p in paths:
        with contextlib.suppress(OSError):
            total += p.stat().st_size
    return total


def prune_signage(root: Path, now: float | None = None) -> int:
    """Remove hand-off files that are over: a `show` whose `until` passed, any file not
    rewritten for KEEP_S, an interrupted write's temporary file, and the oldest beyond
    MAX_FILES of each kind. Returns how many were removed."""
    now = time.time() if now is None else now
    removed = 0
    for kind, cap in MAX_FILES.items():
        keep: list[tuple[float, Path]] = []
        for p in _files(root / kind):
            try:
                mtime = p.stat().st_mtime
            except OSError:
                continue
            gone = (now - mtime > STALE_TEMP_S) if p.name.startswith(".") else (
                now - mtime > KEEP_S or (kind == "show" and _until_passed(p, now)))
            if gone:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed += 1
            elif not p.name.startswith("."):
                keep.append((mtime, p))
        keep.sort(reverse=True)
        for _, p in keep[cap:]:
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
    return removed


def _until_passed(path: Path, now: float) -> bool:
    try:
        until = json.loads(path.read_text(encoding="utf-8")).get("until")
        return isinstance(until, str) and parse_time(until) < now
    except (OSError, ValueError, AttributeError, OverflowError):
        return False


def may_add(folder: Path, name: str, kind: str) -> bool:
    """Whether a file `name` may be written in `folder`: it exists already (a rewrite), or
    there are fewer than MAX_FILES[kind] there."""
    if (folder / name).exists():
        return True
    return sum(1 for p in _files(folder) if not p.name.startswith(".")) < MAX_FILES[kind]


