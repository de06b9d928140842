"""`pos.sale` end to end through a real Mosquitto and the in-process daemon: a sale is
recorded once per receipt (a resend under the same or another command id, and across a
restart), hostile payloads are refused with a clear error that never quotes them."""

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

from edge.config import load
from edge.daemon import Daemon
from edge.events import format_time
from edge.insight.pos import SALE
from edge.mosquitto import Mosquitto
from edge.runtime import Health
from tests.sync_fixtures import BASE, Collector, running_daemon, sync_raw, write_toml
from tests.waiting import await_until

MARK = "zz-HOSTILE-zz"  # payload text that must never reach the log or an answer


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as m:
        yield m


@contextlib.asynccontextmanager
async def pos(tmp_path: Path, broker: Mosquitto) -> AsyncIterator[tuple[Daemon, Collector]]:
    cfg = load(write_toml(tmp_path / "config.toml", sync_raw(tmp_path, broker.port)))
    col = Collector(broker.port, [f"{BASE}/cmd/+/result"], client_id=f"pos-{tmp_path.name}")
    try:
        async with running_daemon(cfg) as daemon:
            state = daemon.supervisor.states["sync"]
            await await_until(lambda: state.health == Health.OK, 15, "connected")
            yield daemon, col
    finally:
        col.close()


async def ask(col: Collector, payload: Any) -> dict[str, Any]:
    topic = f"{BASE}/cmd/pos.sale/result"
    before = len(col.json_on(topic))
    text = payload if isinstance(payload, bytes) else json.dumps(payload)
    await asyncio.to_thread(col.publish, f"{BASE}/cmd/pos.sale", text)
    await await_until(lambda: len(col.json_on(topic)) > before, 15, "a pos.sale answer")
    answer: dict[str, Any] = col.json_on(topic)[before]
    return answer


def sale(cmd_id: str, receipt: str, **args: Any) -> dict[str, Any]:
    return {"id": cmd_id, "args": {"receipt": receipt, "time": format_time(time.time()),
                                   "lines": [{"sku": "4901234567890", "quantity": 2},
                                             {"sku": "SNK-GUM-14", "quantity": 1},
                                             {"sku": "4901234567890", "quantity": 1}],
                                   **args}}


def sales(daemon: Daemon) -> list[dict[str, Any]]:
    return [s.event.data for s in daemon.event_log.query(types=[SALE])]


def test_a_sale_is_recorded_once_per_receipt_also_across_a_restart(
        tmp_path: Path, broker: Mosquitto) -> None:
    async def scenario() -> None:
        async with pos(tmp_path, broker) as (daemon, col):
            first = await ask(col, sale("c-1", "R-0001"))
            assert first["outcome"] == "ok" and first["result"] == {
                "receipt": "R-0001", "recorded": True, "lines": 2}
            again = await ask(col, sale("c-1", "R-0001"))  # a redelivery: the command id
            assert again["outcome"] == "duplicate"
            resent = await ask(col, sale("c-2", "R-0001"))  # the POS sent it again
            assert resent["outcome"] == "ok" and resent["result"]["duplicate"] is True
            [recorded] = sales(daemon)
            assert recorded["receipt"] == "R-0001" and recorded["via"] == "cloud"
            assert recorded["lines"] == [{"sku": "4901234567890", "quantity": 3},
                                         {"sku": "SNK-GUM-14", "quantity": 1}]
        async with pos(tmp_path, broker) as (daemon, col):
            after = await ask(col, sale("c-3", "R-0001"))
            assert after["result"]["duplicate"] is True
            other = await ask(col, sale("c-4", "R-0002"))
            assert other["result"]["recorded"] is True
            assert [s["receipt"] for s in sales(daemon)] == ["R-0001", "R-0002"]

    asyncio.run(scenario())


HOSTILE: list[tuple[Any, str]] = [
    ({"id": "h-1", "args": {"receipt": MARK, "lines": []}}, "args"),
    (sale("h-2", "R-9", lines=[{"sku": MARK + "/" * 80, "quantity": 1}]), "args/lines/0/sku"),
    (sale("h-3", "R-9", lines=[{"sku": "A", "quantity": -3}]), "args/lines/0/quantity"),
    (sale("h-4", "R-9", lines=[{"sku": "A", "quantity": 1, "price": MARK}]), "args/lines/0"),
    (sale("h-5", "R-9", time=MARK), "args/time"),
    (sale("h-6", "R-9", time="2999-01-01T00:00:00Z"), "future"),
    (sale("h-7", "R-9", time="2020-01-01T00:00:00Z"), "older than 30 days"),
    (sale("h-8", "R-9\n"), "args/receipt"),
    (sale("h-9", "R-9", lines=[{"sku": "A", "quantity": 1}] * 201), "args/lines"),
    (sale("h-10", "R-9", lines="A x1"), "args/lines"),
    (b'{"id": "h-11", "args": {"receipt": "' + MARK.encode() + b'", "lines": [NaN]}}',
     "not finite"),
    (b"\xff\xfe" + MARK.encode(), "not UTF-8"),
]


def test_hostile_sales_are_refused_counted_and_never_quoted(
        tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with pos(tmp_path, broker) as (daemon, col):
            for payload, says in HOSTILE:
                answer = await ask(col, payload)
                assert answer["outcome"] == "rejected", (payload, answer)
                assert says in answer["error"], (says, answer["error"])
                assert MARK not in json.dumps(answer)
            assert sales(daemon) == []
            good = await ask(col, sale("ok-1", "R-9"))
            assert good["result"]["recorded"] is True
            counters = daemon.supervisor.states["sync"].counters
            assert counters["commands.rejected"] == len(HOSTILE)
            records = [s.event.data for s in daemon.event_log.query(
                types=["omo.cloud.command.received"])]
            assert MARK not in json.dumps(records)

    asyncio.run(scenario())
    assert MARK not in caplog.text
