"""One driver protocol for every sensor: open, read, close.

`Driver` is what the daemon's source loop (`edge.sources.SensorSource`) runs: `open()` connects
to the sensor, `read()` waits for the next readings, `close()` lets go. Any exception from
`open` or `read` means the sensor is offline: the loop closes the driver, reports it, waits
out its back-off and opens it again. A driver never retries by itself, with one exception:
a driver that knows the steps that bring its sensor back (the BLE scanner's staged recovery)
takes them inside `read`, and raises `SensorFatal` when only a fresh process can help.

Most hardware is read with blocking calls (pyserial, OpenCV): such a driver implements
`BlockingDriver`, and `ThreadedDriver` runs it on a thread of its own, never on the event
loop or the shared executor, handing batches of readings back to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from drivers.readings import Reading

R = TypeVar("R", bound=Reading)
R_co = TypeVar("R_co", bound=Reading, covariant=True)
T = TypeVar("T")


class SensorLost(Exception):
    """The sensor went away or its stream ended (the message says how)."""


class SensorFatal(Exception):
    """The driver tried every recovery it has and the sensor is still dead: only a new
    process can help (the source loop turns this into `edge.runtime.FatalError`, and the
    daemon exits non-zero so its service manager restarts it). The message says why; it
    never carries addresses or payloads."""


class Driver(Protocol[R_co]):
    """A sensor as the source loop sees it."""

    async def open(self) -> None:
        """Connect to the sensor; raises if it cannot be reached."""

    async def read(self) -> Sequence[R_co]:
        """Wait for the next readings (maybe none, after a while); raises when the sensor
        is lost."""

    async def close(self) -> None:
        """Let the sensor go; never raises."""

    def counters(self) -> dict[str, int]:
        """What the driver counts (bad lines, skipped frames, ...), as running totals."""


class BlockingDriver(Protocol[R_co]):
    """A driver whose calls block; run it with `ThreadedDriver`."""

    def open(self) -> object: ...

    def read(self, stop: threading.Event) -> Sequence[R_co]:
        """Block until readings come, about a fifth of a second passes or `stop` is set."""

    def close(self) -> None: ...

    def counters(self) -> dict[str, int]: ...


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


class ThreadedDriver(Generic[R]):
    """Runs a `BlockingDriver` on its own thread: `open` there, then a pump thread that
    reads until stopped or lost and queues each batch for `read` on the loop."""

    def __init__(self, name: str, driver: BlockingDriver[R], *, max_batches: int = 1000,
                 newest_only: bool = False) -> None:
        self.name = name
        self.driver = driver
        self.max_batches = max_batches
        self.newest_only = newest_only  # keep only the newest batch waiting (frames)
        self.replaced = 0
        self._stop = threading.Event()
        self._queue: asyncio.Queue[Sequence[R] | BaseException] | None = None
        self._pump: threading.Thread | None = None
        self.overflow = 0

    async def open(self) -> None:
        await in_thread(f"{self.name}-open", self.driver.open)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Sequence[R] | BaseException] = asyncio.Queue()
        self._queue = queue
        self._stop = stop = threading.Event()

        def hand_over(item: Sequence[R] | BaseException) -> None:
            if not item and not queue.empty():
                return  # an empty batch only wakes the source (to take the counters)
            if self.newest_only and not isinstance(item, BaseException):
                while not queue.empty():  # older batches are stale: the newest counts
                    queue.get_nowait()
                    self.replaced += 1
            if queue.qsize() >= self.max_batches and not isinstance(item, BaseException):
                self.overflow += 1  # the loop is not keeping up: newest batches dropped
                return
            queue.put_nowait(item)

        def pump() -> None:
            counted: dict[str, int] | None = None
            try:
                while not stop.is_set():
                    batch = self.driver.read(stop)
                    if batch:
                        loop.call_soon_threadsafe(hand_over, batch)
                        continue
                    now = self.driver.counters()
                    if now != counted:  # lines taken without a reading: the counters moved
                        counted = now
                        loop.call_soon_threadsafe(hand_over, batch)
            except BaseException as exc:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(hand_over, exc)

        self._pump = threading.Thread(target=pump, name=self.name, daemon=True)
        self._pump.start()

    async def read(self) -> Sequence[R]:
        if self._queue is None:
            raise SensorLost("not open")
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def close(self) -> None:
        self._stop.set()
        pump, self._pump = self._pump, None
        if pump is not None and pump.is_alive():
            await in_thread(f"{self.name}-join", lambda: pump.join(timeout=2.0))
        with contextlib.suppress(Exception):
            self.driver.close()
        self._queue = None

    def counters(self) -> dict[str, int]:
        counters = self.driver.counters()
        if self.overflow:
            counters["overflow_batches"] = self.overflow
        if self.replaced:
            counters["stale_batches"] = self.replaced
        return counters
