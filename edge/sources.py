"""Sources: components that run the drivers inside the daemon and count their readings.

One component per sensor: `ble:<receiver>`, `shelf:<shelf>`, `camera:<camera>`. Each counts its
readings with `ctx.reading(<same name>)` and publishes them on the reading bus
(`services["readings"]`) for the processors; `services["sensors"]` maps "<kind>:<id>" to
"online" or "offline". Blocking driver work (serial reads, frame
decoding) runs on the source's own thread, never on the loop or the shared executor.

A sensor that vanishes marks its source DEGRADED and emits `omo.sensor.status.changed`
(offline), then the source reconnects with backoff (in clock seconds) and emits `online` when
it is back. Which implementation sits behind a driver is not this module's business: the BLE
scanner's bleak backend may come from `services["ble_backend_factory"](receiver)`, which
returns `(backend_class, backend_kwargs)`; shelves and cameras are reached through the port
and source strings of the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from edge.runtime import Backoff, Component, ComponentContext, Health

if TYPE_CHECKING:
    from drivers.readings import BleAdvert, Frame, WeightSample
    from edge.config import BleReceiver, Camera, Config, Shelf

T = TypeVar("T")
BACKOFF = Backoff(initial_s=0.5, max_s=30.0, factor=2.0)


class ReadingBus:
    """Hands readings from sources to whoever subscribed to a kind (ble, shelf, camera)."""

    def __init__(self) -> None:
        self._subs: dict[str, list[Callable[[Any], None]]] = {}

    def subscribe(self, kind: str, callback: Callable[[Any], None]) -> Callable[[], None]:
        self._subs.setdefault(kind, []).append(callback)
        return lambda: self._subs[kind].remove(callback)

    def publish(self, kind: str, reading: Any) -> None:
        for cb in list(self._subs.get(kind, ())):
            cb(reading)

    def has_subscribers(self, kind: str) -> bool:
        return bool(self._subs.get(kind))


def reading_bus(services: dict[str, Any]) -> ReadingBus:
    bus = services.get("readings")
    if not isinstance(bus, ReadingBus):
        bus = ReadingBus()
        services["readings"] = bus
    return bus


class SensorLink:
    """A sensor's online/offline state; emits omo.sensor.status.changed on each change."""

    def __init__(self, ctx: ComponentContext, sensor: str, kind: str) -> None:
        self.ctx = ctx
        self.sensor = sensor
        self.kind = kind
        self.state: str | None = None
        self.failures = 0

    def _publish(self) -> None:
        sensors: dict[str, str] = self.ctx.services.setdefault("sensors", {})
        sensors[f"{self.kind}:{self.sensor}"] = self.state or "unknown"

    async def online(self) -> None:
        if self.state == "offline":
            await self.ctx.emit("omo.sensor.status.changed", {
                "sensor": self.sensor, "kind": self.kind, "status": "online"})
        self.state = "online"
        self._publish()
        self.failures = 0
        self.ctx.set_health(Health.OK)

    async def offline(self, detail: str) -> bool:
        """Record the failure, then wait out the backoff; True if the daemon is stopping."""
        detail = detail[:400]
        if self.state != "offline":
            self.ctx.count("disconnects")
            await self.ctx.emit("omo.sensor.status.changed", {
                "sensor": self.sensor, "kind": self.kind, "status": "offline",
                "detail": detail})
        self.state = "offline"
        self._publish()
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


async def in_thread(name: str, fn: Callable[[], T]) -> T:
    """Run blocking `fn` on a thread of its own and await its result."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                loop.call_soon_threadsafe(settle, None, exc)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await fut


class _Stopper:
    """A threading.Event that is set when the daemon stops (for driver threads)."""

    def __init__(self, ctx: ComponentContext) -> None:
        self.event = threading.Event()
        self._task = asyncio.create_task(self._relay(ctx))

    async def _relay(self, ctx: ComponentContext) -> None:
        await ctx.stopping.wait()
        self.event.set()

    def close(self) -> None:
        self.event.set()
        self._task.cancel()


class BleSource:
    """One BLE receiver: a BleScanner with the platform's bleak backend or the injected one."""

    def __init__(self, receiver: BleReceiver, services: dict[str, Any]) -> None:
        self.receiver = receiver
        self.services = services
        self.name = f"ble:{receiver.id}"

    async def run(self, ctx: ComponentContext) -> None:
        from drivers.ble import BleScanner

        bus = reading_bus(self.services)
        link = SensorLink(ctx, self.receiver.id, "ble")
        factory = self.services.get("ble_backend_factory")
        backend, kwargs = (None, {}) if factory is None else factory(self.receiver)

        def on_advert(advert: BleAdvert) -> None:
            ctx.reading(self.name)
            bus.publish("ble", advert)

        scanner = BleScanner(self.receiver.id, on_advert, now=ctx.clock.now,
                             adapter=self.receiver.adapter, backend=backend,
                             backend_kwargs=kwargs)
        while not ctx.stopping.is_set():
            if backend is None and self.receiver.adapter == "sim":
                if await link.offline("adapter 'sim' needs the simulator (omo-edge sim)"):
                    return
                continue
            try:
                await scanner.start()
            except Exception as exc:  # no adapter, BlueZ down, permissions
                if await link.offline(f"{type(exc).__name__}: {exc}"):
                    return
                continue
            await link.online()
            try:
                while not await ctx.sleep(1.0):
                    ctx.state.counters["bad_adverts"] = scanner.bad
            finally:
                ctx.state.counters["bad_adverts"] = scanner.bad
                with contextlib.suppress(Exception):
                    await scanner.stop()
            return


