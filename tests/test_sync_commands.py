"""Cloud commands end to end against a real Mosquitto and the in-process daemon, one
behaviour a test: good commands run and are answered, bad ones are answered with the
error and change nothing, a command id seen twice runs once (also across a restart),
every command is recorded. The processor's cases in detail: tests/test_sync_units.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.config import load
from edge.daemon import Daemon
from edge.events import validate_envelope
from edge.mosquitto import Mosquitto
from edge.runtime import ComponentState, Health
from edge.sync.commands import RECORD_TYPE
from tests.sync_fixtures import (
    BASE,
    DEVICE,
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


@dataclass
class Cloud:
    """A running daemon, its sync state and a cloud-side subscriber to command results."""

    daemon: Daemon
    col: Collector
    state: ComponentState
    signage: Path
    tmp: Path

    async def send(self, name: str, payload: Any, *, to_all: bool = False) -> None:
        await asyncio.to_thread(_send, self.col, name, payload, to_all=to_all)

    async def ask(self, name: str, payload: Any, *, to_all: bool = False) -> dict[str, Any]:
        """Send one command and return its answer."""
        before = len(_results(self.col, name))
        await self.send(name, payload, to_all=to_all)
        return (await _wait_result(self.col, name, before + 1))[before]

    def records(self) -> list[dict[str, Any]]:
        return [s.event.data for s in self.daemon.event_log.query(types=[RECORD_TYPE])]


@contextlib.asynccontextmanager
async def cloud(tmp_path: Path, broker: Mosquitto) -> AsyncIterator[Cloud]:
    raw = sync_raw(tmp_path, broker.port, max_command_bytes=1024)
    raw["zones"] = [{"id": "front", "kind": "screen"}]
    raw["screens"] = [{"id": "screen-1", "zone": "front"}]
    cfg = load(write_toml(tmp_path / "config.toml", raw))
    col = Collector(broker.port, [f"{BASE}/cmd/+/result"], client_id=f"cmd-{tmp_path.name}")
    try:
        async with running_daemon(cfg) as daemon:
            state = daemon.supervisor.states["sync"]
            await await_until(lambda: state.health == Health.OK, 15, "connected")
            yield Cloud(daemon, col, state, cfg.storage.state_dir / "signage", tmp_path)
    finally:
        col.close()


SHOW = {"id": "show-1", "args": {"screen": "screen-1", "content": {
    "kind": "image", "uri": "https://cdn.example/a.png", "duration_s": 10}}}


def test_ping_is_answered_with_the_boot_id(tmp_path: Path, broker: Mosquitto) -> None:
    async def scenario() -> None:
        async with cloud(tmp_path, broker) as c:
            pong = await c.ask("ping", {"id": "p-1", "args": {"echo": "hi"}})
            assert pong["ok"] and pong["result"]["pong"] and pong["result"]["echo"] == "hi"
            assert pong["result"]["bootid"] == c.daemon.bootid
            assert pong["id"] == "p-1" and pong["device"] == DEVICE

    asyncio.run(scenario())


def test_signage_show_writes_the_file_and_a_redelivery_does_not_run_again(
        tmp_path: Path, broker: Mosquitto) -> None:
    async def scenario() -> None:
        async with cloud(tmp_path, broker) as c:
            shown = await c.ask("signage.show", SHOW)
            assert shown["outcome"] == "ok"
            path = c.signage / "show" / "screen-1.json"
            written = json.loads(path.read_text())
            assert written["content"]["uri"] == "https://cdn.example/a.png"
            assert written["command_id"] == "show-1"
            path.unlink()
            again = await c.ask("signage.show", SHOW)  # the same id: a redelivery
            assert again["outcome"] == "duplicate" and again["result"] == shown["result"]
            assert not path.exists()

    asyncio.run(scenario())


def test_order_ready_replaces_adds_and_removes_also_sent_to_all(
        tmp_path: Path, broker: Mosquitto) -> None:
    async def scenario() -> None:
        async with cloud(tmp_path, broker) as c:
            await c.ask("order.ready", {"id": "o-1", "args": {"orders": ["A12", "B7"]}},
                        to_all=True)
            await c.ask("order.ready", {"id": "o-2", "args": {"orders": ["C3"], "mode": "add"}})
            last = await c.ask("order.ready", {"id": "o-3", "args": {"orders": ["A12"],
                                                                      "mode": "remove"}})
            board = json.loads((c.signage / "orders" / "pickup.json").read_text())
            assert board["orders"] == last["result"]["orders"] == ["B7", "C3"]

    asyncio.run(scenario())


def test_signage_playlist_is_written(tmp_path: Path, broker: Mosquitto) -> None:
    async def scenario() -> None:
        async with cloud(tmp_path, broker) as c:
            pl = await c.ask("signage.playlist", {
                "id": "pl-1", "args": {"playlist": "morning", "items": [
                    {"kind": "video", "uri": "asset://promo.mp4"},
                    {"kind": "text", "text": "Fresh bread at 8", "duration_s": 5}]}})
            assert pl["ok"] and pl["result"] == {"playlist": "morning", "items": 2}
            assert (c.signage / "playlists" / "morning.json").exists()

    asyncio.run(scenario())


BAD: list[tuple[str, Any, str]] = [
    ("signage.show", b"{not json", "not JSON"),
    ("signage.show", b"\xff\xfe", "not UTF-8"),
    # over max_command_bytes (1024) but under the announced packet size: rejected here
    ("signage.show", b"[" * 1500 + b"]" * 1500, "too large"),
    ("signage.show", {"id": "s-2", "args": {"screen": "screen-1"}}, "args"),
    ("signage.show", {"id": "s-3", "args": {"screen": "nope", "content": {
        "kind": "text", "text": "x"}}}, "unknown screen"),
    ("signage.show", {"args": {}}, "'id' is a required property"),
    ("signage.show", {"id": "s-4", "args": SHOW["args"],
                      "expires_at": "2020-01-01T00:00:00Z"}, "expired"),
    ("self.destruct", {"id": "x-1"}, "unknown command"),
    ("UPPER", {"id": "x-2"}, "invalid command name"),
]


def test_bad_commands_are_answered_with_the_error_and_change_nothing(
        tmp_path: Path, broker: Mosquitto) -> None:
    async def scenario() -> None:
        async with cloud(tmp_path, broker) as c:
            before = sorted(p.name for p in c.tmp.rglob("*.json"))
            for name, payload, _ in BAD:
                await c.send(name, payload)

            def answers() -> list[dict[str, Any]]:
                return (_results(c.col, "signage.show") + _results(c.col, "self.destruct")
                        + _results(c.col, "_invalid"))

            await await_until(lambda: len(answers()) >= len(BAD), 15, "all answers")
            assert len(answers()) == len(BAD)
            for answer, (_, _, expected) in zip(answers(), BAD, strict=True):
                assert answer["outcome"] == "rejected" and not answer["ok"]
                assert expected in answer["error"], (expected, answer["error"])
            assert c.state.counters["commands.rejected"] == len(BAD)
            assert sorted(p.name for p in c.tmp.rglob("*.json")) == before
            assert c.state.health == Health.OK

    asyncio.run(scenario())


def test_config_reload_of_an_invalid_file_is_answered_with_its_problems(
        tmp_path: Path, broker: Mosquitto) -> None:
    async def scenario() -> None:
        async with cloud(tmp_path, broker) as c:
            (tmp_path / "config.toml").write_text("[store]\nid = 'store-1'\nbogus = 1\n")
            reload = await c.ask("config.reload", {"id": "r-1"})
            assert reload["outcome"] == "rejected" and "bogus" in reload["error"]

    asyncio.run(scenario())


def test_every_command_is_recorded_as_a_valid_event_and_sent(
        tmp_path: Path, broker: Mosquitto) -> None:
    async def scenario() -> None:
        async with cloud(tmp_path, broker) as c:
            await c.ask("ping", {"id": "p-1"})
            await c.ask("ping", {"id": "p-1"})
            await c.ask("ping", b"{not json")
            await c.ask("self.destruct", {"id": "x-1"})
            await await_until(lambda: c.daemon.event_log.stats().queued == 0, 15,
                              "records out")
            for stored in c.daemon.event_log.query(types=[RECORD_TYPE]):
                validate_envelope(stored.event.to_dict())  # matches the catalogue
            outcomes = [(r["command"], r["outcome"], r.get("command_id"))
                        for r in c.records()]
        assert outcomes == [("ping", "ok", "p-1"), ("ping", "duplicate", "p-1"),
                            ("ping", "rejected", None), ("self.destruct", "rejected", "x-1")]

    asyncio.run(scenario())


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
