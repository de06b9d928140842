"""Sources: the one sensor loop that runs every driver inside the daemon.

One component per sensor: `ble:<receiver>`, `shelf:<shelf>`, `door:<counter>`,
`camera:<camera>`, and `ble:mqtt` for every cheap receiver that publishes to the store broker
(one subscriber for all of them). Each is a `SensorSource` around a `drivers.base.Driver`:
open the driver, publish every reading on the reading bus (`services.readings`) and count it
(`ctx.reading(<name>)`), and copy the driver's own counters (bad lines, bad adverts, skipped
frames) into the component's.

Any error from the driver means the sensor is offline: the source marks itself DEGRADED,
records the sensor's state in `services.sensors`, emits `omo.sensor.status.changed`
(offline), waits out the back-off (in clock seconds) and opens the driver again (each
failed attempt is counted, `open_failures`), emitting `online` when it is back. The
exception is `drivers.base.SensorFatal` (a driver that has tried all its recovery steps):
the source closes the driver and raises `edge.runtime.FatalError`, and the daemon exits
non-zero for systemd to restart it.
Blocking drivers (serial, OpenCV) run on a thread of their own (`drivers.base.ThreadedDriver`),
never on the loop or the shared executor.

Which implementation sits behind a driver is not this module's business: the simulator's
BLE backend comes through `services.hooks.ble_backend`, and shelves and cameras are reached
through the port and source strings of the config.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, TypeVar

from drivers.base import Driver, SensorFatal
from drivers.readings import BeamEdge, BleAdvert, DoorCrossing, Frame, Reading, WeightSample
from edge.runtime import Backoff, Component, ComponentContext, FatalError, Health, StopPhase
from edge.services import SensorState

if TYPE_CHECKING:
    from edge.config import BleReceiver, Camera, Config, DoorCounter, Shelf
    from edge.services import Services

R = TypeVar("R", bound=Reading)
BACKOFF = Backoff(initial_s=0.5, max_s=30.0, factor=2.0)
DETAIL_MAX = 400


class SensorKind(StrEnum):
    BLE = "ble"
    SHELF = "shelf"
    DOOR = "door"
    CAMERA = "camera"


class SensorLink:
    """A sensor's online/offline state; emits omo.sensor.status.changed on each change."""

    def __init__(self, ctx: ComponentContext, sensor: str, kind: SensorKind) -> None:
        self.ctx = ctx
        self.sensor = sensor
        self.kind = kind
        self.key = f"{kind}:{sensor}"
        self.state = SensorState.UNKNOWN
        self.failures = 0

    async def online(self) -> None:
        if self.state is SensorState.OFFLINE:
            await self.ctx.emit("omo.sensor.status.changed", {
                "sensor": self.sensor, "kind": str(self.kind), "status": "online"})
        self.state = SensorState.ONLINE
        self.ctx.services.sensors.set(self.key, self.state)
        self.failures = 0
        self.ctx.set_health(Health.OK)

    async def offline(self, detail: str) -> bool:
        """Record the failure, then wait out the backoff; True if the daemon is stopping."""
        detail = detail[:DETAIL_MAX]
        if self.state is not SensorState.OFFLINE:
            self.ctx.count("disconnects")
            await self.ctx.emit("omo.sensor.status.changed", {
                "sensor": self.sensor, "kind": str(self.kind), "status": "offline",
                "detail": detail})
        self.state = SensorState.OFFLINE
        self.ctx.services.sensors.set(self.key, self.state)
        self.failures += 1
        self.ctx.set_health(Health.DEGRADED, f"{self.kind} {self.sensor} offline: {detail}")
        return await sleep_clock(self.ctx, BACKOFF.delay(self.failures))


async def sleep_clock(ctx: ComponentContext, seconds: float) -> bool:
    """Sleep `seconds` of the daemon's clock (which may run faster than real time);
    True if the daemon is stopping."""
    target = ctx.clock.now() + seconds
    while (left := target - ctx.clock.now()) > 0:
        if await ctx.sleep(min(0.05, max(0.001, left))):
            return True
    return ctx.stopping.is_set()


