"""What machine a benchmark ran on, for the JSON line every `bench` prints."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _filesystem(path: str | None) -> str:
    try:
        out = subprocess.run(["df", "--output=fstype", path or "/tmp"], capture_output=True,
                             text=True, timeout=5, check=False).stdout.split()
        return out[-1] if len(out) > 1 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info(path: str | None = None) -> dict[str, Any]:
    mem_kb = 0
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            mem_kb = int(fh.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "arch": platform.machine(),
        "memory_gib": round(mem_kb / 2**20, 1), "python": platform.python_version(),
        "os": platform.platform(terse=True), "filesystem": _filesystem(path),
    }
