"""A real small tmpfs for full-disk tests (needs root and mount)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def mount_tmpfs(target: Path, size: str) -> bool:
    """Mount a tmpfs of `size` (e.g. "600k") at `target`; False if this machine cannot."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    target.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                       capture_output=True)
    return r.returncode == 0
