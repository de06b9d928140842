"""The BLE scanner: adverts go through bleak's BleakScanner and its detection callback; D-Bus
errors are retried; passive scanning falls back to active; a quiet receiver is recovered in
stages (restart, power cycle, exit), timed by a manual clock."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.exc import BleakDBusError, BleakError

from drivers.base import SensorFatal
from drivers.beacons import (
    APPLE_COMPANY_ID,
    EDDYSTONE_UUID,
    MalformedBeacon,
    decode_eddystone_uid,
    decode_ibeacon,
    encode_altbeacon,
    encode_eddystone_tlm,
    encode_eddystone_uid,
    encode_eddystone_url,
    encode_ibeacon,
)
from drivers.ble import BEACON_OR_PATTERNS, BleScanner, RetryPolicy, ScanMode
from drivers.ble_recovery import RecoveryStage
from drivers.bluez_adapter import AdapterError
from drivers.readings import BleAdvert
from edge.clock import ManualClock
from sim.ble import BleHub, SimScannerBackend
from tests.waiting import await_until

UUID = "6f6d6f2d-6564-6765-2d61-707000000001"
MAC = "C4:11:22:33:44:55"
IN_PROGRESS = "org.bluez.Error.InProgress"


def adv(manufacturer: dict[int, bytes] | None = None, service: dict[str, bytes] | None = None,
        rssi: int = -60) -> AdvertisementData:
    return AdvertisementData(local_name=None, manufacturer_data=manufacturer or {},
                             service_data=service or {}, service_uuids=list(service or {}),
                             tx_power=None, rssi=rssi, platform_data=())


# ---------------------------------------------------------------- a fake bleak backend
@dataclass
class Radio:
    """What the fake backend was asked to do, and the errors it is told to raise."""

    start_errors: list[BaseException] = field(default_factory=list)
    stop_errors: list[BaseException] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)  # the scanning mode of each good start
    stops: int = 0
    bluez: list[dict[str, Any]] = field(default_factory=list)
    live: FakeBackend | None = None

    def hear(self, address: str, data: AdvertisementData) -> None:
        assert self.live is not None, "nobody is scanning"
        self.live.receive(address, data)


class FakeBackend(BaseBleakScanner):
    """A bleak backend like BlueZ's: builds BLEDevice through bleak and calls bleak's
    detection callbacks; raises the radio's scripted errors on start and stop."""

    def __init__(self, detection_callback: AdvertisementDataCallback | None,
                 service_uuids: list[str] | None, scanning_mode: str = "active", *,
                 radio: Radio, bluez: dict[str, Any], **_platform: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self.radio = radio
        self.mode = scanning_mode
        radio.bluez.append(dict(bluez))

    async def start(self) -> None:
        if self.radio.start_errors:
            raise self.radio.start_errors.pop(0)
        self.seen_devices = {}
        self.radio.starts.append(self.mode)
        self.radio.live = self

    async def stop(self) -> None:
        if self.radio.stop_errors:
            raise self.radio.stop_errors.pop(0)
        self.radio.stops += 1
        self.radio.live = None

    def receive(self, address: str, data: AdvertisementData) -> None:
        path = f"/org/bluez/hci0/dev_{address.replace(':', '_')}"
        device = self.create_or_update_device(path, address, data.local_name, {"path": path},
                                              data)
        self.call_detection_callbacks(device, data)


class FakeAdapter:
    """AdapterControl that records power cycles; fails when told to."""

    def __init__(self, fail: bool = False) -> None:
        self.cycles = 0
        self.fail = fail

    async def power_cycle(self) -> None:
        self.cycles += 1
        if self.fail:
            raise AdapterError("Set on hci0: org.bluez.Error.Failed")


class Sleeps:
    """An injected sleep that records the back-off instead of waiting it out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def scanner_on(radio: Radio, clock: ManualClock, *, scanning: ScanMode = ScanMode.AUTO,
               adapter: FakeAdapter | None = None, sleeps: Sleeps | None = None,
               on_advert: Any = None, **kw: Any) -> BleScanner:
    return BleScanner("rx-1", on_advert, now=clock.now, adapter="hci0", backend=FakeBackend,
                      backend_kwargs={"radio": radio}, address_key=b"k" * 16,
                      scanning=scanning, adapter_control=adapter,
                      sleep=sleeps or Sleeps(), **kw)


# ---------------------------------------------------------------- adverts through bleak
def test_beacon_layouts_round_trip() -> None:
    raw = encode_ibeacon(UUID, 1, 4242, -59)
    b = decode_ibeacon({APPLE_COMPANY_ID: raw})
    assert b is not None and (b.uuid, b.major, b.minor, b.measured_power) == (UUID, 1, 4242, -59)
    e = encode_eddystone_uid("6f6d6f65646765737466", "000000000001", -18)
    u = decode_eddystone_uid({EDDYSTONE_UUID: e})
    assert u is not None and (u.namespace, u.instance, u.tx_power) == (
        "6f6d6f65646765737466", "000000000001", -18)
    with pytest.raises(MalformedBeacon):
        decode_ibeacon({APPLE_COMPANY_ID: raw[:12]})


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


def test_every_layout_passes_and_malformed_frames_are_counted_per_reason(
        caplog: pytest.LogCaptureFixture) -> None:
    radio, clock, got = Radio(), ManualClock(), []
    scanner = scanner_on(radio, clock, on_advert=got.append)
    good = [
        adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 2, -59)}),
        adv({0x0118: encode_altbeacon("ab" * 20, -59)}),
        adv(service={EDDYSTONE_UUID: encode_eddystone_uid("11" * 10, "22" * 6, -20)}),
        adv(service={EDDYSTONE_UUID: encode_eddystone_url("https://omo.jp/s", -20)}),
        adv(service={EDDYSTONE_UUID: encode_eddystone_tlm(3000, 21.5, 10, 60)}),
        adv({APPLE_COMPANY_ID: bytes.fromhex("1005031c7a2b90")}),  # a phone: no beacon
    ]
    bad = [
        adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 2, -59)[:19]}),  # truncated
        adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 2, -59) + b"\x00"}),  # bad length
        adv({0x0059: encode_altbeacon("ab" * 20, -59)[:20]}),  # truncated
        adv(service={EDDYSTONE_UUID: b"\x10\x00\x09omo"}),  # unknown URL scheme
        adv(service={EDDYSTONE_UUID: b"\x20\x07" + b"\x00" * 12}),  # unknown TLM version
        adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 2, -59)}, rssi=-200),  # bad RSSI
    ]

    async def go() -> None:
        await scanner.open()
        for i, a in enumerate(good + bad):
            radio.hear(f"C4:00:00:00:00:{i:02X}", a)
        await scanner.close()

    with caplog.at_level(logging.DEBUG, logger="drivers.ble"):
        asyncio.run(go())
    assert len(got) == len(good) and scanner.adverts == len(good)
    assert all(isinstance(r, BleAdvert) and r.receiver == "rx-1" for r in got)
    assert scanner.counters() == {
        "bad_adverts": 6, "malformed.truncated": 2, "malformed.bad_length": 1,
        "malformed.unknown_url_scheme": 1, "malformed.unknown_tlm_version": 1}
    text = caplog.text.upper()
    assert "C4:00" not in text and "C400" not in text and UUID.upper() not in text
    assert "ABABABAB" not in text


def test_read_hands_over_batches_and_counts_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    import drivers.ble

    monkeypatch.setattr(drivers.ble, "QUEUE_LIMIT", 3)
    radio, clock = Radio(), ManualClock()
    scanner = scanner_on(radio, clock)

    async def go() -> list[BleAdvert]:
        await scanner.open()
        for i in range(5):
            radio.hear(MAC, adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, i, -59)}))
        batch = await asyncio.wait_for(scanner.read(), 5)
        await scanner.close()
        return batch

    batch = asyncio.run(go())
    assert len(batch) == 3 and scanner.counters()["overflow"] == 2


# ---------------------------------------------------------------- passive scanning
def matches(pattern: tuple[int, AdvertisementDataType, bytes], ad_payload: bytes) -> bool:
    """BlueZ's advertisement-monitor rule: an AD structure of the pattern's type whose data
    holds the content at the start position."""
    start, ad_type, content = pattern
    i = 0
    while i < len(ad_payload):
        length = ad_payload[i]
        if ad_payload[i + 1] == ad_type and \
                ad_payload[i + 2 + start:i + 2 + start + len(content)] == content:
            return True
        i += 1 + length
    return False


def ad(ad_type: int, data: bytes) -> bytes:
    return bytes([len(data) + 1, ad_type]) + data


def test_the_passive_patterns_let_every_beacon_layout_through() -> None:
    flags = ad(0x01, b"\x06")
    beacons = {
        "ibeacon": ad(0xFF, b"\x4c\x00" + encode_ibeacon(UUID, 1, 2, -59)),
        "altbeacon, Radius Networks": ad(0xFF, b"\x18\x01" + encode_altbeacon("ab" * 20, -59)),
        "altbeacon, another company": ad(0xFF, b"\x59\x00" + encode_altbeacon("cd" * 20, -70)),
        "eddystone-uid": ad(0x03, b"\xaa\xfe") + ad(0x16, b"\xaa\xfe" + encode_eddystone_uid(
            "11" * 10, "22" * 6, -20)),
        "eddystone-url": ad(0x16, b"\xaa\xfe" + encode_eddystone_url("https://omo.jp", -20)),
        "eddystone-tlm": ad(0x16, b"\xaa\xfe" + encode_eddystone_tlm(3000, 20.0, 1, 1)),
    }
    for name, payload in beacons.items():
        assert len(flags + payload) <= 31, name
        assert any(matches(p, flags + payload) for p in BEACON_OR_PATTERNS), name
    phone = flags + ad(0xFF, b"\x4c\x00" + bytes.fromhex("1005031c7a2b90"))
    assert not any(matches(p, phone) for p in BEACON_OR_PATTERNS)


def test_auto_scans_passively_with_the_beacon_patterns() -> None:
    radio, clock = Radio(), ManualClock()
    scanner = scanner_on(radio, clock)

    async def go() -> None:
        await scanner.open()
        assert scanner.mode_in_use is ScanMode.PASSIVE
        await scanner.close()

    asyncio.run(go())
    assert radio.starts == ["passive"]
    assert radio.bluez[0]["adapter"] == "hci0"
    assert list(radio.bluez[0]["or_patterns"]) == list(BEACON_OR_PATTERNS)


def test_auto_falls_back_to_active_when_bluez_cannot_scan_passively_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    radio, clock = Radio(), ManualClock()
    scanner = scanner_on(radio, clock)
    unsupported = "passive scanning on Linux requires BlueZ >= 5.56 with --experimental enabled"

    async def go() -> None:
        radio.start_errors = [BleakError(unsupported)]
        await scanner.open()
        assert scanner.mode_in_use is ScanMode.ACTIVE
        await scanner.close()
        radio.start_errors = [BleakDBusError("org.freedesktop.DBus.Error.UnknownMethod", [])]
        await scanner.open()
        await scanner.close()

    with caplog.at_level(logging.INFO, logger="drivers.ble"):
        asyncio.run(go())
    assert radio.starts == ["active", "active"]
    assert "or_patterns" not in radio.bluez[1]
    warnings = [r for r in caplog.records if "passive scanning failed" in r.message]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert scanner.counters()["passive_unavailable"] == 2


def test_auto_turns_active_for_good_when_the_passive_scan_hears_nothing() -> None:
    radio, clock = Radio(), ManualClock()
    scanner = scanner_on(radio, clock, adapter=FakeAdapter(), stale_s=60)

    async def go() -> None:
        await scanner.open()
        clock.advance(60)
        assert await scanner.recover_if_stale() is RecoveryStage.RESTART_SCAN
        assert scanner.mode_in_use is ScanMode.ACTIVE
        await scanner.close()
        await scanner.open()

    asyncio.run(go())
    assert radio.starts == ["passive", "active", "active"]
    assert scanner.counters()["passive_silent"] == 1


def test_a_passive_scan_that_heard_something_stays_passive() -> None:
    radio, clock = Radio(), ManualClock()
    scanner = scanner_on(radio, clock, adapter=FakeAdapter(), stale_s=60)

    async def go() -> None:
        await scanner.open()
        radio.hear(MAC, adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 2, -59)}))
        clock.advance(60)
        assert await scanner.recover_if_stale() is RecoveryStage.RESTART_SCAN

    asyncio.run(go())
    assert radio.starts == ["passive", "passive"]


def test_passive_mode_does_not_fall_back() -> None:
    radio, clock = Radio(), ManualClock()
    scanner = scanner_on(radio, clock, scanning=ScanMode.PASSIVE)
    radio.start_errors = [BleakError("passive scanning on Linux requires BlueZ >= 5.56")]
    with pytest.raises(BleakError):
        asyncio.run(scanner.open())
    assert radio.starts == []


def test_active_mode_scans_actively() -> None:
    radio, clock = Radio(), ManualClock()
    scanner = scanner_on(radio, clock, scanning=ScanMode.ACTIVE)
    asyncio.run(scanner.open())
    assert radio.starts == ["active"] and "or_patterns" not in radio.bluez[0]


# ---------------------------------------------------------------- D-Bus errors
def test_in_progress_on_the_first_start_is_retried_with_back_off() -> None:
    radio, clock, sleeps = Radio(), ManualClock(), Sleeps()
    scanner = scanner_on(radio, clock, scanning=ScanMode.ACTIVE, sleeps=sleeps)
    radio.start_errors = [BleakDBusError(IN_PROGRESS, [])]

    async def go() -> None:
        await scanner.open()
        radio.hear(MAC, adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 2, -59)}))
        assert len(await asyncio.wait_for(scanner.read(), 5)) == 1

    asyncio.run(go())
    assert radio.starts == ["active"] and sleeps.delays == [0.5]
    assert scanner.counters()["start_errors"] == 1


def test_d_bus_errors_that_persist_end_in_an_error_from_open_never_a_fatal_one() -> None:
    radio, clock, sleeps = Radio(), ManualClock(), Sleeps()
    scanner = scanner_on(radio, clock, scanning=ScanMode.ACTIVE, sleeps=sleeps,
                         retry=RetryPolicy(attempts=4, initial_s=0.5, factor=2, max_s=1.5))
    radio.start_errors = [BleakDBusError(IN_PROGRESS, []),
                          BleakDBusError("org.freedesktop.DBus.Error.NoReply", ["timeout"]),
                          BleakDBusError(IN_PROGRESS, []), BleakDBusError(IN_PROGRESS, [])]
    with pytest.raises(BleakDBusError) as info:
        asyncio.run(scanner.open())
    assert not isinstance(info.value, SensorFatal)
    assert sleeps.delays == [0.5, 1.0, 1.5]
    assert scanner.counters()["start_errors"] == 4


def test_auto_retries_passive_before_falling_back_on_other_d_bus_errors() -> None:
    radio, clock, sleeps = Radio(), ManualClock(), Sleeps()
    scanner = scanner_on(radio, clock, sleeps=sleeps, retry=RetryPolicy(attempts=2))
    radio.start_errors = [BleakDBusError(IN_PROGRESS, []), BleakDBusError(IN_PROGRESS, []),
                          BleakDBusError(IN_PROGRESS, [])]
    asyncio.run(scanner.open())
    assert radio.starts == ["active"] and sleeps.delays == [0.5, 0.5]


def test_d_bus_errors_on_stop_are_retried_and_never_raised() -> None:
    radio, clock, sleeps = Radio(), ManualClock(), Sleeps()
    scanner = scanner_on(radio, clock, sleeps=sleeps, retry=RetryPolicy(attempts=3))

    async def go() -> None:
        await scanner.open()
        radio.stop_errors = [BleakDBusError(IN_PROGRESS, [])]
        await scanner.stop()
        assert radio.stops == 1
        await scanner.open()
        radio.stop_errors = [BleakDBusError(IN_PROGRESS, [])] * 3
        await scanner.stop()  # given up after three tries: dropped, not raised
        await scanner.open()
        radio.stop_errors = [EOFError()]
        await scanner.close()

    asyncio.run(go())
    assert sleeps.delays == [0.5, 0.5, 1.0]
    assert scanner.counters()["stop_errors"] == 5


# ---------------------------------------------------------------- staged recovery
def test_a_quiet_receiver_is_recovered_in_stages_by_the_clock() -> None:
    radio, clock, adapter = Radio(), ManualClock(), FakeAdapter()
    scanner = scanner_on(radio, clock, adapter=adapter, stale_s=60, scanning=ScanMode.ACTIVE)

    async def go() -> None:
        await scanner.open()
        clock.advance(59.9)
        assert await scanner.recover_if_stale() is None
        clock.advance(0.1)
        assert await scanner.recover_if_stale() is RecoveryStage.RESTART_SCAN
        assert (radio.stops, len(radio.starts), adapter.cycles) == (1, 2, 0)
        assert await scanner.recover_if_stale() is None  # the restart gets its own minute
        clock.advance(60)
        assert await scanner.recover_if_stale() is RecoveryStage.POWER_CYCLE
        assert (radio.stops, len(radio.starts), adapter.cycles) == (2, 3, 1)
        radio.hear(MAC, adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 2, -59)}))  # back
        clock.advance(59)
        assert await scanner.recover_if_stale() is None
        clock.advance(1)  # quiet again: from the first stage
        assert await scanner.recover_if_stale() is RecoveryStage.RESTART_SCAN
        clock.advance(60)
        assert await scanner.recover_if_stale() is RecoveryStage.POWER_CYCLE
        clock.advance(60)
        with pytest.raises(SensorFatal):
            await scanner.recover_if_stale()

    asyncio.run(go())
    assert adapter.cycles == 2
    assert scanner.counters() == {
        "bad_adverts": 0, "recovery.restart_scan": 2, "recovery.power_cycle": 2,
        "recovered": 1, "recovery.exit": 1}


def test_an_advert_of_any_kind_keeps_the_receiver_alive() -> None:
    radio, clock, adapter = Radio(), ManualClock(), FakeAdapter()
    scanner = scanner_on(radio, clock, adapter=adapter, stale_s=60)

    async def go() -> None:
        await scanner.open()
        for _ in range(10):
            clock.advance(50)
            radio.hear(MAC, adv({APPLE_COMPANY_ID: b"\x02\x15\x00"}))  # malformed, but heard
            assert await scanner.recover_if_stale() is None

    asyncio.run(go())
    assert len(radio.starts) == 1 and scanner.bad == 10


def test_a_failed_power_cycle_is_counted_and_recovery_goes_on() -> None:
    radio, clock, adapter = Radio(), ManualClock(), FakeAdapter(fail=True)
    scanner = scanner_on(radio, clock, adapter=adapter, stale_s=30)

    async def go() -> None:
        await scanner.open()
        for stage in (RecoveryStage.RESTART_SCAN, RecoveryStage.POWER_CYCLE):
            clock.advance(30)
            assert await scanner.recover_if_stale() is stage
        clock.advance(30)
        with pytest.raises(SensorFatal):
            await scanner.recover_if_stale()

    asyncio.run(go())
    assert scanner.counters()["recovery.power_cycle_failed"] == 1


def test_a_scan_that_will_not_restart_keeps_its_stage_across_reopens() -> None:
    radio, clock, adapter = Radio(), ManualClock(), FakeAdapter()
    scanner = scanner_on(radio, clock, adapter=adapter, stale_s=60,
                         retry=RetryPolicy(attempts=1), scanning=ScanMode.ACTIVE)

    async def go() -> None:
        await scanner.open()
        clock.advance(60)
        radio.start_errors = [BleakDBusError(IN_PROGRESS, [])]
        with pytest.raises(BleakDBusError):  # the source loop closes and reopens the driver
            await scanner.recover_if_stale()
        await scanner.close()
        clock.advance(5)
        await scanner.open()
        clock.advance(60)
        assert await scanner.recover_if_stale() is RecoveryStage.POWER_CYCLE

    asyncio.run(go())


def test_without_an_adapter_control_recovery_only_restarts() -> None:
    radio, clock = Radio(), ManualClock()
    scanner = scanner_on(radio, clock, adapter=None, stale_s=60)

    async def go() -> None:
        await scanner.open()
        for _ in range(5):
            clock.advance(60)
            assert await scanner.recover_if_stale() is RecoveryStage.RESTART_SCAN

    asyncio.run(go())
    assert len(radio.starts) == 6


def test_stale_s_zero_turns_recovery_off() -> None:
    radio, clock = Radio(), ManualClock()
    scanner = scanner_on(radio, clock, adapter=FakeAdapter(), stale_s=0)

    async def go() -> None:
        await scanner.open()
        clock.advance(10**6)
        assert await scanner.recover_if_stale() is None

    asyncio.run(go())


def test_read_runs_the_recovery_and_raises_sensor_fatal_at_the_end() -> None:
    radio, clock, adapter = Radio(), ManualClock(), FakeAdapter()
    scanner = scanner_on(radio, clock, adapter=adapter, stale_s=60, check_every_s=0.005)

    async def go() -> None:
        await scanner.open()
        reading = asyncio.ensure_future(scanner.read())
        clock.advance(60)
        await await_until(lambda: len(radio.starts) == 2, timeout=5, what="a scan restart")
        clock.advance(60)
        await await_until(lambda: adapter.cycles == 1, timeout=5, what="a power cycle")
        assert not reading.done()
        clock.advance(60)
        with pytest.raises(SensorFatal):
            await asyncio.wait_for(reading, 5)

    asyncio.run(go())


def test_the_platform_backend_gets_bluez_adapter_control() -> None:
    from drivers.bluez_adapter import BluezAdapterControl

    scanner = BleScanner("rx-1", now=ManualClock().now, adapter="hci1")
    assert isinstance(scanner.adapter_control, BluezAdapterControl)
    assert scanner.adapter_control.path == "/org/bluez/hci1"
    sim = BleScanner("rx-1", now=ManualClock().now, backend=FakeBackend)
    assert sim.adapter_control is None


def test_bleak_device_objects_are_what_the_callback_gets() -> None:
    radio, clock, seen = Radio(), ManualClock(), []
    scanner = scanner_on(radio, clock)
    original = scanner.detection_callback

    def spy(device: BLEDevice, data: AdvertisementData) -> None:
        seen.append((device, data))
        original(device, data)

    scanner.detection_callback = spy  # type: ignore[method-assign]

    async def go() -> None:
        await scanner.open()
        radio.hear(MAC, adv({APPLE_COMPANY_ID: encode_ibeacon(UUID, 1, 2, -59)}))

    asyncio.run(go())
    assert isinstance(seen[0][0], BLEDevice) and seen[0][0].address == MAC
    assert isinstance(seen[0][1], AdvertisementData) and scanner.adverts == 1
