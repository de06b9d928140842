"""The store config, declared once: every key's type, default, allowed values and help.

These declarations drive validation (`edge.config.reader`), the typed objects below, `omo-edge
config example` and the configuration reference in docs/operations.md (`edge.config.render`).

How to add a config key
-----------------------
Add a field to the section's dataclass and declare it with `key()`::

    @dataclass(frozen=True)
    class Broker:
        ...
        connect_timeout_s: float = key(
            "how long a connection attempt may take", 10.0,
            toml="connect_timeout", range=(0.5, 120), unit="seconds")

The field's type is what the TOML holds (`str`, `int`, `float`, `bool`, `Path`, `X | None`,
`tuple[str, ...]`, a section dataclass for a table, `tuple[Section, ...]` for an array of
tables). Rules: `choices`, `range` (+ `unit`), `pattern`, `check` (+ `allowed`, the "expected
..." text), `derive` (a default computed from the table), `secret` (read from the environment
variable that `<name>_env` names), `example` (shown in the example config; rows for an array of
tables). A check that spans keys (unique ids, zone references) goes in `edge.config.rules`.
Then regenerate the example config and the docs table::

    .venv/bin/python -m edge.config.render --write

(the tests fail until they match the declarations).
"""

# key() returns a dataclasses.field() carrying the declaration, which RUF009 cannot see.
from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.config.schema import key

DEFAULT_PATH = Path("/etc/omo-edge/config.toml")
ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,63}"
DEVICE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
TOPIC_PREFIX_PATTERN = r"[^#+\x00]+[^/#+\x00]"
ID_RE = re.compile(f"^{ID_PATTERN}$")
DEVICE_ID_RE = re.compile(f"^{DEVICE_ID_PATTERN}$")
TOPIC_PREFIX_RE = re.compile(f"^{TOPIC_PREFIX_PATTERN}$")
ID_ALLOWED = "an id of lower-case letters, digits, '-' or '_' (at most 64)"
ZONE_KINDS = ("entrance", "aisle", "shelf", "screen", "checkout", "pickup", "other")
SHELF_PROTOCOLS = ("omo", "and", "cas", "mt-sics")
SCALE_UNITS = ("g", "kg", "lb")
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800)
BYTE_SIZES = (7, 8)
PARITIES = ("none", "even", "odd")  # drivers.shelf_serial.PARITY
SCAN_MODES = ("auto", "passive", "active")  # drivers.ble.ScanMode
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROTATIONS = (0, 90, 180, 270)
LAYOUTS = ("full", "ticker", "board")
HHMM_PATTERN = r"(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)"


def _id(help: str) -> Any:
    return key(help, pattern=ID_PATTERN, allowed=ID_ALLOWED)


def _zone_ref(help: str) -> Any:
    return key(help, pattern=ID_PATTERN, allowed="a zone id")


def _is_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except Exception:
        return False
    return True


def _is_source(v: str | int) -> bool:
    return v >= 0 if isinstance(v, int) else bool(v.strip())


@dataclass(frozen=True)
class Zone:
    id: str = _id("other sections name zones by it")
    name: str = key("shown in reports", derive=lambda v, raw: v.get("id") or "",
                    default_doc="the id")
    kind: str = key("what the place is", "other", choices=ZONE_KINDS,
                    allowed="one of " + ", ".join(sorted(ZONE_KINDS)))
    area: tuple[float, ...] = key(
        "the zone's floor area on the store plan, a rectangle `[x0, y0, x1, y1]` in metres; "
        "with every BLE receiver's `position`, presence locates visitors on the plan",
        (), range=(-10_000, 10_000), unit="metres", example=[0, 0, 4, 14])


@dataclass(frozen=True)
class Plate:
    id: str = _id("one load-cell plate, unique within the shelf")
    sku: str = key("the product on it (JAN/EAN)", check=lambda v: 0 < len(v) <= 64,
                   allowed="a product code (1-64 characters)")
    unit_grams: float = key("weight of one item", range=(0.5, 100_000),
                            unit="a weight in grams")
    capacity: int = key("items the plate holds", 20, range=(1, 10_000))
    low_stock: int = key("`omo.shelf.stock.low` at or below this count (less than `capacity`)", 2,
                         range=(0, 10_000))
    name: str = key("the product's name, shown in reports", "", check=lambda v: len(v) <= 128,
                    allowed="a name of at most 128 characters")
    stock: int | None = key("items on the plate when the daemon starts; unset: counted from the "
                            "weight when `tare_grams` is set, else `capacity`", None,
                            range=(0, 10_000), example=18, commented=True)
    tare_grams: float = key("the empty plate's reading; 0: learnt from the first stable weight "
                            "and the starting stock", 0.0, range=(-1_000_000, 1_000_000),
                            unit="a weight in grams")
    scale: float = key("grams per reported gram (the load cell's calibration factor)", 1.0,
                       range=(0.01, 100.0))
    max_grams: float = key("the load cell's range: a reading at or beyond it is saturated",
                           30_000.0, range=(1, 1_000_000), unit="a weight in grams")
    price: float | None = key("the product's price in the store's currency, shown on its "
                              "signage card; unset: the card shows no price", None,
                              range=(0, 100_000_000), example=298, commented=True)


