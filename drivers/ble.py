"""BLE scanner: wraps bleak's BleakScanner and turns each detection into a BleAdvert.

The scanner always goes through bleak's detection-callback path. Which bleak backend sits
behind it is a constructor argument: the platform's (BlueZ on a store device) by default, or
any `bleak.backends.scanner.BaseBleakScanner` subclass - the simulator passes one that hands
bleak's own `BLEDevice`/`AdvertisementData` objects to `call_detection_callbacks`, exactly as
the BlueZ backend does.

Raw addresses never leave this module: a reading carries a keyed hash of the address (the key
is random per process unless given). Adverts are validated with `drivers.beacons.decode_beacon`:
a malformed beacon frame or a bad RSSI is counted (`bad_adverts`, and `malformed.<reason>`)
and skipped; adverts without a beacon frame (phones) pass on.

Scanning mode (`ScanMode`): passive scanning sends no scan requests and is what a store
wants, but BlueZ only does it through its AdvertisementMonitor API (BlueZ >= 5.56 with
`--experimental`, kernel >= 5.10), which needs patterns: `BEACON_OR_PATTERNS` match iBeacon,
AltBeacon and Eddystone, so passive scanning hears beacons only (not phones' own adverts).
`auto` tries passive and falls back to active when BlueZ cannot (logged once), and for good
when a passive scan stays silent from its start until the first recovery stage (BlueZ took
the monitor but the kernel never delivers).

D-Bus errors on start and stop (BlueZ's `org.bluez.Error.InProgress` above all) are retried
with back-off (`RetryPolicy`, sleeping with the injected `sleep`); when the retries run out
`start` raises and the source loop reopens the scanner after its own back-off: never fatal.

When adverts stop for `stale_s` (read from the injected clock `now`), `recover_if_stale`
takes the stages of `drivers.ble_recovery` one by one: restart the scan, power-cycle the
adapter (`drivers.bluez_adapter`), then raise `drivers.base.SensorFatal` so the daemon exits
non-zero and systemd restarts it. `read()` checks every `check_every_s` real seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bleak import BleakScanner
from bleak.args.bluez import OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakDBusError, BleakError

from drivers.base import SensorFatal
from drivers.beacons import MalformedBeacon, decode_beacon
from drivers.ble_recovery import RecoveryStage, StaleWatch
from drivers.bluez_adapter import AdapterControl, AdapterError, BluezAdapterControl
from drivers.readings import BleAdvert

log = logging.getLogger(__name__)
QUEUE_LIMIT = 10_000  # adverts waiting for read() before the newest are dropped and counted
DEFAULT_STALE_S = 60.0

BEACON_OR_PATTERNS: tuple[OrPattern, ...] = (
    # iBeacon: manufacturer data, company 0x004C little-endian, then type 0x02, length 0x15
    OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\x4c\x00\x02\x15"),
    # AltBeacon: beacon code 0xBEAC after any company id
    OrPattern(2, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\xbe\xac"),
    # Eddystone: service data under the 16-bit UUID 0xFEAA, little-endian
    OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xaa\xfe"),
)
"""BlueZ advertisement-monitor patterns for passive scanning; any one matching lets an advert
through."""

PASSIVE_UNSUPPORTED = frozenset({
    "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.DBus.Error.UnknownInterface",
    "org.bluez.Error.NotSupported",
})
"""D-Bus errors on a passive start that mean BlueZ cannot scan passively (no point retrying)."""


class ScanMode(StrEnum):
    AUTO = "auto"  # passive where BlueZ can, else active
    PASSIVE = "passive"
    ACTIVE = "active"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a D-Bus error on start or stop is retried."""

    attempts: int = 5
    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 8.0

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_s, self.initial_s * self.factor ** max(0, attempt - 1)))


def hash_address(address: str, key: bytes) -> str:
    """A keyed, non-reversible 16-hex-digit pseudonym for a Bluetooth address."""
    return hashlib.blake2b(address.upper().encode(), key=key, digest_size=8).hexdigest()


