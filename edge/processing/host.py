"""The processor host: the supervised component that runs one processor.

It subscribes the processor's inbox to the reading bus and to the event log's live tail,
takes items in arrival order (frames newest-only, see `edge.processing.bus`), calls the
processor, and appends what it emitted to the event log in order. Ticks (`on_tick`) come at
every multiple of the processor's `tick_s`: before any input later than the tick, and, while
no input comes, once the clock is `TICK_GRACE_S` past the tick (so a reading still on its way
is not overtaken). A replay adds no clock ticks: it ends with `finish(t)`, which ticks up to
`t`. So a processor sees the same inputs in the same order live and replayed.

A processor that raises on one input is counted, logged and goes on with the next one: a
bad reading never stops the others. What the host counts is in the component's counters
(`omo-edge status`): readings, events in and out, ticks, errors, invalid events, and inputs
dropped because the processor fell behind (`dropped.<kind>`) or frames replaced by newer
ones (`skipped.frame`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from drivers.readings import Frame, Reading
from edge.events import Event, InvalidEvent, parse_time
from edge.processing.bus import kind_of
from edge.processing.processor import Output, Processor
from edge.runtime import ComponentContext, Health

log = logging.getLogger(__name__)
In = TypeVar("In")

TICK_GRACE_S = 2.0  # clock seconds a live tick waits for readings still on their way
INBOX_CAPACITY = 10_000  # queued readings and events per processor
MAX_PENDING_EMITS = 256  # events handed to the log and not yet stored, per processor
MAX_TICKS_AT_ONCE = 1_000  # after a longer gap the host jumps to the last tick
WARN_EVERY_S = 60.0
_BEHIND = ": the processor is slower than its input"


@dataclass(frozen=True)
class Finish:
    """End of a replay: tick up to `t`."""

    t: float


InboxItem = Reading | Event | Finish


def item_time(item: InboxItem) -> float:
    if isinstance(item, Event):
        return parse_time(item.time)
    return item.t


class Inbox:
    """A processor's inbox: one bounded FIFO for queued kinds and events, and one slot per
    camera for frames (newest only)."""

    def __init__(self, capacity: int = INBOX_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._queue: deque[Reading | Event | Finish] = deque()
        self._frames: dict[str, Frame] = {}
        self._frame_turn = False
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.dropped: dict[str, int] = {}
        self.skipped_frames = 0

    def __len__(self) -> int:
        return len(self._queue) + len(self._frames)

    def offer(self, item: InboxItem) -> None:
        """Take an item without waiting: a frame replaces the older one from its camera; a
        queued item that finds the queue full is dropped and counted."""
        if isinstance(item, Frame):
            if item.camera in self._frames:
                self.skipped_frames += 1
            self._frames[item.camera] = item
        elif len(self._queue) >= self.capacity:
            kind = "event" if isinstance(item, Event) else (
                "finish" if isinstance(item, Finish) else str(kind_of(item)))
            self.dropped[kind] = self.dropped.get(kind, 0) + 1
            return
        else:
            self._queue.append(item)
        self._ready.set()

    async def put(self, item: InboxItem) -> None:
        """Take an item, waiting for room in the queue (frames never wait)."""
        if not isinstance(item, Frame):
            while len(self._queue) >= self.capacity:
                self._room.clear()
                await self._room.wait()
        self.offer(item)

    def take(self) -> InboxItem | None:
        """The next item (queued items and frames take turns), or None if empty."""
        item: InboxItem | None = None
        if self._frames and (self._frame_turn or not self._queue):
            camera = next(iter(self._frames))
            item = self._frames.pop(camera)
            self._frame_turn = False
        elif self._queue:
            item = self._queue.popleft()
            self._frame_turn = True
            if len(self._queue) < self.capacity:
                self._room.set()
        if not self._queue and not self._frames:
            self._ready.clear()
        return item

    async def wait(self, timeout: float) -> None:
        """Wait until something arrives, or `timeout` real seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)


