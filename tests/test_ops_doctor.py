"""`omo-edge doctor` against real parts: ptys, video files, Mosquitto (plain and mutual TLS),
model files, event logs; and the CLI's exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

import edge.doctor as doctor
from edge.config import Config, parse
from edge.doctor import CheckResult, check_display, check_models, run_checks
from edge.mosquitto import Mosquitto, free_port
from tests.sync_fixtures import make_certs

ROOT = Path(__file__).resolve().parent.parent
AS_ROOT = os.geteuid() == 0


def config(tmp: Path, **sections: object) -> Config:
    raw: dict[str, object] = {"store": {"id": "s1", "device": "d1"},
                              "storage": {"path": str(tmp / "events.db"), "min_free_mb": 0},
                              "zones": [{"id": "z"}]}
    raw.update(sections)
    return parse(raw, env={})


def results(cfg: Config, timeout_s: float = 2.0) -> dict[str, CheckResult]:
    return {r.name: r for r in run_checks(cfg, timeout_s=timeout_s)}


def only(cfg: Config, prefix: str, timeout_s: float = 2.0) -> CheckResult:
    found = [r for r in run_checks(cfg, timeout_s=timeout_s) if r.name.startswith(prefix)]
    assert len(found) == 1, [r.line() for r in found]
    return found[0]


# ----------------------------------------------------------------------- serial
def test_a_missing_serial_port_fails_with_the_fix(tmp_path: Path) -> None:
    port = str(tmp_path / "ttyUSB9")
    cfg = config(tmp_path, shelves=[{"id": "a", "port": port, "zone": "z"}])
    result = only(cfg, "serial")
    assert not result.ok
    assert result.line().startswith(
        f"FAIL serial shelves[0] {port}: no such device\n     fix: plug in the shelf "
        "controller or correct shelves[0].port")


def test_a_door_counter_port_is_checked_like_a_shelf(tmp_path: Path) -> None:
    port = str(tmp_path / "ttyUSB8")
    master, slave = os.openpty()
    try:
        cfg = config(tmp_path, door_counters=[
            {"id": "door-1", "port": port, "zone": "z"},
            {"id": "door-2", "port": os.ttyname(slave), "zone": "z"}])
        found = [r for r in run_checks(cfg, timeout_s=2.0) if r.name.startswith("serial")]
        assert [r.ok for r in found] == [False, True]
        assert found[0].line().startswith(
            f"FAIL serial door_counters[0] {port}: no such device\n     fix: plug in the door "
            "counter or correct door_counters[0].port")
        assert found[1].line().endswith("door-2: opens at 115200 baud")
    finally:
        os.close(master)
        os.close(slave)


def test_a_real_pty_passes(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        cfg = config(tmp_path, shelves=[{"id": "a", "port": path, "zone": "z",
                                         "baudrate": 9600}])
        result = only(cfg, "serial")
        assert result.ok, result.line()
        assert result.line() == f"PASS serial shelves[0] {path}: a: opens at 9600 baud"
    finally:
        os.close(master)
        os.close(slave)


def test_a_file_that_is_not_a_tty_fails_to_open(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-tty"
    plain.write_bytes(b"")
    cfg = config(tmp_path, shelves=[{"id": "a", "port": str(plain), "zone": "z"}])
    result = only(cfg, "serial")
    assert not result.ok and "cannot open" in result.detail, result.line()


def test_a_serial_url_nobody_serves_fails_with_a_url_fix(tmp_path: Path) -> None:
    url = f"socket://127.0.0.1:{free_port()}"
    cfg = config(tmp_path, shelves=[{"id": "a", "port": url, "zone": "z"}])
    result = only(cfg, "serial")
    assert not result.ok and "cannot open" in result.detail, result.line()
    assert "shelves[0].port is up and reachable" in result.fix


# ---------------------------------------------------------------------- cameras
def write_video(path: Path, frames: int = 5, size: tuple[int, int] = (160, 120)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 5, size)
    assert writer.isOpened()
    rng = np.random.default_rng(3)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()


def test_a_video_file_is_decoded_and_a_corrupt_one_fails(tmp_path: Path) -> None:
    video = tmp_path / "cam.avi"
    write_video(video)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(np.random.default_rng(7).integers(0, 255, 50_000, dtype=np.uint8).tobytes())
    cfg = config(tmp_path, cameras=[
        {"id": "good", "source": str(video), "zone": "z", "width": 160, "height": 120},
        {"id": "bad", "source": str(junk), "zone": "z"},
        {"id": "gone", "source": str(tmp_path / "gone.avi"), "zone": "z"}])
    got = results(cfg)
    good = got[f"camera cameras[0] {video}"]
    bad = got[f"camera cameras[1] {junk}"]
    gone = got[f"camera cameras[2] {tmp_path / 'gone.avi'}"]
    assert good.ok and good.detail == "good: decodes a 160x120 frame", good.line()
    assert not bad.ok and "bad: cannot open it as a video" in bad.detail, bad.line()
    assert not gone.ok and "no such file" in gone.detail and "cameras[2].source" in gone.fix


def test_a_camera_size_mismatch_is_noted_not_failed(tmp_path: Path) -> None:
    video = tmp_path / "cam.avi"
    write_video(video, size=(320, 240))
    cfg = config(tmp_path, cameras=[{"id": "c", "source": str(video), "zone": "z"}])
    result = only(cfg, "camera")
    assert result.ok and "320x240" in result.detail and "640x480" in result.detail


def test_a_missing_camera_device_fails(tmp_path: Path) -> None:
    if Path("/dev/video57").exists():
        pytest.skip("this machine has a /dev/video57")
    cfg = config(tmp_path, cameras=[{"id": "c", "source": 57, "zone": "z"}])
    result = only(cfg, "camera")
    assert not result.ok and "/dev/video57 does not exist" in result.detail


def test_a_silent_camera_url_fails_within_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts TCP (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"rtsp://127.0.0.1:{silent.getsockname()[1]}/live"
        cfg = config(tmp_path, cameras=[{"id": "c", "source": url, "zone": "z"}])
        result = only(cfg, "camera", timeout_s=0.5)
    assert not result.ok and "within 0.5 s" in result.detail, result.line()


# ----------------------------------------------------------------------- broker
def test_broker_refused_then_reachable(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, broker={"host": "127.0.0.1", "port": port})
    line = only(cfg, "broker")
    assert not line.ok and "refused" in line.detail and "start the broker" in line.fix
    with Mosquitto(port=port):
        line = only(cfg, "broker")
        assert line.ok and line.detail == "reachable (TCP; no TLS configured)", line.line()


def test_the_local_pos_broker_is_checked_when_configured(tmp_path: Path) -> None:
    assert not [r for r in run_checks(config(tmp_path)) if r.name.startswith("local POS")]
    port = free_port()
    cfg = config(tmp_path, insight={"pos_mqtt": {"host": "127.0.0.1", "port": port}})
    line = only(cfg, "local POS")
    assert not line.ok and "refused" in line.detail and "insight.pos_mqtt.host" in line.fix
    with Mosquitto(port=port):
        line = only(cfg, "local POS")
        assert line.ok and line.detail == "reachable (TCP); sales on store/pos/sale", line.line()


def test_broker_disabled_passes(tmp_path: Path) -> None:
    cfg = config(tmp_path, broker={"enabled": False, "host": "127.0.0.1", "port": free_port()})
    assert only(cfg, "broker").line() == "PASS broker: disabled (events stay in the local log)"


def test_a_broker_that_never_answers_tls_times_out(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        cfg = config(tmp_path, broker={"host": "127.0.0.1", "port": silent.getsockname()[1],
                                       "tls": {"ca": str(certs["ca.crt"])}})
        line = only(cfg, "broker", timeout_s=0.5)
    assert not line.ok and line.detail.startswith("timeout: no TLS handshake"), line.line()


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[int, int, dict[str, Path]]]:
    """A Mosquitto with a plain listener and a mutual-TLS one (client certificate required)."""
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    plain, tls_port = free_port(), free_port()
    broker = Mosquitto(port=plain, extra_config=(
        f"listener {tls_port} 127.0.0.1\ncafile {certs['ca.crt']}\n"
        f"certfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
        "require_certificate true\n"))
    with broker:
        yield plain, tls_port, certs


def test_mutual_tls_passes_with_the_client_certificate(
        tmp_path: Path, tls_broker: tuple[int, int, dict[str, Path]]) -> None:
    _, port, certs = tls_broker
    cfg = config(tmp_path, broker={"host": "127.0.0.1", "port": port, "tls": {
        "ca": str(certs["ca.crt"]), "cert": str(certs["client.crt"]),
        "key": str(certs["client.key"])}})
    line = only(cfg, "broker")
    assert line.ok and "TLSv1." in line.detail and "client certificate" in line.detail, \
        line.line()


@pytest.mark.parametrize("case", ["no client cert", "wrong ca", "plain port"])
def test_tls_failures_are_reported(tmp_path: Path, tls_broker: tuple[int, int, dict[str, Path]],
                                   case: str) -> None:
    plain, tls_port, certs = tls_broker
    tls = {"ca": str(certs["ca.crt"]), "cert": str(certs["client.crt"]),
           "key": str(certs["client.key"])}
    port = tls_port
    if case == "no client cert":  # TLS 1.3: the rejection comes after the handshake
        tls = {"ca": str(certs["ca.crt"])}
    elif case == "wrong ca":
        tls["ca"] = str(certs["other-ca.crt"])
    else:
        port = plain
    cfg = config(tmp_path, broker={"host": "127.0.0.1", "port": port, "tls": tls})
    line = only(cfg, "broker")
    assert not line.ok, line.line()
    assert "TLS" in line.detail and "broker.tls" in line.fix
    expected = {"no client cert": "CERTIFICATE_REQUIRED", "wrong ca": "not accepted",
                "plain port": "plain MQTT listener"}[case]
    assert expected in line.detail, line.line()


# ----------------------------------------------------------------------- models
def test_model_files_are_checked_against_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "a.onnx").write_bytes(b"model a")
    (tmp_path / "b.onnx").write_bytes(b"model b, changed")
    manifest = {"models": [
        {"name": "a", "file": "a.onnx", "sha256": hashlib.sha256(b"model a").hexdigest()},
        {"name": "b", "file": "b.onnx", "sha256": hashlib.sha256(b"model b").hexdigest()},
        {"name": "c", "file": "c.onnx", "sha256": "00"},
    ]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    got = {r.name: r for r in check_models(tmp_path)}
    assert got["model a"].ok
    assert not got["model b"].ok and "does not match" in got["model b"].detail
    assert not got["model c"].ok and "missing" in got["model c"].detail


def test_no_manifest_passes_and_a_broken_one_fails(tmp_path: Path) -> None:
    [none] = check_models(tmp_path)
    assert none.ok and none.detail.startswith("no models configured")
    (tmp_path / "manifest.json").write_text('{"models": [')
    [broken] = check_models(tmp_path)
    assert not broken.ok and "unreadable" in broken.detail


# -------------------------------------------------------------------- event log
def test_the_event_log_check_reports_integrity_and_leaves_no_files(tmp_path: Path) -> None:
    from edge.eventlog import EventLog
    from tests.core_fixtures import sample

    cfg = config(tmp_path)
    first = only(cfg, "event log")
    assert first.ok and "will create it" in first.detail
    assert not cfg.storage.path.exists(), "the doctor must not create the log"
    with EventLog(cfg.storage.path) as log:
        log.append_many([sample(i) for i in range(3)])
    before = sorted(p.name for p in tmp_path.iterdir())
    first = only(cfg, "event log")
    assert first.ok and "3 events" in first.detail and "integrity ok" in first.detail
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "no -wal/-shm left behind"


def test_the_event_log_check_beside_a_running_writer(tmp_path: Path) -> None:
    from edge.eventlog import EventLog
    from tests.core_fixtures import sample

    cfg = config(tmp_path)
    with EventLog(cfg.storage.path) as log:  # open: -wal and -shm exist
        log.append_many([sample(i) for i in range(5)])
        result = only(cfg, "event log")
    assert result.ok and "5 events" in result.detail, result.line()


def test_a_corrupt_event_log_fails(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg.storage.path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    result = only(cfg, "event log")
    assert not result.ok and "moves a corrupt log aside" in result.fix, result.line()


def test_an_empty_or_foreign_database_file(tmp_path: Path) -> None:
    import sqlite3

    cfg = config(tmp_path)
    cfg.storage.path.touch()
    empty = only(cfg, "event log")
    assert empty.ok and "empty" in empty.detail
    with sqlite3.connect(cfg.storage.path) as conn:
        conn.execute("CREATE TABLE other (x)")
    conn.close()
    foreign = only(cfg, "event log")
    assert not foreign.ok and "not a readable omo-edge event log" in foreign.detail


def test_a_log_path_under_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    cfg = config(tmp_path, storage={"path": str(tmp_path / "afile" / "sub" / "e.db")})
    result = only(cfg, "event log")
    assert not result.ok and "not writable" in result.detail and "storage.path" in result.fix


@pytest.mark.skipif(AS_ROOT, reason="root can write anywhere")
def test_an_unwritable_log_folder_fails(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    try:
        cfg = config(tmp_path, storage={"path": str(folder / "sub" / "e.db")})
        result = only(cfg, "event log")
        assert not result.ok and "not writable" in result.detail
    finally:
        folder.chmod(0o700)


# ---------------------------------------------------------------- disk, BLE, display
def test_free_disk_floor(tmp_path: Path) -> None:
    assert only(config(tmp_path), "free disk").ok
    cfg = config(tmp_path, storage={"path": str(tmp_path / "e.db"), "min_free_mb": 1 << 20})
    result = only(cfg, "free disk")
    assert not result.ok and "storage.min_free_mb" in result.detail


def test_ble_adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sysfs = tmp_path / "sys-bluetooth"
    (sysfs / "hci0").mkdir(parents=True)
    monkeypatch.setattr(doctor, "SYS_BLUETOOTH", sysfs)
    cfg = config(tmp_path, ble={"receivers": [
        {"id": "rx0", "adapter": "hci0", "zone": "z"},
        {"id": "rx1", "adapter": "hci1", "zone": "z"}]})
    got = results(cfg)
    assert got["BLE ble.receivers[0] hci0"].ok
    missing = got["BLE ble.receivers[1] hci1"]
    assert not missing.ok and "present: hci0" in missing.detail
    assert "ble.receivers[1].adapter" in missing.fix
    off = config(tmp_path, ble={"enabled": False,
                                "receivers": [{"id": "rx", "adapter": "hci7", "zone": "z"}]})
    assert only(off, "BLE").line() == "PASS BLE: disabled (ble.enabled = false)"


def test_display(tmp_path: Path) -> None:
    cfg = config(tmp_path, screens=[{"id": "s", "zone": "z"}])
    headless = check_display(cfg, {"SDL_VIDEODRIVER": "dummy"}, tmp_path)
    assert headless.ok and "headless" in headless.detail
    assert check_display(cfg, {"DISPLAY": ":0"}, tmp_path).ok
    none = check_display(cfg, {}, tmp_path)
    assert not none.ok and "no display" in none.detail
    (tmp_path / "dri").mkdir()
    (tmp_path / "dri" / "card1").touch()
    kms = check_display(cfg, {}, tmp_path)
    assert kms.ok and "card1" in kms.detail
    assert not [r for r in run_checks(config(tmp_path)) if r.name == "display"]


# ---------------------------------------------------------------- never crashes
def test_a_check_that_raises_becomes_a_fail_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> CheckResult:
        raise RuntimeError("sensor on fire")

    for name in ("check_disk", "check_models", "check_serial", "check_broker"):
        monkeypatch.setattr(doctor, name, boom)
    cfg = config(tmp_path, shelves=[{"id": "a", "port": "loop://", "zone": "z"}])
    got = list(run_checks(cfg))
    failed = {r.name: r for r in got if not r.ok}
    assert set(failed) == {"free disk", "models", "serial shelves[0] loop://",
                           "broker localhost:1883"}
    assert all("RuntimeError: sensor on fire" in r.detail for r in failed.values())
    assert next(r for r in got if r.name == "event log").ok


def test_a_hanging_check_fails_at_its_deadline() -> None:
    release = threading.Event()

    def hangs() -> CheckResult:
        release.wait()
        return CheckResult(True, "x", "late")

    try:
        result = doctor._with_timeout(hangs, "camera cameras[0] rtsp://x", 0.2, "check it")
    finally:
        release.set()
    assert result.line() == ("FAIL camera cameras[0] rtsp://x: no answer within 0.2 s\n"
                             "     fix: check it")


# -------------------------------------------------------------------------- CLI
def doctor_cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", "doctor", "--config", str(path),
                           "--timeout", "1"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_cli_doctor_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(f'[store]\nid = "s"\ndevice = "d"\n[storage]\npath = "{tmp_path}/e.db"\n'
                    'min_free_mb = 0\n')
    r = doctor_cli(good)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS event log" in r.stdout and r.stdout.endswith("all checks passed\n")

    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text() + f'[[zones]]\nid = "z"\n[[shelves]]\nid = "a"\n'
                   f'port = "{tmp_path}/ttyGONE"\nzone = "z"\n')
    r = doctor_cli(bad)
    assert r.returncode == 1
    assert f"FAIL serial shelves[0] {tmp_path}/ttyGONE: no such device" in r.stdout
    assert "     fix: plug in the shelf controller" in r.stdout
    assert r.stdout.endswith("1 check(s) failed\n")

    broken = tmp_path / "broken.toml"
    broken.write_text(good.read_text().replace('device = "d"', 'devise = "d"'))
    r = doctor_cli(broken)
    assert r.returncode == 1
    assert r.stdout.startswith("FAIL config:") and "devise" in r.stdout