@dataclass(frozen=True)
class Shelf:
    id: str = _id("the shelf")
    port: str = key(
        "the shelf controller: a device (/dev/serial/by-id/... survives re-plugging) or a "
        "pyserial URL (socket://host:port, rfc2217://...); unique",
        check=bool, allowed="a serial device (/dev/ttyUSB0) or a pyserial URL")
    baudrate: int = key("serial speed", 115200, choices=BAUD_RATES,
                        allowed="a standard baud rate (9600 ... 460800)")
    bytesize: int = key("data bits per character: 8, or 7 for a scale set to 7 data bits "
                        "(such as a CAS indicator's \"AND 18 bytes\" output)", 8,
                        choices=BYTE_SIZES, allowed="7 or 8")
    parity: str = key("the serial parity bit: \"none\", or \"even\" / \"odd\" as the "
                      "scale is set (7 data bits usually come with one)", "none",
                      choices=PARITIES, allowed="one of " + ", ".join(PARITIES))
    zone: str = _zone_ref("where the shelf is")
    protocol: str = key(
        "what speaks on the port: \"omo\" the project's shelf controller "
        "(docs/shelf-protocol.md), or a commercial scale weighing a single plate: \"and\" "
        "(A&D standard format), \"cas\" (CAS continuous output), \"mt-sics\" (Mettler "
        "Toledo, polled)", "omo", choices=SHELF_PROTOCOLS,
        allowed="one of " + ", ".join(SHELF_PROTOCOLS))
    poll_hz: float = key("weight requests (SI) per second to an mt-sics scale", 5.0,
                         range=(0.2, 50), unit="a rate in Hz")
    unit: str = key("the unit a commercial scale is set to; lines in another mass unit are "
                    "converted and counted", "g", choices=SCALE_UNITS,
                    allowed="one of " + ", ".join(SCALE_UNITS))
    date_on_clock: bool = key(
        "omo: date each line that carries the controller's own clock on that clock "
        "(docs/shelf-protocol.md); false: when it was read, like a line without it (the "
        "default until the detector is tuned on such times: docs/shelf.md, Measured)", False)
    clock_drift_ppm: float = key(
        "omo, with `date_on_clock`: how far the controller's clock may run slow against the "
        "edge's, in ppm (its crystal's tolerance; 5000-20000 for a ceramic resonator or RC "
        "oscillator)", 200.0,
        range=(1.0, 50_000.0), unit="a tolerance in ppm")
    plates: tuple[Plate, ...] = key(
        "The shelf's load-cell plates, one table each (a commercial scale: exactly one).")


@dataclass(frozen=True)
class DoorCounter:
    id: str = _id("the door counter")
    port: str = key(
        "the door counter's controller (two infrared beams across the entrance; "
        "docs/door-counter.md): a device or a pyserial URL (socket://host:port); unique "
        "among shelves and door counters",
        check=bool, allowed="a serial device (/dev/ttyUSB0) or a pyserial URL")
    baudrate: int = key("serial speed", 115200, choices=BAUD_RATES,
                        allowed="a standard baud rate (9600 ... 460800)")
    zone: str = _zone_ref("the entrance it counts")
    occupancy_reset: str | None = key(
        "local time (store.timezone) at which the occupancy estimate goes back to zero, "
        "such as the closing time; unset: never", None, pattern=r"([01]\d|2[0-3]):[0-5]\d",
        allowed="a time of day HH:MM (00:00 ... 23:59)", example="22:00")


@dataclass(frozen=True)
class Camera:
    id: str = _id("the camera")
    source: str = key(
        "what OpenCV opens: a device index (\"0\" is /dev/video0), a device path, an rtsp:// "
        "or http:// URL, or a video file",
        accepts=(str, int), check=_is_source, convert=str,
        allowed="a device index, a URL or a video file")
    zone: str = _zone_ref("what it looks at")
    fps: float = key("frames analysed per second", 10.0, range=(0.1, 60), unit="a frame rate")
    width: int = key("analysis width", 640, range=(64, 4096), unit="a width in pixels")
    height: int = key("analysis height", 480, range=(48, 4096), unit="a height in pixels")
    screen: str | None = key(
        "the signage screen this camera is mounted on (a `screens[].id`): looking at the "
        "camera is looking at that screen, and audience windows are split by the content it "
        "played; unset: no screen", None, pattern=ID_PATTERN, allowed="a screen id",
        example="screen-pickup")


@dataclass(frozen=True)
class BleReceiver:
    id: str = _id("the receiver")
    adapter: str = key("the Bluetooth adapter (`hciconfig` / `bluetoothctl list`)", "hci0",
                       pattern=r"hci\d+", allowed="hciN (hci0, hci1, ...)")
    zone: str = _zone_ref("where it listens")
    position: tuple[float, ...] = key(
        "where it is on the store plan, `[x, y]` in metres (see `zones[].area`)", (),
        range=(-10_000, 10_000), unit="metres", example=[2, 7])
    scanning: str = key(
        "passive sends no scan requests but hears beacons only (BlueZ >= 5.56 with "
        "--experimental); active hears every advertiser; auto: passive where BlueZ can",
        "auto", choices=SCAN_MODES, allowed="one of " + ", ".join(SCAN_MODES))


TOPIC_LEVEL = r"(?:[^/#+\x00]+|\+)"
TOPIC_ROOT_PATTERN = rf"{TOPIC_LEVEL}(?:/{TOPIC_LEVEL})*"
OMG_ROOT_PATTERN = rf"(?:{TOPIC_LEVEL}/)+BTtoMQTT"


@dataclass(frozen=True)
class BleMqttNode:
    node: str = key(
        "the node as its topics name it: an ESPresense room (`espresense/devices/<id>/<room>`) "
        "or an OpenMQTTGateway/Theengs gateway (`home/<gateway>/BTtoMQTT/<device>`)",
        pattern=DEVICE_ID_PATTERN,
        allowed="a node id of letters, digits, '.', '-' or '_' (at most 64)")
    receiver: str = _id("the receiver its adverts carry (unique among all receivers)")
    zone: str = _zone_ref("where it listens")
    position: tuple[float, ...] = key(
        "where it is on the store plan, `[x, y]` in metres (as `ble.receivers[].position`)", (),
        range=(-10_000, 10_000), unit="metres", example=[6, 3])


