"""`omo-edge doctor`: check every configured part; each line passes or fails with the fix."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from edge.config import Broker, Camera, Config, Shelf

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        head = f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.detail}"
        return head if self.ok or not self.fix else f"{head}\n     fix: {self.fix}"


def _guard(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    try:
        return check()
    except Exception as exc:  # a check never crashes the doctor
        return CheckResult(False, name, f"{type(exc).__name__}: {exc}",
                           "see the error above; run with the part connected")


def _with_timeout(fn: Callable[[], CheckResult], name: str, timeout_s: float) -> CheckResult:
    box: list[CheckResult] = []
    thread = threading.Thread(target=lambda: box.append(_guard(name, fn)), daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not box:
        return CheckResult(False, name, f"no answer within {timeout_s:g} s",
                           "check that the device or URL is reachable")
    return box[0]


def check_event_log(config: Config) -> CheckResult:
    from edge.eventlog import EventLog, EventLogError

    path = config.storage.path
    name = "event log"
    if not path.exists():
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return CheckResult(True, name, f"{path} does not exist yet; it will be created")
        return CheckResult(False, name, f"cannot create {path}: {parent} is not writable",
                           f"create {path.parent} and make it writable by the omo-edge user")
    if not os.access(path, os.R_OK | os.W_OK):
        return CheckResult(False, name, f"{path}: permission denied",
                           f"chown omo-edge {path} (and its -wal/-shm files)")
    try:
        log = EventLog(path, readonly=True)
    except EventLogError as exc:
        return CheckResult(False, name, str(exc), "the daemon moves a corrupt log aside at start")
    try:
        result = log.quick_check()
        stats = log.stats()
    finally:
        log.close()
    size_mb = path.stat().st_size / 2**20
    if result != "ok":
        return CheckResult(False, name, f"{path}: quick_check says {result}",
                           "stop the daemon and start it again: it moves a corrupt log aside "
                           "(kept) and starts a new one")
    return CheckResult(True, name, f"{path} ({size_mb:.1f} MB, {stats.total} events, "
                                   f"{stats.queued} undelivered, integrity ok)")


def check_disk(config: Config) -> CheckResult:
    parent = config.storage.path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    free_mb = shutil.disk_usage(parent).free / 2**20
    floor = config.storage.min_free_mb
    if free_mb < floor:
        return CheckResult(False, "free disk",
                           f"{free_mb:.0f} MB free under {parent}, below the {floor:g} MB floor "
                           "(low-priority events are being dropped)",
                           "free space on that file system or lower storage.min_free_mb")
    return CheckResult(True, "free disk", f"{free_mb:.0f} MB free under {parent} "
                                          f"(floor {floor:g} MB)")


def check_models(models_dir: Path = MODELS_DIR) -> list[CheckResult]:
    manifest = models_dir / "manifest.json"
    if not manifest.exists():
        return [CheckResult(True, "models", "no models configured (no models/manifest.json)")]
    entries = json.loads(manifest.read_text(encoding="utf-8")).get("models", [])
    results = []
    for entry in entries:
        name = f"model {entry.get('name', '?')}"
        path = models_dir / str(entry.get("file", ""))
        if not path.is_file():
            results.append(CheckResult(False, name, f"{path} is missing",
                                       "reinstall omo-edge or rebuild the models "
                                       "(models/build script)"))
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != entry.get("sha256"):
            results.append(CheckResult(False, name, f"{path} has sha256 {digest[:12]}..., the "
                                       f"manifest says {str(entry.get('sha256'))[:12]}...",
                                       "the file is damaged or replaced: reinstall it"))
        else:
            results.append(CheckResult(True, name, f"{path.name} (sha256 ok)"))
    return results


def check_ble_adapter(receiver_id: str, adapter: str) -> CheckResult:
    name = f"BLE receiver {receiver_id}"
    if adapter == "sim":
        return CheckResult(True, name, "simulated adapter")
    if Path(f"/sys/class/bluetooth/{adapter}").exists():
        return CheckResult(True, name, f"adapter {adapter} present")
    return CheckResult(False, name, f"no Bluetooth adapter {adapter}",
                       "plug in or enable the adapter (rfkill unblock bluetooth; "
                       "systemctl start bluetooth) or correct ble.receivers[].adapter")


def check_serial(shelf: Shelf) -> CheckResult:
    import serial

    name = f"shelf {shelf.id} serial"
    is_url = "://" in shelf.port
    if not is_url and not Path(shelf.port).exists():
        return CheckResult(False, name, f"{shelf.port}: no such device",
                           f"plug in the shelf controller or correct the port of shelf "
                           f"{shelf.id} (ls /dev/serial/by-id/)")
    try:
        port = serial.serial_for_url(shelf.port, baudrate=shelf.baudrate, timeout=0)
        port.close()
    except (serial.SerialException, OSError, ValueError) as exc:
        return CheckResult(False, name, f"{shelf.port}: cannot open: {exc}",
                           "add the omo-edge user to the dialout group, or free the port")
    return CheckResult(True, name, f"{shelf.port} opens at {shelf.baudrate} baud")


def check_camera(camera: Camera) -> CheckResult:
    import cv2

    name = f"camera {camera.id}"
    source: str | int = camera.source
    if camera.source.isdigit():
        source = int(camera.source)
        if not Path(f"/dev/video{source}").exists():
            return CheckResult(False, name, f"/dev/video{source} does not exist",
                               "plug in the camera or correct cameras[].source")
    elif "://" not in camera.source and not Path(camera.source).is_file():
        return CheckResult(False, name, f"{camera.source}: no such file",
                           "correct cameras[].source")
    cap = cv2.VideoCapture(source)
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
    finally:
        cap.release()
    if not ok or frame is None:
        return CheckResult(False, name, f"{camera.source}: OpenCV cannot decode a frame",
                           "check the cable or stream URL; a file must be a video OpenCV reads")
    h, w = frame.shape[:2]
    return CheckResult(True, name, f"{camera.source} decodes ({w}x{h})")


def check_display(config: Config) -> CheckResult:
    name = "display"
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return CheckResult(True, name, "headless (SDL_VIDEODRIVER=dummy): screens render "
                                       "offscreen")
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        if os.environ.get(var):
            return CheckResult(True, name, f"{var}={os.environ[var]}")
    for dev in ("/dev/fb0", *sorted(str(p) for p in Path("/dev/dri").glob("card*"))):
        if Path(dev).exists():
            return CheckResult(True, name, f"{dev} (KMS/framebuffer)")
    return CheckResult(False, name, f"{len(config.screens)} screen(s) configured but no display",
                       "connect the screen, or run the player under a display server")


def check_broker(broker: Broker, timeout_s: float) -> CheckResult:
    name = f"broker {broker.host}:{broker.port}"
    if not broker.enabled:
        return CheckResult(True, "broker", "disabled (events stay in the local log)")
    try:
        sock = socket.create_connection((broker.host, broker.port), timeout=timeout_s)
    except ConnectionRefusedError:
        return CheckResult(False, name, "connection refused",
                           "start the broker or correct broker.host / broker.port")
    except TimeoutError:
        return CheckResult(False, name, f"no answer within {timeout_s:g} s",
                           "check the network path and firewall to the broker")
    except OSError as exc:
        return CheckResult(False, name, f"cannot connect: {exc.strerror or exc}",
                           "check broker.host (DNS) and the network")
    with sock:
        if broker.tls is None:
            return CheckResult(True, name, "reachable (TCP)")
        ctx = ssl.create_default_context(cafile=broker.tls.ca)
        if broker.tls.cert and broker.tls.key:
            ctx.load_cert_chain(broker.tls.cert, broker.tls.key)
        if broker.tls.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            with ctx.wrap_socket(sock, server_hostname=broker.host) as tls:
                version = tls.version()
        except ssl.SSLError as exc:
            return CheckResult(False, name, f"TLS handshake failed: {exc.reason or exc}",
                               "check broker.tls.ca (and cert/key for mutual TLS)")
    return CheckResult(True, name, f"reachable ({version})")


def run_checks(config: Config, timeout_s: float = 3.0) -> Iterator[CheckResult]:
    yield _guard("event log", lambda: check_event_log(config))
    yield _guard("free disk", lambda: check_disk(config))
    try:
        yield from check_models()
    except Exception as exc:
        yield CheckResult(False, "models", f"models/manifest.json: {exc}", "reinstall omo-edge")
    for rx in config.ble.receivers:
        yield _guard(f"BLE receiver {rx.id}", partial(check_ble_adapter, rx.id, rx.adapter))
    for shelf in config.shelves:
        yield _with_timeout(partial(check_serial, shelf), f"shelf {shelf.id} serial", timeout_s)
    for cam in config.cameras:
        yield _with_timeout(partial(check_camera, cam), f"camera {cam.id}", timeout_s * 3)
    if config.screens:
        yield _guard("display", lambda: check_display(config))
    yield _guard("broker", lambda: check_broker(config.broker, timeout_s))
