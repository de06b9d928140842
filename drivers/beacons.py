"""Byte layouts of the beacon frames the store hears, decoded from bleak's advert fields.

`decode_beacon(manufacturer_data, service_data)` is the one entry point: it returns a frozen
dataclass for a well-formed frame, None for an advert that carries no beacon frame (a phone's
own adverts, a thermometer), and raises `MalformedBeacon` (with a `reason` enum) for a frame
that claims a beacon layout but does not fit it. The `encode_*` helpers build the same bytes
(the simulator and the tests use them). Pure byte handling, no policy, nothing logged.

bleak hands over manufacturer data keyed by company id with the two company-id bytes already
removed, and service data keyed by the full 128-bit UUID string; offsets below are into those
values. Multi-byte fields are big-endian unless marked LE.

Apple iBeacon - manufacturer data under company id 0x004C (Apple), 23 bytes
(Apple "Proximity Beacon Specification"; the advert's AD structure is 1A FF 4C 00 ...):

    offset  size  field
    0       1     type 0x02 (iBeacon)
    1       1     length 0x15 (21 bytes follow)
    2       16    proximity UUID
    18      2     major
    20      2     minor
    22      1     measured power: RSSI at 1 m, signed dBm

AltBeacon - manufacturer data under ANY company id, 24 bytes (AltBeacon/spec v1.0; the AD
structure is 1B FF <company LE> ...):

    offset  size  field
    0       2     beacon code 0xBEAC
    2       20    beacon id (by convention a 16-byte UUID, then 2 + 2 bytes)
    22      1     reference RSSI at 1 m, signed dBm
    23      1     manufacturer reserved (meaning set by the company id)

Eddystone - service data under UUID 0xFEAA (google/eddystone protocol-specification.md); the
frame type is the first byte (the high nibble; the low nibble must be zero):

  UID, frame 0x00, 20 bytes (18 when the two reserved bytes are left off, as older beacons do):

    0       1     frame type 0x00
    1       1     calibrated tx power at 0 m, signed dBm
    2       10    namespace
    12      6     instance
    18      2     reserved (0x0000)

  URL, frame 0x10, 3 to 20 bytes:

    0       1     frame type 0x10
    1       1     calibrated tx power at 0 m, signed dBm
    2       1     URL scheme prefix: 0x00 "http://www.", 0x01 "https://www.", 0x02 "http://",
                  0x03 "https://"
    3       0-17  encoded URL: printable ASCII 0x21-0x7E, plus expansion codes
                  0x00-0x06 ".com/" ".org/" ".edu/" ".net/" ".info/" ".biz/" ".gov/" and
                  0x07-0x0D the same without "/"; 0x0E-0x20 and 0x7F-0xFF are reserved

  TLM, frame 0x20, version 0x00 (unencrypted), 14 bytes:

    0       1     frame type 0x20
    1       1     version 0x00
    2       2     battery voltage, mV (0: not supported)
    4       2     temperature, signed 8.8 fixed point degrees C (0x8000: not supported)
    6       4     advertising PDU count since power-on
    10      4     time since power-on, 0.1 s units

  TLM, frame 0x20, version 0x01 (encrypted, paired with Eddystone-EID), 18 bytes:

    0       1     frame type 0x20
    1       1     version 0x01
    2       12    encrypted TLM (AES-EAX)
    14      2     salt
    16      2     message integrity check

  Encrypted TLM is recognised and returned undecrypted. Other Eddystone frames (EID 0x30 and
  the reserved types) are not decoded: None.

Identity: `IBeacon`, `AltBeacon` and `EddystoneUid` name a beacon; their `key` is a stable
identity string (`beacon_key`). `EddystoneUrl` and the TLM frames name nothing: many beacons
broadcast the same URL, and telemetry is interleaved with a beacon's identity frames from the
same device address (the Eddystone TLM spec pairs them by address). A consumer must never key
a visit on them: either pair them with the identity frame the same advertiser (the reading's
address hash) sent recently, or ignore them for presence and use them for fleet health only.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

APPLE_COMPANY_ID = 0x004C
RADIUS_NETWORKS_COMPANY_ID = 0x0118  # AltBeacon's authors; any company id may carry one
IBEACON_PREFIX = b"\x02\x15"
IBEACON_TYPE = 0x02
IBEACON_LEN = 23
ALTBEACON_CODE = b"\xbe\xac"
ALTBEACON_LEN = 24
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
EDDYSTONE_UUID16 = 0xFEAA
EDDYSTONE_UID_FRAME = 0x00
EDDYSTONE_URL_FRAME = 0x10
EDDYSTONE_TLM_FRAME = 0x20
EDDYSTONE_UID_LEN = 20
EDDYSTONE_UID_MIN_LEN = 18  # the two reserved bytes are often left off
EDDYSTONE_URL_MIN_LEN = 3
EDDYSTONE_URL_MAX_LEN = 20  # 3 header bytes + at most 17 encoded URL bytes
TLM_PLAIN_VERSION = 0x00
TLM_ENCRYPTED_VERSION = 0x01
TLM_PLAIN_LEN = 14
TLM_ENCRYPTED_LEN = 18
TEMPERATURE_NOT_SUPPORTED = 0x8000

URL_SCHEMES: tuple[str, ...] = ("http://www.", "https://www.", "http://", "https://")
URL_EXPANSIONS: tuple[str, ...] = (
    ".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
    ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov")
_URL_TEXT = {**{i: s for i, s in enumerate(URL_EXPANSIONS)},
             **{c: chr(c) for c in range(0x21, 0x7F)}}

_IBEACON_TAIL = struct.Struct(">HHb")
_TLM_PLAIN = struct.Struct(">xxHHII")
_SIGNED_BYTE = struct.Struct(">b")


class BeaconKind(StrEnum):
    """The layouts this module knows."""

    IBEACON = "ibeacon"
    ALTBEACON = "altbeacon"
    EDDYSTONE_UID = "eddystone-uid"
    EDDYSTONE_URL = "eddystone-url"
    EDDYSTONE_TLM = "eddystone-tlm"
    EDDYSTONE = "eddystone"  # a frame too short to say which


class MalformedReason(StrEnum):
    """Why a frame that claims a layout does not fit it (for counting per reason)."""

    TRUNCATED = "truncated"
    BAD_LENGTH = "bad_length"
    BAD_PREFIX = "bad_prefix"
    UNKNOWN_URL_SCHEME = "unknown_url_scheme"
    BAD_URL_CHARACTER = "bad_url_character"
    UNKNOWN_TLM_VERSION = "unknown_tlm_version"


class MalformedBeacon(ValueError):
    """A frame that claims a beacon layout (its prefix, beacon code or frame type) but does
    not fit it. `kind` is the layout it claimed, `reason` what is wrong; the message never
    contains the frame's bytes."""

    def __init__(self, kind: BeaconKind, reason: MalformedReason, detail: str) -> None:
        super().__init__(f"{kind}: {reason}: {detail}")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IBeacon:
    uuid: str  # lower-case, with dashes
    major: int
    minor: int
    measured_power: int  # dBm at 1 m

    @property
    def key(self) -> str:
        return f"ibeacon:{self.uuid}:{self.major}:{self.minor}"


