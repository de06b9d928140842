"""The asyncio runtime: supervised components, the event emitter and health reporting.

A component is anything with a ``name`` and an ``async run(ctx)``: a source (driver or
simulator readings), a processor, or a sink (sync, player channel). The supervisor runs
each as its own task; an exception is logged, counted and reported as a fault event, and
the component is restarted with exponential backoff while the others go on.

The one exception that is not retried is `FatalError`: a component raises it when it has
tried everything it knows and only a fresh process can help (a Bluetooth adapter still dead
after a power cycle). The supervisor reports it, records it in `fatal` and sets
`fatal_requested`; the daemon then shuts down cleanly and exits non-zero (`EXIT_FATAL`), so
systemd (`Restart=on-failure`) starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from edge.backoff import Backoff as Backoff  # re-exported: sources import it from here
from edge.clock import Clock
from edge.eventlog import EventLog, PreparedEvent, prepare
from edge.events import Event, InvalidEvent

if TYPE_CHECKING:
    from edge.services import Services

log = logging.getLogger(__name__)
EXIT_FATAL = 1
"""The daemon's exit status after a FatalError (not 2: that one tells systemd not to retry)."""


class FatalError(Exception):
    """Raised by a component that cannot recover inside this process: the daemon stops and
    exits with `EXIT_FATAL` so that its service manager restarts it. The message says why
    (shown in the fault event and the status; no personal data)."""


class Health(StrEnum):
    STARTING = "starting"
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class ComponentState:
    """What a component reports: health, last error, restarts and its own counters."""

    name: str
    health: Health = Health.STARTING
    detail: str = ""
    last_error: str | None = None
    last_error_at: float | None = None
    restarts: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    readings: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "health": str(self.health), "detail": self.detail, "last_error": self.last_error,
            "last_error_at": self.last_error_at, "restarts": self.restarts,
            "counters": dict(self.counters), "readings": dict(self.readings),
        }


_Pending = tuple[PreparedEvent, asyncio.Future[Event | None]]  # an append waiting


# The cyclic collector as the daemon runs it (`tune_gc`). Python's default first threshold
# (700 container objects allocated and not yet freed) starts a young collection every few
# dozen events on the sync path alone, and each walks every object still alive there (the
# in-flight window's messages, the producers' futures) and promotes it. 10000 leaves short-
# lived objects to reference counting; garbage cycles (rare: exceptions with tracebacks)
# wait a little longer. `omo-edge bench sync`: 300 young collections in a 20000-event run
# at 700, about 5 at 10000.
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect once, move what is alive after start-up (modules, config, schemas, models'
    Python objects) out of the collector's reach for good (`gc.freeze`: full collections no
    longer walk it), and raise the young generation's threshold (GC_YOUNG_THRESHOLD). Called
    once by `omo-edge run` after the daemon is built, and by the sync bench's live run."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