class ShelfSource:
    """One shelf controller on a serial port (a device path or a pyserial URL)."""

    def __init__(self, shelf: Shelf, services: dict[str, Any]) -> None:
        self.shelf = shelf
        self.services = services
        self.name = f"shelf:{shelf.id}"

    async def run(self, ctx: ComponentContext) -> None:
        import serial

        from drivers.shelf_serial import ShelfReader

        bus = reading_bus(self.services)
        link = SensorLink(ctx, self.shelf.id, "shelf")
        reader = ShelfReader(self.shelf.id, self.shelf.port, self.shelf.baudrate,
                             now=ctx.clock.now)
        loop = asyncio.get_running_loop()
        stopper = _Stopper(ctx)

        def deliver(samples: list[WeightSample]) -> None:
            ctx.reading(self.name, len(samples))
            ctx.state.counters["bad_lines"] = reader.bad_total
            for s in samples:
                bus.publish("shelf", s)

        def pump() -> str:
            while not stopper.event.is_set():
                samples = reader.read()
                if samples:
                    loop.call_soon_threadsafe(deliver, samples)
            return "stopped"

        try:
            while not ctx.stopping.is_set():
                try:
                    await in_thread(f"{self.name}-open", reader.open)
                    await link.online()
                    await in_thread(self.name, pump)
                except (serial.SerialException, OSError) as exc:
                    reader.close()
                    ctx.state.counters["bad_lines"] = reader.bad_total
                    if await link.offline(str(exc) or type(exc).__name__):
                        return
        finally:
            stopper.close()
            reader.close()


class CameraSource:
    """One camera: OpenCV capture of a device index, URL or file, newest frame only."""

    def __init__(self, camera: Camera, services: dict[str, Any]) -> None:
        self.camera = camera
        self.services = services
        self.name = f"camera:{camera.id}"

    async def run(self, ctx: ComponentContext) -> None:
        import cv2

        from drivers.camera import CaptureError, CaptureSource

        bus = reading_bus(self.services)
        link = SensorLink(ctx, self.camera.id, "camera")
        capture = CaptureSource(self.camera.id, self.camera.source, now=ctx.clock.now,
                                fps=self.camera.fps)
        self.services.setdefault("captures", {})[self.camera.id] = capture
        loop = asyncio.get_running_loop()
        stopper = _Stopper(ctx)

        def deliver(frame: Frame) -> None:
            ctx.reading(self.name)
            ctx.state.counters["skipped_frames"] = capture.skipped
            if bus.has_subscribers("camera"):
                bus.publish("camera", frame)

        def on_frame(frame: Frame) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, frame)

        try:
            while not ctx.stopping.is_set():
                try:
                    await in_thread(f"{self.name}-open", capture.open)
                    await link.online()
                    reason = await in_thread(
                        self.name, lambda: capture.run(stopper.event, on_frame))
                    if reason == "stopped":
                        return
                    if await link.offline(reason):
                        return
                except (CaptureError, cv2.error, OSError) as exc:
                    capture.close()
                    if await link.offline(str(exc)):
                        return
        finally:
            stopper.close()


def build(config: Config, services: dict[str, Any]) -> list[Component]:
    """The daemon's sources for a config."""
    components: list[Component] = []
    if config.ble.enabled:
        components += [BleSource(r, services) for r in config.ble.receivers]
    components += [ShelfSource(s, services) for s in config.shelves]
    components += [CameraSource(c, services) for c in config.cameras]
    return components
