"""Byte layouts of the beacon frames the store cares about: Apple iBeacon (manufacturer data)
and Google Eddystone-UID (service data). Encoding is used by the simulator and by tests;
decoding by whatever reads adverts. Pure byte handling, no policy.

iBeacon, manufacturer data under company id 0x004C (Apple), 23 bytes:
    0x02 0x15 | proximity UUID (16) | major (2, big-endian) | minor (2, big-endian) |
    measured power at 1 m (1, signed dBm)
Eddystone-UID, service data under UUID 0xFEAA, 20 bytes:
    frame type 0x00 | tx power at 0 m (1, signed dBm) | namespace (10) | instance (6) |
    reserved (2, zero)
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

APPLE_COMPANY_ID = 0x004C
IBEACON_PREFIX = b"\x02\x15"
IBEACON_LEN = 23
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
EDDYSTONE_UID_FRAME = 0x00
EDDYSTONE_UID_LEN = 20
EDDYSTONE_UID_MIN_LEN = 18  # the two reserved bytes are often left off


class MalformedBeacon(ValueError):
    """A frame that claims a beacon layout but does not fit it (truncated, wrong length)."""


@dataclass(frozen=True)
class IBeacon:
    uuid: str  # lower-case, with dashes
    major: int
    minor: int
    measured_power: int


@dataclass(frozen=True)
class EddystoneUid:
    namespace: str  # 20 hex digits
    instance: str  # 12 hex digits
    tx_power: int


def encode_ibeacon(proximity_uuid: str, major: int, minor: int, measured_power: int) -> bytes:
    return (IBEACON_PREFIX + uuid.UUID(proximity_uuid).bytes
            + struct.pack(">HHb", major, minor, measured_power))


def encode_eddystone_uid(namespace_hex: str, instance_hex: str, tx_power: int) -> bytes:
    ns, inst = bytes.fromhex(namespace_hex), bytes.fromhex(instance_hex)
    if len(ns) != 10 or len(inst) != 6:
        raise ValueError("an Eddystone-UID has a 10-byte namespace and a 6-byte instance")
    return struct.pack(">Bb", EDDYSTONE_UID_FRAME, tx_power) + ns + inst + b"\x00\x00"


def decode_ibeacon(manufacturer_data: dict[int, bytes]) -> IBeacon | None:
    """The iBeacon in an advert's manufacturer data, None if there is none; raises
    MalformedBeacon for an Apple frame with the iBeacon prefix and the wrong length."""
    raw = manufacturer_data.get(APPLE_COMPANY_ID)
    if raw is None or not raw.startswith(IBEACON_PREFIX):
        return None
    if len(raw) != IBEACON_LEN:
        raise MalformedBeacon(f"iBeacon frame of {len(raw)} bytes, expected {IBEACON_LEN}")
    major, minor, power = struct.unpack(">HHb", raw[18:23])
    return IBeacon(str(uuid.UUID(bytes=raw[2:18])), major, minor, power)


def decode_eddystone_uid(service_data: dict[str, bytes]) -> EddystoneUid | None:
    """The Eddystone-UID in an advert's service data, None if there is none; raises
    MalformedBeacon for a UID frame that is too short."""
    raw = service_data.get(EDDYSTONE_UUID)
    if raw is None or not raw or raw[0] != EDDYSTONE_UID_FRAME:
        return None
    if len(raw) < EDDYSTONE_UID_MIN_LEN or len(raw) > EDDYSTONE_UID_LEN:
        raise MalformedBeacon(f"Eddystone-UID frame of {len(raw)} bytes, expected 18-20")
    tx = struct.unpack(">b", raw[1:2])[0]
    return EddystoneUid(raw[2:12].hex(), raw[12:18].hex(), tx)