@dataclass(frozen=True, slots=True)
class AltBeacon:
    company_id: int
    beacon_id: str  # 40 hex digits
    reference_rssi: int  # dBm at 1 m
    mfg_reserved: int

    @property
    def key(self) -> str:
        return f"altbeacon:{self.beacon_id}"


@dataclass(frozen=True, slots=True)
class EddystoneUid:
    namespace: str  # 20 hex digits
    instance: str  # 12 hex digits
    tx_power: int  # dBm at 0 m

    @property
    def key(self) -> str:
        return f"eddystone-uid:{self.namespace}:{self.instance}"


@dataclass(frozen=True, slots=True)
class EddystoneUrl:
    """A URL frame: no identity of its own (see the module docstring)."""

    url: str
    tx_power: int  # dBm at 0 m


@dataclass(frozen=True, slots=True)
class EddystoneTlm:
    """Unencrypted telemetry: no identity of its own (see the module docstring)."""

    battery_mv: int | None  # None: not supported (the beacon sent 0)
    temperature_c: float | None  # None: not supported (0x8000)
    adv_count: int
    uptime_s: float  # time since power-on or reboot, 0.1 s resolution


@dataclass(frozen=True, slots=True)
class EddystoneEncryptedTlm:
    """Encrypted telemetry (version 0x01): recognised, not decrypted; no identity."""

    etlm: bytes
    salt: int
    mic: int


IdentifiedBeacon = IBeacon | AltBeacon | EddystoneUid
"""The frames that name a beacon; each has a stable `key`."""
Beacon = IBeacon | AltBeacon | EddystoneUid | EddystoneUrl | EddystoneTlm | EddystoneEncryptedTlm
"""Every frame `decode_beacon` returns."""


