"""Sales from a local POS on the store's broker (`[insight.pos_mqtt]`), through a real
Mosquitto and the in-process daemon: recorded once per receipt with `via: "local"`, answered
on `<topic>/result`, hostile payloads refused without being quoted, a sale published while
the daemon is down recorded when it comes back, and a lost broker reported and recovered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config, parse
from edge.daemon import Daemon
from edge.events import format_time
from edge.insight.pos import SALE
from edge.mosquitto import Mosquitto
from edge.runtime import Health
from tests.sync_fixtures import Collector, running_daemon
from tests.waiting import await_until

TOPIC = "shop/pos/sale"
RESULT = TOPIC + "/result"
MARK = "zz-HOSTILE-zz"  # payload text that must never reach the log or an answer


@pytest.fixture()
def store_broker() -> Iterator[Mosquitto]:
    with Mosquitto() as m:
        yield m


def config(tmp: Path, port: int) -> Config:
    return parse({"store": {"id": "s1", "device": "d1"},
                  "storage": {"path": str(tmp / "events.db"), "state_dir": str(tmp / "state"),
                              "min_free_mb": 0},
                  "zones": [{"id": "z"}],
                  "insight": {"pos_mqtt": {"host": "127.0.0.1", "port": port,
                                           "topic": TOPIC}}}, env={})


@contextlib.asynccontextmanager
async def daemon_on(tmp: Path, broker: Mosquitto) -> AsyncIterator[Daemon]:
    async with running_daemon(config(tmp, broker.port)) as daemon:
        state = daemon.supervisor.states["pos-mqtt"]
        await await_until(lambda: state.health == Health.OK, 15, "subscribed to the POS")
        yield daemon


def sale(receipt: str, **args: Any) -> dict[str, Any]:
    return {"receipt": receipt, "time": format_time(time.time()),
            "lines": [{"sku": "4901234567890", "quantity": 2},
                      {"sku": "SNK-GUM-14", "quantity": 1}], **args}


async def ask(pos: Collector, payload: Any) -> dict[str, Any]:
    before = len(pos.json_on(RESULT))
    text = payload if isinstance(payload, bytes) else json.dumps(payload)
    await asyncio.to_thread(pos.publish, TOPIC, text)
    await await_until(lambda: len(pos.json_on(RESULT)) > before, 15, "an answer")
    answer: dict[str, Any] = pos.json_on(RESULT)[before]
    return answer


def sales(daemon: Daemon) -> list[dict[str, Any]]:
    return [s.event.data for s in daemon.event_log.query(types=[SALE])]


def test_a_local_sale_is_recorded_once_and_answered(tmp_path: Path,
                                                    store_broker: Mosquitto) -> None:
    pos = Collector(store_broker.port, [RESULT], client_id="the-pos")

    async def scenario() -> None:
        async with daemon_on(tmp_path, store_broker) as daemon:
            first = await ask(pos, sale("R-1"))
            assert first == {"ok": True, "receipt": "R-1", "recorded": True, "lines": 2}
            again = await ask(pos, sale("R-1"))  # the POS sent it again
            assert again["ok"] is True and again["duplicate"] is True
            [recorded] = sales(daemon)
            assert recorded["via"] == "local" and recorded["receipt"] == "R-1"
            assert recorded["lines"] == [{"sku": "4901234567890", "quantity": 2},
                                         {"sku": "SNK-GUM-14", "quantity": 1}]
            counters = daemon.supervisor.states["pos-mqtt"].counters
            assert counters["sales_recorded"] == 1 and counters["sales_duplicate"] == 1

    try:
        asyncio.run(scenario())
    finally:
        pos.close()


HOSTILE: list[tuple[Any, str]] = [
    (b"\xff\xfe" + MARK.encode(), "not JSON"),
    (b"{" + MARK.encode(), "not JSON"),
    ([MARK], "args"),
    (sale("R-9", lines=[{"sku": MARK + "/" * 80, "quantity": 1}]), "args/lines/0/sku"),
    (sale("R-9", time=MARK), "args/time"),
    (sale("R-9", time="2999-01-01T00:00:00Z"), "future"),
    (sale(MARK + "\n"), "args/receipt"),
]
HUGE = b'{"receipt": "R-8", "lines": [' + b"1," * 40_000 + b"1]}"  # over max_payload_bytes


def test_hostile_local_sales_are_refused_and_never_quoted(
        tmp_path: Path, store_broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pos = Collector(store_broker.port, [RESULT], client_id="the-pos")

    async def scenario() -> None:
        async with daemon_on(tmp_path, store_broker) as daemon:
            for payload, says in HOSTILE:
                answer = await ask(pos, payload)
                assert answer["ok"] is False, (payload, answer)
                assert says in answer["error"], (says, answer)
                assert MARK not in json.dumps(answer)
            assert sales(daemon) == []
            # the broker never hands over a message larger than the edge announced
            await asyncio.to_thread(pos.publish, TOPIC, HUGE)
            answers = len(pos.json_on(RESULT))
            good = await ask(pos, sale("R-9"))
            assert good["recorded"] is True and len(pos.json_on(RESULT)) == answers + 1
            counters = daemon.supervisor.states["pos-mqtt"].counters
            assert counters["sales_refused"] == len(HOSTILE)
            assert daemon.supervisor.states["pos-mqtt"].health == Health.OK

    try:
        asyncio.run(scenario())
    finally:
        pos.close()
    assert MARK not in caplog.text


def test_a_sale_sent_while_the_edge_is_down_is_recorded_when_it_returns(
        tmp_path: Path, store_broker: Mosquitto) -> None:
    pos = Collector(store_broker.port, [RESULT], client_id="the-pos")

    async def scenario() -> None:
        async with daemon_on(tmp_path, store_broker) as daemon:
            await ask(pos, sale("R-1"))
        await asyncio.to_thread(pos.publish, TOPIC, json.dumps(sale("R-2")))  # edge is down
        async with daemon_on(tmp_path, store_broker) as daemon:
            await await_until(lambda: len(sales(daemon)) == 2, 15, "the queued sale")
            assert [s["receipt"] for s in sales(daemon)] == ["R-1", "R-2"]

    try:
        asyncio.run(scenario())
    finally:
        pos.close()


def test_a_lost_store_broker_is_reported_and_recovered(tmp_path: Path,
                                                      store_broker: Mosquitto) -> None:
    async def scenario() -> None:
        async with daemon_on(tmp_path, store_broker) as daemon:
            state = daemon.supervisor.states["pos-mqtt"]
            await asyncio.to_thread(store_broker.stop)
            await await_until(lambda: state.health == Health.DEGRADED, 15, "degraded")
            assert "lost the store broker" in state.detail
            await asyncio.to_thread(store_broker.start)
            await await_until(lambda: state.health == Health.OK, 40, "reconnected")
            pos = Collector(store_broker.port, [RESULT], client_id="the-pos")
            try:
                answer = await ask(pos, sale("R-5"))
            finally:
                pos.close()
            assert answer["recorded"] is True
            assert state.counters["disconnects"] >= 1 and state.restarts == 0

    asyncio.run(scenario())
