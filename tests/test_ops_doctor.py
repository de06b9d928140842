"""`omo-edge doctor` against real parts: a pty, video files, a Mosquitto broker, model files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.config import Config, parse
from edge.doctor import check_camera, check_models, check_serial, run_checks
from sim.mosquitto import Mosquitto, free_port

ROOT = Path(__file__).resolve().parent.parent


def config(tmp: Path, **sections: object) -> Config:
    raw: dict[str, object] = {"store": {"id": "s1", "device": "d1"},
                              "storage": {"path": str(tmp / "events.db"), "min_free_mb": 0},
                              "zones": [{"id": "z"}]}
    raw.update(sections)
    return parse(raw, env={})


def test_a_missing_serial_port_fails_with_the_fix(tmp_path: Path) -> None:
    cfg = config(tmp_path, shelves=[{"id": "a", "port": str(tmp_path / "ttyNONE"), "zone": "z"}])
    result = check_serial(cfg.shelves[0])
    assert not result.ok
    assert "no such device" in result.detail and "plug in the shelf controller" in result.fix


def test_a_real_pty_passes(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        cfg = config(tmp_path, shelves=[{"id": "a", "port": os.ttyname(slave), "zone": "z"}])
        result = check_serial(cfg.shelves[0])
        assert result.ok, result.line()
    finally:
        os.close(master)
        os.close(slave)


def test_a_video_file_is_decoded_and_a_corrupt_one_fails(tmp_path: Path) -> None:
    video = tmp_path / "cam.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 5, (160, 120))
    rng = np.random.default_rng(3)
    for _ in range(5):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    junk = tmp_path / "junk.avi"
    junk.write_bytes(rng.integers(0, 255, 50_000, dtype=np.uint8).tobytes())
    cfg = config(tmp_path, cameras=[{"id": "good", "source": str(video), "zone": "z"},
                                    {"id": "bad", "source": str(junk), "zone": "z"}])
    good, bad = (check_camera(c) for c in cfg.cameras)
    assert good.ok and "160x120" in good.detail, good.line()
    assert not bad.ok and "cannot decode" in bad.detail


def test_broker_refused_then_reachable(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, broker={"host": "127.0.0.1", "port": port})
    line = next(r for r in run_checks(cfg, timeout_s=2) if r.name.startswith("broker"))
    assert not line.ok and "refused" in line.detail and "start the broker" in line.fix
    with Mosquitto(port=port):
        line = next(r for r in run_checks(cfg, timeout_s=2) if r.name.startswith("broker"))
        assert line.ok and "reachable" in line.detail


def test_model_files_are_checked_against_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "a.onnx").write_bytes(b"model a")
    (tmp_path / "b.onnx").write_bytes(b"model b, changed")
    manifest = {"models": [
        {"name": "a", "file": "a.onnx", "sha256": hashlib.sha256(b"model a").hexdigest()},
        {"name": "b", "file": "b.onnx", "sha256": hashlib.sha256(b"model b").hexdigest()},
        {"name": "c", "file": "c.onnx", "sha256": "00"},
    ]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    results = {r.name: r for r in check_models(tmp_path)}
    assert results["model a"].ok
    assert not results["model b"].ok and "sha256" in results["model b"].detail
    assert not results["model c"].ok and "missing" in results["model c"].detail


def test_the_event_log_check_reports_integrity(tmp_path: Path) -> None:
    from edge.eventlog import EventLog
    from tests.core_fixtures import sample

    cfg = config(tmp_path)
    first = next(iter(run_checks(cfg)))
    assert first.ok and "will be created" in first.detail
    with EventLog(cfg.storage.path) as log:
        log.append_many([sample(i) for i in range(3)])
    first = next(iter(run_checks(cfg)))
    assert first.ok and "3 events" in first.detail and "integrity ok" in first.detail


def test_cli_doctor_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(f'[store]\nid = "s"\ndevice = "d"\n[storage]\npath = "{tmp_path}/e.db"\n'
                    'min_free_mb = 0\n')
    r = subprocess.run([sys.executable, "-m", "edge", "doctor", "--config", str(good)],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stdout
    assert "PASS event log" in r.stdout and "all checks passed" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text() + f'[[zones]]\nid = "z"\n[[shelves]]\nid = "a"\n'
                   f'port = "{tmp_path}/ttyGONE"\nzone = "z"\n')
    r = subprocess.run([sys.executable, "-m", "edge", "doctor", "--config", str(bad)],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1
    assert "FAIL shelf a serial" in r.stdout and "fix: plug in" in r.stdout