def beacon_key(beacon: Beacon) -> str | None:
    """The beacon's stable identity string, None for a frame without identity (URL, TLM)."""
    if isinstance(beacon, IBeacon | AltBeacon | EddystoneUid):
        return beacon.key
    return None


# ------------------------------------------------------------------ decoding
def decode_beacon(manufacturer_data: Mapping[int, bytes],
                  service_data: Mapping[str, bytes]) -> Beacon | None:
    """The beacon frame in an advert's fields, None if it carries none.

    Looked for in this order: iBeacon (Apple company id), AltBeacon (any company id),
    Eddystone (service data 0xFEAA); the first frame that claims a layout decides. Raises
    `MalformedBeacon` when that frame does not fit its layout."""
    if manufacturer_data:
        apple = manufacturer_data.get(APPLE_COMPANY_ID)
        if apple is not None and apple[:1] == b"\x02":
            return _ibeacon(apple)
        for company_id, raw in manufacturer_data.items():
            if raw[:2] == ALTBEACON_CODE:
                return _altbeacon(company_id, raw)
    if service_data:
        frame = service_data.get(EDDYSTONE_UUID)
        if frame is None:
            frame = _eddystone_data(service_data)
        if frame is not None:
            return decode_eddystone(frame)
    return None


def _eddystone_data(service_data: Mapping[str, bytes]) -> bytes | None:
    """The Eddystone service data under a key spelt otherwise (upper case, 16-bit form)."""
    for k, raw in service_data.items():
        name = k.lower()
        if name in (EDDYSTONE_UUID, "feaa", "0xfeaa"):
            return raw
    return None


