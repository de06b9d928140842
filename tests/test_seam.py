"""The processor seam: the reading bus and its back-pressure, the processor host, record
and replay, and the same events from the simulator and from a replayed recording."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers.readings import BleAdvert, Direction, DoorCrossing, Frame, WeightSample
from edge.config import Config, load
from edge.daemon import Daemon
from edge.eventlog import open_readonly
from edge.events import format_time
from edge.processing.bus import ReadingBus
from edge.processing.host import Inbox
from edge.recording.format import Header, RecordingReader, RecordingWriter
from edge.recording.replay import replay
from edge.runtime import ComponentContext
from sim.runner import Options, simulate
from tests.core_fixtures import minimal_config
from tests.seam_processor import Threaded, echo, fragile, window_counter
from tests.waiting import await_until

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_225_600.0
TEST_TYPE = "omo.test.sample.created"


def advert(rx: str, t: float, rssi: int = -60) -> BleAdvert:
    return BleAdvert(receiver=rx, t=t, rssi=rssi, address_hash="0123456789abcdef",
                     manufacturer_data=((76, bytes.fromhex("0215" + "ab" * 21)),),
                     service_uuids=("0000feaa-0000-1000-8000-00805f9b34fb",), tx_power=-59)


def weight(shelf: str, plate: int, t: float, grams: float = 512.5, seq: int = 0) -> WeightSample:
    return WeightSample(shelf=shelf, controller="c1", plate=plate, grams=grams, seq=seq, t=t)


def test_subscriptions_are_by_reading_class() -> None:
    bus = ReadingBus()
    adverts: list[BleAdvert] = []
    weights: list[WeightSample] = []
    undo = bus.subscribe_callback(BleAdvert, adverts.append)
    bus.subscribe_callback(WeightSample, weights.append)
    bus.publish(advert("rx", T0))
    bus.publish(weight("s", 1, T0))
    bus.publish(DoorCrossing("door", T0, Direction.IN))  # nobody subscribed: no error
    undo()
    bus.publish(advert("rx", T0 + 1))
    assert [a.t for a in adverts] == [T0] and [w.plate for w in weights] == [1]
    assert bus.has_subscribers(WeightSample) and not bus.has_subscribers(BleAdvert)


def test_queued_kinds_overflow_is_counted_and_frames_are_newest_only() -> None:
    async def scenario() -> None:
        inbox = Inbox(capacity=3)
        for i in range(5):
            inbox.offer(advert("rx", T0 + i))
        assert inbox.dropped == {"ble": 2}
        image = np.zeros((2, 2, 3), np.uint8)
        for i in range(3):
            inbox.offer(Frame("cam", T0 + i, i, image))
        assert inbox.skipped_frames == 2 and len(inbox) == 4
        # a replay's put waits for room instead of dropping
        late = asyncio.ensure_future(inbox.put(advert("rx", T0 + 9)))
        await asyncio.sleep(0)
        assert not late.done()
        taken = [inbox.take() for _ in range(2)]
        await asyncio.wait_for(late, 1)
        rest = []
        while (item := inbox.take()) is not None:
            rest.append(item)
        got = taken + rest
        assert [x.t for x in got if isinstance(x, BleAdvert)] == [T0, T0 + 1, T0 + 2, T0 + 9]
        frames = [x for x in got if isinstance(x, Frame)]
        assert [f.index for f in frames] == [2]  # only the newest frame was kept
        assert inbox.dropped == {"ble": 2}

    asyncio.run(scenario())


def synthetic_recording(path: Path, *, end_after_s: float = 30.0) -> int:
    """Adverts from two receivers, weights and door crossings over 95 s, plus damaged lines;
    returns the number of good readings."""
    rec = RecordingWriter(path, Header("store-1", "edge-01", T0, "test"))
    n = 0
    for i in range(950):
        t = T0 + i * 0.1
        rec.write(advert("rx-a" if i % 3 else "rx-b", t, -50 - i % 30))
        n += 1
        if i % 7 == 0:
            rec.write(weight("shelf-1", i % 2, t, 100.0 + i, seq=i))
            n += 1
        if i % 50 == 0:
            rec.write(DoorCrossing("door-1", t, Direction.IN if i % 100 else Direction.OUT))
            n += 1
    rec.write_line('["ble", "not a time"]', "ble")
    rec.write_line("{broken json", "ble")
    rec.close(T0 + 95.0 + end_after_s)
    return n


def test_replay_feeds_processors_in_order_and_events_reach_event_processors(
        tmp_path: Path) -> None:
    path = tmp_path / "r.rec.gz"
    good = synthetic_recording(path)
    cfg = minimal_config(tmp_path)
    res = asyncio.run(replay(path, tmp_path / "a.db", cfg, processors=(window_counter, echo)))
    assert res.tally.total == good and res.tally.bad_lines == 2 and not res.tally.truncated
    el = open_readonly(tmp_path / "a.db")
    events = [s.event for s in el.query(types=[TEST_TYPE])]
    el.close()
    windows = [e for e in events if not e.data["payload"].startswith("echo:")]
    echoes = [e for e in events if e.data["payload"].startswith("echo:")]
    # every reading counted once: the end of the recording closed every window
    assert sum(e.data["n"] for e in windows) == good
    # the echo processor got each window event from the log's tail, and never its own
    assert sorted(e.data["payload"] for e in echoes) == sorted(
        "echo:" + e.data["payload"] for e in windows)
    assert res.counters["processor:echo"]["events_in"] == len(windows)
    assert all(e.source == "omo-edge://store-1/edge-01" for e in events)
    # the same recording gives the same events again (apart from ids and boot ids)
    asyncio.run(replay(path, tmp_path / "b.db", cfg, processors=(window_counter, echo)))
    assert comparable(tmp_path / "a.db") == comparable(tmp_path / "b.db")


def test_a_processor_that_raises_or_emits_invalid_events_is_counted_and_goes_on(
        tmp_path: Path) -> None:
    path = tmp_path / "r.rec.gz"
    synthetic_recording(path)
    cfg = minimal_config(tmp_path)
    res = asyncio.run(replay(path, tmp_path / "a.db", cfg, processors=(fragile, window_counter)))
    c = res.counters["processor:fragile"]
    adverts, weights = res.tally.readings["ble"], res.tally.readings["weight"]
    assert c["errors"] == weights and c["invalid_events"] == adverts
    assert c["events_out"] == adverts
    # the other processor was not disturbed
    assert res.counters["processor:window-counter"]["readings"] == res.tally.total


def test_a_processor_may_run_on_its_own_thread_in_order(tmp_path: Path) -> None:
    path = tmp_path / "r.rec.gz"
    synthetic_recording(path)
    made: list[Threaded] = []

    def factory(config: Config) -> Threaded:
        made.append(Threaded())
        return made[-1]

    res = asyncio.run(replay(path, tmp_path / "a.db", minimal_config(tmp_path),
                             processors=(factory,)))
    (p,) = made
    assert p.seqs == sorted(p.seqs) and len(p.seqs) == res.tally.readings["weight"]
    assert p.threads and threading.main_thread().name not in p.threads


def test_a_truncated_recording_replays_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "r.rec.gz"
    synthetic_recording(path)
    raw = gzip.decompress(path.read_bytes())
    cut = tmp_path / "cut.rec.gz"
    cut.write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])
    reader = RecordingReader(cut)
    n = sum(1 for _ in reader.readings())
    reader.close()
    assert n > 0 and reader.tally.truncated


def comparable(db: Path, until: float | None = None) -> list[dict[str, Any]]:
    """The test processor's events as stored, without what differs between runs."""
    el = open_readonly(db)
    try:
        out = []
        for s in el.query(types=[TEST_TYPE]):
            obj = s.event.to_dict()
            for key in ("id", "bootid", "seq"):
                obj.pop(key)
            out.append(obj)
    finally:
        el.close()
    return out


