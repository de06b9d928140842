"""Beacon decoders against the byte layouts of the published specifications (Apple iBeacon,
AltBeacon/spec, google/eddystone), and random bytes thrown at every decoder."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.beacons import (
    APPLE_COMPANY_ID,
    EDDYSTONE_UUID,
    RADIUS_NETWORKS_COMPANY_ID,
    AltBeacon,
    Beacon,
    BeaconKind,
    EddystoneEncryptedTlm,
    EddystoneTlm,
    EddystoneUid,
    EddystoneUrl,
    IBeacon,
    MalformedBeacon,
    MalformedReason,
    beacon_key,
    decode_altbeacon,
    decode_beacon,
    decode_eddystone,
    decode_eddystone_uid,
    decode_ibeacon,
    encode_altbeacon,
    encode_eddystone_etlm,
    encode_eddystone_tlm,
    encode_eddystone_uid,
    encode_eddystone_url,
    encode_ibeacon,
)

FUZZ = settings(max_examples=400, deadline=None, derandomize=True)


def ad_fields(payload: bytes) -> tuple[dict[int, bytes], dict[str, bytes]]:
    """Split a raw advertising payload (length, type, data AD structures) into the fields
    bleak hands over, as BlueZ does: manufacturer data by company id without the id, service
    data by 128-bit UUID."""
    manufacturer: dict[int, bytes] = {}
    service: dict[str, bytes] = {}
    i = 0
    while i < len(payload):
        length = payload[i]
        ad_type, data = payload[i + 1], payload[i + 2:i + 1 + length]
        assert len(data) == length - 1, "the example's AD length byte does not match"
        if ad_type == 0xFF:
            manufacturer[int.from_bytes(data[:2], "little")] = data[2:]
        elif ad_type == 0x16:
            uuid16 = int.from_bytes(data[:2], "little")
            service[f"0000{uuid16:04x}-0000-1000-8000-00805f9b34fb"] = data[2:]
        i += 1 + length
    return manufacturer, service


def decode_ad(hex_payload: str) -> Beacon | None:
    return decode_beacon(*ad_fields(bytes.fromhex(hex_payload.replace(" ", ""))))


# ---------------------------------------------------------------- the specifications' layouts
def test_ibeacon_as_apple_lays_it_out() -> None:
    # flags, then 1A FF 4C 00 | 02 15 | UUID (Apple's AirLocate sample) | major 1 | minor 2 | -59
    b = decode_ad("02 01 06 1A FF 4C 00 02 15 E2 C5 6D B5 DF FB 48 D2 B0 60 D0 F5 A7 10 96 E0"
                  " 00 01 00 02 C5")
    assert b == IBeacon("e2c56db5-dffb-48d2-b060-d0f5a71096e0", 1, 2, -59)
    assert b.key == "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2"
    assert encode_ibeacon(b.uuid, 1, 2, -59) == bytes.fromhex(
        "0215e2c56db5dffb48d2b060d0f5a71096e000010002c5")
    big = decode_ad("1A FF 4C 00 02 15" + "00" * 16 + "FF FF 80 00 7F")
    assert isinstance(big, IBeacon) and (big.major, big.minor, big.measured_power) == (
        0xFFFF, 0x8000, 127)


def test_altbeacon_as_the_spec_lays_it_out() -> None:
    # 1B FF | company 0x0118 LE | BE AC | 20-byte id | reference RSSI -59 | reserved 0x2A
    beacon_id = "2f234454cf6d4a0fadf2f4911ba9ffa6" + "0001" + "0002"
    b = decode_ad(f"02 01 06 1B FF 18 01 BE AC {beacon_id} C5 2A")
    assert b == AltBeacon(RADIUS_NETWORKS_COMPANY_ID, beacon_id, -59, 0x2A)
    assert b.key == f"altbeacon:{beacon_id}"
    # any company id carries one
    other = decode_beacon({0x0059: encode_altbeacon(beacon_id, -70, 0)}, {})
    assert other == AltBeacon(0x0059, beacon_id, -70, 0) and other.key == b.key
    assert encode_altbeacon(beacon_id, -59, 0x2A) == bytes.fromhex(f"beac{beacon_id}c52a")


def test_eddystone_uid_as_the_spec_lays_it_out() -> None:
    # service solicitation FEAA, then 17 16 AA FE | 00 | tx -25 | namespace | instance | RFU
    ns, inst = "8b0ca750095477cb3e77", "000000000001"  # the spec's elided-UUID namespace
    b = decode_ad(f"02 01 06 03 03 AA FE 17 16 AA FE 00 E7 {ns} {inst} 00 00")
    assert b == EddystoneUid(ns, inst, -25)
    assert b.key == f"eddystone-uid:{ns}:{inst}"
    # older beacons leave the reserved bytes off: service data length 0x15
    assert decode_ad(f"15 16 AA FE 00 E7 {ns} {inst}") == b
    assert encode_eddystone_uid(ns, inst, -25) == bytes.fromhex(f"00e7{ns}{inst}0000")


def test_eddystone_url_as_the_spec_lays_it_out() -> None:
    # 0x12 is +18 dBm, 0xEE is -18 dBm (the spec's examples); scheme 0x03 is https://
    assert decode_ad("03 03 AA FE 13 16 AA FE 10 12 03" + b"goo.gl/S6zT6P".hex()) == \
        EddystoneUrl("https://goo.gl/S6zT6P", 18)
    # scheme 0x00 http://www. and expansion 0x00 .com/ ; 0x07 .com without the slash
    assert decode_eddystone(bytes.fromhex("10ee00") + b"google\x00" + b"x") == \
        EddystoneUrl("http://www.google.com/x", -18)
    assert decode_eddystone(bytes.fromhex("100001") + b"omo\x07") == \
        EddystoneUrl("https://www.omo.com", 0)
    every_code = bytes(range(0x0E))
    assert decode_eddystone(bytes([0x10, 0, 2]) + every_code) == EddystoneUrl(
        "http://.com/.org/.edu/.net/.info/.biz/.gov/.com.org.edu.net.info.biz.gov", 0)
    assert encode_eddystone_url("https://goo.gl/S6zT6P", 18) == \
        bytes.fromhex("101203") + b"goo.gl/S6zT6P"
    assert encode_eddystone_url("http://www.google.com/x", -18) == \
        bytes.fromhex("10ee00") + b"google\x00x"
    assert encode_eddystone_url("https://www.omo.com", 0) == bytes.fromhex("100001") + b"omo\x07"
    for bad in ("ftp://example.com", "https://" + "a" * 18, "https://caf\u00e9.jp"):
        with pytest.raises(ValueError):
            encode_eddystone_url(bad, 0)
    url = decode_eddystone(encode_eddystone_url("https://a.jp", 0))
    assert url is not None and beacon_key(url) is None


def test_eddystone_tlm_as_the_spec_lays_it_out() -> None:
    # 11 16 AA FE | 20 | version 00 | 3000 mV | 25.5 C (0x1980) | 256 PDUs | 3600 x 0.1 s
    t = decode_ad("11 16 AA FE 20 00 0B B8 19 80 00 00 01 00 00 00 0E 10")
    assert t == EddystoneTlm(3000, 25.5, 256, 360.0)
    assert beacon_key(t) is None
    # negative 8.8 fixed point; 0x8000 and a zero battery mean "not supported"
    assert decode_eddystone(bytes.fromhex("2000 0000 FF80 FFFFFFFF FFFFFFFF")) == \
        EddystoneTlm(None, -0.5, 0xFFFFFFFF, 0xFFFFFFFF / 10)
    assert decode_eddystone(bytes.fromhex("2000 0C80 8000 00000001 00000001")) == \
        EddystoneTlm(3200, None, 1, 0.1)
    assert encode_eddystone_tlm(3000, 25.5, 256, 360.0) == bytes.fromhex(
        "2000 0BB8 1980 00000100 00000E10")
    assert encode_eddystone_tlm(None, None, 0, 0) == bytes.fromhex("2000 0000 8000" + "00" * 8)


def test_encrypted_tlm_is_recognised_not_decoded() -> None:
    etlm = bytes(range(12))
    raw = bytes.fromhex("2001") + etlm + bytes.fromhex("BEEF 1234")
    assert len(raw) == 18
    t = decode_beacon({}, {EDDYSTONE_UUID: raw})
    assert t == EddystoneEncryptedTlm(etlm, 0xBEEF, 0x1234)
    assert beacon_key(t) is None
    assert encode_eddystone_etlm(etlm, 0xBEEF, 0x1234) == raw


def test_adverts_without_a_beacon_frame_decode_to_none() -> None:
    assert decode_beacon({}, {}) is None
    # an iPhone's own adverts (Apple "nearby", type 0x10) and another vendor's data
    assert decode_beacon({APPLE_COMPANY_ID: bytes.fromhex("1005031c7a2b90")}, {}) is None
    assert decode_beacon({0x0006: bytes.fromhex("0109200212345678")}, {}) is None
    # service data of another service; Eddystone-EID (0x30) and reserved frames
    assert decode_beacon({}, {"0000fe9f-0000-1000-8000-00805f9b34fb": b"\x00" * 20}) is None
    assert decode_eddystone(bytes.fromhex("30e7") + b"\x01" * 8) is None
    assert decode_eddystone(b"\x01" + b"\x00" * 19) is None


def test_service_data_keys_in_other_spellings() -> None:
    raw = encode_eddystone_uid("00" * 10, "00" * 5 + "07", -20)
    for k in (EDDYSTONE_UUID.upper(), "feaa", "0xFEAA"):
        b = decode_beacon({}, {k: raw})
        assert isinstance(b, EddystoneUid) and b.instance == "000000000007"


def test_order_when_an_advert_carries_several_frames() -> None:
    ib = encode_ibeacon("e2c56db5-dffb-48d2-b060-d0f5a71096e0", 1, 2, -59)
    uid = encode_eddystone_uid("11" * 10, "22" * 6, -20)
    assert isinstance(decode_beacon({APPLE_COMPANY_ID: ib}, {EDDYSTONE_UUID: uid}), IBeacon)
    assert isinstance(decode_beacon({APPLE_COMPANY_ID: b"\x10\x05\x01"},
                                    {EDDYSTONE_UUID: uid}), EddystoneUid)


# ---------------------------------------------------------------- malformed frames, per reason
IB = encode_ibeacon("e2c56db5-dffb-48d2-b060-d0f5a71096e0", 1, 2, -59)
ALT = encode_altbeacon("ab" * 20, -59)
UID = encode_eddystone_uid("11" * 10, "22" * 6, -20)
TLM = encode_eddystone_tlm(3000, 21.0, 5, 6.0)
ETLM = encode_eddystone_etlm(bytes(12), 1, 2)

MALFORMED: list[tuple[dict[int, bytes], dict[str, bytes], BeaconKind, MalformedReason]] = [
    ({APPLE_COMPANY_ID: IB[:15]}, {}, BeaconKind.IBEACON, MalformedReason.TRUNCATED),
    ({APPLE_COMPANY_ID: b"\x02"}, {}, BeaconKind.IBEACON, MalformedReason.TRUNCATED),
    ({APPLE_COMPANY_ID: IB + b"\x00"}, {}, BeaconKind.IBEACON, MalformedReason.BAD_LENGTH),
    ({APPLE_COMPANY_ID: b"\x02\x16" + IB[2:]}, {}, BeaconKind.IBEACON,
     MalformedReason.BAD_PREFIX),
    ({0x0118: ALT[:23]}, {}, BeaconKind.ALTBEACON, MalformedReason.TRUNCATED),
    ({0x0118: ALT + b"\x00"}, {}, BeaconKind.ALTBEACON, MalformedReason.BAD_LENGTH),
    ({}, {EDDYSTONE_UUID: b""}, BeaconKind.EDDYSTONE, MalformedReason.TRUNCATED),
    ({}, {EDDYSTONE_UUID: UID[:9]}, BeaconKind.EDDYSTONE_UID, MalformedReason.TRUNCATED),
    ({}, {EDDYSTONE_UUID: UID[:19]}, BeaconKind.EDDYSTONE_UID, MalformedReason.BAD_LENGTH),
    ({}, {EDDYSTONE_UUID: UID + b"\x00"}, BeaconKind.EDDYSTONE_UID,
     MalformedReason.BAD_LENGTH),
    ({}, {EDDYSTONE_UUID: b"\x10\x00"}, BeaconKind.EDDYSTONE_URL, MalformedReason.TRUNCATED),
    ({}, {EDDYSTONE_UUID: b"\x10\x00\x03" + b"a" * 18}, BeaconKind.EDDYSTONE_URL,
     MalformedReason.BAD_LENGTH),
    ({}, {EDDYSTONE_UUID: b"\x10\x00\x04abc"}, BeaconKind.EDDYSTONE_URL,
     MalformedReason.UNKNOWN_URL_SCHEME),
    ({}, {EDDYSTONE_UUID: b"\x10\x00\x03ab\x0ec"}, BeaconKind.EDDYSTONE_URL,
     MalformedReason.BAD_URL_CHARACTER),
    ({}, {EDDYSTONE_UUID: b"\x10\x00\x03a b"}, BeaconKind.EDDYSTONE_URL,
     MalformedReason.BAD_URL_CHARACTER),
    ({}, {EDDYSTONE_UUID: b"\x10\x00\x03\xe3\x81\x82"}, BeaconKind.EDDYSTONE_URL,
     MalformedReason.BAD_URL_CHARACTER),
    ({}, {EDDYSTONE_UUID: b"\x20"}, BeaconKind.EDDYSTONE_TLM, MalformedReason.TRUNCATED),
    ({}, {EDDYSTONE_UUID: TLM[:13]}, BeaconKind.EDDYSTONE_TLM, MalformedReason.TRUNCATED),
    ({}, {EDDYSTONE_UUID: TLM + b"\x00"}, BeaconKind.EDDYSTONE_TLM,
     MalformedReason.BAD_LENGTH),
    ({}, {EDDYSTONE_UUID: ETLM[:14]}, BeaconKind.EDDYSTONE_TLM, MalformedReason.TRUNCATED),
    ({}, {EDDYSTONE_UUID: b"\x20\x02" + TLM[2:]}, BeaconKind.EDDYSTONE_TLM,
     MalformedReason.UNKNOWN_TLM_VERSION),
]


@pytest.mark.parametrize(("manufacturer", "service", "kind", "reason"), MALFORMED)
def test_malformed_frames_raise_with_their_reason(
        manufacturer: dict[int, bytes], service: dict[str, bytes], kind: BeaconKind,
        reason: MalformedReason) -> None:
    with pytest.raises(MalformedBeacon) as info:
        decode_beacon(manufacturer, service)
    assert info.value.kind is kind and info.value.reason is reason
    assert isinstance(info.value, ValueError)
    for raw in [*manufacturer.values(), *service.values()]:  # never the frame's bytes
        if len(raw) >= 4:
            assert raw.hex() not in str(info.value) and raw[2:].hex() not in str(info.value)


def test_every_reason_is_exercised() -> None:
    assert {r for *_, r in MALFORMED} == set(MalformedReason)


def test_the_per_layout_decoders_still_work() -> None:
    assert decode_ibeacon({APPLE_COMPANY_ID: IB}) == IBeacon(
        "e2c56db5-dffb-48d2-b060-d0f5a71096e0", 1, 2, -59)
    assert decode_ibeacon({APPLE_COMPANY_ID: b"\x10\x05abc"}) is None
    assert decode_ibeacon({}) is None
    assert decode_altbeacon({7: ALT}) == AltBeacon(7, "ab" * 20, -59, 0)
    assert decode_altbeacon({7: b"\x01\x02"}) is None
    assert decode_eddystone_uid({EDDYSTONE_UUID: UID}) == EddystoneUid("11" * 10, "22" * 6, -20)
    assert decode_eddystone_uid({EDDYSTONE_UUID: TLM}) is None
    with pytest.raises(MalformedBeacon):
        decode_altbeacon({7: ALT[:-1]})


# ---------------------------------------------------------------- round trips
@FUZZ
@given(st.uuids(), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(-128, 127))
def test_ibeacon_round_trip(u: object, major: int, minor: int, power: int) -> None:
    b = decode_beacon({APPLE_COMPANY_ID: encode_ibeacon(str(u), major, minor, power)}, {})
    assert b == IBeacon(str(u), major, minor, power)


@FUZZ
@given(st.binary(min_size=20, max_size=20), st.integers(-128, 127), st.integers(0, 255),
       st.integers(0, 0xFFFF))
def test_altbeacon_round_trip(beacon_id: bytes, rssi: int, reserved: int, company: int) -> None:
    b = decode_beacon({company: encode_altbeacon(beacon_id.hex(), rssi, reserved)}, {})
    assert b == AltBeacon(company, beacon_id.hex(), rssi, reserved)


@FUZZ
@given(st.binary(min_size=10, max_size=10), st.binary(min_size=6, max_size=6),
       st.integers(-128, 127))
def test_eddystone_uid_round_trip(ns: bytes, inst: bytes, tx: int) -> None:
    b = decode_beacon({}, {EDDYSTONE_UUID: encode_eddystone_uid(ns.hex(), inst.hex(), tx)})
    assert b == EddystoneUid(ns.hex(), inst.hex(), tx)


URL_TEXT = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                   max_size=17)


@FUZZ
@given(st.sampled_from(["http://www.", "https://www.", "http://", "https://"]), URL_TEXT,
       st.integers(-128, 127))
def test_eddystone_url_round_trip(scheme: str, rest: str, tx: int) -> None:
    url = scheme + rest
    try:
        raw = encode_eddystone_url(url, tx)
    except ValueError:
        return  # a URL whose "http://www." could only be spelt with 18+ bytes
    assert decode_beacon({}, {EDDYSTONE_UUID: raw}) == EddystoneUrl(url, tx)


@FUZZ
@given(st.integers(1, 0xFFFF) | st.none(),
       st.integers(-0x7FFF, 0x7FFF).map(lambda f: f / 256) | st.none(),
       st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF).map(lambda t: t / 10))
def test_eddystone_tlm_round_trip(battery: int | None, temp: float | None, adv: int,
                                  uptime: float) -> None:
    raw = encode_eddystone_tlm(battery, temp, adv, uptime)
    assert decode_beacon({}, {EDDYSTONE_UUID: raw}) == EddystoneTlm(battery, temp, adv, uptime)


# ---------------------------------------------------------------- random bytes
def only_malformed_or_valid(decode: Callable[[], object]) -> None:
    """A decoder given random bytes returns (a beacon or None) or raises MalformedBeacon."""
    try:
        result = decode()
    except MalformedBeacon as exc:
        assert isinstance(exc.reason, MalformedReason) and isinstance(exc.kind, BeaconKind)
        return
    if result is not None:
        assert isinstance(result, IBeacon | AltBeacon | EddystoneUid | EddystoneUrl
                          | EddystoneTlm | EddystoneEncryptedTlm)
        key = beacon_key(result)
        assert key is None or key.isascii()


def near(prefix: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes after a prefix that claims a layout, so the fuzz gets past the first
    check (lengths around the real ones)."""
    return st.binary(max_size=30).map(lambda tail: prefix + tail)