def _ibeacon(raw: bytes) -> IBeacon:
    if len(raw) < 2:
        raise MalformedBeacon(BeaconKind.IBEACON, MalformedReason.TRUNCATED,
                              f"{len(raw)} bytes")
    if raw[1] != 0x15:
        raise MalformedBeacon(BeaconKind.IBEACON, MalformedReason.BAD_PREFIX,
                              f"length byte 0x{raw[1]:02x}, expected 0x15")
    if len(raw) != IBEACON_LEN:
        reason = MalformedReason.TRUNCATED if len(raw) < IBEACON_LEN \
            else MalformedReason.BAD_LENGTH
        raise MalformedBeacon(BeaconKind.IBEACON, reason,
                              f"{len(raw)} bytes, expected {IBEACON_LEN}")
    major, minor, power = _IBEACON_TAIL.unpack_from(raw, 18)
    h = raw[2:18].hex()  # what str(uuid.UUID(bytes=...)) gives, at a fifth of the cost
    return IBeacon(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", major, minor, power)


def _altbeacon(company_id: int, raw: bytes) -> AltBeacon:
    if len(raw) != ALTBEACON_LEN:
        reason = MalformedReason.TRUNCATED if len(raw) < ALTBEACON_LEN \
            else MalformedReason.BAD_LENGTH
        raise MalformedBeacon(BeaconKind.ALTBEACON, reason,
                              f"{len(raw)} bytes, expected {ALTBEACON_LEN}")
    return AltBeacon(company_id, raw[2:22].hex(), _SIGNED_BYTE.unpack_from(raw, 22)[0],
                     raw[23])


def decode_eddystone(raw: bytes) -> EddystoneUid | EddystoneUrl | EddystoneTlm | \
        EddystoneEncryptedTlm | None:
    """One Eddystone service-data frame; None for a frame type not decoded here (EID,
    reserved). Raises `MalformedBeacon` for a UID, URL or TLM frame that does not fit."""
    if not raw:
        raise MalformedBeacon(BeaconKind.EDDYSTONE, MalformedReason.TRUNCATED,
                              "empty service data")
    frame = raw[0]
    if frame == EDDYSTONE_UID_FRAME:
        return _eddystone_uid(raw)
    if frame == EDDYSTONE_URL_FRAME:
        return _eddystone_url(raw)
    if frame == EDDYSTONE_TLM_FRAME:
        return _eddystone_tlm(raw)
    return None


def _eddystone_uid(raw: bytes) -> EddystoneUid:
    n = len(raw)
    if n != EDDYSTONE_UID_LEN and n != EDDYSTONE_UID_MIN_LEN:
        reason = MalformedReason.TRUNCATED if n < EDDYSTONE_UID_MIN_LEN \
            else MalformedReason.BAD_LENGTH
        raise MalformedBeacon(BeaconKind.EDDYSTONE_UID, reason, f"{n} bytes, expected 18 or 20")
    return EddystoneUid(raw[2:12].hex(), raw[12:18].hex(), _SIGNED_BYTE.unpack_from(raw, 1)[0])


def _eddystone_url(raw: bytes) -> EddystoneUrl:
    n = len(raw)
    if n < EDDYSTONE_URL_MIN_LEN:
        raise MalformedBeacon(BeaconKind.EDDYSTONE_URL, MalformedReason.TRUNCATED,
                              f"{n} bytes, expected 3 to 20")
    if n > EDDYSTONE_URL_MAX_LEN:
        raise MalformedBeacon(BeaconKind.EDDYSTONE_URL, MalformedReason.BAD_LENGTH,
                              f"{n} bytes, expected 3 to 20")
    scheme = raw[2]
    if scheme >= len(URL_SCHEMES):
        raise MalformedBeacon(BeaconKind.EDDYSTONE_URL, MalformedReason.UNKNOWN_URL_SCHEME,
                              f"scheme prefix 0x{scheme:02x}")
    parts = [URL_SCHEMES[scheme]]
    for i in range(3, n):
        text = _URL_TEXT.get(raw[i])
        if text is None:
            raise MalformedBeacon(BeaconKind.EDDYSTONE_URL, MalformedReason.BAD_URL_CHARACTER,
                                  f"reserved code 0x{raw[i]:02x} at byte {i}")
        parts.append(text)
    return EddystoneUrl("".join(parts), _SIGNED_BYTE.unpack_from(raw, 1)[0])


def _eddystone_tlm(raw: bytes) -> EddystoneTlm | EddystoneEncryptedTlm:
    n = len(raw)
    if n < 2:
        raise MalformedBeacon(BeaconKind.EDDYSTONE_TLM, MalformedReason.TRUNCATED,
                              f"{n} bytes, no version")
    version = raw[1]
    if version == TLM_PLAIN_VERSION:
        expected = TLM_PLAIN_LEN
    elif version == TLM_ENCRYPTED_VERSION:
        expected = TLM_ENCRYPTED_LEN
    else:
        raise MalformedBeacon(BeaconKind.EDDYSTONE_TLM, MalformedReason.UNKNOWN_TLM_VERSION,
                              f"version 0x{version:02x}")
    if n != expected:
        reason = MalformedReason.TRUNCATED if n < expected else MalformedReason.BAD_LENGTH
        raise MalformedBeacon(BeaconKind.EDDYSTONE_TLM, reason,
                              f"{n} bytes, expected {expected} for version {version}")
    if version == TLM_ENCRYPTED_VERSION:
        return EddystoneEncryptedTlm(bytes(raw[2:14]), int.from_bytes(raw[14:16], "big"),
                                     int.from_bytes(raw[16:18], "big"))
    battery, temp, adv_count, tenths = _TLM_PLAIN.unpack(raw)
    temperature = None if temp == TEMPERATURE_NOT_SUPPORTED else \
        (temp - 0x10000 if temp & 0x8000 else temp) / 256.0
    return EddystoneTlm(battery or None, temperature, adv_count, tenths / 10.0)


def decode_ibeacon(manufacturer_data: Mapping[int, bytes]) -> IBeacon | None:
    """The iBeacon in an advert's manufacturer data, None if there is none; raises
    MalformedBeacon for an Apple frame of the iBeacon type that does not fit."""
    raw = manufacturer_data.get(APPLE_COMPANY_ID)
    if raw is None or raw[:1] != b"\x02":
        return None
    return _ibeacon(raw)


def decode_altbeacon(manufacturer_data: Mapping[int, bytes]) -> AltBeacon | None:
    """The AltBeacon in an advert's manufacturer data (any company id), None if there is
    none; raises MalformedBeacon for a frame with the beacon code that does not fit."""
    for company_id, raw in manufacturer_data.items():
        if raw[:2] == ALTBEACON_CODE:
            return _altbeacon(company_id, raw)
    return None


def decode_eddystone_uid(service_data: Mapping[str, bytes]) -> EddystoneUid | None:
    """The Eddystone-UID in an advert's service data, None if there is none; raises
    MalformedBeacon for a UID frame of the wrong length."""
    raw = service_data.get(EDDYSTONE_UUID)
    if raw is None or not raw or raw[0] != EDDYSTONE_UID_FRAME:
        return None
    return _eddystone_uid(raw)


# ------------------------------------------------------------------ encoding
def encode_ibeacon(proximity_uuid: str, major: int, minor: int, measured_power: int) -> bytes:
    """iBeacon manufacturer data (to go under APPLE_COMPANY_ID); raises ValueError for a bad
    UUID, struct.error for a field out of range."""
    return (IBEACON_PREFIX + uuid.UUID(proximity_uuid).bytes
            + _IBEACON_TAIL.pack(major, minor, measured_power))


def encode_altbeacon(beacon_id_hex: str, reference_rssi: int, mfg_reserved: int = 0) -> bytes:
    """AltBeacon manufacturer data (to go under any company id); raises ValueError unless the
    id is 20 bytes of hex, struct.error for a field out of range."""
    beacon_id = bytes.fromhex(beacon_id_hex)
    if len(beacon_id) != 20:
        raise ValueError("an AltBeacon id is 20 bytes")
    return ALTBEACON_CODE + beacon_id + struct.pack(">bB", reference_rssi, mfg_reserved)


def encode_eddystone_uid(namespace_hex: str, instance_hex: str, tx_power: int) -> bytes:
    """Eddystone-UID service data (20 bytes, reserved bytes included); raises ValueError
    unless the namespace is 10 bytes and the instance 6."""
    ns, inst = bytes.fromhex(namespace_hex), bytes.fromhex(instance_hex)
    if len(ns) != 10 or len(inst) != 6:
        raise ValueError("an Eddystone-UID has a 10-byte namespace and a 6-byte instance")
    return struct.pack(">Bb", EDDYSTONE_UID_FRAME, tx_power) + ns + inst + b"\x00\x00"


def encode_eddystone_url(url: str, tx_power: int) -> bytes:
    """Eddystone-URL service data, the URL compressed with the spec's scheme prefixes and
    expansion codes (longest match first); raises ValueError if the URL has no known scheme,
    a character outside printable ASCII, or does not fit in 17 encoded bytes."""
    scheme = next((i for i in (1, 0, 3, 2) if url.startswith(URL_SCHEMES[i])), None)
    if scheme is None:
        raise ValueError("an Eddystone-URL starts with http://, https://, or either with www.")
    rest = url[len(URL_SCHEMES[scheme]):]
    by_length = sorted(range(len(URL_EXPANSIONS)), key=lambda i: -len(URL_EXPANSIONS[i]))
    out = bytearray()
    i = 0
    while i < len(rest):
        code = next((c for c in by_length if rest.startswith(URL_EXPANSIONS[c], i)), None)
        if code is not None:
            out.append(code)
            i += len(URL_EXPANSIONS[code])
            continue
        ch = ord(rest[i])
        if not 0x21 <= ch <= 0x7E:
            raise ValueError(f"character {rest[i]!r} cannot go in an Eddystone-URL")
        out.append(ch)
        i += 1
    if len(out) > EDDYSTONE_URL_MAX_LEN - 3:
        raise ValueError(f"the URL takes {len(out)} encoded bytes, at most 17 fit")
    return struct.pack(">BbB", EDDYSTONE_URL_FRAME, tx_power, scheme) + bytes(out)


def encode_eddystone_tlm(battery_mv: int | None, temperature_c: float | None, adv_count: int,
                         uptime_s: float) -> bytes:
    """Unencrypted Eddystone-TLM service data (version 0x00); None for a reading the beacon
    does not support. Raises ValueError for a temperature outside -128..128 C, struct.error
    for a field out of range."""
    if temperature_c is None:
        temp = TEMPERATURE_NOT_SUPPORTED
    else:
        fixed = round(temperature_c * 256)
        if not -0x7FFF <= fixed <= 0x7FFF:
            raise ValueError(f"temperature {temperature_c} C does not fit 8.8 fixed point")
        temp = fixed & 0xFFFF
    return struct.pack(">BBHHII", EDDYSTONE_TLM_FRAME, TLM_PLAIN_VERSION, battery_mv or 0, temp,
                       adv_count, round(uptime_s * 10))


def encode_eddystone_etlm(etlm: bytes, salt: int, mic: int) -> bytes:
    """Encrypted Eddystone-TLM service data (version 0x01) from already encrypted bytes;
    raises ValueError unless `etlm` is 12 bytes, struct.error for salt or mic out of range."""
    if len(etlm) != 12:
        raise ValueError("encrypted TLM data is 12 bytes")
    return struct.pack(">BB", EDDYSTONE_TLM_FRAME, TLM_ENCRYPTED_VERSION) + etlm \
        + struct.pack(">HH", salt, mic)
