"""`omo-edge bench camera`: its JSON shape (never its timings), on a video it writes itself:
the shipped MTCNN always, YuNet and FastestDet from the shared model files when present."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.vision_fixtures import SHARED_MODELS


def _bench(*args: str) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-m", "edge", "bench", "camera", "--json", "--frames",
                        "10", "--rounds", "1", "--no-pin", *args], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1  # --json: the object only
    result = json.loads(r.stdout)
    assert isinstance(result, dict)
    return result


def _check_row(row: dict[str, Any], frames: int) -> None:
    for key in ("frames_per_s", "ceiling_frames_per_s", "gated_frames_per_s"):
        assert isinstance(row[key], float) and row[key] > 0, key
    fps, ceiling = row["frames_per_s"], row["ceiling_frames_per_s"]
    assert isinstance(fps, float) and isinstance(ceiling, float)
    assert row["ratio"] == pytest.approx(fps / ceiling, abs=0.01)
    wall = row["wall"]
    assert isinstance(wall, dict) and set(wall) == {
        "frames_per_s", "ceiling_frames_per_s", "ratio", "gated_frames_per_s"}
    rounds = row["rounds"]
    assert isinstance(rounds, dict) and {k: len(v) for k, v in rounds.items()} == {
        "ceiling": 1, "pipeline": 1, "gated": 1}
    # gating off: the pipeline inferred every frame; gated: some were skipped or not
    assert row["analysed"] == frames
    gated, skipped = row["gated_analysed"], row["motion_skipped"]
    assert isinstance(gated, int) and isinstance(skipped, int) and gated + skipped == frames


def test_bench_camera_reports_the_pipeline_beside_its_ceiling_for_the_shipped_model(
        tmp_path: Path) -> None:
    result = _bench("--models", "mtcnn,yunet", "--models-dir", str(tmp_path),
                    "--providers", "Bogus,cpu")
    assert result["bench"] == "camera" and result["frame"] == "640x480"
    assert result["frames"] == 10 and result["threads"] == 1 and result["cpu"] is None
    models = result["models"]
    assert isinstance(models, dict) and set(models) == {"mtcnn"}
    _check_row(models["mtcnn"], 10)
    assert models["mtcnn"]["kind"] == "face" and models["mtcnn"]["zoom"] == 2.0
    assert models["mtcnn"]["detections_per_frame"] > 0  # the astronaut is found
    assert result["ratio"] == models["mtcnn"]["ratio"]
    assert "yunet" in result["skipped"]  # not fetched there
    assert result["providers"] == ["CPUExecutionProvider"]
    assert len(result["provider_problems"]) == 1 and "Bogus" in result["provider_problems"][0]


@pytest.mark.skipif(not (SHARED_MODELS / "face_detection_yunet_2023mar.onnx").is_file(),
                    reason=f"no shared model files in {SHARED_MODELS}")
def test_bench_camera_headline_is_yunet_when_present() -> None:
    result = _bench("--models", "yunet,fastestdet", "--models-dir", str(SHARED_MODELS))
    models = result["models"]
    assert isinstance(models, dict) and set(models) == {"yunet", "fastestdet"}
    for row in models.values():
        _check_row(row, 10)
    assert models["fastestdet"]["kind"] == "person"
    assert result["frames_per_s"] == models["yunet"]["frames_per_s"]
    # a face model runs zoomed in both loops, as the pipeline runs it by default
    assert models["yunet"]["zoom"] == 2.0 and models["fastestdet"]["zoom"] == 1.0
