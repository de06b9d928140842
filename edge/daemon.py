"""The daemon: opens the event log, wires components from config, supervises them, reports
health, and shuts down cleanly (SIGTERM/SIGINT) within a few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge import __version__, sdnotify
from edge.catalogue import PRIORITY_NAMES
from edge.clock import Clock, SystemClock
from edge.config import Config
from edge.eventlog import EventLog, RetentionPolicy
from edge.events import source_uri
from edge.ids import new_boot_id
from edge.processing.registry import ProcessorFactory
from edge.runtime import EXIT_FATAL, Component, ComponentContext, Emitter, Health, Supervisor
from edge.services import CommandHandler, Services, SimHooks
from edge.status import write_status
from edge.wiring import build_components

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 4.0


async def wait_first(*events: asyncio.Event) -> None:
    """Wait until any of `events` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


def retention_policy(config: Config) -> RetentionPolicy:
    s = config.storage
    return RetentionPolicy(max_age_s=s.max_age_days * 86400, max_bytes=int(s.max_mb * 2**20),
                           min_free_bytes=int(s.min_free_mb * 2**20))


class Bookkeeping:
    """The command bookkeeping on disk (commands.db, receipts.db, signage hand-off files), as the
    housekeeper sees it: its size, and a prune of what is over."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def bytes(self) -> int:
        from edge.sync.bookkeeping import bookkeeping_bytes

        return bookkeeping_bytes(self.config)

    def prune(self, now: float) -> None:
        from edge.insight.pos import prune_receipts
        from edge.sync.bookkeeping import prune_signage, receipts_path, signage_dir

        with contextlib.suppress(OSError):
            prune_signage(signage_dir(self.config), now)
        prune_receipts(receipts_path(self.config), now)


class Housekeeper:
    """Applies retention and the free-disk floor, reports dropped events as an event, and
    turns DEGRADED while events are being dropped (checked every `health_every_s`). A log
    opened degraded (full disk at start) is retried each round until it opens normally."""

    name = "housekeeping"

    def __init__(self, event_log: EventLog, every_s: float = 60.0,
                 health_every_s: float = 2.0, *,
                 bookkeeping: Bookkeeping | None = None) -> None:
        self.log = event_log
        self.bookkeeping = bookkeeping
        self.every_s = every_s
        self.health_every_s = min(health_every_s, every_s)

    def _retention(self, now: float) -> dict[str, int]:
        """Retention with the command bookkeeping counted in the storage budget; under disk
        pressure, finished bookkeeping goes before any event."""
        other = 0
        if self.bookkeeping is not None:
            if self.log.free_bytes() < self.log.policy.min_free_bytes:
                self.bookkeeping.prune(now)
            other = self.bookkeeping.bytes()
        return self.log.enforce_retention(now, other_bytes=other)

    async def _report_drops(self, ctx: ComponentContext) -> None:
        for reason, by_prio in self.log.take_drop_report().items():
            stored = await ctx.emit("omo.device.events.dropped", {
                "reason": reason, "count": sum(by_prio.values()),
                "by_priority": {PRIORITY_NAMES.get(p, str(p)): n for p, n in by_prio.items()},
            })
            if stored is None:  # the disk is still full: keep it and report it next round
                self.log.restore_drop_report(reason, by_prio)

    async def run(self, ctx: ComponentContext) -> None:
        loop = asyncio.get_running_loop()
        next_round = 0.0
        pressure = False
        while True:
            if time.monotonic() >= next_round:
                next_round = time.monotonic() + self.every_s
                if self.log.degraded is not None:
                    await loop.run_in_executor(None, self.log.retry_open)
                removed = await loop.run_in_executor(None, self._retention, ctx.clock.now())
                for reason, n in removed.items():
                    ctx.count(f"removed.{reason}", n)
                pressure = "disk_pressure" in removed
                await self._report_drops(ctx)
            if self.log.degraded is not None:
                ctx.set_health(Health.DEGRADED, self.log.degraded)
            elif self.log.dropping(within_s=self.health_every_s * 2):
                ctx.set_health(Health.DEGRADED, "events are being dropped: the disk is full "
                                                "or failing")
            elif pressure:
                ctx.set_health(Health.DEGRADED, "free disk below the floor")
            else:
                ctx.set_health(Health.OK)
            if await ctx.sleep(max(0.0, min(self.health_every_s,
                                            next_round - time.monotonic()))):
                return


class StatusReporter:
    """Writes the health snapshot (components, readings per second, outbox) every few seconds,
    and pets the systemd watchdog."""

    name = "status"

    def __init__(self, daemon: Daemon, every_s: float = 2.0) -> None:
        self.daemon = daemon
        self.every_s = every_s
        self._last: tuple[float, dict[str, int]] | None = None

    def snapshot(self) -> dict[str, Any]:
        d = self.daemon
        now_mono = time.monotonic()
        totals: dict[str, int] = {}
        for state in d.supervisor.states.values():
            for source, n in state.readings.items():
                totals[source] = totals.get(source, 0) + n
        rates: dict[str, float] = {}
        if self._last is not None:
            dt = max(1e-6, now_mono - self._last[0])
            rates = {s: round((n - self._last[1].get(s, 0)) / dt, 2) for s, n in totals.items()}
        self._last = (now_mono, totals)
        stats = d.event_log.stats()
        now = d.clock.now()
        return {
            "store": d.config.store, "device": d.config.device, "version": __version__,
            "bootid": d.bootid, "pid": os.getpid(), "started_at": d.started_at,
            "updated_at": time.time(), "interval_s": self.every_s,
            "components": {n: s.to_dict() for n, s in d.supervisor.states.items()},
            "readings": {"total": totals, "per_second": rates},
            "sensors": d.services.sensors.snapshot(),
            "outbox": {
                "total": stats.total, "queued": stats.queued, "delivered": stats.delivered,
                "last_seq": stats.last_seq, "dropped": stats.dropped(),
                "oldest_undelivered_age_s": stats.oldest_undelivered_age_s(now),
            },
            "counters": stats.counters,
        }

    async def run(self, ctx: ComponentContext) -> None:
        loop = asyncio.get_running_loop()
        while True:
            snap = await loop.run_in_executor(None, self.snapshot)
            self.daemon.last_status = snap
            try:
                await loop.run_in_executor(None, write_status,
                                           self.daemon.config.storage.state_dir, snap)
                ctx.set_health(Health.OK)
            except OSError as exc:
                ctx.count("write_errors")
                ctx.set_health(Health.DEGRADED, f"cannot write the status file: {exc.strerror}")
            sdnotify.notify("WATCHDOG=1")
            if await ctx.sleep(self.every_s):
                return


class Daemon:
    """One store device: the event log, the emitter, and the supervised components."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        components: Sequence[Component] = (),
        processors: Sequence[ProcessorFactory] = (),
        hooks: SimHooks | None = None,
        command_handlers: dict[str, CommandHandler] | None = None,
        status_every_s: float = 2.0,
        housekeeping_every_s: float = 60.0,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.bootid = new_boot_id()
        self.extra_components = list(components)
        self.extra_processors = list(processors)
        self.status_every_s = status_every_s
        self.housekeeping_every_s = housekeeping_every_s
        self.started_at = time.time()
        self.last_status: dict[str, Any] | None = None
        self.event_log = EventLog(config.storage.path, policy=retention_policy(config))
        self.emitter = Emitter(self.event_log, self.clock,
                               source=source_uri(config.store, config.device), bootid=self.bootid)
        self.services = Services(config=config, clock=self.clock, event_log=self.event_log,
                                 emitter=self.emitter, hooks=hooks or SimHooks(),
                                 command_handlers=dict(command_handlers or {}))
        self.supervisor = Supervisor(self.services)
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event | None = None, *, handle_signals: bool = True) -> int:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        await self.emitter.start()
        faulted: set[asyncio.Future[Any]] = set()

        def recovered_while_running(moved: Path) -> None:  # on the event log's thread
            def emit() -> None:
                fut = asyncio.ensure_future(self._emit_recovered(moved))
                faulted.add(fut)
                fut.add_done_callback(faulted.discard)
            loop.call_soon_threadsafe(emit)

        self.event_log.on_recovered = recovered_while_running
        for moved in self.event_log.take_recoveries():
            await self._emit_recovered(moved)
        components: list[Component] = [
            Housekeeper(self.event_log, self.housekeeping_every_s,
                        bookkeeping=Bookkeeping(self.config)),
            StatusReporter(self, self.status_every_s),
            *build_components(self.config, self.services, self.extra_processors),
            *self.extra_components,
        ]
        await self.emitter.emit("omo.device.daemon.started", {
            "version": __version__, "components": [c.name for c in components]})
        for component in components:
            self.supervisor.start(component)
        sdnotify.notify("READY=1\nSTATUS=running")
        log.info("omo-edge %s running for %s/%s with %d components", __version__,
                 self.config.store, self.config.device, len(components))
        self.ready.set()
        try:
            await wait_first(stop, self.supervisor.fatal_requested)
        finally:
            fatal = self.supervisor.fatal
            await self._shutdown(handle_signals, "signal" if fatal is None
                                 else f"fatal: {fatal[0]}")
        return 0 if fatal is None else EXIT_FATAL

    async def _emit_recovered(self, moved: Path) -> None:
        self.event_log.take_recoveries()
        await self.emitter.emit("omo.device.component.faulted", {
            "component": "eventlog", "fault": "corrupt-database",
            "detail": f"moved aside to {moved.name}; a new log was started",
        })

    async def _shutdown(self, handled_signals: bool, reason: str) -> None:
        started = time.monotonic()
        sdnotify.notify("STOPPING=1")
        log.info("stopping")
        await self.supervisor.stop(timeout=SHUTDOWN_BUDGET_S * 0.6)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.emitter.emit("omo.device.daemon.stopped", {
                "reason": reason[:128], "uptime_s": round(time.time() - self.started_at, 3)}),
                timeout=1.0)
        await self.emitter.stop()
        final = dict(self.last_status or {}, stopped_at=time.time(), updated_at=time.time())
        final["components"] = {n: st.to_dict() for n, st in self.supervisor.states.items()}
        with contextlib.suppress(OSError):
            write_status(self.config.storage.state_dir, final)
        self.event_log.close()
        if handled_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("stopped in %.2f s", time.monotonic() - started)
