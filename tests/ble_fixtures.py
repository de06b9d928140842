"""Fakes for BLE tests: a bleak scanner backend that behaves like BlueZ's (bleak's own
BLEDevice and AdvertisementData through bleak's callbacks) and raises scripted D-Bus errors,
an adapter control that records power cycles, and a sleep that records back-off."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner

from drivers.bluez_adapter import AdapterError


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
