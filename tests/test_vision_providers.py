"""Execution providers: `vision.providers` is declared in the schema; a provider onnxruntime
does not know or this build lacks is named by `omo-edge doctor` and, at run time, left out
with a warning while the model runs on the CPU."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort
import pytest

from edge.config import Config, ConfigError, parse
from edge.doctor import check_providers, run_checks
from edge.vision.detectors import DetectorSpec, load
from edge.vision.models.runtime import usable_providers
from tests.vision_fixtures import astronaut

CPU = "CPUExecutionProvider"
ABSENT = next(p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                          "OpenVINOExecutionProvider") if p not in ort.get_available_providers())


def _config(tmp: Path, **vision: object) -> Config:
    return parse({"store": {"id": "s1", "device": "d1"},
                  "storage": {"path": str(tmp / "events.db"), "min_free_mb": 0},
                  "zones": [{"id": "z"}], "vision": vision,
                  "cameras": [{"id": "c", "source": str(tmp / "v.avi"), "zone": "z"}]}, env={})


def test_usable_providers_leave_out_unknown_and_absent_ones_and_keep_cpu() -> None:
    assert usable_providers(None) == ([CPU], [])
    assert usable_providers([CPU]) == ([CPU], [])
    assert usable_providers(["cpu"]) == ([CPU], [])
    assert usable_providers(["auto"])[0][-1] == CPU and usable_providers(["auto"])[1] == []
    chosen, problems = usable_providers([ABSENT, "Bogus", "cpu"])
    assert chosen == [CPU]
    assert len(problems) == 2
    assert f"{ABSENT!r} is not in this onnxruntime build" in problems[0]
    assert "unknown execution provider 'Bogus'" in problems[1]


def test_providers_are_a_config_key_with_cpu_by_default(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    assert cfg.vision.providers == (CPU,)
    cfg = _config(tmp_path, providers=["cuda", "cpu"], threads=2)
    assert cfg.vision.providers == ("cuda", "cpu")
    assert cfg.vision.threads == 2
    with pytest.raises(ConfigError, match=r"vision\.providers"):
        _config(tmp_path, providers=["cuda; rm -rf /"])
    with pytest.raises(ConfigError, match=r"vision\.providers"):
        _config(tmp_path, providers="cuda")


def test_doctor_names_a_provider_that_falls_back_to_cpu(tmp_path: Path) -> None:
    good = check_providers(_config(tmp_path))
    assert good.ok and good.detail == f"{CPU} (1 thread(s))"
    bad = check_providers(_config(tmp_path, providers=[ABSENT, "Bogus"]))
    assert not bad.ok
    assert ABSENT in bad.detail and "'Bogus'" in bad.detail and bad.detail.endswith(
        f"the model runs on {CPU} instead")
    assert "vision.providers" in bad.fix
    names = [r.name for r in run_checks(_config(tmp_path), timeout_s=0.5)]
    assert "vision providers" in names


def test_the_pipeline_loads_on_cpu_with_a_warning_when_a_provider_is_absent(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.vision.detectors"):
        detector = load(DetectorSpec("mtcnn", providers=(ABSENT,)))
    assert len(detector.detect(astronaut())) == 1  # it runs, on the CPU
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and ABSENT in warnings[0] and f"falling back to {CPU}" in \
        warnings[0]
