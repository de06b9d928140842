"""BLE scanner: wraps bleak's BleakScanner and turns each detection into a BleAdvert.

The scanner always goes through bleak's detection-callback path. Which bleak backend sits
behind it is a constructor argument: the platform's (BlueZ on a store device) by default, or
any `bleak.backends.scanner.BaseBleakScanner` subclass - the simulator passes one that hands
bleak's own `BLEDevice`/`AdvertisementData` objects to `call_detection_callbacks`, exactly as
the BlueZ backend does.

Raw addresses never leave this module: a reading carries a keyed hash of the address (the key
is random per process unless given). Malformed adverts (bad RSSI, truncated beacon frames)
are counted in `bad` and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from drivers.beacons import MalformedBeacon, decode_eddystone_uid, decode_ibeacon
from drivers.readings import BleAdvert

log = logging.getLogger(__name__)
QUEUE_LIMIT = 10_000  # adverts waiting for read() before the newest are dropped and counted


def hash_address(address: str, key: bytes) -> str:
    """A keyed, non-reversible 16-hex-digit pseudonym for a Bluetooth address."""
    return hashlib.blake2b(address.upper().encode(), key=key, digest_size=8).hexdigest()


class BleScanner:
    """One receiver (adapter). `on_advert` is called for each good advert, on the thread
    bleak calls back on (the asyncio loop for BlueZ and for the simulator).

    It is also a `drivers.base.Driver`: without `on_advert`, adverts wait in a bounded queue
    (overflow counted) for `read()`; `open()` starts scanning and `close()` stops it."""

    def __init__(
        self,
        receiver: str,
        on_advert: Callable[[BleAdvert], None] | None = None,
        *,
        now: Callable[[], float],
        adapter: str = "hci0",
        backend: type[BaseBleakScanner] | None = None,
        backend_kwargs: dict[str, Any] | None = None,
        address_key: bytes | None = None,
    ) -> None:
        self.receiver = receiver
        self.on_advert = on_advert
        self.now = now
        self.adapter = adapter
        self.backend = backend
        self.backend_kwargs = dict(backend_kwargs or {})
        self._key = address_key if address_key is not None else os.urandom(16)
        self.adverts = 0
        self.bad = 0
        self.overflow = 0
        self._scanner: BleakScanner | None = None
        self._queue: deque[BleAdvert] = deque()
        self._ready = asyncio.Event()

    async def start(self) -> None:
        kwargs: dict[str, Any] = dict(self.backend_kwargs)
        if self.backend is None:
            kwargs["bluez"] = {"adapter": self.adapter}
        self._scanner = BleakScanner(detection_callback=self.detection_callback,
                                     backend=self.backend, **kwargs)
        await self._scanner.start()

    async def stop(self) -> None:
        if self._scanner is not None:
            scanner, self._scanner = self._scanner, None
            await scanner.stop()

    def detection_callback(self, device: BLEDevice, adv: AdvertisementData) -> None:
        """bleak's detection callback: validate, pseudonymise, hand on."""
        try:
            reading = self._to_reading(device, adv)
        except (MalformedBeacon, TypeError, ValueError, AttributeError) as exc:
            self.bad += 1
            log.debug("skipping a malformed advert on %s: %s", self.receiver, exc)
            return
        self.adverts += 1
        if self.on_advert is not None:
            self.on_advert(reading)
        elif len(self._queue) >= QUEUE_LIMIT:
            self.overflow += 1
        else:
            self._queue.append(reading)
            self._ready.set()

    # drivers.base.Driver
    async def open(self) -> None:
        await self.start()

    async def read(self) -> list[BleAdvert]:
        await self._ready.wait()
        self._ready.clear()
        batch = list(self._queue)
        self._queue.clear()
        return batch

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.stop()

    def counters(self) -> dict[str, int]:
        counters = {"bad_adverts": self.bad}
        if self.overflow:
            counters["overflow"] = self.overflow
        return counters

    def _to_reading(self, device: BLEDevice, adv: AdvertisementData) -> BleAdvert:
        rssi = adv.rssi
        if not isinstance(rssi, int) or not -127 <= rssi <= 20:
            raise ValueError(f"rssi {rssi!r} out of range")
        if not isinstance(device.address, str) or not device.address:
            raise ValueError("advert without an address")
        manufacturer = dict(adv.manufacturer_data or {})
        service = dict(adv.service_data or {})
        decode_ibeacon(manufacturer)  # raises MalformedBeacon on a truncated frame
        decode_eddystone_uid(service)
        return BleAdvert(
            receiver=self.receiver,
            t=self.now(),
            rssi=rssi,
            address_hash=hash_address(device.address, self._key),
            manufacturer_data=tuple(sorted((int(k), bytes(v)) for k, v in manufacturer.items())),
            service_data=tuple(sorted((str(k).lower(), bytes(v)) for k, v in service.items())),
            service_uuids=tuple(str(u).lower() for u in adv.service_uuids or ()),
            tx_power=adv.tx_power,
        )
