"""The BLE scanner: adverts go through bleak's BleakScanner and its detection callback."""

from __future__ import annotations

import asyncio

import pytest
from bleak.backends.scanner import AdvertisementData

from drivers.beacons import (
    APPLE_COMPANY_ID,
    EDDYSTONE_UUID,
    MalformedBeacon,
    decode_eddystone_uid,
    decode_ibeacon,
    encode_eddystone_uid,
    encode_ibeacon,
)
from drivers.ble import BleScanner
from drivers.readings import BleAdvert
from sim.ble import BleHub, SimScannerBackend

UUID = "6f6d6f2d-6564-6765-2d61-707000000001"
MAC = "C4:11:22:33:44:55"


def adv(manufacturer: dict[int, bytes] | None = None, service: dict[str, bytes] | None = None,
        rssi: int = -60) -> AdvertisementData:
    return AdvertisementData(local_name=None, manufacturer_data=manufacturer or {},
                             service_data=service or {}, service_uuids=list(service or {}),
                             tx_power=None, rssi=rssi, platform_data=())


def test_beacon_layouts_round_trip() -> None:
    raw = encode_ibeacon(UUID, 1, 4242, -59)
    assert len(raw) == 23 and raw[:2] == b"\x02\x15"
    b = decode_ibeacon({APPLE_COMPANY_ID: raw})
    assert b is not None and (b.uuid, b.major, b.minor, b.measured_power) == (UUID, 1, 4242, -59)
    e = encode_eddystone_uid("6f6d6f65646765737466", "000000000001", -18)
    assert len(e) == 20 and e[0] == 0
    u = decode_eddystone_uid({EDDYSTONE_UUID: e})
    assert u is not None and (u.namespace, u.instance, u.tx_power) == (
        "6f6d6f65646765737466", "000000000001", -18)
    with pytest.raises(MalformedBeacon):
        decode_ibeacon({APPLE_COMPANY_ID: raw[:12]})
    with pytest.raises(MalformedBeacon):
        decode_eddystone_uid({EDDYSTONE_UUID: e[:9]})
    assert decode_ibeacon({APPLE_COMPANY_ID: b"\x10\x05abc"}) is None  # not a beacon


def test_adverts_pass_through_bleak_and_the_scanner_callback(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    got: list[BleAdvert] = []
    hub = BleHub()
    backend, kwargs = hub.factory(type("Rx", (), {"id": "rx-1"})())
    scanner = BleScanner("rx-1", got.append, now=lambda: 7.5, adapter="hci9", backend=backend,
                         backend_kwargs=kwargs, address_key=b"k" * 16)
    seen: list[object] = []
    original = BleScanner.detection_callback

    def spy(self: BleScanner, device: object, data: object) -> None:
        seen.append(device)
        original(self, device, data)  # type: ignore[arg-type]

    monkeypatch.setattr(BleScanner, "detection_callback", spy)

    async def go() -> None:
        await scanner.start()
        assert isinstance(hub.backends["rx-1"], SimScannerBackend)
        hub.deliver("rx-1", MAC, adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 7, -59)}))
        hub.deliver("rx-1", MAC, adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 7, -59)[:15]}))
        hub.deliver("rx-1", MAC, adv(rssi=99))
        hub.deliver("rx-1", "C4:00:00:00:00:01", adv(service={
            EDDYSTONE_UUID: encode_eddystone_uid("00" * 10, "00" * 6, -20)}))
        await scanner.stop()
        hub.deliver("rx-1", MAC, adv())  # after stop: nobody listens

    asyncio.run(go())
    assert len(seen) == 4  # bleak called the scanner's callback for every advert
    assert type(seen[0]).__name__ == "BLEDevice"
    assert scanner.adverts == 2 and scanner.bad == 2
    assert [a.rssi for a in got] == [-60, -60] and got[0].t == 7.5
    for a in got:
        assert MAC not in repr(a) and MAC.replace(":", "") not in repr(a).upper()
        assert len(a.address_hash) == 16
    assert got[0].address_hash != got[1].address_hash
    assert got[0].manufacturer_data[0][0] == APPLE_COMPANY_ID
