"""The simulator's frame lockstep: with the vision processor on, every frame the simulated
cameras render is handed to the processor and handled before the clock moves on, however
slow the model against the simulator's speed (production keeps only the newest frame)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sim.runner import Options, simulate


def test_every_rendered_frame_reaches_the_vision_processor(tmp_path: Path) -> None:
    duration = 20.0
    res = asyncio.run(simulate(Options(
        scenario="normal-day", seed=3, duration=duration, out=tmp_path,
        report=tmp_path / "report.json", headless=True, snapshot_every_s=duration,
        progress=False, vision=True,
        # the shipped MTCNN with the zoomed band: about 30 ms a frame, 20 frames per
        # simulated second, so at the simulator's 4-8x real time most frames would be
        # replaced by newer ones without the lockstep
        overrides={"camera.fps": 10.0})))
    run = res.report["run"]
    comps = run["components"]
    captured = sum(comps[f"camera:{c}"]["counters"]["frames"] for c in ("cam-1", "cam-2"))
    assert captured >= 2 * 10 * duration  # every frame due, at 10 frames/s
    assert all(comps[f"camera:{c}"]["counters"]["skipped_frames"] == 0
               for c in ("cam-1", "cam-2"))
    vision = comps["processor:vision"]["counters"]
    assert vision["frames"] == captured  # none replaced on the way
    assert "skipped.frame" not in vision
    assert vision["analysed"] > 0
    assert run["sent"]["camera_lockstep"]["gate_timeouts"] == 0
    assert run["ticks_readers_lagged"] == 0