@dataclass(frozen=True)
class BleMqtt:
    enabled: bool = key("read cheap receivers (ESPresense, OpenMQTTGateway) over MQTT",
                        derive=lambda v, raw: bool(raw),
                        default_doc="`true` if `[ble.mqtt]` exists", example=True)
    host: str = key("the broker the receivers publish to (the store's own)", "localhost",
                    check=bool, allowed="a host name")
    port: int = key("its port", 1883, range=(1, 65535))
    username: str | None = key("MQTT user name; none: anonymous", None, example="omo-edge")
    password: str | None = key("the MQTT password", None, secret=True,
                               example="OMO_EDGE_BLE_MQTT_PASSWORD")
    espresense_topics: tuple[str, ...] = key(
        "ESPresense roots: nodes publish `<root>/<device id>/<room>`",
        ("espresense/devices",), pattern=TOPIC_ROOT_PATTERN,
        allowed="a topic root without '#' or a trailing '/' ('+' matches one level)")
    omg_topics: tuple[str, ...] = key(
        "OpenMQTTGateway/Theengs roots, ending in `/BTtoMQTT`: gateways publish "
        "`<root>/<device>`; the level before `BTtoMQTT` is the gateway",
        ("home/+/BTtoMQTT",), pattern=OMG_ROOT_PATTERN,
        allowed="a topic root ending in '/BTtoMQTT' ('+' matches one level)")
    keepalive_s: int = key("MQTT keepalive", 30, toml="keepalive", range=(5, 3600),
                           unit="seconds")
    max_payload_bytes: int = key(
        "larger messages are never delivered (announced to the broker) or counted and skipped",
        4096, range=(256, 1 << 20), unit="bytes")
    ignore_nodes: tuple[str, ...] = key(
        "nodes whose adverts are dropped (counted as ignored, not as unknown)", (),
        pattern=DEVICE_ID_PATTERN, allowed="a node id", example=["back-office"])
    nodes: tuple[BleMqttNode, ...] = key(
        "Cheap receivers, one table each; adverts from nodes not listed are counted "
        "(`mqtt_skipped_unknown_node`) and dropped.",
        example=[{"node": "entrance", "receiver": "esp-entrance", "zone": "entrance",
                  "position": [1, 2]},
                 {"node": "OMG_snacks", "receiver": "omg-snacks", "zone": "snacks",
                  "position": [6, 3]}])


@dataclass(frozen=True)
class Listener:
    """A receiver as the presence processor needs it, whichever way its adverts come: a local
    adapter (`[[ble.receivers]]`) or a node over MQTT (`[[ble.mqtt.nodes]]`)."""

    id: str
    zone: str
    position: tuple[float, ...] = ()


@dataclass(frozen=True)
class Ble:
    enabled: bool = key("scan for the store app's beacons; true needs at least one receiver",
                        derive=lambda v, raw: bool(v.get("receivers")) or bool(raw.get("mqtt")),
                        default_doc="`true` if receivers or `[ble.mqtt]` are configured",
                        example=True)
    receivers: tuple[BleReceiver, ...] = key("BLE receivers, one table each.")
    mqtt: BleMqtt = key("Cheap receivers over MQTT: ESP32 nodes running ESPresense or "
                        "OpenMQTTGateway publish what they hear to the store broker "
                        "(docs/ble-receivers.md).")

    def listeners(self) -> tuple[Listener, ...]:
        """Every receiver adverts may carry: the local adapters, then the MQTT nodes (if
        `[ble.mqtt]` is enabled)."""
        local = tuple(Listener(r.id, r.zone, r.position) for r in self.receivers)
        if not self.mqtt.enabled:
            return local
        return local + tuple(Listener(n.receiver, n.zone, n.position) for n in self.mqtt.nodes)
    app_uuids: tuple[str, ...] = key(
        "which beacons belong to the store app: iBeacon proximity UUIDs or 10-byte Eddystone "
        "namespaces", (), pattern=r"[0-9a-fA-F-]{20,36}", convert=str.lower,
        allowed="a UUID or a 10-byte Eddystone namespace in hex",
        example=["f7826da6-4fa2-4e98-8024-bc5b71e0893e"])
    exclude: tuple[str, ...] = key(
        "staff badges and asset tags, never counted as shoppers: beacon ids or their "
        "prefixes, as `ibeacon:<uuid>[:<major>[:<minor>]]` or "
        "`eddystone-uid:<namespace>[:<instance>]`", (),
        pattern=r"(ibeacon|eddystone-uid|altbeacon):[0-9a-fA-F:-]+", convert=str.lower,
        allowed="a beacon id or prefix such as eddystone-uid:<namespace>",
        example=["eddystone-uid:6f6d6f65646765737466"])
    visit_timeout_s: float = key("a visitor not heard for this long has left", 30.0,
                                 range=(5, 3600), unit="seconds")
    level_1m: int = key("a beacon's RSSI at 1 m when its frame does not say (phones)", -59,
                        range=(-100, 0), unit="dBm")
    path_loss_n: float = key("how fast RSSI falls with distance (2 in open space, 2-3.5 "
                             "indoors); used with a floor plan", 2.5, range=(1.5, 5.0))
    stale_s: float = key(
        "no advert for this long starts a receiver's recovery: restart the scan, then "
        "power-cycle the adapter, then exit for systemd to restart the service (each stage "
        "waits as long again); 0: off",
        60.0, range=(0, 86400), unit="seconds")


@dataclass(frozen=True)
class ScreenSchedule:
    playlist: str = _id("the playlist played in this slot")
    days: tuple[str, ...] = key("weekdays it applies to", WEEKDAYS, choices=WEEKDAYS,
                                allowed="a weekday: " + ", ".join(WEEKDAYS))
    start: str = key("start of the slot, store time", "00:00", pattern=HHMM_PATTERN,
                     allowed="a time HH:MM")
    end: str = key("end of the slot (exclusive; before start: past midnight)", "24:00",
                   pattern=HHMM_PATTERN, allowed="a time HH:MM (24:00 = midnight)")


