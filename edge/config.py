"""Store configuration: one TOML file, fully validated before anything starts.

Every problem is reported with the key, the bad value and what is allowed; all problems
are collected, not just the first. Secrets (broker password, pseudonym key) come from the
environment, named by ``*_env`` keys.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_PATH = Path("/etc/omo-edge/config.toml")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TOPIC_PREFIX_RE = re.compile(r"^[^#+\x00]+[^/#+\x00]$")
T = TypeVar("T")


class ConfigError(ValueError):
    """One or more problems in a config; `problems` lists them, one line each."""

    def __init__(self, problems: list[str], path: str | None = None) -> None:
        self.problems = problems
        self.path = path
        where = f" in {path}" if path else ""
        super().__init__(f"{len(problems)} problem(s){where}:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    kind: str  # entrance | aisle | shelf | screen | checkout | pickup | other


@dataclass(frozen=True)
class Plate:
    id: str
    sku: str
    unit_grams: float
    capacity: int
    low_stock: int


@dataclass(frozen=True)
class Shelf:
    id: str
    port: str  # a device path or a pyserial URL (socket://, rfc2217://, loop://)
    baudrate: int
    zone: str
    plates: tuple[Plate, ...]


@dataclass(frozen=True)
class Camera:
    id: str
    source: str  # a device index ("0"), a URL, or a video file
    zone: str
    fps: float
    width: int
    height: int


@dataclass(frozen=True)
class BleReceiver:
    id: str
    adapter: str  # "hci0", or "sim" when the simulator feeds the scanner
    zone: str


@dataclass(frozen=True)
class Ble:
    enabled: bool
    receivers: tuple[BleReceiver, ...]
    app_uuids: tuple[str, ...]  # iBeacon proximity UUIDs / Eddystone namespaces of the store app


@dataclass(frozen=True)
class Screen:
    id: str
    zone: str
    width: int
    height: int
    fullscreen: bool


@dataclass(frozen=True)
class Tls:
    ca: str | None
    cert: str | None
    key: str | None
    insecure_skip_verify: bool


@dataclass(frozen=True)
class Broker:
    enabled: bool
    host: str
    port: int
    protocol: str  # "3.1.1" | "5"
    client_id: str | None
    username: str | None
    password: str | None = field(repr=False)
    tls: Tls | None
    prefix: str
    keepalive_s: int
    max_inflight: int
    rate_limit: float  # events per second while draining a backlog; 0 = unlimited
    heartbeat_s: float
    max_command_bytes: int


@dataclass(frozen=True)
class Storage:
    path: Path
    state_dir: Path
    max_age_days: float
    max_mb: float
    min_free_mb: float


@dataclass(frozen=True)
class Privacy:
    pseudonym_key: str | None = field(repr=False)
    store_frames: bool


@dataclass(frozen=True)
class Config:
    store: str
    device: str
    timezone: str
    log_level: str
    storage: Storage
    privacy: Privacy
    zones: tuple[Zone, ...]
    shelves: tuple[Shelf, ...]
    cameras: tuple[Camera, ...]
    ble: Ble
    screens: tuple[Screen, ...]
    broker: Broker
    source_path: str | None = None

    def zone_ids(self) -> set[str]:
        return {z.id for z in self.zones}


_MISSING = object()


class _Reader:
    """Reads typed values from nested tables and collects problems instead of raising."""

    def __init__(self, env: Mapping[str, str], require_secrets: bool = True) -> None:
        self.problems: list[str] = []
        self.env = env
        self.require_secrets = require_secrets

    def bad(self, key: str, value: Any, allowed: str) -> None:
        shown = repr(value) if not isinstance(value, dict) else "a table"
        self.problems.append(f"{key} = {shown}: expected {allowed}")

    def table(self, parent: Mapping[str, Any], name: str, key: str) -> dict[str, Any]:
        value = parent.get(name, {})
        if not isinstance(value, dict):
            self.bad(key, value, "a table")
            return {}
        return value

    def tables(self, parent: Mapping[str, Any], name: str, key: str) -> list[dict[str, Any]]:
        value = parent.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.bad(key, value, f"an array of tables ([[{key}]])")
            return []
        return value

    def unknown(self, table: Mapping[str, Any], known: set[str], prefix: str) -> None:
        for k in table:
            if k not in known:
                near = _closest(k, known)
                hint = f" (did you mean {near!r}?)" if near else ""
                allowed = ", ".join(sorted(known))
                self.problems.append(f"{prefix}{k}: unknown key{hint}; allowed: {allowed}")

    def get(
        self, table: Mapping[str, Any], name: str, key: str, kind: type[T] | tuple[type, ...],
        default: Any = _MISSING, check: Callable[[Any], bool] | None = None,
        allowed: str = "",
    ) -> Any:
        if name not in table:
            if default is _MISSING:
                self.problems.append(f"{key}: missing; expected {allowed or _kind_name(kind)}")
                return None
            return default
        value = table[name]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok or (check is not None and not check(value)):
            self.bad(key, value, allowed or _kind_name(kind))
            return default if default is not _MISSING else None
        return value

    def secret(self, table: Mapping[str, Any], name: str, key: str) -> str | None:
        env_name = self.get(table, f"{name}_env", f"{key}_env", str, None,
                            lambda v: bool(re.fullmatch(r"[A-Z_][A-Z0-9_]*", v)),
                            "an environment variable name such as OMO_EDGE_BROKER_PASSWORD")
        if name in table:
            self.problems.append(
                f"{key}: secrets are not read from the config file; put it in an environment "
                f"variable and name it with {key}_env"
            )
        if env_name is None:
            return None
        if env_name not in self.env:
            if self.require_secrets:
                self.problems.append(
                    f"{key}_env = {env_name!r}: that environment variable is not set")
            return None
        return self.env[env_name]


def _kind_name(kind: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, getattr(kind, "__name__", str(kind)))


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return found[0] if found else None


def _is_id(v: str) -> bool:
    return bool(ID_RE.fullmatch(v))


ID_ALLOWED = "an id of lower-case letters, digits, '-' or '_' (at most 64)"


def _zones(r: _Reader, raw: Mapping[str, Any]) -> tuple[Zone, ...]:
    kinds = {"entrance", "aisle", "shelf", "screen", "checkout", "pickup", "other"}
    zones = []
    for i, t in enumerate(r.tables(raw, "zones", "zones")):
        k = f"zones[{i}]."
        r.unknown(t, {"id", "name", "kind"}, k)
        zid = r.get(t, "id", k + "id", str, check=_is_id, allowed=ID_ALLOWED)
        zones.append(Zone(
            id=zid or f"?{i}",
            name=r.get(t, "name", k + "name", str, zid or ""),
            kind=r.get(t, "kind", k + "kind", str, "other", lambda v: v in kinds,
                       "one of " + ", ".join(sorted(kinds))),
        ))
    return tuple(zones)


def _shelves(r: _Reader, raw: Mapping[str, Any]) -> tuple[Shelf, ...]:
    shelves = []
    for i, t in enumerate(r.tables(raw, "shelves", "shelves")):
        k = f"shelves[{i}]."
        r.unknown(t, {"id", "port", "baudrate", "zone", "plates"}, k)
        plates = []
        for j, p in enumerate(r.tables(t, "plates", k + "plates")):
            pk = f"{k}plates[{j}]."
            r.unknown(p, {"id", "sku", "unit_grams", "capacity", "low_stock"}, pk)
            plates.append(Plate(
                id=r.get(p, "id", pk + "id", str, check=_is_id, allowed=ID_ALLOWED) or "?",
                sku=r.get(p, "sku", pk + "sku", str, check=lambda v: 0 < len(v) <= 64,
                          allowed="a product code (1-64 characters)") or "?",
                unit_grams=r.get(p, "unit_grams", pk + "unit_grams", float,
                                 check=lambda v: 0.5 <= v <= 100_000,
                                 allowed="a weight in grams from 0.5 to 100000"),
                capacity=r.get(p, "capacity", pk + "capacity", int, 20,
                               lambda v: 1 <= v <= 10_000, "an integer from 1 to 10000"),
                low_stock=r.get(p, "low_stock", pk + "low_stock", int, 2,
                                lambda v: 0 <= v <= 10_000, "an integer from 0 to 10000"),
            ))
            if plates[-1].capacity and plates[-1].low_stock >= plates[-1].capacity:
                r.problems.append(f"{pk}low_stock = {plates[-1].low_stock}: expected less than "
                                  f"capacity ({plates[-1].capacity})")
        _unique(r, [p.id for p in plates], k + "plates[].id")
        shelves.append(Shelf(
            id=r.get(t, "id", k + "id", str, check=_is_id, allowed=ID_ALLOWED) or "?",
            port=r.get(t, "port", k + "port", str, check=bool,
                       allowed="a serial device (/dev/ttyUSB0) or a pyserial URL") or "",
            baudrate=r.get(t, "baudrate", k + "baudrate", int, 115200,
                           lambda v: v in (9600, 19200, 38400, 57600, 115200, 230400, 460800),
                           "a standard baud rate (9600 ... 460800)"),
            zone=r.get(t, "zone", k + "zone", str, check=_is_id, allowed="a zone id") or "",
            plates=tuple(plates),
        ))
    return tuple(shelves)


def _is_source(v: str | int) -> bool:
    if isinstance(v, bool):
        return False
    return v >= 0 if isinstance(v, int) else bool(v.strip())


def _cameras(r: _Reader, raw: Mapping[str, Any]) -> tuple[Camera, ...]:
    cams = []
    for i, t in enumerate(r.tables(raw, "cameras", "cameras")):
        k = f"cameras[{i}]."
        r.unknown(t, {"id", "source", "zone", "fps", "width", "height"}, k)
        source = r.get(t, "source", k + "source", (str, int), check=_is_source,
                       allowed="a device index, a URL or a video file")
        cams.append(Camera(
            id=r.get(t, "id", k + "id", str, check=_is_id, allowed=ID_ALLOWED) or "?",
            source="" if source is None else str(source),
            zone=r.get(t, "zone", k + "zone", str, check=_is_id, allowed="a zone id") or "",
            fps=r.get(t, "fps", k + "fps", float, 10.0, lambda v: 0.1 <= v <= 60,
                      "a frame rate from 0.1 to 60"),
            width=r.get(t, "width", k + "width", int, 640, lambda v: 64 <= v <= 4096,
                        "a width in pixels from 64 to 4096"),
            height=r.get(t, "height", k + "height", int, 480, lambda v: 48 <= v <= 4096,
                         "a height in pixels from 48 to 4096"),
        ))
    return tuple(cams)


def _ble(r: _Reader, raw: Mapping[str, Any]) -> Ble:
    t = r.table(raw, "ble", "ble")
    r.unknown(t, {"enabled", "receivers", "app_uuids"}, "ble.")
    receivers = []
    for i, rt in enumerate(r.tables(t, "receivers", "ble.receivers")):
        k = f"ble.receivers[{i}]."
        r.unknown(rt, {"id", "adapter", "zone"}, k)
        receivers.append(BleReceiver(
            id=r.get(rt, "id", k + "id", str, check=_is_id, allowed=ID_ALLOWED) or "?",
            adapter=r.get(rt, "adapter", k + "adapter", str, "hci0",
                          lambda v: bool(re.fullmatch(r"hci\d+|sim", v)), "hciN or 'sim'"),
            zone=r.get(rt, "zone", k + "zone", str, check=_is_id, allowed="a zone id") or "",
        ))
    uuids = r.get(t, "app_uuids", "ble.app_uuids", list, [])
    for u in uuids:
        if not isinstance(u, str) or not re.fullmatch(r"[0-9a-fA-F-]{20,36}", u):
            r.bad("ble.app_uuids[]", u, "a UUID or a 10-byte Eddystone namespace in hex")
    return Ble(
        enabled=r.get(t, "enabled", "ble.enabled", bool, bool(receivers)),
        receivers=tuple(receivers),
        app_uuids=tuple(str(u).lower() for u in uuids),
    )


def _screens(r: _Reader, raw: Mapping[str, Any]) -> tuple[Screen, ...]:
    screens = []
    for i, t in enumerate(r.tables(raw, "screens", "screens")):
        k = f"screens[{i}]."
        r.unknown(t, {"id", "zone", "width", "height", "fullscreen"}, k)
        screens.append(Screen(
            id=r.get(t, "id", k + "id", str, check=_is_id, allowed=ID_ALLOWED) or "?",
            zone=r.get(t, "zone", k + "zone", str, check=_is_id, allowed="a zone id") or "",
            width=r.get(t, "width", k + "width", int, 1920, lambda v: 160 <= v <= 7680,
                        "a width in pixels from 160 to 7680"),
            height=r.get(t, "height", k + "height", int, 1080, lambda v: 120 <= v <= 4320,
                         "a height in pixels from 120 to 4320"),
            fullscreen=r.get(t, "fullscreen", k + "fullscreen", bool, True),
        ))
    return tuple(screens)


def _broker(r: _Reader, raw: Mapping[str, Any]) -> Broker:
    t = r.table(raw, "broker", "broker")
    known = {"enabled", "host", "port", "protocol", "client_id", "username", "password",
             "password_env", "tls", "prefix", "keepalive", "max_inflight", "rate_limit",
             "heartbeat", "max_command_bytes"}
    r.unknown(t, known, "broker.")
    tls_raw = r.table(t, "tls", "broker.tls") if "tls" in t else None
    tls = None
    if tls_raw is not None:
        r.unknown(tls_raw, {"ca", "cert", "key", "insecure_skip_verify"}, "broker.tls.")
        files: dict[str, str | None] = {}
        for name in ("ca", "cert", "key"):
            value = r.get(tls_raw, name, f"broker.tls.{name}", str, None)
            if value is not None and not Path(value).is_file():
                r.problems.append(f"broker.tls.{name} = {value!r}: no such file")
            files[name] = value
        if (files["cert"] is None) != (files["key"] is None):
            r.problems.append("broker.tls: cert and key go together (mutual TLS needs both)")
        tls = Tls(files["ca"], files["cert"], files["key"],
                  r.get(tls_raw, "insecure_skip_verify", "broker.tls.insecure_skip_verify",
                        bool, False))
    prefix = r.get(t, "prefix", "broker.prefix", str, "omo/v1",
                   lambda v: bool(TOPIC_PREFIX_RE.fullmatch(v)),
                   "a topic prefix without wildcards or a trailing '/'")
    return Broker(
        enabled=r.get(t, "enabled", "broker.enabled", bool, bool(t)),
        host=r.get(t, "host", "broker.host", str, "localhost", bool, "a host name"),
        port=r.get(t, "port", "broker.port", int, 8883 if tls else 1883,
                   lambda v: 1 <= v <= 65535, "an integer from 1 to 65535"),
        protocol=r.get(t, "protocol", "broker.protocol", str, "5",
                       lambda v: v in ("3.1.1", "5"), "'3.1.1' or '5'"),
        client_id=r.get(t, "client_id", "broker.client_id", str, None,
                        lambda v: 1 <= len(v) <= 128, "1 to 128 characters"),
        username=r.get(t, "username", "broker.username", str, None),
        password=r.secret(t, "password", "broker.password"),
        tls=tls,
        prefix=prefix,
        keepalive_s=r.get(t, "keepalive", "broker.keepalive", int, 30,
                          lambda v: 5 <= v <= 3600, "seconds from 5 to 3600"),
        max_inflight=r.get(t, "max_inflight", "broker.max_inflight", int, 200,
                           lambda v: 1 <= v <= 65535, "an integer from 1 to 65535"),
        rate_limit=r.get(t, "rate_limit", "broker.rate_limit", float, 0.0,
                         lambda v: v >= 0, "events per second (0 = no cap)"),
        heartbeat_s=r.get(t, "heartbeat", "broker.heartbeat", float, 60.0,
                          lambda v: 1 <= v <= 86400, "seconds from 1 to 86400"),
        max_command_bytes=r.get(t, "max_command_bytes", "broker.max_command_bytes", int, 65536,
                                lambda v: 256 <= v <= 1 << 24, "bytes from 256 to 16777216"),
    )


def _unique(r: _Reader, ids: list[str], key: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            r.problems.append(f"{key}: {i!r} is used twice; ids must be unique")
        seen.add(i)


def parse(raw: Mapping[str, Any], *, env: Mapping[str, str] | None = None,
          source_path: str | None = None, require_secrets: bool = True) -> Config:
    """Validate a parsed TOML document; raise ConfigError listing every problem.
    With `require_secrets` False (read-only commands: status, events, doctor) a secret whose
    environment variable is not set is None instead of a problem."""
    r = _Reader(os.environ if env is None else env, require_secrets)
    r.unknown(raw, {"store", "storage", "logging", "privacy", "zones", "shelves", "cameras",
                    "ble", "screens", "broker"}, "")
    store_t = r.table(raw, "store", "store")
    r.unknown(store_t, {"id", "device", "timezone"}, "store.")
    store = r.get(store_t, "id", "store.id", str, check=lambda v: bool(DEVICE_ID_RE.fullmatch(v)),
                  allowed="a store id of letters, digits, '.', '-' or '_' (at most 64)")
    device = r.get(store_t, "device", "store.device", str,
                   check=lambda v: bool(DEVICE_ID_RE.fullmatch(v)),
                   allowed="a device id of letters, digits, '.', '-' or '_' (at most 64)")
    if device == "all":
        r.problems.append("store.device = 'all': reserved for commands to every device")
    timezone = r.get(store_t, "timezone", "store.timezone", str, "UTC")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(timezone)
    except Exception:
        r.bad("store.timezone", timezone, "an IANA time zone such as 'Asia/Tokyo'")

    st = r.table(raw, "storage", "storage")
    r.unknown(st, {"path", "state_dir", "max_age_days", "max_mb", "min_free_mb"}, "storage.")
    path = Path(r.get(st, "path", "storage.path", str, "/var/lib/omo-edge/events.db", bool,
                      "a file path such as /var/lib/omo-edge/events.db"))
    storage = Storage(
        path=path,
        state_dir=Path(r.get(st, "state_dir", "storage.state_dir", str, str(path.parent), bool,
                             "a directory path")),
        max_age_days=r.get(st, "max_age_days", "storage.max_age_days", float, 30.0,
                           lambda v: 0.01 <= v <= 3650, "days from 0.01 to 3650"),
        max_mb=r.get(st, "max_mb", "storage.max_mb", float, 1024.0,
                     lambda v: 1 <= v <= 1 << 20, "megabytes from 1 to 1048576"),
        min_free_mb=r.get(st, "min_free_mb", "storage.min_free_mb", float, 256.0,
                          lambda v: 0 <= v <= 1 << 20, "megabytes from 0 to 1048576"),
    )
    lg = r.table(raw, "logging", "logging")
    r.unknown(lg, {"level"}, "logging.")
    level = r.get(lg, "level", "logging.level", str, "info",
                  lambda v: v in ("debug", "info", "warning", "error"),
                  "debug, info, warning or error")
    pv = r.table(raw, "privacy", "privacy")
    r.unknown(pv, {"pseudonym_key", "pseudonym_key_env", "store_frames"}, "privacy.")
    privacy = Privacy(
        pseudonym_key=r.secret(pv, "pseudonym_key", "privacy.pseudonym_key"),
        store_frames=r.get(pv, "store_frames", "privacy.store_frames", bool, False),
    )
    zones = _zones(r, raw)
    shelves = _shelves(r, raw)
    cameras = _cameras(r, raw)
    ble = _ble(r, raw)
    screens = _screens(r, raw)
    broker = _broker(r, raw)

    _unique(r, [z.id for z in zones], "zones[].id")
    _unique(r, [s.id for s in shelves], "shelves[].id")
    _unique(r, [c.id for c in cameras], "cameras[].id")
    _unique(r, [b.id for b in ble.receivers], "ble.receivers[].id")
    _unique(r, [s.id for s in screens], "screens[].id")
    zone_ids = {z.id for z in zones}
    placed: list[tuple[str, tuple[Shelf | Camera | BleReceiver | Screen, ...]]] = [
        ("shelves", shelves), ("cameras", cameras), ("ble.receivers", ble.receivers),
        ("screens", screens)]
    for kind, items in placed:
        for i, item in enumerate(items):
            if item.zone and item.zone not in zone_ids:
                r.problems.append(
                    f"{kind}[{i}].zone = {item.zone!r}: no such zone; defined zones: "
                    + (", ".join(sorted(zone_ids)) or "none (add [[zones]])")
                )
    ports = [s.port for s in shelves]
    _unique(r, ports, "shelves[].port")
    if ble.enabled and not ble.receivers:
        r.problems.append("ble.enabled = true: but no [[ble.receivers]] are configured")
    if r.problems:
        raise ConfigError(r.problems, source_path)
    return Config(
        store=store, device=device, timezone=timezone, log_level=level, storage=storage,
        privacy=privacy, zones=zones, shelves=shelves, cameras=cameras, ble=ble,
        screens=screens, broker=broker, source_path=source_path,
    )


def load(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
         require_secrets: bool = True) -> Config:
    """Read and validate a config file; raise ConfigError on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: no such file (pass --config PATH)"], str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{p}: cannot read: {exc}"], str(p)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(p)) from None
    return parse(raw, env=env, source_path=str(p), require_secrets=require_secrets)