ANY_BYTES = st.binary(max_size=40)
APPLE = ANY_BYTES | near(b"\x02") | near(b"\x02\x15")
MANUFACTURER = st.dictionaries(st.integers(0, 0xFFFF), ANY_BYTES | near(b"\xbe\xac"),
                               max_size=3)
EDDY = ANY_BYTES | near(b"\x00") | near(b"\x10") | near(b"\x20\x00") | near(b"\x20\x01") \
    | near(b"\x20")
SERVICE = st.dictionaries(st.sampled_from([EDDYSTONE_UUID, "feaa", "0000180f-0000-1000-8000"
                                           "-00805f9b34fb", "FEAA", "x"]), EDDY, max_size=3)


@FUZZ
@given(APPLE, MANUFACTURER, SERVICE)
def test_decode_beacon_survives_random_bytes(apple: bytes, manufacturer: dict[int, bytes],
                                             service: dict[str, bytes]) -> None:
    only_malformed_or_valid(lambda: decode_beacon({**manufacturer, APPLE_COMPANY_ID: apple},
                                                  service))
    only_malformed_or_valid(lambda: decode_beacon(manufacturer, service))


@FUZZ
@given(APPLE)
def test_decode_ibeacon_survives_random_bytes(raw: bytes) -> None:
    only_malformed_or_valid(lambda: decode_ibeacon({APPLE_COMPANY_ID: raw}))


@FUZZ
@given(MANUFACTURER)
def test_decode_altbeacon_survives_random_bytes(manufacturer: dict[int, bytes]) -> None:
    only_malformed_or_valid(lambda: decode_altbeacon(manufacturer))


@FUZZ
@given(EDDY)
def test_eddystone_decoders_survive_random_bytes(raw: bytes) -> None:
    only_malformed_or_valid(lambda: decode_eddystone(raw))
    only_malformed_or_valid(lambda: decode_eddystone_uid({EDDYSTONE_UUID: raw}))


def test_encoders_refuse_fields_out_of_range() -> None:
    with pytest.raises(ValueError):
        encode_altbeacon("ab" * 19, -59)
    with pytest.raises(ValueError):
        encode_eddystone_uid("11" * 9, "22" * 6, 0)
    with pytest.raises(ValueError):
        encode_eddystone_tlm(3000, 200.0, 0, 0)
    with pytest.raises(ValueError):
        encode_eddystone_etlm(b"\x00" * 11, 0, 0)
    with pytest.raises(struct.error):
        encode_ibeacon("e2c56db5-dffb-48d2-b060-d0f5a71096e0", 70000, 0, 0)