@dataclass(frozen=True)
class Screen:
    id: str = _id("the screen")
    zone: str = _zone_ref("where it hangs")
    width: int = key("resolution, width (the panel's, before rotation)", 1920,
                     range=(160, 7680), unit="a width in pixels")
    height: int = key("resolution, height (the panel's, before rotation)", 1080,
                      range=(120, 4320), unit="a height in pixels")
    fullscreen: bool = key("full screen, or a window (development)", True)
    rotation: int = key("content rotation: 90 or 270 for a portrait screen on a landscape "
                        "panel (the player rotates; SDL does not under KMSDRM)", 0,
                        choices=ROTATIONS, allowed="0, 90, 180 or 270 (degrees clockwise)")
    layout: str = key("regions: `full` (main only), `ticker` (main and a text ticker), "
                      "`board` (main and the order-ready board)", "full", choices=LAYOUTS,
                      allowed="one of " + ", ".join(LAYOUTS))
    playlist: str = key("the default playlist (when no schedule slot applies)", "default",
                        pattern=ID_PATTERN, allowed=ID_ALLOWED)
    board: str = key("the order-ready board shown in the `board` layout",
                     derive=lambda v, raw: v.get("id") or "", default_doc="the screen's id",
                     example="pickup")
    ticker: str = key("the ticker's text in the `ticker` layout", "")
    on: str = key("screen on at (store time); on = off: always on", "00:00",
                  pattern=HHMM_PATTERN, allowed="a time HH:MM")
    off: str = key("screen off at (HDMI-CEC standby when cec-client exists, else blank)",
                   "00:00", pattern=HHMM_PATTERN, allowed="a time HH:MM")
    fps: int = key("frame rate cap", 30, range=(1, 120), unit="frames per second")
    schedule: tuple[ScreenSchedule, ...] = key(
        "Schedule slots by weekday and time of day; the first that applies wins.",
        example=[{"playlist": "breakfast", "days": ["mon", "tue", "wed", "thu", "fri"],
                  "start": "06:00", "end": "10:30"}])


TRIGGER_PRIORITIES = ("trigger", "cloud", "urgent")  # signage.protocol.Priority, by name
TRIGGER_CONTENT_PATTERN = r"product|asset://[^\s]{1,2000}"


@dataclass(frozen=True)
class Trigger:
    id: str = _id("the rule's name: `omo.signage.trigger.fired` and proof of play carry it")
    event: str = key("the event type that fires it, e.g. `omo.shelf.item.picked`",
                     pattern=r"omo\.[a-z0-9_]+(\.[a-z0-9_]+)+", allowed="an omo event type")
    content: str = key("what it shows: `product` (the card of the event's `sku`, from the "
                       "planogram) or an asset, `asset://<name>`", "product",
                       pattern=TRIGGER_CONTENT_PATTERN,
                       allowed="'product' or 'asset://<name>'")
    priority: str = key("which content it interrupts (a higher one wins the screen)",
                        "trigger", choices=TRIGGER_PRIORITIES,
                        allowed="one of " + ", ".join(TRIGGER_PRIORITIES))
    duration_s: float = key("how long it shows before the schedule resumes", 8.0,
                            range=(1, 3600), unit="seconds")
    cooldown_s: float = key("it does not fire again for the same screen and product within "
                            "this time", 30.0, range=(0, 86400), unit="seconds")
    screens: tuple[str, ...] = key(
        "the screens it shows on; empty: the screen nearest the event (same zone, else the "
        "nearest zone area on the plan, else `signage_channel.default_screen`)", ())


@dataclass(frozen=True)
class SignageChannel:
    order_minutes: float = key("an order number stays on the pickup board this long after "
                               "`order.ready`", 10.0, range=(0.5, 1440), unit="minutes")
    show_s: float = key("how long a `signage.show` without `until` or a duration stays up",
                        30.0, range=(1, 86400), unit="seconds")
    queue: int = key("messages waiting for one player at most; beyond it the oldest is "
                     "dropped (counted), and a newer state replaces an unsent older one", 256,
                     range=(8, 100_000))
    hello_timeout_s: float = key("a player that has not said Hello within this time is "
                                 "disconnected", 10.0, range=(0.1, 3600), unit="seconds")
    default_screen: str | None = key("the screen a trigger uses when no screen is near the "
                                     "event; unset: the trigger is skipped (counted)", None,
                                     pattern=ID_PATTERN, allowed="a screen id",
                                     example="screen-pickup", commented=True)
    triggers: tuple[Trigger, ...] = key(
        "Trigger rules: an event shows content on a screen (docs/signage-channel.md).",
        example=[{"id": "pick-card", "event": "omo.shelf.item.picked", "content": "product",
                  "priority": "trigger", "duration_s": 8, "cooldown_s": 30}])


_key = key  # Tls has a field named key


@dataclass(frozen=True)
class Tls:
    ca: str | None = _key("CA bundle that signed the broker's certificate", None,
                          default_doc="the system's CA store", allowed="an existing file",
                          example="/etc/omo-edge/tls/ca.pem")
    cert: str | None = _key("client certificate for mutual TLS; goes with key", None,
                            allowed="an existing file", example="/etc/omo-edge/tls/device.pem")
    key: str | None = _key("its private key (chmod 0640, group omo-edge); goes with cert",
                           None, allowed="an existing file",
                           example="/etc/omo-edge/tls/device.key")
    insecure_skip_verify: bool = _key("skip certificate checks: tests only", False)


