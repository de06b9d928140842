"""The status file: the daemon's health snapshot, written atomically for `omo-edge status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.config.loading import read_bounded
from edge.files import write_json_atomic

STATUS_FILE = "status.json"
MAX_STATUS_BYTES = 16 << 20


class StatusFileError(ValueError):
    """The status file exists but cannot be read or is not a status snapshot."""


def write_status(state_dir: Path, snapshot: dict[str, Any]) -> None:
    """Replace the status file atomically. Not fsynced: it is rewritten every few seconds
    and a lost update after a power cut is harmless. Raises OSError."""
    write_json_atomic(state_dir / STATUS_FILE, snapshot, indent=2, fsync=False)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The last snapshot, or None if there is none yet. Raises StatusFileError (saying
    what is wrong) if the state dir or the file cannot be read or is not a snapshot."""
    path = state_dir / STATUS_FILE
    if state_dir.exists() and not state_dir.is_dir():
        raise StatusFileError(f"the state dir {state_dir} is not a directory; "
                              "set storage.state_dir to a directory")
    try:
        data = json.loads(read_bounded(path, MAX_STATUS_BYTES).decode("utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StatusFileError(f"cannot read the status file {path}: "
                              f"{exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise StatusFileError(f"the status file {path} is not UTF-8 text") from None
    except RecursionError:
        raise StatusFileError(f"the status file {path} is nested too deeply") from None
    except ValueError as exc:  # not JSON, or not a regular file / too big
        raise StatusFileError(f"the status file {path} is malformed: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("updated_at", 0), int | float):
        raise StatusFileError(f"the status file {path} is malformed: not a status snapshot")
    return data