class BleScanner:
    """One receiver (adapter). `on_advert` is called for each good advert, on the thread
    bleak calls back on (the asyncio loop for BlueZ and for the simulator).

    It is also a `drivers.base.Driver`: without `on_advert`, adverts wait in a bounded queue
    (overflow counted) for `read()`; `open()` starts scanning and `close()` stops it. With
    `on_advert`, whoever owns the scanner calls `recover_if_stale()` every few seconds.

    `adapter_control` defaults to BlueZ's adapter when `backend` is None (the platform's);
    with another backend and no adapter control, recovery only restarts the scan."""

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
        scanning: ScanMode = ScanMode.AUTO,
        stale_s: float = DEFAULT_STALE_S,
        adapter_control: AdapterControl | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        check_every_s: float = 1.0,
    ) -> None:
        self.receiver = receiver
        self.on_advert = on_advert
        self.now = now
        self.adapter = adapter
        self.backend = backend
        self.backend_kwargs = dict(backend_kwargs or {})
        self.scanning = scanning
        self.adapter_control = adapter_control if adapter_control is not None or \
            backend is not None else BluezAdapterControl(adapter)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.check_every_s = check_every_s
        self._key = address_key if address_key is not None else os.urandom(16)
        self.adverts = 0
        self.bad = 0
        self.overflow = 0
        self.counts: Counter[str] = Counter()
        self.mode_in_use: ScanMode | None = None  # PASSIVE or ACTIVE while scanning
        self.watch = StaleWatch(stale_s, full=self.adapter_control is not None)
        self._scanner: BleakScanner | None = None
        self._queue: deque[BleAdvert] = deque()
        self._ready = asyncio.Event()
        self._logged: set[str] = set()
        self._heard = False  # any advert since the scan last started
        self._passive_silent = False  # auto: a passive scan heard nothing, stay active

    # ------------------------------------------------------------------ scanning
    async def start(self) -> None:
        """Start scanning in the configured mode (auto: passive, else active). Raises the
        last BleakError (or OSError when there is no D-Bus) once retries and fallback are
        used up."""
        if self._scanner is not None:  # started twice: one scan at a time
            await self.stop()
        if self.scanning is ScanMode.AUTO:
            modes = [ScanMode.ACTIVE] if self._passive_silent else \
                [ScanMode.PASSIVE, ScanMode.ACTIVE]
        else:
            modes = [self.scanning]
        for i, mode in enumerate(modes):
            fallback = i + 1 < len(modes)
            try:
                await self._start(mode, fallback=fallback)
                return
            except BleakError as exc:
                if not fallback:
                    raise
                self.counts["passive_unavailable"] += 1
                self._log_once("passive", logging.WARNING,
                               "passive scanning failed on %s (%s); scanning actively",
                               self.adapter, _error_name(exc))

    async def _start(self, mode: ScanMode, *, fallback: bool) -> None:
        attempt = 0
        while True:
            attempt += 1
            scanner = self._make_scanner(mode)
            try:
                await scanner.start()
            except asyncio.CancelledError:
                self._scanner = scanner  # maybe half started: close() stops it
                raise
            except BleakDBusError as exc:
                self.counts["start_errors"] += 1
                if attempt >= self.retry.attempts or (
                        fallback and exc.dbus_error in PASSIVE_UNSUPPORTED):
                    raise
                delay = self.retry.delay(attempt)
                self._log_once(f"start:{exc.dbus_error}", logging.WARNING,
                               "starting the %s scan on %s failed (%s); retrying in %.1f s",
                               mode, self.adapter, exc.dbus_error, delay)
                await self.sleep(delay)
                continue
            self._scanner = scanner
            self.mode_in_use = mode
            self._heard = False
            self.watch.started(self.now())
            return

    def _make_scanner(self, mode: ScanMode) -> BleakScanner:
        kwargs: dict[str, Any] = dict(self.backend_kwargs)
        bluez: dict[str, Any] = {"adapter": self.adapter}
        if mode is ScanMode.PASSIVE:
            bluez["or_patterns"] = list(BEACON_OR_PATTERNS)
        kwargs["bluez"] = {**bluez, **kwargs.get("bluez", {})}
        return BleakScanner(detection_callback=self.detection_callback,
                            scanning_mode="passive" if mode is ScanMode.PASSIVE else "active",
                            backend=self.backend, **kwargs)

    async def stop(self) -> None:
        """Stop scanning. D-Bus errors are retried with back-off, then counted and logged;
        never raises (a scan that would not stop is dropped)."""
        scanner, self._scanner = self._scanner, None
        self.mode_in_use = None
        if scanner is None:
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                await scanner.stop()
                return
            except BleakDBusError as exc:
                self.counts["stop_errors"] += 1
                if attempt >= self.retry.attempts:
                    log.warning("stopping the scan on %s failed %d times (%s); dropping it",
                                self.adapter, attempt, exc.dbus_error)
                    return
                self._log_once(f"stop:{exc.dbus_error}", logging.WARNING,
                               "stopping the scan on %s failed (%s); retrying",
                               self.adapter, exc.dbus_error)
                await self.sleep(self.retry.delay(attempt))
            except Exception as exc:  # BlueZ or D-Bus gone: nothing left to stop
                self.counts["stop_errors"] += 1
                log.warning("stopping the scan on %s failed (%s); dropping it",
                            self.adapter, _error_name(exc))
                return

    # ------------------------------------------------------------------ recovery
    async def recover_if_stale(self) -> RecoveryStage | None:
        """Take the next recovery stage if adverts have stopped for `stale_s`; returns the
        stage taken, None if none was due. Raises SensorFatal at the last stage, and
        whatever `start` raises when the scan cannot be started again."""
        now = self.now()
        stage = self.watch.due(now)
        if stage is None:
            return None
        quiet = self.watch.quiet_s(now)
        self.counts[f"recovery.{stage.label}"] += 1
        if stage is RecoveryStage.EXIT:
            log.error("no adverts on %s (%s) for %.0f s after restarting the scan and "
                      "power-cycling the adapter; exiting for systemd to restart the service",
                      self.receiver, self.adapter, quiet)
            raise SensorFatal(f"no adverts on {self.adapter} for {quiet:.0f} s after a scan "
                              "restart and an adapter power cycle")
        log.warning("no adverts on %s (%s) for %.0f s: recovery stage %d, %s", self.receiver,
                    self.adapter, quiet, stage, stage.label.replace("_", " "))
        if self.scanning is ScanMode.AUTO and self.mode_in_use is ScanMode.PASSIVE \
                and not self._heard:
            # BlueZ took the monitor but delivers nothing (a kernel without support)
            self._passive_silent = True
            self.counts["passive_silent"] += 1
            log.warning("the passive scan on %s heard nothing at all; scanning actively "
                        "from now on", self.adapter)
        self.watch.taken(stage, now)
        await self.stop()
        if stage is RecoveryStage.POWER_CYCLE and self.adapter_control is not None:
            try:
                await self.adapter_control.power_cycle()
            except AdapterError as exc:
                self.counts["recovery.power_cycle_failed"] += 1
                log.warning("power-cycling %s failed: %s", self.adapter, exc)
        await self.start()
        return stage

    # ------------------------------------------------------------------ adverts
    def detection_callback(self, device: BLEDevice, adv: AdvertisementData) -> None:
        """bleak's detection callback: validate, pseudonymise, hand on."""
        reached = self.watch.heard(self.now())  # any advert shows the radio is alive
        self._heard = True
        if reached is not RecoveryStage.NONE:
            self.counts["recovered"] += 1
            log.info("adverts are back on %s after recovery stage %d (%s)", self.receiver,
                     reached, reached.label)
        try:
            reading = self._to_reading(device, adv)
        except MalformedBeacon as exc:
            self.bad += 1
            self.counts[f"malformed.{exc.reason}"] += 1
            log.debug("skipping a malformed beacon frame on %s: %s", self.receiver, exc)
            return
        except (TypeError, ValueError, AttributeError) as exc:
            self.bad += 1
            log.debug("skipping a malformed advert on %s: %s", self.receiver,
                      type(exc).__name__)
            return
        self.adverts += 1
        if self.on_advert is not None:
            self.on_advert(reading)
        elif len(self._queue) >= QUEUE_LIMIT:
            self.overflow += 1
        else:
            self._queue.append(reading)
            self._ready.set()

    def _to_reading(self, device: BLEDevice, adv: AdvertisementData) -> BleAdvert:
        rssi = adv.rssi
        if not isinstance(rssi, int) or not -127 <= rssi <= 20:
            raise ValueError("rssi out of range")
        if not isinstance(device.address, str) or not device.address:
            raise ValueError("advert without an address")
        manufacturer = {int(k): bytes(v) for k, v in (adv.manufacturer_data or {}).items()}
        service = {str(k).lower(): bytes(v) for k, v in (adv.service_data or {}).items()}
        decode_beacon(manufacturer, service)  # raises MalformedBeacon for a bad frame
        return BleAdvert(
            receiver=self.receiver,
            t=self.now(),
            rssi=rssi,
            address_hash=hash_address(device.address, self._key),
            manufacturer_data=tuple(sorted(manufacturer.items())),
            service_data=tuple(sorted(service.items())),
            service_uuids=tuple(str(u).lower() for u in adv.service_uuids or ()),
            tx_power=adv.tx_power,
        )

    # ------------------------------------------------------------------ drivers.base.Driver
    async def open(self) -> None:
        await self.start()

    async def read(self) -> list[BleAdvert]:
        """The adverts since the last call; between them, the staleness check (raises
        SensorFatal when recovery has run out of stages)."""
        while not self._queue:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self.check_every_s)
            if not self._queue:
                await self.recover_if_stale()
        batch = list(self._queue)
        self._queue.clear()
        return batch

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.stop()

    @property
    def taken(self) -> int:
        """The good adverts queued for `read()` so far (those the full queue dropped are not
        counted): what a source reading this scanner has handed on once it has caught up."""
        return self.adverts - self.overflow

    def counters(self) -> dict[str, int]:
        counters = {"bad_adverts": self.bad, **{k: v for k, v in self.counts.items() if v}}
        if self.overflow:
            counters["overflow"] = self.overflow
        return counters

    def _log_once(self, key: str, level: int, msg: str, *args: object) -> None:
        """Log the first occurrence of `key` at `level`, later ones at debug."""
        first = key not in self._logged
        self._logged.add(key)
        log.log(level if first else logging.DEBUG, msg, *args)


def _error_name(exc: BaseException) -> str:
    """A D-Bus error's name, else the exception's class and message (no payloads)."""
    if isinstance(exc, BleakDBusError):
        return exc.dbus_error
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