@dataclass(frozen=True)
class Broker:
    enabled: bool = key("off: events stay in the local log", derive=lambda v, raw: bool(raw),
                        default_doc="`true` if `[broker]` exists", example=True)
    host: str = key("the MQTT broker", "localhost", check=bool, allowed="a host name",
                    example="mqtt.example.com")
    port: int = key("the broker's port", derive=lambda v, raw: 8883 if "tls" in raw else 1883,
                    default_doc="`1883`, or `8883` with `[broker.tls]`", range=(1, 65535),
                    example=1883, commented=True)
    protocol: str = key("MQTT version (a string)", "5", choices=("5", "3.1.1"),
                        allowed="'3.1.1' or '5'")
    client_id: str | None = key(
        "MQTT client id, unique per broker", None, check=lambda v: 1 <= len(v) <= 128,
        allowed="1 to 128 characters", default_doc="`omo-edge-<store.id>-<store.device>`",
        example="omo-edge-tokyo-shibuya-01-edge-01")
    username: str | None = key("MQTT user name; none: anonymous", None,
                               example="tokyo-shibuya-01-edge-01")
    password: str | None = key("the MQTT password", None, secret=True,
                               example="OMO_EDGE_BROKER_PASSWORD")
    tls: Tls | None = key(
        "TLS, as cloud IoT brokers require. The files must exist (config check verifies it), "
        "so this stays commented out until they are in place.")
    prefix: str = key("topics are `<prefix>/<store>/<device>/...`", "omo/v1",
                      pattern=TOPIC_PREFIX_PATTERN,
                      allowed="a topic prefix without wildcards or a trailing '/'")
    keepalive_s: int = key("MQTT keepalive", 30, toml="keepalive", range=(5, 3600),
                           unit="seconds")
    max_inflight: int = key("unacknowledged messages at most (our own window)", 200,
                            range=(1, 65535))
    rate_limit: float = key("publishing rate while a backlog drains", 0.0, range=(0, None),
                            allowed="events per second (0 = no cap)")
    heartbeat_s: float = key("status heartbeat interval", 60.0, toml="heartbeat",
                             range=(1, 86400), unit="seconds")
    max_command_bytes: int = key("larger cloud commands are rejected", 65536,
                                 range=(256, 1 << 24), unit="bytes")


@dataclass(frozen=True)
class Storage:
    path: Path = key("the event log and outbox (SQLite, WAL). Elsewhere? The service may "
                     "write only under /var/lib/omo-edge: add ReadWritePaths= in a drop-in",
                     Path("/var/lib/omo-edge/events.db"), check=bool,
                     allowed="a file path such as /var/lib/omo-edge/events.db")
    state_dir: Path = key("the status file and the signage channel",
                          derive=lambda v, raw: v["path"].parent if v.get("path") else None,
                          default_doc="the folder of `path`", check=bool,
                          allowed="a directory path", example="/var/lib/omo-edge",
                          commented=True)
    max_age_days: float = key("events older than this are pruned", 30.0, range=(0.01, 3650),
                              unit="days")
    max_mb: float = key("size cap of the log and the command bookkeeping (commands.db, "
                        "signage hand-off files) together", 1024.0, range=(1, 1 << 20),
                        unit="megabytes")
    min_free_mb: float = key(
        "free-disk floor: below it the daemon sheds delivered events first, then undelivered "
        "low-priority ones (counted)", 256.0, range=(0, 1 << 20), unit="megabytes")


@dataclass(frozen=True)
class Privacy:
    pseudonym_key: str | None = key("the key for pseudonymous visitor ids", None, secret=True,
                                    example="OMO_EDGE_PSEUDONYM_KEY")
    store_frames: bool = key("camera frames are never written to disk unless true", False)


