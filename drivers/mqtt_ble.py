"""What cheap BLE receivers publish over MQTT, turned into `BleAdvert`s: pure parsers.

Two firmware families are understood, each as its project writes it:

- **ESPresense** publishes one JSON object per device it fingerprints on
  `espresense/devices/<id>/<room>`: `id` (its fingerprint, e.g.
  `iBeacon:<uuid>-<major>-<minor>`, `altBeacon:<uuid>-<major>-<minor>`,
  `eddy:<namespace>-<instance>`, `apple:1005:9-12`, `sd:0xfe9f-10`, or a MAC for public
  addresses), `mac`, `rssi` (an integer in older firmware, a number with two decimals in
  newer), `rssi@1m`, `rxAdj`, `distance`, `var`, `int`, ... The room is the node.
- **OpenMQTTGateway** and **Theengs Gateway** publish on `<base>/<gateway>/BTtoMQTT/<device>`:
  `id` (the MAC), `rssi`, and, raw, `manufacturerdata` (hex, company id little-endian first),
  `servicedata` with `servicedatauuid` (`0xfeaa`), `txpower`; decoded by the Theengs decoder an
  iBeacon also carries `model_id` `IBEACON`, `uuid` (32 hex digits), `major`, `minor` and
  `txpower` (older decoders: `power`), its measured power at 1 m. The gateway is the node.

Beacons are keyed on their decoded identity, never on the MAC: a reading's `address_hash` is a
keyed hash (`drivers.ble.hash_address`) of `ibeacon:<uuid>:<major>:<minor>`,
`eddystone:<namespace>:<instance>` or `altbeacon:<uuid>:<major>:<minor>`, so the same beacon
heard by an ESPresense node and a gateway has one hash; other ESPresense devices are keyed on
ESPresense's own id, and gateway adverts without a beacon identity are skipped (a MAC is all
they have). For iBeacons and Eddystone-UIDs the advert's manufacturer or service data are
rebuilt with `drivers.beacons`' encoders, so a processor decodes an advert heard over MQTT
exactly like one heard by the local adapter. The MAC, the name and the distance estimates are
never read.

Every message gives one `BleAdvert` or one `Skipped` with a `SkipReason`; nothing raises.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from drivers.beacons import (
    APPLE_COMPANY_ID,
    EDDYSTONE_UUID,
    MalformedBeacon,
    decode_eddystone_uid,
    decode_ibeacon,
    encode_eddystone_uid,
    encode_ibeacon,
)
from drivers.ble import hash_address
from drivers.readings import BleAdvert

RSSI_MIN, RSSI_MAX = -127, 20  # what the local scanner accepts too
INT8_MIN, INT8_MAX = -128, 127
MAX_ID_CHARS = 128
DEFAULT_MAX_PAYLOAD = 4096
EDDYSTONE_ADD_1M = -41  # ESPresense: rssi@1m = Eddystone tx power at 0 m + this
OMG_LEVEL = "BTtoMQTT"
BLUETOOTH_BASE_UUID = "0000{:04x}-0000-1000-8000-00805f9b34fb"

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_BEACON_ID = re.compile(rf"^(iBeacon|altBeacon):({_UUID})-(\d{{1,5}})-(\d{{1,5}})$")
# ESPresense prints the namespace with its fifth byte twice (22 hex digits); a fixed firmware
# would print 20. Both are read.
_EDDY_ID = re.compile(r"^eddy:([0-9a-fA-F]{20}|[0-9a-fA-F]{22})-([0-9a-fA-F]{12})$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")


class SkipReason(StrEnum):
    """Why a message gave no reading (each is a counter: `mqtt_skipped_<reason>`)."""

    BAD_TOPIC = "bad_topic"  # not under a configured root, wrong depth, wildcard characters
    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"  # not UTF-8 JSON
    NOT_OBJECT = "not_object"  # JSON, but not an object
    MISSING_FIELD = "missing_field"
    BAD_TYPE = "bad_type"  # a field of the wrong type, NaN or infinity
    RSSI_RANGE = "rssi_range"
    BAD_ID = "bad_id"  # an id that claims a beacon layout and does not fit it
    MALFORMED_BEACON = "malformed_beacon"  # beacon bytes of the wrong length
    NO_IDENTITY = "no_identity"  # a gateway advert without a beacon identity
    UNKNOWN_NODE = "unknown_node"  # a node the config does not map to a receiver
    IGNORED_NODE = "ignored_node"  # a node the config says to ignore


@dataclass(frozen=True)
class Skipped:
    """A message that gave no reading, and why."""

    reason: SkipReason


@dataclass(frozen=True)
class FeedContext:
    """What the parsers need besides the message: which node is which receiver, the key of
    the identity hash, the topic roots and the payload size cap."""

    receivers: Mapping[str, str]  # node id (ESPresense room, gateway name) -> receiver id
    key: bytes
    ignored: frozenset[str] = frozenset()
    espresense_roots: tuple[str, ...] = ("espresense/devices",)
    omg_roots: tuple[str, ...] = ("home/+/BTtoMQTT",)
    max_payload: int = DEFAULT_MAX_PAYLOAD


@dataclass(frozen=True)
class _Identity:
    """A beacon's identity and the advert bytes that carry it."""

    key: str
    manufacturer: tuple[tuple[int, bytes], ...] = ()
    service: tuple[tuple[str, bytes], ...] = ()
    service_uuids: tuple[str, ...] = field(default=())


