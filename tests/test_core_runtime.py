"""Runtime: supervision with backoff, group commit, shutdown on SIGTERM, status and CLI."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.clock import ManualClock
from edge.daemon import Daemon
from edge.eventlog import EventLog, open_readonly
from edge.events import validate_envelope
from edge.logsetup import JournalFormatter
from edge.runtime import (
    GC_YOUNG_THRESHOLD,
    Backoff,
    ComponentContext,
    Emitter,
    Health,
    Supervisor,
    tune_gc,
)
from edge.services import Services
from tests.core_fixtures import SOURCE, minimal_config
from tests.waiting import await_until

ROOT = Path(__file__).resolve().parent.parent


class Flaky:
    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0

    async def run(self, ctx: ComponentContext) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise RuntimeError(f"sensor glitch {self.runs}")
        ctx.set_health(Health.OK, "recovered")
        await ctx.stopping.wait()


class Ticker:
    name = "ticker"

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self, ctx: ComponentContext) -> None:
        while not ctx.stopping.is_set():
            self.ticks += 1
            ctx.reading("ticker:test")
            await asyncio.sleep(0)


def test_a_failing_component_is_restarted_with_backoff_while_others_go_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = EventLog(tmp_path / "e.db")
        clock = ManualClock()
        emitter = Emitter(log, clock, source=SOURCE, bootid="c" * 32)
        await emitter.start()
        services = Services(config=minimal_config(tmp_path), clock=clock, event_log=log,
                            emitter=emitter)
        sup = Supervisor(services, backoff=Backoff(initial_s=0.01, max_s=0.05))
        flaky, ticker = Flaky(failures=3), Ticker()
        sup.start(flaky)
        sup.start(ticker)
        await await_until(lambda: sup.states["flaky"].detail == "recovered")
        ticks_then = ticker.ticks
        await await_until(lambda: ticker.ticks > ticks_then + 10)
        state = sup.states["flaky"]
        assert state.restarts == 3 and state.health == Health.OK
        assert state.last_error == "RuntimeError: sensor glitch 3"
        await await_until(lambda: log.stats().total == 3)
        await sup.stop(timeout=1)
        await emitter.stop()
        faults = [s.event for s in log.query(types=["omo.device.component.faulted"])]
        assert [f.data["restarts"] for f in faults] == [1, 2, 3]
        assert sup.states["ticker"].readings["ticker:test"] == ticker.ticks
        log.close()

    asyncio.run(scenario())


def test_backoff_grows_and_is_capped() -> None:
    b = Backoff(initial_s=0.5, max_s=4, factor=2)
    assert [b.delay(n) for n in (1, 2, 3, 4, 5, 9)] == [0.5, 1, 2, 4, 4, 4]


def test_tune_gc_freezes_the_start_up_heap_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0  # what was alive is out of the collector's walks
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, before[1], before[2])
        assert before[0] < GC_YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_append_gives_an_awaitable_that_resolves_once_stored(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = EventLog(tmp_path / "e.db")
        emitter = Emitter(log, ManualClock(), source=SOURCE, bootid="c" * 32)
        with pytest.raises(RuntimeError, match="not started"):
            emitter.append(emitter.make("omo.test.sample.created", {"n": 0}))
        await emitter.start()
        pending = emitter.append(emitter.make("omo.test.sample.created", {"n": 1}))
        assert not pending.done()  # durable only once the writer committed it
        stored = await pending
        assert stored is not None and stored.seq == 1
        assert [s.event.id for s in log.query()] == [stored.id]
        await emitter.stop()
        log.close()

    asyncio.run(scenario())


def test_concurrent_emits_share_transactions_and_keep_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = EventLog(tmp_path / "e.db")
        emitter = Emitter(log, ManualClock(), source=SOURCE, bootid="c" * 32)
        await emitter.start()
        seen: list[int] = []
        emitter.subscribe(lambda ev: seen.append(ev.seq))
        results = await asyncio.gather(*(emitter.emit("omo.test.sample.created", {"n": i})
                                         for i in range(500)))
        assert [r.seq for r in results if r] == list(range(1, 501))
        assert seen == list(range(1, 501))
        await emitter.stop()
        log.close()

    asyncio.run(scenario())


def test_a_full_disk_drops_events_but_the_emitter_keeps_running(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = EventLog(tmp_path / "e.db")
        emitter = Emitter(log, ManualClock(), source=SOURCE, bootid="c" * 32)
        await emitter.start()
        assert await emitter.emit("omo.test.sample.created", {"n": 0}) is not None
        pages = log.db.execute("PRAGMA page_count").fetchone()[0]
        log.db.execute(f"PRAGMA max_page_count={pages}")
        outcomes = [await emitter.emit("omo.test.sample.created", {"n": i, "payload": "x" * 5000})
                    for i in range(5)]
        assert outcomes == [None] * 5
        assert log.counters()["dropped.disk_full"] == 5
        log.db.execute("PRAGMA max_page_count=100000")
        assert await emitter.emit("omo.test.sample.created", {"n": 9}) is not None
        await emitter.stop()
        log.close()

    asyncio.run(scenario())


def test_journald_format_has_priorities_and_no_timestamps() -> None:
    rec = logging.LogRecord("omo_edge.x", logging.ERROR, __file__, 1, "disk %s", ("full",), None)
    line = JournalFormatter("%(name)s: %(message)s").format(rec)
    assert line == "<3>omo_edge.x: disk full"


def _write_config(tmp: Path) -> Path:
    p = tmp / "config.toml"
    p.write_text(f'[store]\nid = "store-1"\ndevice = "edge-01"\n'
                 f'[storage]\npath = "{tmp}/events.db"\nmin_free_mb = 0\n')
    return p


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_daemon_runs_reports_status_and_stops_on_sigterm_within_5s(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "status.json").exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no status file"
            time.sleep(0.02)  # polling for a file the daemon writes; not synchronisation
        status = cli("status", "--config", str(config))
        assert status.returncode == 0, status.stdout + status.stderr
        assert "store-1/edge-01: running" in status.stdout
        assert "housekeeping" in status.stdout
        snap = json.loads(cli("status", "--json", "--config", str(config)).stdout)
        assert snap["running"] and snap["components"]["housekeeping"]["health"] == "ok"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    assert stopped_in < 5.0, f"took {stopped_in:.1f}s to stop"
    log = open_readonly(tmp_path / "events.db")
    events = [s.event for s in log.query()]
    log.close()
    assert events[0].type == "omo.device.daemon.started"
    assert events[-1].type == "omo.device.daemon.stopped"
    for ev in events:
        validate_envelope(ev.to_dict())
    listed = cli("events", "--config", str(config), "--type", "omo.device.daemon")
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [x["type"] for x in lines] == ["omo.device.daemon.started", "omo.device.daemon.stopped"]
    tail = cli("events", "--db", str(tmp_path / "events.db"), "--tail", "1")
    assert json.loads(tail.stdout)["type"] == "omo.device.daemon.stopped"
    assert cli("status", "--config", str(config)).returncode == 1  # no longer running


def test_in_process_daemon_emits_only_valid_events(tmp_path: Path) -> None:
    async def scenario() -> None:
        daemon = Daemon(minimal_config(tmp_path), status_every_s=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop, handle_signals=False))
        await await_until(lambda: daemon.last_status is not None)
        assert daemon.last_status is not None
        assert daemon.last_status["outbox"]["last_seq"] >= 1
        stop.set()
        assert await task == 0

    asyncio.run(scenario())
    with open_readonly(tmp_path / "events.db") as log:
        for stored in log.query():
            validate_envelope(stored.event.to_dict())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_storage_is_a_clear_error_at_start(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nid = "s"\ndevice = "d"\n[storage]\npath = "{ro}/sub/e.db"\n')
    r = cli("run", "--config", str(cfg))
    assert r.returncode == 1 and "cannot" in r.stderr


def test_storage_under_a_file_is_a_clear_error_at_start(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nid = "s"\ndevice = "d"\n[storage]\npath = "{tmp_path}/f/e.db"\n')
    r = cli("run", "--config", str(cfg))
    assert r.returncode == 1
    assert "is not a directory" in r.stderr


class Chatty:
    """Emits an event per tick, like a busy sensor."""

    name = "chatty"

    def __init__(self) -> None:
        self.sent = 0
        self.dropped = 0

    async def run(self, ctx: ComponentContext) -> None:
        while not ctx.stopping.is_set():
            stored = await ctx.emit("omo.test.sample.created",
                                    {"n": self.sent, "payload": "x" * 2000})
            self.sent += 1
            self.dropped += stored is None
            await asyncio.sleep(0)


def test_daemon_keeps_running_on_a_really_full_disk(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
            capture_output=True).returncode != 0:
        pytest.skip("needs root and tmpfs to make a really full file system")
    try:
        async def scenario() -> None:
            chatty = Chatty()
            daemon = Daemon(minimal_config(mnt), components=[chatty], status_every_s=0.05)
            stop = asyncio.Event()
            task = asyncio.create_task(daemon.run(stop, handle_signals=False))
            await await_until(lambda: chatty.dropped >= 50, timeout=60)
            sent_then = chatty.sent
            await await_until(lambda: chatty.sent > sent_then + 20)  # still going
            assert daemon.supervisor.states["chatty"].restarts == 0
            assert daemon.supervisor.states["status"].restarts == 0
            assert daemon.event_log.counters()["dropped.disk_full"] >= 50
            stop.set()
            assert await task == 0

        asyncio.run(scenario())
        with EventLog(mnt / "events.db", readonly=True) as log:
            assert log.integrity_check() == "ok"
            assert log.stats().total > 0
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