def test_the_simulator_and_a_replayed_recording_give_the_same_events(tmp_path: Path) -> None:
    rec = tmp_path / "store.rec.gz"
    live_dir = tmp_path / "live"
    res = asyncio.run(simulate(Options(seed=3, duration=90.0, out=live_dir, headless=True,
                                       snapshot_every_s=90.0, progress=False,
                                       processors=(window_counter,), record=rec)))
    reader = RecordingReader(rec)
    recorded = sum(1 for _ in reader.readings())
    reader.close()
    assert reader.tally.end is not None
    published = sum(n for k, n in res.readings.items()
                    if k.split(":")[0] in ("ble", "shelf", "door"))
    assert recorded == published > 1000  # the recording holds every reading the bus carried
    text = gzip.decompress(rec.read_bytes())
    for agent in res.world.agents:  # hashed addresses only
        if agent.beacon is not None:
            assert agent.beacon["address"].encode() not in text
    counters = res.report["run"]["components"]["processor:window-counter"]["counters"]
    assert counters["readings"] == published and not any(
        k.startswith("dropped") for k in counters)
    asyncio.run(replay(rec, tmp_path / "replay.db", minimal_config(tmp_path),
                       processors=(window_counter,)))
    live = comparable(live_dir / "events.db")
    replayed = comparable(tmp_path / "replay.db")
    # a replay ends by ticking to the recording's end; a live run stops before its last
    # ticks: compare what both had the chance to close
    cutoff = format_time(reader.tally.end - 15.0)
    live_early = [e for e in live if e["time"] < cutoff]
    assert len(live_early) > 20
    assert replayed[: len(live_early)] == live_early
    assert len(replayed) >= len(live)


