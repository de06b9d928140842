"""`omo-edge doctor`: check every configured part; each line passes or fails with the fix.

Each check returns a `CheckResult`; `run_checks` yields them in a fixed order. A check never
raises: any exception becomes a FAIL line naming it, and checks that can hang (serial URLs,
cameras, the broker's DNS lookup) run on a thread with a deadline. The doctor writes nothing:
a missing event log is reported as "will be created", and an existing one is opened read-only
without leaving ``-wal``/``-shm`` files behind (a root-owned pair would lock the service out).
OpenCV and pyserial are imported only when a camera or shelf is configured.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from edge.config import Broker, Camera, Config, DoorCounter, Shelf
from edge.eventlog import EventLog, EventLogError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SYS_BLUETOOTH = Path("/sys/class/bluetooth")
DEVICE_TIMEOUT_S = 10.0  # opening a local camera or serial device; URLs use --timeout
TLS_SETTLE_S = 0.5  # how long to wait for a post-handshake alert (TLS 1.3 client certs)


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
        return CheckResult(False, name, f"the check itself failed: {type(exc).__name__}: {exc}",
                           "run `omo-edge doctor` again with the part connected; if it repeats, "
                           "report this line")


def _with_timeout(check: Callable[[], CheckResult], name: str, timeout_s: float,
                  fix: str) -> CheckResult:
    """Run `check` on a daemon thread; a FAIL if it gives no answer within `timeout_s`."""
    box: list[CheckResult] = []
    thread = threading.Thread(target=lambda: box.append(_guard(name, check)), daemon=True,
                              name=f"doctor {name}")
    thread.start()
    thread.join(timeout_s)
    if not box:
        return CheckResult(False, name, f"no answer within {timeout_s:g} s", fix)
    return box[0]


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


# -------------------------------------------------------------------- event log
def check_event_log(config: Config) -> CheckResult:
    path = config.storage.path
    name = "event log"
    folder = path.parent
    if not path.exists():
        anc = _existing_ancestor(folder)
        if _writable_dir(anc):
            return CheckResult(True, name, f"{path} does not exist yet; the daemon will create "
                                           "it on its first start")
        return CheckResult(False, name, f"cannot create {path}: {anc} is not writable",
                           f"create {folder} and make it writable by the omo-edge user "
                           f"(systemd's StateDirectory does this for /var/lib/omo-edge), "
                           "or set storage.path")
    if path.is_dir():
        return CheckResult(False, name, f"{path} is a directory, not a database file",
                           "set storage.path to a file name such as "
                           "/var/lib/omo-edge/events.db")
    if not path.is_file():
        return CheckResult(False, name, f"{path} is not a regular file (a device, FIFO or "
                                        "socket)",
                           "set storage.path to a file name such as "
                           "/var/lib/omo-edge/events.db")
    if not _writable_dir(folder):
        return CheckResult(False, name, f"{folder} is not writable (SQLite needs it for the "
                                        "-wal and -shm files)",
                           f"chown omo-edge {folder}, or set storage.path")
    if not os.access(path, os.R_OK | os.W_OK):
        return CheckResult(False, name, f"{path}: permission denied",
                           f"chown omo-edge {path} (and its -wal and -shm files)")
    if path.stat().st_size == 0:
        return CheckResult(True, name, f"{path} is empty; the daemon will set it up")
    corrupt_fix = ("restart the daemon: it moves a corrupt log aside (kept, with a "
                   ".corrupt-<time> suffix) and starts a new one")
    try:
        log = EventLog(path, readonly=True)  # immutable when no process has it open
    except EventLogError as exc:
        if "not an omo-edge event log" in str(exc):
            return CheckResult(False, name, f"{path} is not a readable omo-edge event log: an "
                                            "SQLite database without its tables",
                               "the daemon refuses it and will not start: set storage.path "
                               "to another file (or move this one away)")
        return CheckResult(False, name, str(exc), corrupt_fix)
    try:
        result = log.quick_check()
        stats = log.stats()
    except sqlite3.DatabaseError as exc:
        return CheckResult(False, name, f"{path} is not a readable omo-edge event log: {exc}",
                           corrupt_fix)
    finally:
        log.close()
    size_mb = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 2**20
    if result != "ok":
        return CheckResult(False, name, f"{path}: PRAGMA quick_check says: {result}",
                           "restart the daemon: it moves a corrupt log aside (kept) and starts "
                           "a new one; undelivered events in the old file are not sent")
    return CheckResult(True, name, f"{path} ({size_mb:.0f} MB, {stats.total} events, "
                                   f"{stats.queued} undelivered, integrity ok)")


def check_state_dir(config: Config) -> CheckResult:
    state = config.storage.state_dir
    name = "state dir"
    if state.exists() and not state.is_dir():
        return CheckResult(False, name, f"{state} is not a directory (the daemon will not "
                                        "start)",
                           "set storage.state_dir to a directory writable by the omo-edge user")
    anc = _existing_ancestor(state)
    if _writable_dir(anc):
        return CheckResult(True, name, f"{state} is writable" if anc == state
                           else f"{state} will be created")
    return CheckResult(False, name, f"{anc} is not writable (the status file goes there)",
                       f"make {state} writable by the omo-edge user, or set storage.state_dir")


def check_disk(config: Config) -> CheckResult:
    where = _existing_ancestor(config.storage.path.parent)
    free_mb = shutil.disk_usage(where).free / 2**20
    floor = config.storage.min_free_mb
    if free_mb < floor:
        return CheckResult(False, "free disk",
                           f"{free_mb:.0f} MB free under {where}, below storage.min_free_mb "
                           f"({floor:g} MB): the daemon sheds delivered, then low-priority events",
                           "free space on that file system (journalctl --vacuum-size=100M, old "
                           "*.corrupt-* logs) or lower storage.min_free_mb")
    return CheckResult(True, "free disk", f"{free_mb:.0f} MB free under {where} "
                                          f"(floor {floor:g} MB)")


# ----------------------------------------------------------------------- models
def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def check_models(models_dir: Path = MODELS_DIR) -> list[CheckResult]:
    manifest = models_dir / "manifest.json"
    if not manifest.exists():
        return [CheckResult(True, "models", f"no models configured (no {manifest})")]
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        entries = doc["models"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValueError("'models' is not a list of objects")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [CheckResult(False, "models", f"{manifest} is unreadable: {exc}",
                            "reinstall omo-edge (systemd/install.sh) to restore the manifest")]
    if not entries:
        return [CheckResult(True, "models", f"no models listed in {manifest}")]
    results = []
    for entry in entries:
        name = f"model {entry.get('name', '?')}"
        path = models_dir / str(entry.get("file", ""))
        want = str(entry.get("sha256", "")).lower()
        if entry.get("url") and not path.is_file():
            # downloadable (YuNet, FastestDet): lives in the models dir once fetched
            results.append(CheckResult(True, name, "not shipped; `omo-edge models fetch` "
                                       "downloads it, `omo-edge models verify` checks it"))
            continue
        if not entry.get("file") or not path.is_file():
            results.append(CheckResult(False, name, f"{path} is missing",
                                       "reinstall omo-edge (systemd/install.sh) or rebuild the "
                                       "models with the script in models/"))
            continue
        digest = _sha256(path)
        if digest != want:
            results.append(CheckResult(False, name, f"{path}: sha256 {digest[:16]}... does not "
                                       f"match the manifest's {want[:16] or '(none)'}...",
                                       "the file is damaged or was replaced: reinstall omo-edge"))
        else:
            results.append(CheckResult(True, name, f"{path} (sha256 ok)"))
    return results


# -------------------------------------------------------------------------- BLE
def check_ble_adapter(index: int, receiver_id: str, adapter: str) -> CheckResult:
    name = f"BLE ble.receivers[{index}] {adapter}"
    if (SYS_BLUETOOTH / adapter).exists():
        return CheckResult(True, name, f"{receiver_id}: adapter present")
    present = sorted(p.name for p in SYS_BLUETOOTH.glob("hci*")) if SYS_BLUETOOTH.exists() else []
    found = f" (present: {', '.join(present)})" if present else " (no adapters present)"
    return CheckResult(False, name, f"{receiver_id}: no Bluetooth adapter {adapter}{found}",
                       f"plug in or unblock the adapter (rfkill unblock bluetooth; systemctl "
                       f"start bluetooth) or correct ble.receivers[{index}].adapter")


# ----------------------------------------------------------------------- serial
def check_serial(index: int, shelf: Shelf | DoorCounter, table: str = "shelves") -> CheckResult:
    """A shelf's or a door counter's (`table`) serial port opens."""
    name = f"serial {table}[{index}] {shelf.port}"
    what = "door counter" if table == "door_counters" else "shelf controller"
    is_url = "://" in shelf.port
    if not is_url and not Path(shelf.port).exists():
        return CheckResult(False, name, "no such device",
                           f"plug in the {what} or correct {table}[{index}].port "
                           "(ls -l /dev/serial/by-id/ lists the connected ones)")
    import serial

    try:
        port = serial.serial_for_url(shelf.port, baudrate=shelf.baudrate, timeout=0)
        port.close()
    except (serial.SerialException, OSError, ValueError) as exc:
        text = str(exc)
        lower = text.lower()
        if "permission denied" in lower:
            fix = "add the omo-edge user to the dialout group (systemd/install.sh does)"
        elif "busy" in lower or "locked" in lower:
            fix = f"another program holds the port (fuser -v {shelf.port}): stop it"
        elif is_url:
            fix = f"check that the server in {table}[{index}].port is up and reachable"
        else:
            fix = f"check the cable and {table}[{index}].port / baudrate"
        return CheckResult(False, name, f"cannot open: {text}", fix)
    return CheckResult(True, name, f"{shelf.id}: opens at {shelf.baudrate} baud")


# ---------------------------------------------------------------------- cameras
def _quiet_opencv() -> Any:
    import cv2

    # OpenCV prints its own warnings for every failed open; the FAIL line says it all.
    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return cv2


def camera_kind(source: str) -> str:
    """'index', 'url' or 'path' (a video file or a device node such as /dev/video0)."""
    if source.strip().isdigit():
        return "index"
    return "url" if "://" in source else "path"


def check_camera(index: int, camera: Camera, timeout_s: float = 3.0) -> CheckResult:
    kind = camera_kind(camera.source)
    name = f"camera cameras[{index}] {camera.source}"
    target: str | int = camera.source
    if kind == "index":
        target = int(camera.source)
        dev = Path(f"/dev/video{target}")
        if not dev.exists():
            return CheckResult(False, name, f"{dev} does not exist",
                               f"plug in the camera (v4l2-ctl --list-devices) or correct "
                               f"cameras[{index}].source")
        if not os.access(dev, os.R_OK | os.W_OK):
            return CheckResult(False, name, f"{dev}: permission denied",
                               "add the omo-edge user to the video group (systemd/install.sh "
                               "does)")
    elif kind == "path" and not Path(camera.source).exists():
        return CheckResult(False, name, "no such file or device",
                           f"correct cameras[{index}].source")
    cv2 = _quiet_opencv()
    if kind == "url":
        ms = int(timeout_s * 1000)
        cap = cv2.VideoCapture(camera.source, cv2.CAP_ANY,
                               [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
    else:
        cap = cv2.VideoCapture(target)
    try:
        opened = bool(cap.isOpened())
        ok, frame = cap.read() if opened else (False, None)
    finally:
        cap.release()
    if not opened:
        what = {"url": f"cannot open the stream within {timeout_s:g} s",
                "index": "cannot open the device", "path": "cannot open it as a video"}[kind]
        fix = {"url": "check the URL, the credentials in it and the network path to the camera",
               "index": "another program may hold the camera; check the cable",
               "path": "the file must be a video OpenCV reads (e.g. MJPG or H.264 in AVI/MP4)"}
        return CheckResult(False, name, f"{camera.id}: {what}", fix[kind])
    if not ok or frame is None:
        return CheckResult(False, name, f"{camera.id}: opens but no frame decodes (corrupt, "
                                        "empty, or no signal)",
                           "check the camera's cable and power, or replace the file")
    h, w = frame.shape[:2]
    note = ""
    if (w, h) != (camera.width, camera.height):
        note = f"; frames are resized to the configured {camera.width}x{camera.height}"
    return CheckResult(True, name, f"{camera.id}: decodes a {w}x{h} frame{note}")


# ---------------------------------------------------------------------- display
def check_display(config: Config, environ: dict[str, str] | None = None,
                  dev: Path = Path("/dev")) -> CheckResult:
    env = dict(os.environ) if environ is None else environ
    name = "display"
    n = len(config.screens)
    if env.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return CheckResult(True, name, f"headless (SDL_VIDEODRIVER={env['SDL_VIDEODRIVER']}): "
                                       f"{n} screen(s) render offscreen, nothing is shown")
    for var in ("WAYLAND_DISPLAY", "DISPLAY"):
        if env.get(var):
            return CheckResult(True, name, f"{var}={env[var]} for {n} screen(s)")
    for node in (dev / "fb0", *sorted((dev / "dri").glob("card*"))):
        if node.exists():
            return CheckResult(True, name, f"{node} (KMS/framebuffer) for {n} screen(s)")
    return CheckResult(False, name, f"{n} screen(s) configured but no display: no DISPLAY, "
                                    "WAYLAND_DISPLAY, /dev/fb0 or /dev/dri/card*",
                       "connect the screen and enable its driver (dtoverlay=vc4-kms-v3d on a "
                       "Raspberry Pi), or remove [[screens]]")


# ----------------------------------------------------------------------- broker
def check_broker(broker: Broker, timeout_s: float) -> CheckResult:
    if not broker.enabled:
        return CheckResult(True, "broker", "disabled (events stay in the local log)")
    from edge.sync.connection import TlsSetupError, describe_connect_error, tls_context

    name = f"broker {broker.host}:{broker.port}"
    net_fix = "start the broker or correct broker.host / broker.port; check the network path"
    try:
        ctx = tls_context(broker)
    except TlsSetupError as exc:
        return CheckResult(False, name, f"TLS setup failed: {exc}",
                           "check the files named by broker.tls.ca / cert / key")
    try:
        sock = socket.create_connection((broker.host, broker.port), timeout=timeout_s)
    except ConnectionRefusedError as exc:
        return CheckResult(False, name, describe_connect_error(exc, broker),
                           "start the broker or correct broker.host / broker.port")
    except socket.gaierror as exc:
        return CheckResult(False, name, describe_connect_error(exc, broker),
                           "check broker.host and the DNS server (resolvectl status)")
    except TimeoutError:
        return CheckResult(False, name, f"timeout: no answer within {timeout_s:g} s",
                           "check the network path and firewall to the broker "
                           "(nc -vz host port)")
    except OSError as exc:
        return CheckResult(False, name, describe_connect_error(exc, broker), net_fix)
    with sock:
        if ctx is None:
            return CheckResult(True, name, "reachable (TCP; no TLS configured)")
        tls_fix = ("check broker.tls.ca, that broker.host matches the broker's certificate, and "
                   "broker.tls.cert / key if the broker wants a client certificate")
        try:
            with ctx.wrap_socket(sock, server_hostname=broker.host) as tls:
                version = tls.version()
                # TLS 1.3 sends a client-certificate rejection after the handshake: wait
                # briefly for it. A broker that accepted us waits for our MQTT CONNECT.
                tls.settimeout(min(TLS_SETTLE_S, timeout_s))
                try:
                    if tls.recv(1) == b"":
                        return CheckResult(False, name, "the broker closed the TLS connection "
                                                        "right after the handshake", tls_fix)
                except TimeoutError:
                    pass
        except (ssl.SSLEOFError, ConnectionResetError):
            return CheckResult(False, name, "TLS failure: the broker closed the connection "
                                            "during the handshake (is this port a plain MQTT "
                                            "listener? remove [broker.tls] or fix the port)",
                               tls_fix)
        except (ssl.SSLError, ssl.CertificateError) as exc:
            return CheckResult(False, name, describe_connect_error(exc, broker), tls_fix)
        except TimeoutError:
            return CheckResult(False, name, f"timeout: no TLS handshake within {timeout_s:g} s "
                                            "(is this a TLS port?)", tls_fix)
        except OSError as exc:
            return CheckResult(False, name, f"TLS failure: {exc.strerror or exc}", tls_fix)
    client = " with the client certificate" if broker.tls and broker.tls.cert else ""
    return CheckResult(True, name, f"reachable ({version}{client})")


# ---------------------------------------------------------------- execution providers
def check_providers(config: Config) -> CheckResult:
    """`vision.providers`: each one known to onnxruntime and present in this build."""
    from edge.vision.models.runtime import usable_providers

    asked = config.vision.providers
    name = "vision providers"
    chosen, problems = usable_providers(asked)
    if problems:
        return CheckResult(False, name, "; ".join(problems) + f"; the model runs on "
                           f"{', '.join(chosen)} instead",
                           "correct vision.providers (or install the onnxruntime build that "
                           "has the provider)")
    return CheckResult(True, name, f"{', '.join(chosen)} ({config.vision.threads} "
                                   "thread(s))")


# ------------------------------------------------------------------------- all
def check_ble_mqtt(config: Config, timeout_s: float) -> CheckResult:
    """The broker the cheap BLE receivers publish to: reachable over TCP."""
    m = config.ble.mqtt
    return _tcp_check(f"BLE MQTT feed {m.host}:{m.port}", m.host, m.port, timeout_s,
                      f"reachable (TCP); {len(m.nodes)} node(s) mapped to receivers",
                      "start the store broker the receivers publish to, or correct "
                      "ble.mqtt.host / ble.mqtt.port")


def _tcp_check(name: str, host: str, port: int, timeout_s: float, ok: str,
               fix: str) -> CheckResult:
    """PASS with `ok` if host:port accepts a TCP connection, else FAIL with `fix`."""
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return CheckResult(False, name, f"cannot connect: {exc.strerror or exc}", fix)
    return CheckResult(True, name, ok)


def check_pos_mqtt(config: Config, timeout_s: float) -> CheckResult:
    """The store broker a local POS publishes its sales to: reachable over TCP."""
    m = config.insight.pos_mqtt
    assert m is not None
    return _tcp_check(f"local POS {m.host}:{m.port}", m.host, m.port, timeout_s,
                      f"reachable (TCP); sales on {m.topic}",
                      "start the store broker the POS publishes to, or correct "
                      "insight.pos_mqtt.host / insight.pos_mqtt.port")


def run_checks(config: Config, timeout_s: float = 3.0) -> Iterator[CheckResult]:
    """Every check for the configured store, in order; never raises."""
    yield _guard("event log", lambda: check_event_log(config))
    if config.storage.state_dir != config.storage.path.parent:
        yield _guard("state dir", lambda: check_state_dir(config))
    yield _guard("free disk", lambda: check_disk(config))
    try:
        models = check_models()
    except Exception as exc:
        models = [_guard("models", partial(_reraise, exc))]
    yield from models
    if config.ble.receivers and not config.ble.enabled:
        yield CheckResult(True, "BLE", "disabled (ble.enabled = false)")
    elif config.ble.enabled:
        for i, rx in enumerate(config.ble.receivers):
            yield _guard(f"BLE ble.receivers[{i}] {rx.adapter}",
                         partial(check_ble_adapter, i, rx.id, rx.adapter))
        m = config.ble.mqtt
        if m.enabled:
            yield _with_timeout(partial(check_ble_mqtt, config, timeout_s),
                                f"BLE MQTT feed {m.host}:{m.port}", timeout_s * 2 + 1,
                                "check ble.mqtt.host, DNS and the network path")
    pos = config.insight.pos_mqtt
    if config.insight.enabled and pos is not None and pos.enabled:
        yield _with_timeout(partial(check_pos_mqtt, config, timeout_s),
                            f"local POS {pos.host}:{pos.port}", timeout_s * 2 + 1,
                            "check insight.pos_mqtt.host, DNS and the network path")
    for i, shelf in enumerate(config.shelves):
        limit = timeout_s if "://" in shelf.port else max(timeout_s, DEVICE_TIMEOUT_S)
        yield _with_timeout(partial(check_serial, i, shelf), f"serial shelves[{i}] {shelf.port}",
                            limit, f"check the device or URL in shelves[{i}].port")
    for i, door in enumerate(config.door_counters):
        limit = timeout_s if "://" in door.port else max(timeout_s, DEVICE_TIMEOUT_S)
        yield _with_timeout(partial(check_serial, i, door, "door_counters"),
                            f"serial door_counters[{i}] {door.port}", limit,
                            f"check the device or URL in door_counters[{i}].port")
    for i, cam in enumerate(config.cameras):
        remote = camera_kind(cam.source) == "url"
        limit = timeout_s * 2 + 1 if remote else max(timeout_s, DEVICE_TIMEOUT_S)
        yield _with_timeout(partial(check_camera, i, cam, timeout_s),
                            f"camera cameras[{i}] {cam.source}", limit,
                            f"check the camera or the stream URL in cameras[{i}].source")
    if config.cameras and config.vision.enabled:
        yield _guard("vision providers", lambda: check_providers(config))
    if config.screens:
        yield _guard("display", lambda: check_display(config))
    broker = config.broker
    # Bounded as a whole: DNS lookups ignore socket timeouts.
    yield _with_timeout(partial(check_broker, broker, timeout_s),
                        f"broker {broker.host}:{broker.port}", timeout_s * 2 + TLS_SETTLE_S + 1,
                        "check broker.host, DNS (resolvectl status) and the network path")


def _reraise(exc: Exception) -> CheckResult:
    raise exc