@dataclass(frozen=True)
class Vision:
    enabled: bool = key("analyse the cameras' frames; false: cameras are still captured and "
                        "reported online, but no model runs", True)
    model: str = key("the face detector, by name (`omo-edge models list`)", "mtcnn",
                     pattern=r"[a-z0-9][a-z0-9_.-]{0,63}", allowed="a model name")
    threads: int = key("inference threads (onnxruntime intra-op threads per model)", 1,
                       range=(1, 16), unit="threads")
    providers: tuple[str, ...] = key(
        "onnxruntime execution providers, best first: onnxruntime's names or cpu, cuda, "
        "tensorrt, auto (the best this build has). One that is unknown or absent from this "
        "build is left out with a warning (`omo-edge doctor` names it): CPU is always the "
        "fallback", ("CPUExecutionProvider",), pattern=r"[A-Za-z][A-Za-z0-9]{1,63}",
        allowed="an execution provider name such as CUDAExecutionProvider, or cpu, cuda, "
                "tensorrt, auto")
    models_dir: str | None = key("where downloaded models are kept; unset: the default", None,
                                 example="/var/lib/omo-edge/models")
    min_score: float = key("detections scoring less are ignored", 0.6, range=(0.0, 1.0),
                           unit="a score")
    window_s: float = key("length of an audience window", 60.0, range=(10, 3600),
                          unit="seconds")
    item_window_s: float = key(
        "length of the window the audience per content item is summed over (an item on "
        "screen for seconds at a time rarely has min_people people in one audience window)",
        900.0, range=(60, 86400), unit="seconds")
    min_people: int = key(
        "k-anonymity: an audience window (or a content item within its item window) with fewer "
        "people is not reported, only counted", 3, range=(1, 1000), unit="people")
    motion_threshold: float = key(
        "motion gate: a frame none of whose 64x48 grey thumbnail cells differs from the last "
        "analysed one by more than this is not analysed (0: analyse every frame)", 8.0,
        range=(0.0, 255.0), unit="grey levels")
    max_cpu_share: float = key(
        "compute budget: inference may take at most this share of one core; frames beyond "
        "it are skipped (0: no budget)", 0.8, range=(0.0, 1.0), unit="a share of a core")
    track_timeout_s: float = key(
        "a track unseen this long has left (covers a detector's misses and short occlusions)",
        5.0, range=(0.1, 60), unit="seconds")
    track_keep_score: float = key(
        "a face scored below min_score but at least this may continue a track, never start "
        "one (two-stage matching, as ByteTrack: a face turned away or small scores lower "
        "for a few frames); its yaw is unknown (it neither starts nor ends a look; 0: off)",
        0.0, range=(0.0, 1.0), unit="a score")
    track_keep_iou: float = key(
        "... and only a track whose box it overlaps by at least this (intersection over "
        "union; no jump without overlap: a standing neighbour's turned face is not the "
        "track's person)", 0.3, range=(0.01, 1.0), unit="a share")
    track_keep_counts: int = key(
        "... and a track with at least this many frames at min_score counts as a person once "
        "it has min_track_frames frames of any score, the weak ones it continued too (a "
        "face turned 40 degrees hovers about min_score: strong in a few frames, weak in the "
        "ones between; 0: only frames at min_score count)", 0, range=(0, 100),
        unit="frames")
    track_keep_turned: bool = key(
        "... and a weak face continuing a track is not looking at the screen (a frontal face "
        "scores min_score or more; false: its yaw is unknown, a look goes on through it)",
        False)
    track_birth_score: float = key(
        "weak births: a face scored below min_score but at least this may start a track once "
        "it has stayed at one place for track_birth_frames frames, away from every live "
        "track, and track_birth_confirms second looks in a row at its crop enlarged (face "
        "about track_birth_face_px) reach min_score; its yaw is unknown (0: off)", 0.0,
        range=(0.0, 1.0), unit="a score")
    track_birth_frames: int = key("... frames the weak face must persist first", 10,
                                  range=(1, 1000), unit="frames")
    track_birth_face_px: float = key("... the size the second look enlarges the face to",
                                     160.0, range=(40.0, 400.0), unit="pixels")
    track_birth_confirms: int = key("... second looks in a row that must reach min_score",
                                    2, range=(1, 20), unit="looks")
    track_birth_gap_s: float = key("... a weak face unseen longer starts over", 1.0,
                                   range=(0.1, 10.0), unit="seconds")
    track_birth_drift: float = key(
        "... a weak face that moved further than this from where its candidate began starts "
        "over there (a walker soon has a strong track of its own; 0: no limit)", 1.0,
        range=(0.0, 20.0), unit="box sizes")
    track_birth_adopt: bool = key(
        "... a weak face where a live track went unseen (overlapping its last box) may, "
        "confirmed so, continue that track instead (a shopper turned away for longer than "
        "track_timeout_s is one person, not two)", True)
    track_birth_confirm_window: int = key(
        "... among the candidate's last this many second looks (0: in a row)", 4,
        range=(0, 100), unit="looks")
    track_birth_min_crop: float = key(
        "... the second look's crop is at least this many pixels square (a tiny weak box is "
        "often part of a face the second look finds whole)", 48.0, range=(8.0, 400.0),
        unit="pixels")
    track_birth_timeout_s: float = key(
        "... a weakly-born track unseen this long has left (a weak face flickers under the "
        "detector's threshold while the motion gate samples a still scene every few seconds; "
        "0: track_timeout_s)", 0.0, range=(0.0, 120.0), unit="seconds")
    track_birth_looks: int = key("... second looks a camera frame at most (the cost's bound)",
                                 2, range=(1, 16), unit="looks")
    track_birth_max_zoom: float = key(
        "... the second look never enlarges its crop more than this (the 13-15 px boxes of a "
        "turned 25-30 px head reach it first)", 8.0, range=(1.0, 20.0), unit="times")
    track_birth_yield_s: float = key(
        "... a weakly-born or adopted track that only weak faces continued for longer than "
        "this gives way to a strong face that is not plainly its own (whose box does not "
        "hold the track's centre, or whose clothes differ): that face starts a track of its "
        "own, so a standing shopper's weak turned face does not take a neighbour's or the "
        "next shopper's (0: off; a track born weak and never strong gives way at once)",
        0.0, range=(0.0, 60.0), unit="seconds")
    track_min_iou: float = key(
        "a detection overlapping a track's box by at least this (intersection over union) "
        "may continue it", 0.1, range=(0.01, 1.0), unit="a share")
    track_max_jump: float = key(
        "... or, not overlapping, one whose centre is at most this many box sizes away",
        1.0, range=(0.0, 10.0), unit="box sizes")
    track_jump_per_s: float = key(
        "... plus this many box sizes per second the track has been unseen (a walker the "
        "detector lost for a moment is further on; with track_appearance on, a jump only "
        "this allows needs the clothes to look alike, however short the gap)", 0.0,
        range=(0.0, 20.0),
        unit="box sizes a second")
    track_velocity: bool = key(
        "look for an unseen track where its smoothed velocity takes it", False)
    track_appearance: float = key(
        "a track unseen for a moment is continued only by a face whose clothes' colours "
        "(a histogram below the face, never stored) are at most this far from its own "
        "(Bhattacharyya distance; 0: not used)", 0.6, range=(0.0, 1.0), unit="a distance")
    track_standing_jump: float = key(
        "a standing person's track (slower than half a box size a second) followed frame to "
        "frame is continued only by a face at most this far from it (a neighbour stepping "
        "next to a person hidden for a frame; 0: off)", 0.0, range=(0.0, 10.0),
        unit="box sizes")
    zoom: float = key(
        "small far faces: detect again on a band of the frame enlarged this many times (the "
        "model's cost grows by zoom^2 x the band's share of the frame; 1: off)", 2.0,
        range=(1.0, 4.0), unit="times")
    zoom_band_top: float = key("top of the enlarged band (far people's heads, near the "
                               "horizon for a camera at head height)", 0.42, range=(0.0, 1.0),
                               unit="a fraction of the frame's height")
    zoom_band_bottom: float = key("bottom of the enlarged band", 0.70, range=(0.0, 1.0),
                                  unit="a fraction of the frame's height")
    min_track_frames: int = key("frames a track needs before it counts as a person", 8,
                                range=(1, 100), unit="frames")
    attention_enter: float = key(
        "a face looks at the screen once |yaw ratio| stays below this (0.2 is about 20 "
        "degrees)", 0.2, range=(0.01, 1.0), unit="a yaw ratio")
    attention_leave: float = key("... and stops once it stays above this", 0.25,
                                 range=(0.01, 1.0), unit="a yaw ratio")
    attention_min_s: float = key("how long a change must hold", 0.2, range=(0.0, 10.0),
                                 unit="seconds")
    attention_min_face_px: float = key(
        "a smaller face's yaw is unknown (its landmarks are too coarse): it neither starts "
        "nor ends a look", 20.0, range=(0.0, 200.0), unit="pixels (the box's larger side)")
    attention_min_width: float = key(
        "a face whose inter-ocular distance per eye-to-mouth distance is below this is "
        "turned away whatever its yaw ratio (a turned head's width foreshortens: about 1 "
        "frontal, 0.6-0.75 at 40 degrees; 0: no such test)", 0.85, range=(0.0, 2.0),
        unit="a width ratio")
    attention_min_score: float = key(
        "a face the detector scores lower has an unknown yaw: it neither starts nor ends a "
        "look (faces turned away score lower: real frontal faces of 24-28 px score 0.7 or "
        "more 95-97% of the time; 0: no such test)", 0.0, range=(0.0, 1.0), unit="a score")
    attention_refine_px: float = key(
        "a smaller face gets a second look for its landmarks: the detector again on the "
        "face's own crop enlarged attention_refine_zoom times (one small inference per such "
        "face and analysed frame; 0: off)", 0.0, range=(0.0, 200.0),
        unit="pixels (the box's larger side)")
    attention_refine_zoom: float = key("how many times the second look enlarges the crop",
                                       4.0, range=(1.0, 8.0), unit="times")
    debug_dir: str | None = key(
        "write every 10th analysed frame here, every face blurred; ignored unless "
        "privacy.store_frames = true; unset: frames are never written", None,
        example="/var/lib/omo-edge/debug-frames")


