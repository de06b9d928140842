"""Event log recovery at any size: a corrupt log over 300 MB, found at open or while the
daemon runs, is moved aside (kept) and replaced; a full disk at start leaves the daemon
running degraded until space returns."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.catalogue import Priority
from edge.daemon import Daemon
from edge.eventlog import EventLog, open_readonly
from edge.runtime import ComponentContext, Health
from tests.core_fixtures import minimal_config, sample
from tests.tmpfs import mount_tmpfs
from tests.waiting import await_until

BIG_EVENTS = 10_500
PAD = 30_000  # bytes of data an event: 10,500 of them make a log over 300 MB


def _fast_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory in memory (tmpfs /dev/shm) when there is one: a 300 MB file is written
    and read there in well under a second."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 << 30:
        d = shm / f"omo-edge-test-{os.getpid()}"
        d.mkdir(exist_ok=True)
        return d
    return tmp_path_factory.mktemp("big")


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A sound event log over 300 MB (built inside SQLite in one transaction), and its
    last seq."""
    d = _fast_dir(tmp_path_factory)
    db = d / "big.db"
    with EventLog(db) as log:
        log.append_many([sample(i) for i in range(10)])
        log.db.execute("BEGIN")
        log.db.execute(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) "
            "INSERT INTO events(id, type, time, priority, source, bootid, data) "
            "SELECT printf('big-%d', n), 'omo.test.sample.created', "
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 2, 'urn:omo:store-1:edge-01', ?, "
            "json_object('n', n, 'pad', printf('%.*c', ?, 'x')) FROM c",
            (BIG_EVENTS, "b" * 32, PAD))
        log.db.execute("COMMIT")
        last = log.last_seq()
    assert db.stat().st_size > 300 << 20
    yield db, last
    if d.parent == Path("/dev/shm"):
        shutil.rmtree(d, ignore_errors=True)


def _copy(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / "events.db"
    shutil.copyfile(src, dst)
    return dst


def _wreck(db: Path, offset: int | None = None, length: int = 4 << 20) -> None:
    """Overwrite `length` bytes at `offset` (default: the middle of the file)."""
    with open(db, "r+b") as fh:
        fh.seek(db.stat().st_size // 2 if offset is None else offset)
        fh.write(b"\xff" * length)
        fh.flush()
        os.fsync(fh.fileno())


@pytest.fixture
def work(big_log: tuple[Path, int]) -> Iterator[Path]:
    d = big_log[0].parent / f"w{os.urandom(4).hex()}"
    d.mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_a_corrupt_log_over_300mb_is_moved_aside_at_open(big_log: tuple[Path, int],
                                                         work: Path) -> None:
    db = _copy(big_log[0], work)
    _wreck(db)
    log = EventLog(db)
    try:
        assert log.recovered_from is not None, "a corrupt 300 MB log was opened as sound"
        assert log.recovered_from.exists()
        assert log.recovered_from.stat().st_size > 300 << 20  # kept, not deleted
        ev = log.append(sample(1))
        assert ev is not None and ev.seq > big_log[1]
        assert log.counters()["log.corrupt_recovered"] == 1
        assert log.quick_check() == "ok"
    finally:
        log.close()


def test_corruption_met_while_running_is_moved_aside_and_the_daemon_goes_on(
        big_log: tuple[Path, int], work: Path) -> None:
    _copy(big_log[0], work)

    async def scenario() -> None:
        daemon = Daemon(minimal_config(work), status_every_s=0.05)
        assert daemon.event_log.recovered_from is None  # sound at open
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop, handle_signals=False))
        await await_until(lambda: daemon.last_status is not None)
        loop = asyncio.get_running_loop()
        # damage the oldest events, where the publisher starts reading the outbox
        await loop.run_in_executor(None, _wreck, work / "events.db", 1 << 20)
        sent = await loop.run_in_executor(None, lambda: daemon.event_log.outbox(
            1000, after_seq=0, priority=Priority(2)))
        assert all(item.seq > big_log[1] for item in sent)  # from the new log
        await await_until(lambda: daemon.event_log.recovered_from is not None, timeout=30,
                          what="the corrupt log to be moved aside")
        await await_until(lambda: any(
            s.event.type == "omo.device.component.faulted"
            for s in daemon.event_log.query()), what="the faulted event")
        seen = daemon.last_status
        await await_until(lambda: daemon.last_status is not seen)  # the status goes on
        assert daemon.supervisor.states["status"].restarts == 0
        assert daemon.supervisor.states["housekeeping"].restarts == 0
        stop.set()
        assert await task == 0

    asyncio.run(scenario())
    moved = list(work.glob("events.db.corrupt-*"))
    assert [p for p in moved if p.stat().st_size > 300 << 20]
    with open_readonly(work / "events.db") as log:
        faulted = [s.event for s in log.query(types=["omo.device.component.faulted"])]
        assert faulted and faulted[0].data["fault"] == "corrupt-database"
        assert log.stats().last_seq > big_log[1]