def describe(exc: BaseException) -> str:
    """What went wrong, for the offline event and the health detail."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SensorSource(Generic[R]):
    """Runs one sensor's driver: open, read and publish until it fails, then back off."""

    stop_phase = StopPhase.SOURCES

    def __init__(self, kind: SensorKind, sensor: str,
                 make_driver: Callable[[ComponentContext], Driver[R]]) -> None:
        self.kind = kind
        self.sensor = sensor
        self.name = f"{kind}:{sensor}"
        self.make_driver = make_driver

    async def run(self, ctx: ComponentContext) -> None:
        link = SensorLink(ctx, self.sensor, self.kind)
        bus = ctx.services.readings
        driver = self.make_driver(ctx)
        while not ctx.stopping.is_set():
            lost: str | None = None
            fatal: SensorFatal | None = None
            try:
                await driver.open()
            except SensorFatal as exc:
                await driver.close()
                raise self._fatal(ctx, driver, exc) from exc
            except Exception as exc:  # no device, permissions, BlueZ down, bad URL
                await driver.close()
                ctx.count("open_failures")  # one per attempt: the back-off's retries
                ctx.state.counters.update(driver.counters())
                if await link.offline(describe(exc)):
                    return
                continue
            await link.online()
            stop_waiter = asyncio.ensure_future(ctx.stopping.wait())
            try:
                while True:
                    read = asyncio.ensure_future(driver.read())
                    await asyncio.wait({read, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                    if not read.done():
                        read.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await read
                        break
                    batch = read.result()
                    for r in batch:
                        bus.publish(r)
                    if batch:
                        ctx.reading(self.name, len(batch))
                    ctx.state.counters.update(driver.counters())
            except SensorFatal as exc:
                fatal = exc
            except Exception as exc:  # unplugged, stream ended, adapter gone
                lost = describe(exc)
            finally:
                stop_waiter.cancel()
                await driver.close()
                ctx.state.counters.update(driver.counters())
            if fatal is not None:
                raise self._fatal(ctx, driver, fatal) from fatal
            if lost is None or await link.offline(lost):
                return

    def _fatal(self, ctx: ComponentContext, driver: Driver[R], exc: SensorFatal) -> FatalError:
        """The driver (already closed) gave up: the FatalError that makes the daemon exit."""
        ctx.state.counters.update(driver.counters())
        ctx.services.sensors.set(f"{self.kind}:{self.sensor}", SensorState.OFFLINE)
        return FatalError(f"{self.kind} {self.sensor}: {describe(exc)}"[:DETAIL_MAX])


def build(config: Config, services: Services) -> list[Component]:
    """The daemon's sources for a config."""
    components: list[Component] = []
    if config.ble.enabled:
        components += [ble_source(r, services) for r in config.ble.receivers]
        if config.ble.mqtt.enabled:
            components.append(ble_mqtt_source(config, services))
    components += [shelf_source(s) for s in config.shelves]
    components += [door_source(d) for d in config.door_counters]
    components += [camera_source(c, services) for c in config.cameras]
    return components


def ble_source(receiver: BleReceiver, services: Services) -> SensorSource[BleAdvert]:
    from drivers.ble import BleScanner, ScanMode

    def make(ctx: ComponentContext) -> Driver[BleAdvert]:
        factory = services.hooks.ble_backend
        backend, kwargs = (None, {}) if factory is None else factory(receiver)
        scanner = BleScanner(receiver.id, now=ctx.clock.now, adapter=receiver.adapter,
                             backend=backend, backend_kwargs=kwargs,
                             address_key=services.address_key,
                             scanning=ScanMode(receiver.scanning),
                             stale_s=services.config.ble.stale_s)
        if services.hooks.ble_scanner_made is not None:
            services.hooks.ble_scanner_made(receiver.id, scanner)
        return scanner

    return SensorSource(SensorKind.BLE, receiver.id, make)


MQTT_SENSOR = "mqtt"


def ble_mqtt_source(config: Config, services: Services) -> SensorSource[BleAdvert]:
    """One subscriber for every cheap receiver (`[ble.mqtt]`); its nodes' adverts carry the
    receiver ids the config maps them to. Identities are hashed with the process's address
    key, as the local scanners' addresses are."""
    from drivers.mqtt_ble import FeedContext
    from drivers.mqtt_feed import FeedSettings, MqttBleFeed

    m = config.ble.mqtt
    settings = FeedSettings(host=m.host, port=m.port, username=m.username, password=m.password,
                            keepalive_s=m.keepalive_s,
                            client_id=f"omo-edge-{config.store}-{config.device}-ble"[:128])
    feed = FeedContext(receivers={n.node: n.receiver for n in m.nodes}, key=services.address_key,
                       ignored=frozenset(m.ignore_nodes), espresense_roots=m.espresense_topics,
                       omg_roots=m.omg_topics, max_payload=m.max_payload_bytes)

    def make(ctx: ComponentContext) -> Driver[BleAdvert]:
        return MqttBleFeed(settings, feed, now=ctx.clock.now)

    return SensorSource(SensorKind.BLE, MQTT_SENSOR, make)


def shelf_source(shelf: Shelf) -> SensorSource[WeightSample | BeamEdge]:
    """The shelf's reader, chosen by its protocol: the omo controller's, or a commercial
    scale's (one plate, number 1)."""
    from drivers.base import BlockingDriver, ThreadedDriver
    from drivers.device_clock import ClockSettings
    from drivers.scales import ScaleReader
    from drivers.shelf_serial import ShelfReader
    from drivers.weighing import Protocol, Unit

    protocol = Protocol(shelf.protocol)

    def make(ctx: ComponentContext) -> Driver[WeightSample | BeamEdge]:
        reader: BlockingDriver[WeightSample | BeamEdge]
        if protocol is Protocol.OMO:
            reader = ShelfReader(shelf.id, shelf.port, shelf.baudrate, now=ctx.clock.now,
                                 bytesize=shelf.bytesize, parity=shelf.parity,
                                 clock=ClockSettings(drift_ppm=shelf.clock_drift_ppm)
                                 if shelf.date_on_clock else None)
        else:
            reader = ScaleReader(shelf.id, shelf.port, shelf.baudrate, protocol,
                                 now=ctx.clock.now, unit=Unit(shelf.unit),
                                 poll_hz=shelf.poll_hz, bytesize=shelf.bytesize,
                                 parity=shelf.parity)
        return ThreadedDriver(f"shelf:{shelf.id}", reader)

    return SensorSource(SensorKind.SHELF, shelf.id, make)


def door_source(counter: DoorCounter) -> SensorSource[DoorCrossing]:
    from drivers.base import ThreadedDriver
    from drivers.door_serial import DoorCounterReader

    def make(ctx: ComponentContext) -> Driver[DoorCrossing]:
        reader = DoorCounterReader(counter.id, counter.port, counter.baudrate,
                                   now=ctx.clock.now)
        return ThreadedDriver(f"door:{counter.id}", reader)

    return SensorSource(SensorKind.DOOR, counter.id, make)


def camera_source(camera: Camera, services: Services) -> SensorSource[Frame]:
    from drivers.base import ThreadedDriver
    from drivers.camera import CaptureSource

    def make(ctx: ComponentContext) -> Driver[Frame]:
        capture = CaptureSource(camera.id, camera.source, now=ctx.clock.now, fps=camera.fps,
                                max_fps=camera.fps, gate=services.hooks.frame_gate)
        if services.hooks.capture_opened is not None:
            services.hooks.capture_opened(camera.id, capture)
        return ThreadedDriver(f"camera:{camera.id}", capture, newest_only=True)

    return SensorSource(SensorKind.CAMERA, camera.id, make)