@dataclass(frozen=True)
class PosMqtt:
    enabled: bool = key("take `pos.sale` from a local POS on the store's broker as well as "
                        "from the cloud", derive=lambda v, raw: bool(raw),
                        default_doc="`true` if `[insight.pos_mqtt]` exists", example=True)
    host: str = key("the store's broker the POS publishes to", "localhost", check=bool,
                    allowed="a host name")
    port: int = key("its port", 1883, range=(1, 65535))
    username: str | None = key("MQTT user name; none: anonymous", None, example="omo-edge")
    password: str | None = key("the MQTT password", None, secret=True,
                               example="OMO_EDGE_POS_MQTT_PASSWORD")
    topic: str = key(
        "the POS publishes each sale here (QoS 1, the `pos.sale` args as JSON); the answer "
        "goes to `<topic>/result`", "store/pos/sale", pattern=r"[^#+\x00]+(?:/[^#+\x00]+)*",
        allowed="a topic without wildcards")
    keepalive_s: int = key("MQTT keepalive", 30, toml="keepalive", range=(5, 3600),
                           unit="seconds")
    session_expiry_s: int = key(
        "the broker keeps the subscription and queues sales this long while the edge is "
        "down (MQTT 5 session expiry)", 86_400, range=(0, 30 * 86400), unit="seconds")
    max_payload_bytes: int = key(
        "larger messages are never delivered (announced to the broker) or counted and refused",
        65_536, range=(256, 1 << 20), unit="bytes")


@dataclass(frozen=True)
class Insight:
    enabled: bool = key("product interest and the funnel from the other parts' events "
                        "(docs/insight.md)", True)
    window_minutes: float = key("length of an interest and funnel window", 15.0,
                                range=(1, 1440), unit="minutes")
    close_after_s: float = key(
        "a window is reported this long after its end, so events decided late (zone "
        "changes, visit ends) still count in it", 60.0, range=(0, 3600), unit="seconds")
    stop_dwell_s: float = key("a shopper who stays in a zone at least this long stopped "
                              "there (the funnel's second stage)", 10.0, range=(0, 3600),
                              unit="seconds")
    weight_zone_min: float = key(
        "interest score per minute shoppers stopped in the product's zone (shared among the "
        "zone's products)", 0.05, range=(0, 1000), unit="points")
    weight_attention_min: float = key(
        "interest score per minute of attention to the product's shelf or its card on a "
        "screen", 2.0, range=(0, 1000), unit="points")
    weight_pick: float = key("interest score per item picked up", 1.0, range=(0, 1000),
                             unit="points")
    weight_return: float = key("interest score per item put back (it was considered)", 0.25,
                               range=(0, 1000), unit="points")
    weight_offer: float = key(
        "interest score per journey offer of the product: an opted-in shopper who browsed it "
        "online reached its shelf (omo.journey.offer.triggered)", 2.0, range=(0, 1000),
        unit="points")
    weight_pick_paired: float = key(
        "interest score per item picked together with another product of the shelf (within "
        "a second) at even odds: one of the two is usually taken along, not come for", 0.5,
        range=(0, 1000), unit="points")
    pair_split: float = key(
        "a pair's score (2 x weight_pick_paired per unit) is split by the odds that each "
        "product was the one come for: the two products' units picked so far (plus one each) "
        "to this power; 0: halves, 1: in proportion", 1.0, range=(0, 4))
    pos_mqtt: PosMqtt | None = key(
        "A local POS on the store's broker: each sale published there is recorded like the "
        "`pos.sale` command (docs/insight.md). Commented out: a store without one.")


