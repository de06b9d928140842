"""The durable event log: seq, outbox state, retention, disk pressure, full disk, corruption."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections import namedtuple
from pathlib import Path

import pytest
import sqlite_utils

from edge.catalogue import PRIORITY_HIGH, PRIORITY_LOW
from edge.eventlog import (
    DuplicateEventError,
    EventLog,
    EventLogError,
    RetentionPolicy,
    open_readonly,
)
from edge.events import Event
from tests.core_fixtures import SOURCE, sample
from tests.tmpfs import mount_tmpfs

Usage = namedtuple("Usage", "total used free")
T0 = 1_767_225_600.0


def test_seq_is_strictly_increasing_and_survives_reopen_and_deletion(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    with EventLog(db) as log:
        stored = log.append_many([sample(i) for i in range(5)])
        assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
        log.mark_delivered([1, 2, 3, 4, 5])
        log.policy = RetentionPolicy(max_age_s=1)
        log.enforce_retention(now=T0 + 3600)  # removes everything
        assert log.stats().total == 0
    with EventLog(db) as log:
        assert log.append(sample(9)).seq == 6  # type: ignore[union-attr]


def test_outbox_pending_by_priority_and_delivery(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.db") as log:
        low = log.append(sample(1))
        high = log.append(sample(2, event_type="omo.shelf.stock.low",
                                 shelf="a", plate="1", remaining=0))
        assert low is not None and high is not None
        assert [e.seq for e in log.pending(10)] == [low.seq, high.seq]
        assert [e.seq for e in log.pending(10, priority=PRIORITY_HIGH)] == [high.seq]
        assert log.mark_delivered([high.seq]) == 1
        assert log.mark_delivered([high.seq]) == 0  # idempotent
        stats = log.stats()
        assert (stats.queued, stats.delivered) == (1, 1)
        assert stats.oldest_undelivered_time == low.time


def test_query_by_type_prefix_and_time(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.db") as log:
        log.append_many([sample(i, at=T0 + i * 60) for i in range(10)])
        log.append(sample(0, event_type="omo.shelf.item.picked", at=T0 + 30,
                          shelf="a", plate="1", quantity=2))
        picked = list(log.query(types=["omo.shelf"]))
        assert [s.event.type for s in picked] == ["omo.shelf.item.picked"]
        window = list(log.query(types=["omo.test.sample.created"],
                                since="2026-01-01T00:02:00.000Z", until="2026-01-01T00:05:00.000Z"))
        assert [s.event.data["n"] for s in window] == [2, 3, 4]


def test_the_log_is_pleasant_to_query_with_sqlite_utils(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.db") as log:
        log.append_many([sample(i) for i in range(3)])
    db = sqlite_utils.Database(tmp_path / "e.db")
    rows = list(db.query("select type, count(*) as n from events group by type"))
    assert rows == [{"type": "omo.test.sample.created", "n": 3}]
    assert {"seq", "id", "type", "time", "data", "delivered"} <= set(db["events"].columns_dict)
    cli = shutil.which("sqlite-utils", path=str(Path(os.sys.executable).parent))
    assert cli, "the sqlite-utils CLI ships with the package"
    out = subprocess.run([cli, "query", str(tmp_path / "e.db"),
                          "select json_extract(data, '$.n') as n from events order by seq"],
                         capture_output=True, text=True, check=True).stdout
    assert '"n": 2' in out


def test_age_retention_counts_undelivered_as_dropped_but_not_delivered(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.db", policy=RetentionPolicy(max_age_s=3600)) as log:
        log.append_many([sample(i, at=T0) for i in range(4)])
        log.append(sample(99, at=T0 + 7200))
        log.mark_delivered([1, 2])
        removed = log.enforce_retention(now=T0 + 7300)
        assert removed == {"age_retention": 4}
        counters = log.counters()
        assert counters["dropped.age_retention"] == 2
        assert counters["pruned.delivered"] == 2
        assert log.take_drop_report() == {"age_retention": {PRIORITY_LOW: 2}}
        assert log.take_drop_report() == {}


def _fill(log: EventLog, n: int, pad: int = 500) -> None:
    batch = []
    for i in range(n):
        if i % 10 == 0:
            batch.append(sample(i, event_type="omo.shelf.stock.low", shelf="s" * 100,
                                plate="1", remaining=i))
        else:
            batch.append(sample(i, payload="x" * pad))
    log.append_many(batch)


def test_size_retention_sheds_delivered_then_low_priority_first(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.db") as log:
        _fill(log, 3000)
        log.mark_delivered(range(1, 201))
        used = log.used_bytes()
        log.policy = RetentionPolicy(max_bytes=used // 2, shed_batch=200, min_free_bytes=0)
        log.enforce_retention(now=T0)
        assert log.used_bytes() <= used // 2
        remaining = {e.event.type for e in log.query()}
        assert "omo.shelf.stock.low" in remaining
        c = log.counters()
        assert c["pruned.delivered"] == 200
        assert c["dropped.size_retention"] == c["dropped.priority.low"] > 0
        assert "dropped.priority.high" not in c  # high priority outlives telemetry


def test_disk_pressure_drops_oldest_low_priority_and_counts_it(tmp_path: Path) -> None:
    free = {"bytes": 10 << 30}
    policy = RetentionPolicy(min_free_bytes=100 << 20, shed_batch=50)
    with EventLog(tmp_path / "e.db", policy=policy,
                  disk_usage=lambda p: Usage(0, 0, free["bytes"])) as log:
        _fill(log, 200, pad=10)
        assert log.enforce_retention(now=T0) == {}
        free["bytes"] = 50 << 20
        removed = log.enforce_retention(now=T0)
        assert removed == {"disk_pressure": 50}
        survivors = [e.event for e in log.query()]
        lows = [e for e in survivors if e.priority == PRIORITY_LOW]
        assert min(e.data["n"] for e in lows) > 50  # the oldest went first
        assert len([e for e in survivors if e.priority == PRIORITY_HIGH]) == 20
        assert log.counters()["dropped.disk_pressure"] == 50
        assert log.take_drop_report() == {"disk_pressure": {PRIORITY_LOW: 50}}


def test_sqlite_full_drops_and_counts_and_the_log_keeps_working(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.db") as log:
        log.append_many([sample(i) for i in range(10)])
        pages = log.db.execute("PRAGMA page_count").fetchone()[0]
        log.db.execute(f"PRAGMA max_page_count={pages + 2}")
        results = [log.append(sample(100 + i, payload="y" * 4000)) for i in range(20)]
        dropped = results.count(None)
        assert dropped > 0
        assert log.counters()["dropped.disk_full"] == dropped
        log.db.execute("PRAGMA max_page_count=1000000")
        assert log.append(sample(999)) is not None
        assert log.integrity_check() == "ok"
        assert log.counters()["dropped.disk_full"] == dropped  # persisted with that append


def test_a_really_full_file_system_drops_events_without_losing_stored_ones(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    if not mount_tmpfs(mnt, "600k"):
        pytest.skip("needs root and tmpfs to make a really full file system")
    try:
        log = EventLog(mnt / "e.db", policy=RetentionPolicy(min_free_bytes=0))
        stored = []
        dropped = 0
        for i in range(3000):
            ev = log.append(sample(i, payload="z" * 300))
            if ev is None:
                dropped += 1
                if dropped > 20:
                    break
            else:
                stored.append(ev.id)
        assert dropped > 0, "the file system never filled"
        assert log.counters()["dropped.disk_full"] >= dropped - 1
        log.close()
        again = open_readonly(mnt / "e.db")
        ids = {s.event.id for s in again.query()}
        assert set(stored) <= ids
        assert again.integrity_check() == "ok"
        again.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_corrupt_file_is_moved_aside_and_kept(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    with EventLog(db) as log:
        last = log.append_many([sample(i) for i in range(50)])[-1].seq
    with open(db, "r+b") as fh:  # wreck the header and a few pages
        fh.seek(0)
        fh.write(b"this is not sqlite" * 10)
    log = EventLog(db)
    assert log.recovered_from is not None and log.recovered_from.exists()
    assert log.recovered_from.name.startswith("e.db.corrupt-")
    assert log.recovered_from.read_bytes().startswith(b"this is not sqlite")
    ev = log.append(sample(1))
    assert ev is not None and ev.seq > last  # seq keeps increasing across the lost file
    assert log.counters()["log.corrupt_recovered"] == 1
    log.close()


def test_an_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EventLogError, match="not a directory"):
        EventLog(blocker / "e.db")
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(EventLogError, match="permission denied"):
            EventLog(ro / "e.db")


def test_readonly_open_of_a_missing_log_says_so(tmp_path: Path) -> None:
    with pytest.raises(EventLogError, match="no event log"):
        open_readonly(tmp_path / "none.db")


def test_a_duplicate_id_is_refused_and_nothing_of_the_batch_is_stored(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.db") as log:
        ev = sample(1)
        log.append(ev)
        with pytest.raises(DuplicateEventError) as raised:
            log.append_many([sample(2), ev])
        assert isinstance(raised.value, EventLogError)
        assert not isinstance(raised.value, sqlite3.IntegrityError)
        assert log.stats().total == 1
        twice = sample(3)
        with pytest.raises(DuplicateEventError):  # twice in one batch
            log.append_many([twice, twice])
        assert log.stats().total == 1


def test_the_outbox_publishes_the_stored_data_text_as_stored(tmp_path: Path) -> None:
    """The bytes handed to MQTT are the envelope around the data's stored JSON text, equal
    to the event's own JSON; the text is not decoded and encoded again on the way out."""
    with EventLog(tmp_path / "e.db") as log:
        data = {"n": 1, "payload": "café \u2028 \"q\" ✓ \\ {}\n"}
        stored = log.append(Event.new("omo.test.sample.created", data, source=SOURCE,
                                      bootid="c" * 32, epoch_s=1_800_000_000.0))
        assert stored is not None and stored.data_json is not None
        [item] = log.outbox(10, after_seq=0, priority=stored.priority)
        assert item.seq == stored.seq and item.type == stored.type
        assert item.payload == stored.to_json().encode()
        assert json.loads(item.payload) == stored.to_dict()
        raw = log._conn.execute("SELECT data FROM events WHERE seq = ?",
                                (stored.seq,)).fetchone()[0]
        assert raw == stored.data_json
        assert b'"data":' + raw.encode() + b',"seq":' in item.payload
        # A hand-written row whose text differs from what json.dumps would write still goes
        # out byte for byte.
        odd = '{"n": 2,  "payload":"\\u00e9"}'
        log._conn.execute(
            "UPDATE events SET data = ? WHERE seq = ?", (odd, stored.seq))
        [item] = log.outbox(10, after_seq=0, priority=stored.priority)
        assert b'"data":' + odd.encode() + b',"seq":' in item.payload
        assert json.loads(item.payload)["data"] == {"n": 2, "payload": "é"}


