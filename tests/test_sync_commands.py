"""Cloud commands end to end against a real Mosquitto and the in-process daemon: good
commands run and are answered, bad ones are answered with the error and change nothing,
a command id seen twice runs once (also across a restart), every command is recorded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from edge.config import load
from edge.events import validate_envelope
from edge.runtime import Health
from sim.mosquitto import Mosquitto
from tests.sync_fixtures import (
    BASE,
    PREFIX,
    STORE,
    Collector,
    await_until,
    running_daemon,
    sync_raw,
    write_toml,
)


@pytest.fixture(scope="module")
def broker() -> Mosquitto:
    with Mosquitto() as m:
        yield m


def _results(col: Collector, name: str) -> list[dict[str, Any]]:
    return col.json_on(f"{BASE}/cmd/{name}/result")


def _send(col: Collector, name: str, payload: Any, *, to_all: bool = False) -> None:
    topic = f"{PREFIX}/{STORE}/all/cmd/{name}" if to_all else f"{BASE}/cmd/{name}"
    col.publish(topic, payload if isinstance(payload, bytes) else json.dumps(payload))


async def _wait_result(col: Collector, name: str, count: int) -> list[dict[str, Any]]:
    await await_until(lambda: len(_results(col, name)) >= count, 15, f"{count} {name} results")
    return _results(col, name)


def test_good_bad_and_duplicate_commands(tmp_path: Path, broker: Mosquitto) -> None:
    raw = sync_raw(tmp_path, broker.port, max_command_bytes=1024)
    raw["zones"] = [{"id": "front", "kind": "screen"}]
    raw["screens"] = [{"id": "screen-1", "zone": "front"}]
    cfg = load(write_toml(tmp_path / "config.toml", raw))
    col = Collector(broker.port, [f"{BASE}/cmd/+/result"], client_id="cmd-cloud")
    signage = cfg.storage.state_dir / "signage"
    show = {"id": "show-1", "args": {"screen": "screen-1", "content": {
        "kind": "image", "uri": "https://cdn.example/a.png", "duration_s": 10}}}

    async def scenario() -> None:
        async with running_daemon(cfg) as daemon:
            state = daemon.supervisor.states["sync"]
            await await_until(lambda: state.health == Health.OK, 15, "connected")
            await asyncio.to_thread(_send, col, "ping", {"id": "p-1", "args": {"echo": "hi"}})
            (pong,) = await _wait_result(col, "ping", 1)
            assert pong["ok"] and pong["result"]["pong"] and pong["result"]["echo"] == "hi"
            assert pong["result"]["bootid"] == daemon.bootid

            await asyncio.to_thread(_send, col, "signage.show", show)
            (shown,) = await _wait_result(col, "signage.show", 1)
            assert shown["outcome"] == "ok"
            written = json.loads((signage / "show" / "screen-1.json").read_text())
            assert written["content"]["uri"] == "https://cdn.example/a.png"
            assert written["command_id"] == "show-1"
            # The same id again (a redelivery): answered, not run again.
            (signage / "show" / "screen-1.json").unlink()
            await asyncio.to_thread(_send, col, "signage.show", show)
            results = await _wait_result(col, "signage.show", 2)
            assert results[1]["outcome"] == "duplicate" and results[1]["result"] == shown["result"]
            assert not (signage / "show" / "screen-1.json").exists()

            # Commands to every device of the store.
            await asyncio.to_thread(_send, col, "order.ready", {
                "id": "o-1", "args": {"orders": ["A12", "B7"]}}, to_all=True)
            await asyncio.to_thread(_send, col, "order.ready", {
                "id": "o-2", "args": {"orders": ["C3"], "mode": "add"}})
            await asyncio.to_thread(_send, col, "order.ready", {
                "id": "o-3", "args": {"orders": ["A12"], "mode": "remove"}})
            await _wait_result(col, "order.ready", 3)
            board = json.loads((signage / "orders" / "pickup.json").read_text())
            assert board["orders"] == ["B7", "C3"]

            await asyncio.to_thread(_send, col, "signage.playlist", {
                "id": "pl-1", "args": {"playlist": "morning", "items": [
                    {"kind": "video", "uri": "asset://promo.mp4"},
                    {"kind": "text", "text": "Fresh bread at 8", "duration_s": 5}]}})
            (pl,) = await _wait_result(col, "signage.playlist", 1)
            assert pl["ok"] and (signage / "playlists" / "morning.json").exists()

            # Bad commands: each answered with the error, nothing changes.
            before = sorted(p.name for p in signage.rglob("*.json"))
            bad: list[tuple[str, Any, str]] = [
                ("signage.show", b"{not json", "not JSON"),
                ("signage.show", b"\xff\xfe", "not UTF-8"),
                ("signage.show", b"[" * 5000 + b"]" * 5000, "too large"),
                ("signage.show", {"id": "s-2", "args": {"screen": "screen-1"}}, "args"),
                ("signage.show", {"id": "s-3", "args": {"screen": "nope", "content": {
                    "kind": "text", "text": "x"}}}, "unknown screen"),
                ("signage.show", {"args": {}}, "'id' is a required property"),
                ("signage.show", {"id": "s-4", "args": show["args"],
                                  "expires_at": "2020-01-01T00:00:00Z"}, "expired"),
                ("self.destruct", {"id": "x-1"}, "unknown command"),
                ("UPPER", {"id": "x-2"}, "invalid command name"),
            ]
            for name, payload, _ in bad:
                await asyncio.to_thread(_send, col, name, payload)
            await await_until(lambda: state.counters.get("commands.rejected", 0) >= len(bad),
                              15, "all rejections")

            def answers() -> list[dict[str, Any]]:
                return (_results(col, "signage.show")[2:] + _results(col, "self.destruct")
                        + _results(col, "_invalid"))

            await await_until(lambda: len(answers()) >= len(bad), 15, "all answers")
            assert len(answers()) == len(bad)
            for answer, (_, _, expected) in zip(answers(), bad, strict=True):
                assert answer["outcome"] == "rejected" and not answer["ok"]
                assert expected in answer["error"], (expected, answer["error"])
            assert sorted(p.name for p in signage.rglob("*.json")) == before
            assert state.health == Health.OK

            # config.reload: an invalid file is answered with its problems.
            (tmp_path / "config.toml").write_text("[store]\nid = 'store-1'\nbogus = 1\n")
            await asyncio.to_thread(_send, col, "config.reload", {"id": "r-1"})
            (reload,) = await _wait_result(col, "config.reload", 1)
            assert reload["outcome"] == "rejected" and "bogus" in reload["error"]

            await await_until(lambda: daemon.event_log.stats().queued == 0, 15, "records out")
            stored = [s.event for s in daemon.event_log.query(
                types=["omo.cloud.command.received"])]
            for event in stored:  # each record matches the catalogue's schema
                validate_envelope(event.to_dict())
            records = [e.data for e in stored]
        outcomes = [(r["command"], r["outcome"]) for r in records]
        assert ("ping", "ok") in outcomes and ("signage.show", "duplicate") in outcomes
        assert sum(1 for _, o in outcomes if o == "rejected") == len(bad) + 1
        assert len(records) == 7 + len(bad) + 1  # every command is recorded

    try:
        asyncio.run(scenario())
    finally:
        col.close()


def test_a_command_id_runs_once_across_a_restart(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = load(write_toml(tmp_path / "config.toml", sync_raw(tmp_path, broker.port)))
    col = Collector(broker.port, [f"{BASE}/cmd/+/result"], client_id="cmd-cloud-2")
    calls: list[str] = []

    async def handler(cmd: Any) -> dict[str, Any]:
        calls.append(cmd.id)
        return {"done": cmd.id}

    async def run_once(expected_results: int) -> None:
        async with running_daemon(cfg, command_handlers={"ping": handler}) as d:
            state = d.supervisor.states["sync"]
            await await_until(lambda: state.health == Health.OK, 15, "connected")
            await asyncio.to_thread(_send, col, "ping", {"id": "same-id"})
            await _wait_result(col, "ping", expected_results)

    try:
        asyncio.run(run_once(1))
        asyncio.run(run_once(2))
    finally:
        col.close()
    first, second = _results(col, "ping")
    assert calls == ["same-id"]
    assert first["outcome"] == "ok" and second["outcome"] == "duplicate"
    assert second["result"] == {"done": "same-id"}
