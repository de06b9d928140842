"""The status file: the daemon's health snapshot, written atomically for `omo-edge status`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"


def write_status(state_dir: Path, snapshot: dict[str, Any]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".status-", dir=state_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(snapshot, fh, indent=2, sort_keys=True)
        os.replace(tmp, state_dir / STATUS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return None
