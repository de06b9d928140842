"""A channel server with its trigger processor on a real event log, outside a daemon: what
`omo-edge bench signage` measures, and what tests drive with real Unix-socket players."""

from __future__ import annotations

import asyncio
from types import TracebackType

from edge.backoff import Backoff
from edge.clock import Clock, SystemClock
from edge.config import Config
from edge.eventlog import EventLog
from edge.events import source_uri
from edge.ids import new_boot_id
from edge.processing.host import ProcessorHost
from edge.runtime import Emitter, Supervisor
from edge.services import Services
from edge.signage_link.server import ChannelServer
from edge.signage_link.triggers import build as build_triggers
from edge.sync.handlers import DefaultHandlers


class ChannelRig:
    """``async with ChannelRig(config) as rig``: the event log, the emitter, the supervised
    channel server and (with rules configured) the trigger processor, all listening."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.log = EventLog(config.storage.path)
        self.emitter = Emitter(self.log, self.clock, source=source_uri(config.store,
                                                                       config.device),
                               bootid=new_boot_id())
        self.services = Services(config=config, clock=self.clock, event_log=self.log,
                                 emitter=self.emitter)
        self.supervisor = Supervisor(self.services, backoff=Backoff(initial_s=0.01, max_s=0.1))
        self.server = ChannelServer(config)
        self.hosts = [ProcessorHost(p) for p in build_triggers(config)]
        self.handlers = DefaultHandlers(config, self.services, bootid=self.emitter.bootid)

    async def __aenter__(self) -> ChannelRig:
        await self.emitter.start()
        self.supervisor.start(self.server)
        for host in self.hosts:
            self.supervisor.start(host)
        await asyncio.wait_for(self.server.listening.wait(), 10)
        for host in self.hosts:
            await asyncio.wait_for(host.attached.wait(), 10)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.supervisor.stop()
        await self.emitter.stop()
        self.log.close()