@dataclass(frozen=True)
class Journey:
    enabled: bool = key("the OMO journey of opted-in app users: offers at the shelf, pick "
                        "attribution and a summary per visit (docs/journey.md)", True)
    offer_cooldown_s: float = key(
        "after an offer, the same product is not offered to the same customer again for "
        "this long (also across visits; within a visit a product is offered once)", 3600.0,
        range=(0, 30 * 86400), unit="seconds")
    show_s: float = key("how long the nearest screen shows an offered product", 15.0,
                        range=(1, 3600), unit="seconds")
    show_priority: str = key("the priority of that show on the screen", "trigger",
                             choices=("trigger", "cloud", "urgent"),
                             allowed="trigger, cloud or urgent")
    attribution_threshold: float = key(
        "a pick is attributed to an opted-in shopper only when the evidence (presence in "
        "the plate's zone around the pick times the shopper's share of everyone there) is "
        "at least this (low: the receipt check, attribution_needs_receipt, does the work)",
        0.2, range=(0, 1))
    ambiguity_ratio: float = key(
        "no attribution (counted as ambiguous) when the runner-up's presence is at least "
        "this share of the best candidate's: never guess between close candidates", 0.7,
        range=(0, 1))
    attribution_window_s: float = key(
        "presence in the plate's zone is measured over this long either side of the pick",
        10.0, range=(0, 60), unit="seconds")
    attribution_wait_s: float = key(
        "a pick is decided this long after it happened, so zone changes decided late still "
        "count; a visit's summary waits as long after its end", 20.0, range=(0, 600),
        unit="seconds")
    attribution_needs_receipt: bool = key(
        "a pick is attributed only once the shopper's own receipt (the one sold as they left "
        "a checkout zone) confirms it: it lists the product with as many units as were "
        "picked while they stood in the plate's zone; decided at the visit's end. Off: "
        "decided from presence alone, which also credits a shopper with the picks of people "
        "beside them whose phone BLE cannot see", True)
    receipt_lead_s: float = key(
        "a shopper's receipt is sold about this long before BLE sees them leave the "
        "checkout zone", 6.0, range=(0, 600), unit="seconds")
    receipt_slack_s: float = key(
        "... give or take this; exactly one receipt must fall in that span", 3.0,
        range=(0, 600), unit="seconds")
    attribution_stay_after_s: float = key(
        "a pick is attributed only to a shopper BLE still places in the plate's zone this "
        "long after it (presence decides an exit a few seconds late; 0: off)", 2.0,
        range=(0, 600), unit="seconds")
    look_dwell_s: float = key(
        "a stay in a zone at least this long counts as looking at its products in the "
        "summary", 10.0, range=(0, 3600), unit="seconds")
    max_customers: int = key("interest lists kept (the oldest update goes first)", 10_000,
                             range=(1, 1_000_000))
    max_products: int = key("products kept per interest list", 50, range=(1, 500))


@dataclass(frozen=True)
class Config:
    store: str = key("the store; events' `source` is `omo-edge://<store>/<device>`",
                     toml="store.id", pattern=DEVICE_ID_PATTERN, example="tokyo-shibuya-01",
                     allowed="a store id of letters, digits, '.', '-' or '_' (at most 64)")
    device: str = key("this device, unique within the store (\"all\" is reserved: it addresses "
                      "every device in commands)", toml="store.device",
                      pattern=DEVICE_ID_PATTERN, example="edge-01",
                      allowed="a device id of letters, digits, '.', '-' or '_' (at most 64)")
    timezone: str = key("local time for schedules and reports", "UTC", toml="store.timezone",
                        check=_is_timezone, allowed="an IANA time zone such as 'Asia/Tokyo'",
                        example="Asia/Tokyo")
    log_level: str = key("`omo-edge run --log-level` overrides it", "info", toml="logging.level",
                         choices=("debug", "info", "warning", "error"),
                         allowed="debug, info, warning or error")
    storage: Storage = key("Where the event log and the daemon's state live.")
    privacy: Privacy = key("Secrets never go in this file: a `*_env` key names an environment "
                           "variable, set in `/etc/omo-edge/env`.")
    zones: tuple[Zone, ...] = key(
        "Zones: the places events happen, one table each. Everything below names one by its "
        "id.", example=[{"id": "entrance", "name": "Entrance", "kind": "entrance"},
                        {"id": "snacks", "name": "Snacks", "kind": "shelf"},
                        {"id": "pickup", "name": "Order pickup", "kind": "pickup"}])
    shelves: tuple[Shelf, ...] = key(
        "Smart shelves: one serial controller each, with load-cell plates.",
        example=[{"id": "shelf-a", "port": "/dev/serial/by-id/usb-omo-shelf-a",
                  "baudrate": 115200, "zone": "snacks", "plates": [
                      {"id": "p1", "sku": "4901234567890", "unit_grams": 120, "capacity": 24,
                       "low_stock": 3},
                      {"id": "p2", "sku": "4901234567891", "unit_grams": 85.5}]}])
    door_counters: tuple[DoorCounter, ...] = key(
        "Door counters: a pair of infrared beams across an entrance on a serial controller, "
        "for footfall (in, out, occupancy).",
        example=[{"id": "door-main", "port": "/dev/serial/by-id/usb-omo-door-main",
                  "baudrate": 115200, "zone": "entrance"}])
    cameras: tuple[Camera, ...] = key(
        "Cameras: OpenCV sources. Frames are analysed on the device and never stored (see "
        "privacy.store_frames).",
        example=[{"id": "cam-entrance", "source": "0", "zone": "entrance"}])
    vision: Vision = key("On-device inference for the cameras: audience, attention and dwell "
                         "(docs/vision.md).")
    ble: Ble = key("Bluetooth LE: visits of the store app's users.",
                   example={"receivers": [{"id": "rx-entrance", "adapter": "hci0",
                                           "zone": "entrance"}]})
    screens: tuple[Screen, ...] = key(
        "Signage screens, driven by the separate omo-edge-signage service.",
        example=[{"id": "screen-pickup", "zone": "pickup"}])
    signage_channel: SignageChannel = key(
        "The daemon's side of the signage channel: command state, order board and triggers "
        "(docs/signage-channel.md).")
    insight: Insight = key("Store insight: product interest and the shopping funnel per "
                           "window (docs/insight.md).")
    journey: Journey = key("The OMO journey of opted-in app users: the cloud's interest "
                           "lists, offers at the shelf, attribution (docs/journey.md).")
    broker: Broker = key("The MQTT broker events are delivered to.")
    source_path: str | None = field(default=None)

    def zone_ids(self) -> set[str]:
        return {z.id for z in self.zones}
