"""Command bookkeeping counts toward the storage budget, and under disk pressure finished
bookkeeping goes before any event."""

from __future__ import annotations

import os
import time
from collections import namedtuple
from pathlib import Path

from edge.daemon import Bookkeeping, Housekeeper
from edge.eventlog import EventLog, RetentionPolicy
from edge.insight.pos import open_receipts
from edge.sync.bookkeeping import receipts_path
from tests.core_fixtures import minimal_config, sample

Usage = namedtuple("Usage", "total used free")
T0 = 1_767_225_600.0


def _fill(log: EventLog, n: int) -> None:
    log.append_many([sample(i, payload="x" * 500) for i in range(n)])


def test_bookkeeping_bytes_count_toward_the_size_budget(tmp_path: Path) -> None:
    cfg = minimal_config(tmp_path)
    orders = tmp_path / "signage" / "orders"
    orders.mkdir(parents=True)
    (orders / "pickup.json").write_bytes(b" " * 300_000)
    with EventLog(tmp_path / "events.db") as log:
        _fill(log, 400)
        used = log.used_bytes()
        log.policy = RetentionPolicy(max_bytes=used + 100_000, shed_batch=50, min_free_bytes=0)
        alone = Housekeeper(log)._retention(T0)
        assert alone == {}  # the events alone fit
        removed = Housekeeper(log, bookkeeping=Bookkeeping(cfg))._retention(T0)
        assert removed.get("size_retention", 0) > 0  # with the bookkeeping they do not
        assert log.used_bytes() + Bookkeeping(cfg).bytes() <= log.policy.max_bytes


def test_under_disk_pressure_finished_bookkeeping_goes_before_events(tmp_path: Path) -> None:
    cfg = minimal_config(tmp_path)
    board = tmp_path / "signage" / "orders" / "old-board.json"
    board.parent.mkdir(parents=True)
    board.write_text('{"board": "old-board", "orders": []}')
    month_ago = time.time() - 40 * 86400
    os.utime(board, (month_ago, month_ago))
    free = {"bytes": 10 << 30}
    policy = RetentionPolicy(max_age_s=10**9, min_free_bytes=100 << 20, shed_batch=50)
    with EventLog(tmp_path / "events.db", policy=policy,
                  disk_usage=lambda p: Usage(0, 0, free["bytes"])) as log:
        _fill(log, 100)
        keeper = Housekeeper(log, bookkeeping=Bookkeeping(cfg))
        assert keeper._retention(time.time()) == {}
        assert board.exists()  # plenty of room: bookkeeping is pruned on its own schedule
        free["bytes"] = 50 << 20
        keeper._retention(time.time())
        assert not board.exists()


def test_pos_receipts_count_toward_the_budget_and_are_pruned_under_pressure(
        tmp_path: Path) -> None:
    cfg = minimal_config(tmp_path)
    path = receipts_path(cfg)
    store = open_receipts(path)
    month_ago = time.time() - 40 * 86400
    for i in range(300):
        store.claim(f"R-{i:04d}", "pos.sale.receipt", month_ago if i < 200 else time.time())
    store.close()
    assert Bookkeeping(cfg).bytes() >= path.stat().st_size > 0
    free = {"bytes": 10 << 30}
    policy = RetentionPolicy(max_age_s=10**9, min_free_bytes=100 << 20, shed_batch=50)
    with EventLog(tmp_path / "events.db", policy=policy,
                  disk_usage=lambda p: Usage(0, 0, free["bytes"])) as log:
        keeper = Housekeeper(log, bookkeeping=Bookkeeping(cfg))
        keeper._retention(time.time())
        store = open_receipts(path)
        assert store.count() == 300  # plenty of room: pruned on the desk's own schedule
        store.close()
        free["bytes"] = 50 << 20
        keeper._retention(time.time())
    store = open_receipts(path)
    assert store.count() == 100  # the month-old receipts went first
    store.close()
