"""Replay: run a recording through the processors, at full speed, into a fresh event log.

The clock is a ManualClock set to each reading's time before the reading is handed on, so
processors see exactly the times they saw live; readings are delivered with back-pressure
(`ReadingBus.deliver`), so none is dropped however slow a processor is; ticks come from the
readings' times and, at the end, up to the recording's end. Events carry the recording's
store and device, so they read like the ones the store produced (ids and boot ids differ).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge.clock import ManualClock
from edge.config import Config
from edge.eventlog import EventLog
from edge.events import source_uri
from edge.ids import new_boot_id
from edge.processing.host import ProcessorHost
from edge.processing.registry import ProcessorFactory, build_processors
from edge.recording.format import RecordingReader, Tally
from edge.runtime import Emitter, Supervisor
from edge.services import Services

PROGRESS_EVERY_S = 2.0


@dataclass
class ReplayResult:
    processors: list[str]
    tally: Tally
    events: dict[str, int] = field(default_factory=dict)
    simulated_s: float = 0.0
    wall_s: float = 0.0
    counters: dict[str, dict[str, int]] = field(default_factory=dict)


async def replay(recording: Path, db: Path, config: Config, *,
                 processors: Sequence[ProcessorFactory] = (), configured: bool = True,
                 progress: Callable[[str], None] | None = None) -> ReplayResult:
    """Replay `recording` into the event log at `db` (which should not hold events yet).
    Raises RecordingError for a file that is not a recording, EventLogError for the log,
    ValueError if two processors share a name."""
    reader = RecordingReader(recording)
    header = reader.header
    made = build_processors(config, processors) if configured else [
        f(config) for f in processors]
    clock = ManualClock(header.started_at)
    event_log = EventLog(db)
    emitter = Emitter(event_log, clock, source=source_uri(header.store, header.device),
                      bootid=new_boot_id())
    await emitter.start()
    services = Services(config=config, clock=clock, event_log=event_log, emitter=emitter)
    supervisor = Supervisor(services)
    hosts = [ProcessorHost(p, live_ticks=False) for p in made]
    for host in hosts:
        supervisor.start(host)
    await asyncio.gather(*(h.attached.wait() for h in hosts))
    started = time.monotonic()
    next_progress = started + PROGRESS_EVERY_S
    last_t = header.started_at
    try:
        for n, reading in enumerate(reader.readings(), 1):
            if reading.t > clock.now():
                clock.set(reading.t)
            last_t = max(last_t, reading.t)
            await services.readings.deliver(reading)
            if progress is not None and n % 1000 == 0 and time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_EVERY_S
                progress(f"replay: {n} readings, {last_t - header.started_at:.0f} s of "
                         "recording")
        end = reader.tally.end if reader.tally.end is not None else last_t
        if end > clock.now():
            clock.set(end)
        for host in hosts:
            await host.finish(end)
        await _settle(hosts)
    finally:
        reader.close()
        await supervisor.stop(timeout=5.0)
        await emitter.stop()
        result = ReplayResult(
            processors=[p.name for p in made], tally=reader.tally,
            simulated_s=max(0.0, last_t - header.started_at),
            wall_s=time.monotonic() - started,
            counters={n: dict(s.counters) for n, s in supervisor.states.items()})
        for stored in event_log.query():
            result.events[stored.event.type] = result.events.get(stored.event.type, 0) + 1
        event_log.close()
    return result


async def _settle(hosts: list[ProcessorHost]) -> None:
    """Until no host has work: an event one processor emits may be input to another (a host
    is settled once its events are stored, and the log hands stored events to subscribers
    before the emitter's futures resolve)."""
    while True:
        for host in hosts:
            await host.settle()
        if all(not len(h.inbox) for h in hosts):
            return
