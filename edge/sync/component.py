"""The `sync` daemon component: wires the connection, the outbox publisher, device status
and commands together, and reports health (DEGRADED with the reason while the broker is
unreachable or refuses us) and counters in the status file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from edge.config import Config
from edge.eventlog import EventLog
from edge.runtime import Component, ComponentContext, Health
from edge.services import Services
from edge.sync.bookkeeping import command_store_path, prune_signage
from edge.sync.command_store import CommandStore
from edge.sync.commands import RECORD_TYPE, CommandProcessor, FairQueue
from edge.sync.connection import Backoff, Link, LinkListener, LinkStatus, default_client_id
from edge.sync.device_status import DeviceStatus
from edge.sync.handlers import install_defaults
from edge.sync.publisher import Publisher
from edge.sync.topics import Topics

log = logging.getLogger("omo_edge.sync")
HEALTH_CHECK_S = 5.0
PRUNE_EVERY_S = 3600.0  # commands.db and the signage hand-off files, while running


def build(config: Config, services: Services) -> list[Component]:
    if not config.broker.enabled:
        return []
    return [SyncComponent(config, backoff=services.hooks.sync_backoff)]


class _Glue(LinkListener):
    """Birth message on connect; incoming commands to the command queue."""

    def __init__(self, comp: SyncComponent, link: Link, topics: Topics, status: DeviceStatus,
                 queue: FairQueue, processor: CommandProcessor) -> None:
        self.comp = comp
        self.link = link
        self.topics = topics
        self.status = status
        self.queue = queue
        self.processor = processor

    def link_up(self, generation: int, session_present: bool) -> None:
        self.link.publish(self.topics.status, self.status.birth(), qos=1, retain=True)
        self.comp.heartbeat_now.set()

    def message(self, generation: int, topic: str, payload: bytes, mid: int, qos: int) -> None:
        key = self.processor.key(topic)
        if key is None:
            self.link.ack(generation, mid, qos)
            return
        if not self.queue.put(key, (generation, topic, payload, mid, qos), len(payload)):
            self.processor.shed(topic, payload, "a full command queue")
            self.link.ack(generation, mid, qos)


class SyncComponent:
    name = "sync"

    def __init__(self, config: Config, *, backoff: Backoff | None = None) -> None:
        self.config = config
        self.backoff = backoff
        self.heartbeat_now = asyncio.Event()

    async def run(self, ctx: ComponentContext) -> None:
        cfg, b = self.config, self.config.broker
        event_log: EventLog = ctx.services.event_log
        bootid = ctx.emitter.bootid
        topics = Topics(b.prefix, cfg.store, cfg.device)
        counters = ctx.state.counters
        components = ctx.services.components

        def health() -> dict[str, str]:
            return {n: str(s.health) for n, s in components.items()}

        status = DeviceStatus(store=cfg.store, device=cfg.device, bootid=bootid,
                              protocol=b.protocol, health=health)
        link = Link(b, client_id=b.client_id or default_client_id(cfg.store, cfg.device),
                    will=(topics.status, status.will()), subscriptions=topics.command_filters(),
                    backoff=self.backoff)
        publisher = Publisher(event_log, link, topics, window=b.max_inflight,
                              rate_limit=b.rate_limit, counters=counters)
        store = CommandStore(command_store_path(cfg))
        handlers = install_defaults(cfg, ctx.services, bootid)

        async def record(data: dict[str, Any]) -> None:
            await ctx.emit(RECORD_TYPE, data)

        processor = CommandProcessor(
            topics=topics, handlers=handlers, store=store, record=record,
            answer=lambda topic, payload: link.publish(topic, payload, qos=1),
            max_bytes=b.max_command_bytes, counters=counters)
        queue = FairQueue()
        link.listeners += [publisher, _Glue(self, link, topics, status, queue, processor)]
        link.on_status = lambda st: self._report(ctx, st)
        where = f"{b.host}:{b.port}"
        ctx.set_health(Health.DEGRADED, f"connecting to {where}")
        unsubscribe = ctx.emitter.subscribe(publisher.on_event)
        tasks = [
            asyncio.create_task(link.run(ctx.stopping), name="sync-link"),
            asyncio.create_task(publisher.run(ctx.stopping), name="sync-publisher"),
            asyncio.create_task(self._commands(ctx, processor, link, queue), name="sync-cmd"),
            asyncio.create_task(self._status(ctx, link, topics, status, event_log, counters,
                                             store), name="sync-status"),
        ]
        stop_wait = asyncio.create_task(ctx.stopping.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stop_wait], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a failed part fails the component (the supervisor restarts it)
            if not ctx.stopping.is_set():
                ended = ", ".join(t.get_name() for t in done)
                raise RuntimeError(f"sync task ended unexpectedly: {ended}")
        finally:
            stop_wait.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            unsubscribe()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(publisher.flush(), timeout=1.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.close(status.offline("shutdown")), timeout=1.5)
            publisher.close()
            store.close()

    def _report(self, ctx: ComponentContext, st: LinkStatus) -> None:
        b = self.config.broker
        c = ctx.state.counters
        c["connects"] = st.connects
        c["reconnects"] = max(0, st.connects - 1)
        c["refused"] = st.refusals
        c["connect_failures"] = st.failures
        if st.connected:
            ctx.set_health(Health.OK, f"connected to {b.host}:{b.port} (MQTT {b.protocol}"
                           f"{', TLS' if b.tls else ''})")
        else:
            retry = f"; retrying in {st.next_retry_in_s:.1f} s" if st.next_retry_in_s else ""
            ctx.set_health(Health.DEGRADED, f"{st.reason}{retry}; events are kept in the "
                           "outbox until delivered")

    async def _commands(self, ctx: ComponentContext, processor: CommandProcessor, link: Link,
                        queue: FairQueue) -> None:
        while not ctx.stopping.is_set():
            get = asyncio.ensure_future(queue.get())
            stop = asyncio.ensure_future(ctx.stopping.wait())
            await asyncio.wait([get, stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not get.done():
                get.cancel()
                return
            generation, topic, payload, mid, qos = get.result()
            try:
                await processor.handle(topic, payload)
            except Exception:  # a bug must not stop command handling: count, log, go on
                ctx.count("commands.errors")
                log.exception("command handling failed")
            link.ack(generation, mid, qos)

    async def _status(self, ctx: ComponentContext, link: Link, topics: Topics,
                      status: DeviceStatus, event_log: EventLog, counters: dict[str, int],
                      store: CommandStore) -> None:
        loop = asyncio.get_running_loop()
        every = self.config.broker.heartbeat_s
        next_beat = loop.time() + every
        next_prune = loop.time()
        signage = self.config.storage.state_dir / "signage"
        while not ctx.stopping.is_set():
            if loop.time() >= next_prune:
                next_prune = loop.time() + PRUNE_EVERY_S
                await loop.run_in_executor(None, store.prune)
                await loop.run_in_executor(None, prune_signage, signage)
            timeout = max(0.0, min(HEALTH_CHECK_S, next_beat - loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.heartbeat_now.wait(), timeout=timeout)
            if ctx.stopping.is_set():
                return
            now_flag = self.heartbeat_now.is_set()
            self.heartbeat_now.clear()
            if not link.connected:
                continue
            if status.health_changed():
                link.publish(topics.status, status.birth(), qos=1, retain=True)
            if now_flag or loop.time() >= next_beat:
                next_beat = loop.time() + every
                stats = await loop.run_in_executor(None, event_log.stats)
                link.publish(topics.heartbeat, status.heartbeat(stats, counters), qos=0)
                ctx.count("heartbeats")
