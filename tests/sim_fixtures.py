"""Helpers for the simulator and driver tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sim.runner import Options, Result, simulate


def wait_for(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll `cond` until it is truthy; fail after `timeout` real seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.005)  # polling a condition with a deadline, not synchronising by sleep
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def write_video(path: Path, frames: int, fps: float = 5.0, size: tuple[int, int] = (96, 64)
                ) -> None:
    """A small MJPG video whose frame i has brightness 10*i (to tell frames apart)."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for i in range(frames):
        w.write(np.full((size[1], size[0], 3), min(250, 10 * i), np.uint8))
    w.release()


async def short_run(out: Path, *, scenario: str = "normal-day", seed: int = 5,
                    duration: float = 60.0) -> Result:
    return await simulate(Options(scenario=scenario, seed=seed, duration=duration, out=out,
                                  report=out / "report.json", headless=True,
                                  snapshot_every_s=duration, progress=False))