class _Skip(Exception):
    def __init__(self, reason: SkipReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


# ----------------------------------------------------------------------------- topics
def _levels(topic: str) -> list[str] | None:
    if not topic or any(c in topic for c in "+#\x00"):
        return None
    return topic.split("/")


def _match(root: str, levels: Sequence[str]) -> list[str] | None:
    """The levels after `root` (whose `+` match any one level), or None."""
    parts = root.split("/")
    if len(levels) <= len(parts):
        return None
    for want, got in zip(parts, levels, strict=False):
        if want != "+" and want != got:
            return None
    return list(levels[len(parts):])


def subscriptions(ctx: FeedContext) -> list[str]:
    """The topic filters that cover every configured root."""
    return ([f"{r}/+/+" for r in ctx.espresense_roots] + [f"{r}/+" for r in ctx.omg_roots])


# ----------------------------------------------------------------------------- payloads
def _object(payload: bytes, ctx: FeedContext) -> dict[str, Any]:
    if len(payload) > ctx.max_payload:
        raise _Skip(SkipReason.TOO_LARGE)
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Skip(SkipReason.NOT_JSON) from None
    if not isinstance(value, dict):
        raise _Skip(SkipReason.NOT_OBJECT)
    return value


def _number(obj: Mapping[str, Any], name: str, *, required: bool = True) -> float | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _Skip(SkipReason.MISSING_FIELD)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Skip(SkipReason.BAD_TYPE)
    if not math.isfinite(value):
        raise _Skip(SkipReason.BAD_TYPE)
    return float(value)


def _int_field(obj: Mapping[str, Any], name: str, lo: int, hi: int,
               reason: SkipReason = SkipReason.BAD_TYPE) -> int | None:
    value = _number(obj, name, required=False)
    if value is None:
        return None
    if not value.is_integer() or not lo <= value <= hi:
        raise _Skip(reason)
    return int(value)


def _rssi(obj: Mapping[str, Any]) -> int:
    value = _number(obj, "rssi")
    assert value is not None
    rssi = round(value)
    if not RSSI_MIN <= rssi <= RSSI_MAX:
        raise _Skip(SkipReason.RSSI_RANGE)
    return rssi


def _receiver(node: str, ctx: FeedContext) -> str:
    if node in ctx.ignored:
        raise _Skip(SkipReason.IGNORED_NODE)
    receiver = ctx.receivers.get(node)
    if receiver is None:
        raise _Skip(SkipReason.UNKNOWN_NODE)
    return receiver


def _clamp8(value: int) -> int:
    return max(INT8_MIN, min(INT8_MAX, value))


def _ibeacon(proximity_uuid: str, major: int, minor: int, power: int) -> _Identity:
    u = str(uuid.UUID(proximity_uuid))
    return _Identity(f"ibeacon:{u}:{major}:{minor}",
                     manufacturer=((APPLE_COMPANY_ID, encode_ibeacon(u, major, minor, power)),))


def _eddystone(namespace: str, instance: str, tx_power: int) -> _Identity:
    ns, inst = namespace.lower(), instance.lower()
    frame = encode_eddystone_uid(ns, inst, tx_power)
    return _Identity(f"eddystone:{ns}:{inst}", service=((EDDYSTONE_UUID, frame),),
                     service_uuids=(EDDYSTONE_UUID,))


def _advert(receiver: str, t: float, rssi: int, identity: _Identity, ctx: FeedContext,
            tx_power: int | None = None) -> BleAdvert:
    return BleAdvert(receiver=receiver, t=t, rssi=rssi,
                     address_hash=hash_address(identity.key, ctx.key),
                     manufacturer_data=identity.manufacturer, service_data=identity.service,
                     service_uuids=identity.service_uuids, tx_power=tx_power)


# ----------------------------------------------------------------------------- ESPresense
def _espresense_identity(device_id: str, obj: Mapping[str, Any]) -> _Identity:
    rx_adj = _int_field(obj, "rxAdj", -128, 127) or 0
    ref = _int_field(obj, "rssi@1m", -255, 255)
    if m := _BEACON_ID.match(device_id):
        kind, u, major_s, minor_s = m.groups()
        major, minor = int(major_s), int(minor_s)
        if major > 0xFFFF or minor > 0xFFFF:
            raise _Skip(SkipReason.BAD_ID)
        u = str(uuid.UUID(u))
        if kind == "altBeacon":  # no AltBeacon encoder: keyed on its identity only
            return _Identity(f"altbeacon:{u}:{major}:{minor}")
        if ref is None:
            raise _Skip(SkipReason.MISSING_FIELD)
        return _ibeacon(u, major, minor, _clamp8(ref - rx_adj))
    if m := _EDDY_ID.match(device_id):
        ns, inst = m.groups()
        if len(ns) == 22:  # the fifth byte printed twice
            if ns[8:10] != ns[10:12]:
                raise _Skip(SkipReason.BAD_ID)
            ns = ns[:10] + ns[12:]
        if ref is None:
            raise _Skip(SkipReason.MISSING_FIELD)
        return _eddystone(ns, inst, _clamp8(ref - rx_adj - EDDYSTONE_ADD_1M))
    if device_id.startswith(("iBeacon:", "altBeacon:", "eddy:")):
        raise _Skip(SkipReason.BAD_ID)
    return _Identity(f"espresense:{device_id}")


def parse_espresense(topic: str, payload: bytes, ctx: FeedContext, t: float
                     ) -> BleAdvert | Skipped:
    """One ESPresense device report (`<root>/<id>/<room>`) as a reading heard by the room's
    receiver at `t`, or why not. Never raises."""
    try:
        levels = _levels(topic)
        rest = None
        if levels is not None:
            rest = next((r for root in ctx.espresense_roots
                         if (r := _match(root, levels)) is not None), None)
        if rest is None or len(rest) != 2 or not all(rest):
            raise _Skip(SkipReason.BAD_TOPIC)
        topic_id, room = rest
        receiver = _receiver(room, ctx)
        obj = _object(payload, ctx)
        device_id = obj.get("id", topic_id)
        if not isinstance(device_id, str):
            raise _Skip(SkipReason.BAD_TYPE)
        if (not 0 < len(device_id) <= MAX_ID_CHARS or not device_id.isprintable()
                or any(c.isspace() for c in device_id)):
            raise _Skip(SkipReason.BAD_ID)
        rssi = _rssi(obj)
        identity = _espresense_identity(device_id, obj)
        return _advert(receiver, t, rssi, identity, ctx)
    except _Skip as skip:
        return Skipped(skip.reason)


# ----------------------------------------------------------------------------- OpenMQTTGateway
def _hex(obj: Mapping[str, Any], name: str) -> bytes | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX.match(value):
        raise _Skip(SkipReason.BAD_TYPE)
    return bytes.fromhex(value)


def _service_uuid(value: Any) -> str:
    """`0xfeaa` (how the gateways write 16-bit UUIDs) or a full UUID, in bleak's form."""
    if not isinstance(value, str):
        raise _Skip(SkipReason.BAD_TYPE)
    text = value.strip().lower()
    try:
        if re.fullmatch(r"0x[0-9a-f]{4}", text):
            return BLUETOOTH_BASE_UUID.format(int(text, 16))
        if re.fullmatch(r"0x[0-9a-f]{8}", text):
            return f"{int(text, 16):08x}-0000-1000-8000-00805f9b34fb"
        return str(uuid.UUID(text))
    except ValueError:
        raise _Skip(SkipReason.BAD_TYPE) from None


def _omg_identity(obj: Mapping[str, Any]) -> tuple[_Identity, int | None]:
    """The beacon in a gateway payload and the advert's tx power level, from the raw bytes
    when the gateway publishes them, else from the Theengs decoder's fields."""
    mfd = _hex(obj, "manufacturerdata")
    sd = _hex(obj, "servicedata")
    decoded_ibeacon = obj.get("model_id") == "IBEACON"
    tx_level = None if decoded_ibeacon else _int_field(obj, "txpower", INT8_MIN, INT8_MAX)
    try:
        if mfd is not None and len(mfd) >= 2:
            company = mfd[0] | mfd[1] << 8
            beacon = decode_ibeacon({company: mfd[2:]})
            if beacon is not None:
                return _ibeacon(beacon.uuid, beacon.major, beacon.minor,
                                beacon.measured_power), tx_level
        if sd is not None and "servicedatauuid" in obj:
            service_uuid = _service_uuid(obj["servicedatauuid"])
            uid = decode_eddystone_uid({service_uuid: sd})
            if uid is not None:
                return _eddystone(uid.namespace, uid.instance, uid.tx_power), tx_level
    except MalformedBeacon:
        raise _Skip(SkipReason.MALFORMED_BEACON) from None
    if decoded_ibeacon:
        u = obj.get("uuid")
        if u is None or obj.get("major") is None or obj.get("minor") is None:
            raise _Skip(SkipReason.MISSING_FIELD)
        if not isinstance(u, str):
            raise _Skip(SkipReason.BAD_TYPE)
        try:
            proximity = str(uuid.UUID(u))
        except ValueError:
            raise _Skip(SkipReason.BAD_ID) from None
        major = _int_field(obj, "major", 0, 0xFFFF, SkipReason.BAD_ID)
        minor = _int_field(obj, "minor", 0, 0xFFFF, SkipReason.BAD_ID)
        power = _int_field(obj, "txpower", INT8_MIN, INT8_MAX)
        if power is None:
            power = _int_field(obj, "power", INT8_MIN, INT8_MAX)
        if power is None:
            raise _Skip(SkipReason.MISSING_FIELD)
        assert major is not None and minor is not None
        return _ibeacon(proximity, major, minor, power), None
    raise _Skip(SkipReason.NO_IDENTITY)


def parse_omg(topic: str, payload: bytes, ctx: FeedContext, t: float) -> BleAdvert | Skipped:
    """One OpenMQTTGateway/Theengs Gateway advert (`<base>/<gateway>/BTtoMQTT/<device>`) as a
    reading heard by the gateway's receiver at `t`, or why not. Never raises."""
    try:
        levels = _levels(topic)
        rest = None
        root_levels = 0
        if levels is not None:
            for root in ctx.omg_roots:
                rest = _match(root, levels)
                if rest is not None:
                    root_levels = len(root.split("/"))
                    break
        if levels is None or rest is None or len(rest) != 1 or not rest[0] or root_levels < 2:
            raise _Skip(SkipReason.BAD_TOPIC)
        gateway = levels[root_levels - 2]
        receiver = _receiver(gateway, ctx)
        obj = _object(payload, ctx)
        rssi = _rssi(obj)
        identity, tx_level = _omg_identity(obj)
        return _advert(receiver, t, rssi, identity, ctx, tx_power=tx_level)
    except _Skip as skip:
        return Skipped(skip.reason)


def parse(topic: str, payload: bytes, ctx: FeedContext, t: float) -> BleAdvert | Skipped:
    """Whichever parser the topic's root belongs to (ESPresense roots first)."""
    levels = _levels(topic)
    if levels is not None and any(_match(r, levels) is not None for r in ctx.espresense_roots):
        return parse_espresense(topic, payload, ctx, t)
    return parse_omg(topic, payload, ctx, t)