class FakeShelf:
    """A source that publishes one weight sample per 10 ms of real time."""

    name = "fake-shelf"

    async def run(self, ctx: ComponentContext) -> None:
        seq = 0
        while not await ctx.sleep(0.01):
            ctx.services.readings.publish(weight("shelf-1", 1, ctx.clock.now(), seq=seq))
            ctx.reading(self.name)
            seq += 1


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text('[store]\nid = "store-1"\ndevice = "edge-01"\n\n[storage]\n'
                    f'path = "{tmp_path / "events.db"}"\nstate_dir = "{tmp_path / "st"}"\n'
                    "min_free_mb = 0\n")
    return path


def test_record_from_a_running_daemon_then_replay_from_the_cli(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path)
    out = tmp_path / "shop.rec.gz"

    async def scenario() -> subprocess.CompletedProcess[bytes]:
        daemon = Daemon(load(cfg_path), components=[FakeShelf()], status_every_s=0.2)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop, handle_signals=False))
        try:
            await asyncio.wait_for(daemon.ready.wait(), 10)
            await await_until(lambda: (tmp_path / "st" / "record.sock").exists(), 10,
                              "the recording socket")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edge", "record", "-c", str(cfg_path), "--minutes",
                "0.02", "--out", str(out), cwd=ROOT, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
            return subprocess.CompletedProcess([], proc.returncode or 0, stdout, stderr)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    done = asyncio.run(scenario())
    assert done.returncode == 0, done.stderr
    assert b"recorded" in done.stdout and b"weight" in done.stdout
    reader = RecordingReader(out)
    samples = list(reader.readings())
    reader.close()
    assert reader.header.store == "store-1" and not reader.tally.truncated
    assert len(samples) > 20 and all(isinstance(s, WeightSample) for s in samples)
    seqs = [s.seq for s in samples if isinstance(s, WeightSample)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # none lost on the way
    r = cli("replay", str(out), "-c", str(cfg_path), "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["readings"] == {"weight": len(samples)} and summary["processors"] == []
    again = cli("replay", str(out), "-c", str(cfg_path))
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.mark.parametrize("content", [b"", b"not gzip at all", gzip.compress(b'{"a": 1}\n')])
def test_replay_of_a_file_that_is_not_a_recording_says_so(tmp_path: Path,
                                                          content: bytes) -> None:
    bad = tmp_path / "bad.rec.gz"
    bad.write_bytes(content)
    r = cli("replay", str(bad), "-c", str(write_config(tmp_path)))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "recording" in r.stderr


def test_record_without_a_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    r = cli("record", "-c", str(write_config(tmp_path)), "--minutes", "0.01", "--out",
            str(tmp_path / "x.rec.gz"))
    assert r.returncode == 1 and "no daemon is running" in r.stderr
    assert "Traceback" not in r.stderr
