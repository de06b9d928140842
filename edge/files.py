"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# Owner read-write, the service's group read (`omo-edge status` by an operator in it), never
# the world. mkstemp alone would leave 0600 whatever the umask.
FILE_MODE = 0o640


def write_atomic(path: Path, data: bytes, *, fsync: bool = True, mode: int = FILE_MODE) -> None:
    """Write `data` to a temporary file beside `path`, fsync it (unless `fsync` is False)
    and rename it over `path`, with `mode` (FILE_MODE unless told; 0o600 for secrets).
    Creates the parent directory. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, or an empty dict if the file is missing, unreadable, not
    JSON or not an object (state files: a damaged one starts afresh). Never raises."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def write_json_atomic(path: Path, obj: Any, *, indent: int = 1, fsync: bool = True,
                      mode: int = FILE_MODE) -> None:
    """`write_atomic` of `obj` as UTF-8 JSON with sorted keys."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent, sort_keys=True)
    write_atomic(path, text.encode("utf-8"), fsync=fsync, mode=mode)
