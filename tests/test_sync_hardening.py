"""Hostile and careless commands (issue 8, items 1-3), one fault class a test: each failed
on the code before the fix. Processor and handlers without a broker; the scheduled pruning
against a real Mosquitto. The flood with 200 MB messages: tests/test_sync_flood.py."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge.config import load
from edge.mosquitto import Mosquitto
from edge.runtime import Health
from edge.sync import component as component_mod
from edge.sync.bookkeeping import (
    KEEP_S,
    MAX_FILES,
    MAX_ORDERS_PER_BOARD,
    bookkeeping_bytes,
    prune_signage,
)
from edge.sync.command_store import CommandStore
from edge.sync.commands import Command, FairQueue
from edge.sync.handlers import DefaultHandlers
from tests.sync_fixtures import await_until, running_daemon, sync_config, sync_raw, write_toml
from tests.test_sync_units import SECRET, WALL, Harness, _handler

# --------------------------------------------------------------- every command answered


@pytest.mark.parametrize(("payload", "expected"), [
    (b'{"id": "big-1", "args": {"n": ' + b"7" * 5000 + b"}}", "too many digits"),
    (b'{"id": "nan-1", "args": {"n": NaN}}', "not finite"),
    (b'{"id": "inf-1", "args": {"n": -Infinity}}', "not finite"),
    (b'{"id": "inf-2", "args": {"n": 1e999}}', "not finite"),
    (b'{"id": "exp-1", "expires_at": "2026-02-30T10:00:00Z"}', "not a valid date"),
    (b'{"id": "exp-2", "expires_at": "9999-99-99T99:99:99Z"}', "not a valid date"),
], ids=["huge-int", "nan", "-infinity", "overflow", "feb-30", "all-nines"])
def test_a_command_that_used_to_vanish_gets_one_answer_and_one_record(
        tmp_path: Path, payload: bytes, expected: str) -> None:
    calls: list[Command] = []
    h = Harness(tmp_path, {"any": _handler(calls)})
    h.processor.max_bytes = 64 * 1024
    answer = h.send("any", payload)
    assert answer is not None and answer["outcome"] == "rejected", answer
    assert expected in answer["error"] and not calls
    assert len(h.answers) == 1 and len(h.records) == 1
    assert h.records[0]["outcome"] == "rejected"


def test_a_bug_in_processing_still_gets_one_answer_and_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(tmp_path, {"ping": _handler([])})

    def broken(*args: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(h.store, "claim", broken)
    answer = h.send("ping", {"id": "p-1"})
    assert answer is not None and answer["outcome"] == "failed"
    assert "internal error" in answer["error"]
    assert len(h.answers) == 1 and len(h.records) == 1


@pytest.mark.parametrize(("name", "payload"), [
    ("ping", {"id": "abc\n"}),
    ("ping", {"id": "ok", "expires_at": "2099-01-01T00:00:00Z\n"}),
    ("order.ready", {"id": "o-1", "args": {"board": "pickup\n", "orders": ["A1"]}}),
    ("order.ready", {"id": "o-2", "args": {"orders": ["A1\n"]}}),
    ("signage.playlist", {"id": "pl-1", "args": {"playlist": "morning\n", "items": []}}),
], ids=["id", "expires_at", "board", "order", "playlist"])
def test_identifiers_must_match_the_whole_string(tmp_path: Path, name: str,
                                                 payload: dict[str, Any]) -> None:
    calls: list[Command] = []
    h = Harness(tmp_path, {name: _handler(calls)})
    answer = h.send(name, payload)
    assert answer is not None and answer["outcome"] == "rejected" and not calls
    assert "does not match the pattern" in answer["error"]
    assert answer["id"] in (None, payload["id"].strip()) and answer["id"] != "abc\n"


def test_command_ids_are_deduplicated_per_command_name(tmp_path: Path) -> None:
    calls: list[Command] = []
    h = Harness(tmp_path, {"ping": _handler(calls), "order.ready": _handler(calls)})
    first = h.send("ping", {"id": "shared-1"})
    other = h.send("order.ready", {"id": "shared-1", "args": {"orders": ["A1"]}})
    again = h.send("ping", {"id": "shared-1"})
    assert [(a or {}).get("outcome") for a in (first, other, again)] == [
        "ok", "ok", "duplicate"]
    assert [c.name for c in calls] == ["ping", "order.ready"]


def test_a_store_of_the_old_layout_keeps_its_ids(tmp_path: Path) -> None:
    path = tmp_path / "commands.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE commands (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                       "received_at REAL NOT NULL, outcome TEXT NOT NULL, result TEXT);"
                       "INSERT INTO commands VALUES ('c-1', 'ping', 1.0, 'ok', '{\"a\": 1}');")
    conn.close()
    store = CommandStore(path)
    assert store.claim("c-1", "ping", now=2.0) == ("ok", {"a": 1})
    assert store.claim("c-1", "order.ready", now=2.0) is None
    store.close()


def test_a_burst_on_one_name_does_not_starve_the_others(tmp_path: Path) -> None:
    calls: list[Command] = []
    h = Harness(tmp_path, {"ping": _handler(calls), "order.ready": _handler(calls)},
                rate=2.0, burst=5.0)
    flood = [h.send("ping", {"id": f"f-{i}"}) for i in range(50)]
    legit = h.send("order.ready", {"id": "legit-1", "args": {"orders": ["A1"]}})
    garbage = [h.send(f"no.such.{i}", {"id": f"g-{i}"}) for i in range(20)]
    assert legit is not None and legit["outcome"] == "ok"
    assert [(a or {}).get("outcome") for a in flood].count("shed") == 45
    assert [(a or {}).get("outcome") for a in garbage].count("shed") == 15  # one shared key
    c = h.processor.counters
    assert c["commands.shed"] == 60 and c["commands.shed.ping"] == 45
    assert c["commands.shed._other"] == 15 and "commands.shed.order.ready" not in c
    assert len(h.answers) == 71           # every message answered, shed ones too


def test_the_fair_queue_serves_names_round_robin_and_bounds_each() -> None:
    async def scenario() -> list[str]:
        q = FairQueue(per_key=3)
        assert [q.put("ping", f"p{i}") for i in range(5)] == [True] * 3 + [False] * 2
        assert q.put("order.ready", "o0") and q.put("order.ready", "o1")
        assert q.put("_other", "x0")
        return [await q.get() for _ in range(len(q))]

    assert asyncio.run(scenario()) == ["p0", "o0", "x0", "p1", "o1", "p2"]


def test_the_fair_queue_bounds_the_bytes_waiting() -> None:
    async def scenario() -> None:
        q = FairQueue(per_key=10, max_bytes=1000)
        assert q.put("ping", "a", 600) and q.put("ping", "b", 400)
        assert not q.put("ping", "c", 1) and q.bytes == 1000     # over the bytes
        assert q.put("order.ready", "d", 600)     # a quiet name still gets one in
        assert not q.put("order.ready", "e", 1)
        assert [await q.get() for _ in range(3)] == ["a", "d", "b"] and q.bytes == 0
        assert q.put("ping", "f", 600)

    asyncio.run(scenario())


def test_no_payload_text_in_answers_records_or_logs(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    async def crash(cmd: Command) -> dict[str, Any]:
        raise RuntimeError("boom " + json.dumps(cmd.args))

    h = Harness(tmp_path, {"crash": crash, "ping": _handler([]),
                           "order.ready": _handler([]), "signage.show": _handler([])})
    with caplog.at_level(logging.DEBUG):
        h.send("crash", {"id": "c-1", "args": {"text": SECRET}})
        h.send("ping", {"id": "p-1", "args": {SECRET: 1}})                 # extra property
        h.send("ping", {"id": "p-2", "args": {"echo": SECRET * 20}})      # too long
        h.send("order.ready", {"id": "o-1", "args": {"orders": [SECRET]}})  # pattern
        h.send("ping", {"id": "p-3", "args": {"echo": 5}, SECRET: True})
        h.send("signage.show", {"id": "s-1", "args": {"screen": "s", "content": {
            "kind": "text", "text": SECRET}, "recommendation": {"sku": SECRET,
                                                               "title": SECRET}}})
    assert len(h.answers) == 6
    for _, answer in h.answers:
        assert SECRET not in json.dumps(answer), answer
        assert answer["outcome"] in ("rejected", "failed")
    assert all(SECRET not in json.dumps(r) for r in h.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------ bounded state
def _defaults(tmp_path: Path) -> DefaultHandlers:
    cfg = sync_config(tmp_path, 1883)
    return DefaultHandlers(cfg, None, bootid="b")  # type: ignore[arg-type]


def _run(h: DefaultHandlers, name: str, args: dict[str, Any]) -> dict[str, Any]:
    handler = h.table()[name]
    return asyncio.run(handler(Command(name=name, id="c", args=args, received_at=WALL)))


def test_a_board_holds_at_most_its_cap_of_orders(tmp_path: Path) -> None:
    h = _defaults(tmp_path)
    for i in range(MAX_ORDERS_PER_BOARD // 100):
        _run(h, "order.ready", {"orders": [f"A{i}-{j}" for j in range(100)], "mode": "add"})
    from edge.sync.commands import CommandRejected
    with pytest.raises(CommandRejected, match=f"at most {MAX_ORDERS_PER_BOARD}"):
        _run(h, "order.ready", {"orders": ["Z1"], "mode": "add"})
    board = json.loads((h.signage_dir / "orders" / "pickup.json").read_text())
    assert len(board["orders"]) == MAX_ORDERS_PER_BOARD


@pytest.mark.parametrize(("name", "kind", "args"), [
    ("order.ready", "orders", lambda i: {"board": f"b{i}", "orders": ["A1"]}),
    ("signage.playlist", "playlists", lambda i: {"playlist": f"p{i}", "items": []}),
    ("signage.show", "show", lambda i: {"screen": f"s{i}", "content": {
        "kind": "text", "text": "hi"}}),
], ids=["boards", "playlists", "screens"])
def test_new_boards_playlists_and_screens_stop_at_their_cap(
        tmp_path: Path, name: str, kind: str, args: Any) -> None:
    from edge.sync.commands import CommandRejected
    h = _defaults(tmp_path)
    cap = MAX_FILES[kind]
    for i in range(cap):
        _run(h, name, args(i))
    with pytest.raises(CommandRejected, match=f"at most {cap}"):
        _run(h, name, args(cap))
    _run(h, name, args(0))                      # rewriting one that exists is fine
    assert len(list((h.signage_dir / kind).glob("*.json"))) == cap


def test_the_command_store_keeps_at_most_max_rows_and_small_results(tmp_path: Path) -> None:
    store = CommandStore(tmp_path / "commands.db", max_rows=10)
    for i in range(25):
        assert store.claim(f"c-{i}", "ping", now=1000.0 + i) is None
        store.finish(f"c-{i}", "ping", "ok", {"big": "x" * 10_000})
    assert store.prune(now=1100.0) == 15 and store.count() == 10
    assert store.claim("c-0", "ping", now=1100.0) is None           # the oldest went
    assert store.claim("c-24", "ping", now=1100.0) == (
        "ok", {"outcome": "ok", "result_omitted": True})
    assert store.size_bytes() > 0
    store.close()


def test_signage_files_are_pruned_and_bookkeeping_bytes_counts_them(tmp_path: Path) -> None:
    cfg = sync_config(tmp_path, 1883)
    root = cfg.storage.state_dir / "signage"
    (root / "show").mkdir(parents=True)
    (root / "orders").mkdir(parents=True)
    now = 2_000_000_000.0
    over = root / "show" / "s1.json"
    over.write_text(json.dumps({"until": "2030-01-01T00:00:00Z"}))   # before `now`
    current = root / "show" / "s2.json"
    current.write_text(json.dumps({"until": "2099-01-01T00:00:00Z"}))
    stale = root / "orders" / "b1.json"
    stale.write_text("{}")
    os.utime(stale, (now - KEEP_S - 1, now - KEEP_S - 1))
    temp = root / "orders" / ".b2.json-abc"
    temp.write_text("{")
    os.utime(temp, (now - 7200, now - 7200))
    os.utime(current, (now, now))
    os.utime(over, (now, now))
    before = bookkeeping_bytes(cfg)
    assert before == sum(p.stat().st_size for p in (over, current, stale, temp))
    assert prune_signage(root, now=now) == 3
    assert [p.name for p in root.rglob("*") if p.is_file()] == ["s2.json"]
    assert bookkeeping_bytes(cfg) == current.stat().st_size
    store = CommandStore(cfg.storage.path.parent / "commands.db")
    store.claim("c-1", "ping")
    assert bookkeeping_bytes(cfg) >= current.stat().st_size + store.size_bytes() > 0
    store.close()


@pytest.fixture(scope="module")
def broker() -> Mosquitto:
    with Mosquitto() as m:
        yield m


def test_the_running_daemon_prunes_signage_and_commands_on_a_schedule(
        tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(component_mod, "PRUNE_EVERY_S", 0.2, raising=False)
    cfg = load(write_toml(tmp_path / "config.toml", sync_raw(tmp_path, broker.port)))
    show = cfg.storage.state_dir / "signage" / "show"

    async def scenario() -> None:
        async with running_daemon(cfg) as d:
            state = d.supervisor.states["sync"]
            await await_until(lambda: state.health == Health.OK, 15, "connected")
            show.mkdir(parents=True, exist_ok=True)
            ended = show / "screen-9.json"   # written after start: only a schedule prunes it
            ended.write_text(json.dumps({"until": "2020-01-01T00:00:00Z"}))
            await await_until(lambda: not ended.exists(), 10, "the ended show pruned")

    asyncio.run(scenario())