class Emitter:
    """Turns (type, data) into events and appends them durably, with group commit.

    `emit` returns once the event is in the log (or counted as dropped): every call
    waiting at the same moment shares one transaction, so throughput grows with load.
    Subscribers get each stored event, in seq order, after it is durable.
    """

    def __init__(self, log_: EventLog, clock: Clock, *, source: str, bootid: str,
                 max_batch: int = 512) -> None:
        self.log = log_
        self.clock = clock
        self.source = source
        self.bootid = bootid
        self.max_batch = max_batch
        # Appends waiting for the writer; None asks it to stop. A deque and one future the
        # writer waits on while it is empty: cheaper per append than an asyncio.Queue.
        self._pending: deque[_Pending | None] = deque()
        self._ready: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventlog")
        self._subscribers: list[Callable[[Event], None]] = []
        self.invalid = 0

    def make(self, event_type: str, data: dict[str, Any], at: float | None = None) -> Event:
        return Event.new(event_type, data, source=self.source, bootid=self.bootid,
                         epoch_s=self.clock.now() if at is None else at)

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` on the loop for each stored event; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._writer = asyncio.create_task(self._write_loop(), name="eventlog-writer")

    async def emit(self, event_type: str, data: dict[str, Any], *,
                   at: float | None = None) -> Event | None:
        """Append one event; returns it with its seq, or None if it was dropped.
        Raises InvalidEvent if `data` does not match the type's schema."""
        return await self.append(self.make(event_type, data, at))

    def append(self, event: Event) -> asyncio.Future[Event | None]:
        """Queue one event; the future gives it back with its seq once it is durable (None
        if it was dropped). A plain function returning the future, not a coroutine: no
        coroutine frame for each event (``await emitter.append(ev)`` reads the same)."""
        loop = self._loop
        if self._writer is None or loop is None:
            raise RuntimeError("emitter not started")
        # Encoded here, on the loop, while the writer thread waits on the previous
        # commit's fsync: the writer then does SQLite work only (less GIL contention).
        prepared = prepare(event)
        fut: asyncio.Future[Event | None] = loop.create_future()
        self._pending.append((prepared, fut))
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)
        return fut

    def _put(self, item: _Pending | None) -> None:
        self._pending.append(item)
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)

    def try_emit(self, event_type: str, data: dict[str, Any], *, at: float | None = None
                 ) -> asyncio.Future[Event | None] | None:
        """Fire-and-forget from the loop; invalid data is logged and counted, not raised."""
        try:
            event = self.make(event_type, data, at)
        except InvalidEvent as exc:
            self.invalid += 1
            log.error("not emitting an invalid event: %s", exc)
            return None
        return asyncio.ensure_future(self.append(event))

    async def _write_loop(self) -> None:
        """Write whatever is queued in one transaction; a None item means stop after it."""
        loop = asyncio.get_running_loop()
        pending = self._pending
        stopping = False
        while not stopping:
            if not pending:
                self._ready = loop.create_future()
                await self._ready
                self._ready = None
            items = [pending.popleft() for _ in range(min(len(pending), self.max_batch))]
            stopping = None in items
            batch = [item for item in items if item is not None]
            if not batch:
                continue
            prepared = [p for p, _ in batch]
            try:
                stored = await loop.run_in_executor(self._executor, self.log.write, prepared)
            except Exception as exc:  # an IntegrityError or a bug: fail these, keep going
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            if stored:
                for (_, fut), ev in zip(batch, stored, strict=True):
                    if not fut.done():
                        fut.set_result(ev)
                for ev in stored:
                    for cb in list(self._subscribers):
                        try:
                            cb(ev)
                        except Exception:
                            log.exception("event subscriber failed")
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    async def stop(self) -> None:
        """Write everything queued so far, then stop the writer."""
        if self._writer is not None and not self._writer.done():
            self._put(None)
            await self._writer
        self._executor.shutdown(wait=True)


class ComponentContext:
    """What a running component gets: the clock, the emitter, its state and a stop flag."""

    def __init__(self, name: str, clock: Clock, emitter: Emitter, state: ComponentState,
                 stopping: asyncio.Event, services: Services) -> None:
        self.name = name
        self.clock = clock
        self.emitter = emitter
        self.state = state
        self.stopping = stopping
        self.services = services
        self.log = logging.getLogger(f"omo_edge.{name}")

    def set_health(self, health: Health, detail: str = "") -> None:
        if health != self.state.health or detail != self.state.detail:
            self.log.debug("health %s -> %s %s", self.state.health, health, detail)
        self.state.health = health
        self.state.detail = detail

    def count(self, counter: str, n: int = 1) -> None:
        self.state.counters[counter] = self.state.counters.get(counter, 0) + n

    def reading(self, source: str, n: int = 1) -> None:
        """Count readings from one source (shown as readings per second in `status`)."""
        self.state.readings[source] = self.state.readings.get(source, 0) + n

    async def emit(self, event_type: str, data: dict[str, Any], *,
                   at: float | None = None) -> Event | None:
        return await self.emitter.emit(event_type, data, at=at)

    async def sleep(self, seconds: float) -> bool:
        """Sleep, waking early on shutdown; returns True if the daemon is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        return self.stopping.is_set()


class Component(Protocol):
    name: str

    async def run(self, ctx: ComponentContext) -> None: ...


class StopPhase(IntEnum):
    """When a component is asked to stop: sources first, so that processors can finish the
    readings already handed to them, then everything else."""

    SOURCES = 0
    OTHERS = 1


def stop_phase(component: Component) -> StopPhase:
    phase = getattr(component, "stop_phase", StopPhase.OTHERS)
    return phase if isinstance(phase, StopPhase) else StopPhase.OTHERS


class Supervisor:
    """Runs components, restarting a failed one with backoff while the others go on."""

    def __init__(self, services: Services, *, backoff: Backoff | None = None) -> None:
        self.services = services
        self.emitter = services.emitter
        self.clock = services.clock
        self.backoff = backoff or Backoff()
        self.states: dict[str, ComponentState] = services.components
        self.stopping = asyncio.Event()  # set when the supervisor begins to stop
        self.fatal: tuple[str, FatalError] | None = None  # (component, error), the first one
        self.fatal_requested = asyncio.Event()  # set on the first FatalError
        self._phases = {phase: asyncio.Event() for phase in StopPhase}
        self._tasks: list[tuple[StopPhase, asyncio.Task[None]]] = []

    def start(self, component: Component) -> asyncio.Task[None]:
        if component.name in self.states:
            raise ValueError(f"two components are named {component.name!r}")
        state = ComponentState(component.name)
        self.states[component.name] = state
        phase = stop_phase(component)
        task = asyncio.create_task(self._supervise(component, state, self._phases[phase]),
                                   name=component.name)
        self._tasks.append((phase, task))
        return task

    async def _supervise(self, component: Component, state: ComponentState,
                         stopping: asyncio.Event) -> None:
        failures = 0
        ctx = ComponentContext(component.name, self.clock, self.emitter, state, stopping,
                               self.services)
        while not stopping.is_set():
            started = time.monotonic()
            try:
                state.health, state.detail = Health.OK, ""
                await component.run(ctx)
                if stopping.is_set():
                    break
                state.health, state.detail = Health.STOPPED, "finished"
                return
            except asyncio.CancelledError:
                raise
            except FatalError as exc:
                self._fatal(component.name, state, exc)
                return
            except Exception as exc:
                if time.monotonic() - started > self.backoff.reset_after_s:
                    failures = 0
                failures += 1
                state.restarts += 1
                state.health = Health.FAILED
                state.last_error = f"{type(exc).__name__}: {exc}"[:500]
                state.last_error_at = self.clock.now()
                delay = self.backoff.delay(failures)
                log.error("component %s failed (%s); restart %d in %.1f s",
                          component.name, state.last_error, state.restarts, delay,
                          exc_info=exc)
                self.emitter.try_emit("omo.device.component.faulted", {
                    "component": component.name, "fault": type(exc).__name__,
                    "detail": str(exc)[:1000], "restarts": state.restarts,
                })
                if await ctx.sleep(delay):
                    break
        state.health = Health.STOPPED

    def _fatal(self, name: str, state: ComponentState, exc: FatalError) -> None:
        state.health = Health.FAILED
        state.detail = "fatal: the daemon exits so that its service manager restarts it"
        state.last_error = f"{type(exc).__name__}: {exc}"[:500]
        state.last_error_at = self.clock.now()
        log.critical("component %s cannot recover (%s); the daemon exits with status %d",
                     name, exc, EXIT_FATAL)
        self.emitter.try_emit("omo.device.component.faulted", {
            "component": name, "fault": "fatal", "detail": str(exc)[:1000],
            "restarts": state.restarts,
        })
        if self.fatal is None:
            self.fatal = (name, exc)
        self.fatal_requested.set()

    async def stop(self, timeout: float = 3.0) -> None:
        """Ask the components to stop, phase by phase (`StopPhase`); cancel what has not
        stopped within `timeout` seconds in all."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for phase in StopPhase:
            self._phases[phase].set()
            tasks = [t for p, t in self._tasks if p == phase]
            if not tasks:
                continue
            left = max(0.05, deadline - time.monotonic())
            _, pending = await asyncio.wait(tasks, timeout=left)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        for state in self.states.values():
            state.health = Health.STOPPED


async def run_periodic(ctx: ComponentContext, every_s: float,
                       step: Callable[[], Awaitable[None]]) -> None:
    """Run `step` every `every_s` seconds until the daemon stops."""
    while not ctx.stopping.is_set():
        await step()
        if await ctx.sleep(every_s):
            return
