"""A component that cannot recover asks the daemon to exit non-zero (FatalError), so systemd
restarts the service: from a plain component, and from the BLE scanner's last recovery stage
through the sensor source, timed by a manual clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from drivers.ble import BleScanner, ScanMode
from drivers.readings import BleAdvert
from edge.clock import ManualClock
from edge.daemon import Daemon
from edge.eventlog import open_readonly
from edge.runtime import EXIT_FATAL, ComponentContext, FatalError
from edge.sources import SensorKind, SensorSource
from tests.ble_fixtures import FakeAdapter, FakeBackend, Radio, Sleeps
from tests.core_fixtures import minimal_config
from tests.waiting import await_until


class Doomed:
    name = "doomed"

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, ctx: ComponentContext) -> None:
        self.runs += 1
        raise FatalError("the widget is gone for good")


def events(path: Path, event_type: str) -> list[dict[str, object]]:
    with open_readonly(path) as log:
        return [s.event.data for s in log.query(types=[event_type])]


def test_a_fatal_error_stops_the_daemon_with_a_non_zero_status(tmp_path: Path) -> None:
    doomed = Doomed()
    daemon = Daemon(minimal_config(tmp_path), components=[doomed], status_every_s=0.05)

    async def go() -> int:
        return await asyncio.wait_for(daemon.run(handle_signals=False), 20)

    assert asyncio.run(go()) == EXIT_FATAL != 2  # 2 would stop systemd from restarting it
    assert doomed.runs == 1  # not restarted in-process
    state = daemon.supervisor.states["doomed"]
    assert state.last_error == "FatalError: the widget is gone for good"
    assert events(tmp_path / "events.db", "omo.device.component.faulted") == [{
        "component": "doomed", "fault": "fatal", "detail": "the widget is gone for good",
        "restarts": 0}]
    assert events(tmp_path / "events.db", "omo.device.daemon.stopped")[0]["reason"] == \
        "fatal: doomed"


def test_a_signal_still_stops_it_with_zero(tmp_path: Path) -> None:
    daemon = Daemon(minimal_config(tmp_path), status_every_s=0.05)

    async def go() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop, handle_signals=False))
        await await_until(lambda: daemon.ready.is_set())
        stop.set()
        return await task

    assert asyncio.run(go()) == 0
    assert daemon.supervisor.fatal is None


def test_a_ble_receiver_that_stays_quiet_ends_in_a_fatal_exit(tmp_path: Path) -> None:
    radio, adapter, clock = Radio(), FakeAdapter(), ManualClock()
    scanners: list[BleScanner] = []

    def make(ctx: ComponentContext) -> BleScanner:
        scanner = BleScanner("rx-1", now=ctx.clock.now, backend=FakeBackend,
                             backend_kwargs={"radio": radio}, scanning=ScanMode.ACTIVE,
                             stale_s=60, adapter_control=adapter, sleep=Sleeps(),
                             check_every_s=0.005)
        scanners.append(scanner)
        return scanner

    source: SensorSource[BleAdvert] = SensorSource(SensorKind.BLE, "rx-1", make)
    daemon = Daemon(minimal_config(tmp_path), clock=clock, components=[source],
                    status_every_s=0.05)

    async def go() -> int:
        task = asyncio.create_task(daemon.run(handle_signals=False))
        await await_until(lambda: len(radio.starts) == 1, what="the first scan")
        clock.advance(60)
        await await_until(lambda: len(radio.starts) == 2, what="a scan restart")
        clock.advance(60)
        await await_until(lambda: adapter.cycles == 1, what="a power cycle")
        assert not task.done()
        assert daemon.services.sensors.online("ble:rx-1")
        clock.advance(60)
        return await asyncio.wait_for(task, 20)

    assert asyncio.run(go()) == EXIT_FATAL
    state = daemon.supervisor.states["ble:rx-1"]
    assert state.last_error is not None and state.last_error.startswith(
        "FatalError: ble rx-1: SensorFatal: no adverts on hci0 for 60 s")
    assert state.counters["recovery.exit"] == 1 and state.counters["recovery.power_cycle"] == 1
    assert radio.live is None  # the scan was stopped on the way out
    assert not daemon.services.sensors.online("ble:rx-1")
    faulted = events(tmp_path / "events.db", "omo.device.component.faulted")
    assert [f["component"] for f in faulted] == ["ble:rx-1"] and faulted[0]["fault"] == "fatal"
    assert "hci0" in str(faulted[0]["detail"])