class ProcessorHost:
    """Runs one processor as a supervised component named `processor:<name>`."""

    def __init__(self, processor: Processor, *, capacity: int = INBOX_CAPACITY,
                 live_ticks: bool = True) -> None:
        self.processor = processor
        self.name = f"processor:{processor.name}"
        self.inbox = Inbox(capacity)
        self.live_ticks = live_ticks
        self._next_tick: float | None = None
        self._own: set[str] = set()
        self._pending: deque[asyncio.Future[Event | None]] = deque()
        self._idle = asyncio.Event()
        self.attached = asyncio.Event()  # set once subscribed to the bus and the log's tail
        self._thread: ThreadPoolExecutor | None = None
        self._warned_at = -math.inf
        self._reported_drops = 0
        self._dropped_at = -math.inf

    # ------------------------------------------------------------------ inputs
    def _on_event(self, event: Event) -> None:
        if event.id in self._own:
            self._own.discard(event.id)
            return
        if self.processor.subscriptions.wants_event(event.type):
            self.inbox.offer(event)

    async def finish(self, t: float) -> None:
        """Replay: tick up to `t` once everything before it is handled."""
        await self.inbox.put(Finish(t))

    async def settle(self) -> None:
        """Wait until the inbox is empty and every emitted event is stored."""
        while True:
            await self._idle.wait()
            if not len(self.inbox):
                return
            await asyncio.sleep(0)  # the host has work again: let it take it

    # --------------------------------------------------------------------- run
    async def run(self, ctx: ComponentContext) -> None:
        subs = self.processor.subscriptions
        bus = ctx.services.readings
        unsubscribe = [bus.subscribe(kind, self.inbox) for kind in subs.readings]
        if subs.events:
            unsubscribe.append(ctx.emitter.subscribe(self._on_event))
        if subs.own_thread:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix=self.name)
        self.attached.set()
        ctx.set_health(Health.OK)
        try:
            await self._loop(ctx)
        finally:
            self.attached.clear()
            for undo in unsubscribe:
                undo()
            await self._flush(ctx)
            self._report(ctx)
            if self._thread is not None:
                self._thread.shutdown(wait=False)
                self._thread = None

    async def _loop(self, ctx: ComponentContext) -> None:
        subs = self.processor.subscriptions
        drain_until: float | None = None
        while True:
            item = self.inbox.take()
            if item is None:
                await self._flush(ctx)
                self._report(ctx)
                self._idle.set()
                if ctx.stopping.is_set():
                    return
                if self.live_ticks and subs.tick_s is not None:
                    await self._tick_until(ctx, ctx.clock.now() - TICK_GRACE_S)
                await self.inbox.wait(0.1)
                continue
            self._idle.clear()
            if ctx.stopping.is_set():  # handle what is queued, for a second at most
                drain_until = drain_until or time.monotonic() + 1.0
                if time.monotonic() > drain_until:
                    ctx.count("abandoned_at_stop", len(self.inbox) + 1)
                    return
            t = item_time(item)
            await self._tick_until(ctx, t)
            if isinstance(item, Finish):
                continue
            out = Output(t)
            try:
                if isinstance(item, Event):
                    ctx.count("events_in")
                    await self._call(self.processor.on_event, item, out)
                else:
                    ctx.count("readings")
                    await self._call(self.processor.on_reading, item, out)
            except Exception:
                self._failed(ctx, "input")
            await self._emit(ctx, out)
            handled = ctx.services.hooks.reading_handled
            if handled is not None and not isinstance(item, Event):
                handled(self.processor.name, item)

    async def _tick_until(self, ctx: ComponentContext, t: float) -> None:
        tick_s = self.processor.subscriptions.tick_s
        if tick_s is None:
            return
        if self._next_tick is None:
            self._next_tick = (math.floor(t / tick_s) + 1) * tick_s
            return
        if (t - self._next_tick) / tick_s > MAX_TICKS_AT_ONCE:
            skip = math.floor((t - self._next_tick) / tick_s)
            ctx.count("ticks_skipped", skip)
            self._next_tick += skip * tick_s
        while self._next_tick <= t:
            now, self._next_tick = self._next_tick, self._next_tick + tick_s
            out = Output(now)
            ctx.count("ticks")
            try:
                await self._call(self.processor.on_tick, now, out)
            except Exception:
                self._failed(ctx, "tick")
            await self._emit(ctx, out)

    async def _call(self, handler: Callable[[In, Output], None], item: In, out: Output) -> None:
        """A handler, on the loop or on the processor's own thread (`own_thread`)."""
        if self._thread is None:
            handler(item, out)
        else:
            await asyncio.get_running_loop().run_in_executor(self._thread, handler, item, out)

    def _failed(self, ctx: ComponentContext, what: str) -> None:
        ctx.count("errors")
        ctx.set_health(Health.DEGRADED, f"the processor raised on {ctx.state.counters['errors']}"
                       " input(s); see the journal")
        if time.monotonic() - self._warned_at > WARN_EVERY_S:
            self._warned_at = time.monotonic()
            log.exception("processor %s raised on a %s; skipping it (further errors are "
                          "counted, logged at most once a minute)", self.processor.name, what)

    async def _emit(self, ctx: ComponentContext, out: Output) -> None:
        for emission in out:
            try:
                event = ctx.emitter.make(emission.type, emission.data, emission.at)
            except InvalidEvent as exc:
                ctx.count("invalid_events")
                log.error("processor %s emitted an invalid event: %s", self.processor.name,
                          exc)
                continue
            ctx.count("events_out")
            if self.processor.subscriptions.events:  # so its own events do not come back
                self._own.add(event.id)
            self._pending.append(asyncio.ensure_future(ctx.emitter.append(event)))
            if len(self._pending) > MAX_PENDING_EMITS:
                await self._settle_oldest(ctx)

    async def _settle_oldest(self, ctx: ComponentContext) -> None:
        fut = self._pending.popleft()
        try:
            if await fut is None:
                ctx.count("events_dropped")
        except Exception as exc:  # the log refused the batch (a bug): count, go on
            ctx.count("events_failed")
            log.error("processor %s: an event was not stored: %s", self.processor.name, exc)

    async def _flush(self, ctx: ComponentContext) -> None:
        while self._pending:
            await self._settle_oldest(ctx)

    def _report(self, ctx: ComponentContext) -> None:
        counters = ctx.state.counters
        own = getattr(self.processor, "counters", None)  # optional: what the processor counts
        if callable(own):
            counters.update(own())
        for kind, n in self.inbox.dropped.items():
            counters[f"dropped.{kind}"] = n
        if self.inbox.skipped_frames:
            counters["skipped.frame"] = self.inbox.skipped_frames
        dropped = sum(self.inbox.dropped.values())
        if dropped == self._reported_drops:
            if (ctx.state.health == Health.DEGRADED and ctx.state.detail.endswith(_BEHIND)
                    and time.monotonic() - self._dropped_at > WARN_EVERY_S):
                ctx.set_health(Health.OK)
            return
        self._reported_drops = dropped
        self._dropped_at = time.monotonic()
        ctx.set_health(Health.DEGRADED, f"{dropped} input(s) dropped{_BEHIND}")
        if time.monotonic() - self._warned_at > WARN_EVERY_S:
            self._warned_at = time.monotonic()
            log.warning("processor %s is slower than its input: %d input(s) dropped so "
                        "far (%s)", self.processor.name, dropped, self.inbox.dropped)
