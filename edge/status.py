"""The status file: the daemon's health snapshot, written atomically for `omo-edge status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.files import write_json_atomic

STATUS_FILE = "status.json"


def write_status(state_dir: Path, snapshot: dict[str, Any]) -> None:
    """Replace the status file atomically. Not fsynced: it is rewritten every few seconds
    and a lost update after a power cut is harmless. Raises OSError."""
    write_json_atomic(state_dir / STATUS_FILE, snapshot, indent=2, fsync=False)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return None