def test_queued_delivered_marks_ride_on_the_next_append_or_are_flushed(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.db") as log:
        first = log.append_many([sample(i) for i in range(3)])
        log.mark_delivered_later([first[0].seq, first[1].seq])
        assert log.unmarked_age() is not None
        assert log.stats().queued == 3                  # queued, not yet written
        log.append(sample(9))                           # carries the marks
        assert log.unmarked_age() is None
        assert log.take_marked() == ([first[0].seq, first[1].seq], 2)
        assert log.take_marked() == ([], 0)
        assert log.stats().queued == 2
        log.mark_delivered_later([first[2].seq, first[2].seq])
        log.flush_delivered()                           # no append came: written on its own
        assert log.take_marked() == ([first[2].seq, first[2].seq], 1)
        assert log.stats().queued == 1


def test_queued_marks_survive_a_failed_append(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.db")
    [a] = log.append_many([sample(1)])
    log.mark_delivered_later([a.seq])
    with pytest.raises(DuplicateEventError):
        log.append(a)
    assert log.take_marked() == ([], 0)
    assert log.unmarked_age() is not None               # put back, not lost
    log.close()
    with EventLog(tmp_path / "e.db") as log:            # close wrote them
        assert log.stats().queued == 0


def _plans(conn: sqlite3.Connection, statements: list[str]) -> dict[str, str]:
    return {sql: " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
            for sql in statements}


def test_each_query_that_needs_an_index_uses_one_and_no_index_is_unused(tmp_path: Path) -> None:
    """Every index costs pages on each append: keep exactly those the log's queries use."""
    db = tmp_path / "e.db"
    with sqlite3.connect(db) as old:  # a log from before kept an index no query used
        old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        old.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, time TEXT NOT NULL, "
                    "priority INTEGER NOT NULL, source TEXT NOT NULL, bootid TEXT NOT NULL, "
                    "data TEXT NOT NULL, delivered INTEGER NOT NULL DEFAULT 0, delivered_at TEXT)")
        old.execute("CREATE INDEX events_type_time ON events(type, time)")
    old.close()
    with EventLog(db, policy=RetentionPolicy(max_age_s=1)) as log:
        conn = log._conn
        indexes = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")}
        assert indexes == {"sqlite_autoindex_events_1", "events_outbox", "events_time"}
        stored = log.append_many([sample(i) for i in range(20)])
        seen: list[str] = []
        conn.set_trace_callback(seen.append)
        log.outbox(5, after_seq=0, priority=stored[0].priority)
        assert log.contains(stored[0].id)
        log.stats()
        log.mark_delivered([e.seq for e in stored[:5]])
        log.enforce_retention(now=T0 + 3600)
        conn.set_trace_callback(None)
        plans = _plans(conn, [s for s in seen if s.lstrip().upper().startswith(
            ("SELECT", "UPDATE", "DELETE"))])

        def plan_of(fragment: str) -> list[str]:
            found = [p for sql, p in plans.items() if fragment in sql]
            assert found, fragment
            return found

        assert all("events_outbox" in p for p in plan_of("INDEXED BY events_outbox"))
        assert all("sqlite_autoindex_events_1" in p for p in plan_of("WHERE id ="))
        assert all("events_time" in p for p in plan_of("WHERE time <"))
        assert all("PRIMARY KEY" in p for p in plan_of("UPDATE events SET delivered"))
        assert not any("events_type_time" in p for p in plans.values())


def test_delivered_marks_in_runs_and_loose_seqs_mark_each_once(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.db") as log:
        stored = log.append_many([sample(i) for i in range(40)])
        seqs = [e.seq for e in stored]
        run = seqs[3:20]                           # one range UPDATE
        loose = [seqs[25], seqs[27], seqs[30]]     # an IN list
        assert log.mark_delivered(loose + run + run[:2]) == len(run) + len(loose)
        undelivered = {e.seq for e in log.pending(100)}
        assert undelivered == set(seqs) - set(run) - set(loose)
        assert log.mark_delivered(run) == 0        # idempotent


def test_a_flush_that_must_not_wait_leaves_the_marks_queued_while_a_write_runs(
        tmp_path: Path) -> None:
    import threading

    with EventLog(tmp_path / "e.db") as log:
        [a] = log.append_many([sample(1)])
        log.mark_delivered_later([a.seq])
        holding, release = threading.Event(), threading.Event()

        def writer() -> None:  # stands for an append holding the log
            with log._lock:
                holding.set()
                release.wait(10)

        t = threading.Thread(target=writer)
        t.start()
        assert holding.wait(10)
        assert log.flush_delivered(wait=False) is False
        assert log.unmarked_age() is not None      # still queued, not lost
        release.set()
        t.join()
        assert log.flush_delivered(wait=False) is True
        assert log.take_marked() == ([a.seq], 1)
        assert log.stats().queued == 0