# ------------------------------------------------------------------ full disk at start
def _fill(path: Path) -> None:
    """Write until the file system has no block left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)


class Chatty:
    name = "chatty"

    def __init__(self) -> None:
        self.sent = 0
        self.dropped = 0

    async def run(self, ctx: ComponentContext) -> None:
        while not ctx.stopping.is_set():
            stored = await ctx.emit("omo.test.sample.created", {"n": self.sent})
            self.sent += 1
            self.dropped += stored is None
            if await ctx.sleep(0.01):
                return


def test_a_full_disk_at_start_runs_degraded_and_recovers(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    if not mount_tmpfs(mnt, "2m"):
        pytest.skip("needs root and tmpfs to make a really full file system")
    try:
        with EventLog(mnt / "events.db") as log:
            now = time.time()
            kept = {e.id for e in log.append_many([sample(i, at=now) for i in range(50)])}
        _fill(mnt / "filler")

        async def scenario() -> None:
            chatty = Chatty()
            daemon = Daemon(minimal_config(mnt), components=[chatty], status_every_s=0.05,
                            housekeeping_every_s=0.1)
            assert daemon.event_log.degraded is not None
            stop = asyncio.Event()
            task = asyncio.create_task(daemon.run(stop, handle_signals=False))
            states = daemon.supervisor.states
            await await_until(lambda: "housekeeping" in states
                              and states["housekeeping"].health is Health.DEGRADED)
            await await_until(lambda: chatty.dropped >= 20)
            ids = {s.event.id for s in daemon.event_log.query()}
            assert kept <= ids  # what it has is kept and readable
            # the dropped-events report survives rounds of a disk that stays full
            await await_until(lambda: daemon.event_log.counters().get(
                "dropped.disk_full", 0) >= 20)
            (mnt / "filler").unlink()
            await await_until(lambda: daemon.event_log.degraded is None, timeout=30,
                              what="the log to open normally again")
            await await_until(lambda: states["housekeeping"].health is Health.OK, timeout=30)
            dropped_then = chatty.dropped
            sent_then = chatty.sent
            await await_until(lambda: chatty.sent > sent_then + 10)
            assert chatty.dropped == dropped_then  # stored again
            await await_until(lambda: any(
                s.event.type == "omo.device.events.dropped"
                for s in daemon.event_log.query()), what="the dropped-events report")
            assert states["chatty"].restarts == 0
            stop.set()
            assert await task == 0

        asyncio.run(scenario())
        with open_readonly(mnt / "events.db") as log:
            stored = [s.event for s in log.query()]
            assert kept <= {e.id for e in stored}
            reports = [e for e in stored if e.type == "omo.device.events.dropped"]
            assert sum(int(e.data["count"]) for e in reports) >= 20
            assert log.integrity_check() == "ok"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_health_is_degraded_while_dropping_and_the_drop_report_survives_a_full_disk(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        chatty = Chatty()
        daemon = Daemon(minimal_config(tmp_path), components=[chatty], status_every_s=0.05,
                        housekeeping_every_s=0.1)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop, handle_signals=False))
        states = daemon.supervisor.states
        await await_until(lambda: chatty.sent > 5)
        log = daemon.event_log
        pages = log.db.execute("PRAGMA page_count").fetchone()[0]
        log.db.execute(f"PRAGMA max_page_count={pages}")  # SQLITE_FULL from now on
        await await_until(lambda: states["housekeeping"].health is Health.DEGRADED)
        assert "dropped" in states["housekeeping"].detail
        # several housekeeping rounds pass with the disk still full
        rounds = log.counters().get("dropped.disk_full", 0)
        await await_until(lambda: log.counters().get("dropped.disk_full", 0) > rounds + 50)
        dropped = chatty.dropped
        log.db.execute("PRAGMA max_page_count=1000000")
        await await_until(lambda: states["housekeeping"].health is Health.OK)
        await await_until(lambda: sum(
            int(s.event.data["count"]) for s in log.query(types=["omo.device.events.dropped"])
        ) >= dropped, what="every drop reported")
        stop.set()
        assert await task == 0

    asyncio.run(scenario())
