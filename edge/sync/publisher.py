"""Outbox -> MQTT: every undelivered event, QoS 1, marked delivered only on PUBACK.

- **Own in-flight window.** At most `window` events are handed to paho unacknowledged.
  On a disconnect we forget them (paho's client is thrown away with its queue) and, when
  the next connection is up, read the outbox again from the first undelivered event.
  Events that were in flight at the disconnect may reach the broker twice: duplicates
  only within the window (consumers dedupe by event `id`).
- **Priority lanes.** One lane per priority (0 high, 1 normal, 2 low), each in `seq`
  order; a free slot in the window goes to the highest-priority lane with an event
  waiting, so a stock-out or a fault overtakes a telemetry backlog. Consumers order by
  `seq` (and dedupe by `id`).
- **Rate cap.** While draining, normal and low lanes are capped at `rate_limit`
  events/s (a token bucket; 0 = no cap); the high lane is never held back.
- **Live tail without polling.** A lane that has caught up with the log takes new events
  straight from the emitter's subscription; otherwise it reads a page from the log.
- **Stored bytes out.** What is published is the CloudEvent JSON with the data text
  exactly as the log stored it (`EventLog.outbox`, or the stored event from the live
  tail): the data is never decoded and encoded again on the way out.
- **Ack batching.** Each PUBACK's seq is queued in the event log
  (`EventLog.mark_delivered_later`); the next append writes the marks in its own
  transaction (no fsync of their own, and appends never queue behind a mark transaction).
  What no append has carried within `ack_linger_s` (20 ms) is written on its own, one
  transaction for all of it, but never queued behind an append in progress (that append
  or the next may carry them; the flusher looks again 5 ms later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from edge.catalogue import Priority
from edge.eventlog import EventLog, OutboxItem
from edge.events import Event
from edge.ratelimit import TokenBucket
from edge.sync.connection import Link, LinkListener, PubAck
from edge.sync.topics import Topics

log = logging.getLogger("omo_edge.sync.publisher")
ACK_LINGER_S = 0.02
TAIL_WINDOWS = 16  # the live tail holds up to this many windows of events (see `tail`)


@dataclass
class _Lane:
    priority: Priority
    cursor: int = 0          # highest seq taken into `buf` on this connection
    seen: int = 0            # highest seq announced by the emitter
    # Read from the log (OutboxItem) or taken from the live tail (Event: its JSON is made
    # when it is published, off the append path).
    buf: deque[OutboxItem | Event] = field(default_factory=deque)
    more: bool = True        # the log may hold undelivered events after `cursor`
    live: bool = False       # caught up: new events are appended straight to `buf`
    reading: bool = False

    def reset(self) -> None:
        self.cursor = 0
        self.buf.clear()
        self.more, self.live, self.reading = True, False, False


class Publisher(LinkListener):
    def __init__(
        self,
        event_log: EventLog,
        link: Link,
        topics: Topics,
        *,
        window: int,
        rate_limit: float = 0.0,
        page: int = 500,
        tail: int | None = None,
        counters: dict[str, int] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        ack_linger_s: float = ACK_LINGER_S,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.log = event_log
        self.link = link
        self.topics = topics
        self.window = window
        self.rate_limit = rate_limit
        self.page = page
        # Events the live tail holds in memory per lane before it goes back to reading
        # pages from the log: publishing behind by more than this (a burst, a slow broker)
        # reads them back from SQLite instead of keeping them all in memory.
        self.tail = tail if tail is not None else max(2 * page, TAIL_WINDOWS * window)
        self.counters = counters if counters is not None else {}
        self._monotonic = monotonic
        self._lanes = [_Lane(p) for p in sorted(Priority)]
        self._lane_of = {lane.priority: lane for lane in self._lanes}
        self._inflight: dict[int, int] = {}     # paho message id -> seq
        self._topic_of: dict[str, str] = {}      # event type -> its topic
        self.ack_linger_s = ack_linger_s
        self._acked_unflushed: set[int] = set()   # acknowledged, mark not yet written
        self._gen = 0                            # the connection we are publishing on
        self._wake = asyncio.Event()
        self._acks_ready = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._bucket = (TokenBucket(rate_limit, max(1.0, min(float(window), rate_limit / 10)),
                                    now=monotonic()) if rate_limit > 0 else None)
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="outbox-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="outbox-ack")
        self._flush_lock = asyncio.Lock()
        self.delivered_changed = asyncio.Event()  # set when more events are marked delivered
        self.last_nack: str | None = None
        for name in ("published", "acked", "delivered", "resent", "nacked", "ack_flushes"):
            self.counters.setdefault(name, 0)
        self.counters["inflight"] = 0
        self.counters.setdefault("inflight_peak", 0)

    # --------------------------------------------------------------- listeners
    def on_event(self, event: Event) -> None:
        """The emitter stored a new event (called on the loop, in seq order)."""
        lane = self._lane_of.get(event.priority)
        if lane is None:
            return
        lane.seen = max(lane.seen, event.seq)
        if not self._gen:
            return
        if lane.live and not lane.reading and event.seq > lane.cursor:
            if len(lane.buf) < self.tail:
                lane.buf.append(event)
                lane.cursor = event.seq
            else:  # publishing is behind: go back to reading pages from the log
                lane.live, lane.more = False, True
        elif event.seq > lane.cursor:
            lane.more = True
        self._wake.set()

    def link_up(self, generation: int, session_present: bool) -> None:
        self._gen = generation
        self._inflight.clear()
        for lane in self._lanes:
            lane.reset()
        if self._bucket is not None:
            self._bucket.refill(self._monotonic())
        self._wake.set()

    def link_down(self, generation: int, reason: str) -> None:
        if self._inflight:
            self.counters["resent"] += len(self._inflight)
        self._gen = 0
        self._inflight.clear()
        self.counters["inflight"] = 0
        for lane in self._lanes:
            lane.reset()

    def acks(self, generation: int, acks: list[PubAck]) -> None:
        if generation != self._gen:
            return
        nack: str | None = None
        acked: list[int] = []
        for mid, code in acks:
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue  # a status, heartbeat or command result, not an event
            if code >= 0x80:
                self.counters["nacked"] += 1
                nack = f"the broker refused a published event (PUBACK reason code 0x{code:02X})"
                continue
            acked.append(seq)
        self.counters["inflight"] = len(self._inflight)
        if acked:
            self._acked_unflushed.update(acked)
            self.counters["acked"] += len(acked)
            self.log.mark_delivered_later(acked)
            self._acks_ready.set()
        if nack is not None:
            self.last_nack = nack
            log.warning("%s; reconnecting and sending again from the outbox", nack)
            self.link.drop(generation, nack)
        self._wake.set()

    # ---------------------------------------------------------------- running
    async def run(self, stopping: asyncio.Event) -> None:
        flusher = asyncio.create_task(self._flush_loop(), name="sync-ack-flush")
        waker = asyncio.create_task(_set_when(stopping, self._wake))
        try:
            while not stopping.is_set():
                await self._wake.wait()
                self._wake.clear()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                delay = await self._fill()
                if delay is not None:
                    self._timer = asyncio.get_running_loop().call_later(delay, self._wake.set)
                if flusher.done():
                    flusher.result()  # a failed flusher fails the component
        finally:
            waker.cancel()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def _fill(self) -> float | None:
        """Hand events to paho until the window is full; returns a delay when the rate cap
        holds the rest back."""
        gen = self._gen
        inflight, window = self._inflight, self.window
        acked_unflushed, topic_of = self._acked_unflushed, self._topic_of
        publish = self.link.publish
        published = 0
        delay: float | None = None
        while gen and gen == self._gen and len(inflight) < window:
            lane = self._lane_ready()
            if lane is None:
                lane = await self._next_lane(gen)
                if lane is None or gen != self._gen:
                    break
            # No await until this lane is empty or the window full: no event can reach a
            # higher lane meanwhile, so the free slots stay this lane's.
            buf = lane.buf
            bucket = self._bucket if lane.priority > Priority.HIGH else None
            offline = False
            while buf and len(inflight) < window:
                item = buf[0]
                if bucket is not None:
                    now = self._monotonic()
                    if not bucket.take(now):
                        delay = bucket.wait_s(now)
                        break
                buf.popleft()
                if item.seq in acked_unflushed:
                    continue  # acknowledged on an earlier connection, not yet marked delivered
                payload = (item.payload if isinstance(item, OutboxItem)
                           else item.to_json().encode())
                topic = topic_of.get(item.type)
                if topic is None:
                    topic = topic_of[item.type] = self.topics.event(item.type)
                mid = publish(topic, payload, qos=1)
                if mid is None:
                    buf.appendleft(item)
                    offline = True
                    break
                inflight[mid] = item.seq
                published += 1
            if offline or delay is not None:
                break
        counters = self.counters
        counters["published"] += published
        counters["inflight"] = len(inflight)
        if len(inflight) > counters["inflight_peak"]:
            counters["inflight_peak"] = len(inflight)
        return delay
    def _lane_ready(self) -> _Lane | None:
        """The lane `_next_lane` would pick when no lane has to read from the log first
        (the live tail: no coroutine a published event); None otherwise."""
        for lane in self._lanes:
            if lane.buf:
                return lane
            if lane.more and not lane.reading:
                return None
        return None

    async def _next_lane(self, gen: int) -> _Lane | None:
        for lane in self._lanes:
            if not lane.buf and lane.more and not lane.reading:
                await self._refill(lane, gen)
                if gen != self._gen:
                    return None
            if lane.buf:
                return lane
        return None

    async def _refill(self, lane: _Lane, gen: int) -> None:
        lane.reading = True
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(
                self._reader, lambda: self.log.outbox(self.page, after_seq=lane.cursor,
                                                      priority=lane.priority))
        finally:
            lane.reading = False
        if gen != self._gen:
            return  # the connection changed while reading: the lane was reset
        lane.buf.extend(rows)
        if rows:
            lane.cursor = rows[-1].seq
        if len(rows) < self.page:
            # Caught up, unless the emitter announced events the read did not see.
            lane.more = lane.seen > lane.cursor
            lane.live = not lane.more
        else:
            lane.more, lane.live = True, False

    async def _flush_loop(self) -> None:
        """See that queued delivered marks are written: by an append within
        `ack_linger_s`, else by a transaction of their own."""
        loop = asyncio.get_running_loop()
        while True:
            await self._acks_ready.wait()
            self._acks_ready.clear()
            while (age := self.log.unmarked_age()) is not None:
                if age < self.ack_linger_s:
                    await asyncio.sleep(self.ack_linger_s - age)  # a batching delay
                    self._collect()
                elif not await self._flush_once(loop, wait=False):
                    # An append is writing: it may carry the marks; look again later.
                    await asyncio.sleep(self.ack_linger_s / 4)
                    self._collect()

    def _collect(self) -> None:
        """Take note of the marks the log has written since the last call."""
        seqs, changed = self.log.take_marked()
        if seqs:
            self._acked_unflushed.difference_update(seqs)
            self.counters["delivered"] += changed
            self.delivered_changed.set()

    async def _flush_once(self, loop: asyncio.AbstractEventLoop, *, wait: bool = True) -> bool:
        """Write the queued marks in a transaction of their own; with ``wait=False`` not
        while another write holds the log (returns False then)."""
        async with self._flush_lock:
            self._collect()
            if self.log.unmarked_age() is None:
                return True
            done = await loop.run_in_executor(
                self._writer, lambda: self.log.flush_delivered(wait=wait))
            if done:
                self.counters["ack_flushes"] += 1
            self._collect()
            return done

    async def flush(self) -> None:
        """Write every acknowledgement received so far (at shutdown)."""
        await self._flush_once(asyncio.get_running_loop())

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._reader.shutdown(wait=False)
        self._writer.shutdown(wait=True)

    @property
    def inflight(self) -> int:
        return len(self._inflight)


async def _set_when(condition: asyncio.Event, target: asyncio.Event) -> None:
    await condition.wait()
    target.set()
