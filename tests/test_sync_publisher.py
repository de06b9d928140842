"""The outbox publisher against a real Mosquitto: window, priority lanes, rate cap, resume
after a restart, nothing marked delivered without a PUBACK; plus the pure parts (topics,
backoff, refusal reasons, device status payloads)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from edge.catalogue import PRIORITY_NAMES, catalogue
from edge.clock import SystemClock
from edge.eventlog import EventLog
from edge.events import source_uri
from edge.mosquitto import Mosquitto
from edge.runtime import Emitter
from edge.sync.connection import (
    Backoff,
    Link,
    describe_connect_error,
    describe_lost,
    refusal_message,
)
from edge.sync.device_status import DeviceStatus
from edge.sync.publisher import Publisher
from edge.sync.topics import Topics
from tests.sync_fixtures import BASE, DEVICE, STORE, Collector, await_until, sync_config

TOPICS = Topics("omo/v1", STORE, DEVICE)


@pytest.fixture(scope="module")
def broker() -> Mosquitto:
    with Mosquitto() as m:
        yield m


class Pipeline:
    """Event log + emitter + link + publisher, in this process."""

    def __init__(self, tmp: Path, port: int, *, window: int, rate: float = 0.0) -> None:
        self.cfg = sync_config(tmp, port, max_inflight=window, rate_limit=rate)
        self.log = EventLog(self.cfg.storage.path)
        self.emitter = Emitter(self.log, SystemClock(), source=source_uri(STORE, DEVICE),
                               bootid="c" * 32)
        self.link = Link(self.cfg.broker, client_id="pub-test",
                         backoff=Backoff(initial_s=0.05, max_s=0.2))
        self.publisher = Publisher(self.log, self.link, TOPICS, window=window, rate_limit=rate)
        self.link.listeners.append(self.publisher)
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start_emitter(self) -> None:
        await self.emitter.start()
        self.emitter.subscribe(self.publisher.on_event)

    def start_sync(self) -> None:
        self.tasks = [asyncio.create_task(self.link.run(self.stop)),
                      asyncio.create_task(self.publisher.run(self.stop))]

    async def close(self) -> None:
        self.stop.set()
        await self.publisher.flush()
        await self.link.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.publisher.close()
        await self.emitter.stop()
        self.log.close()


async def _emit(p: Pipeline, n: int, event_type: str = "omo.test.sample.created") -> None:
    for i in range(n):
        data: dict[str, Any] = ({"n": i} if event_type == "omo.test.sample.created" else
                                {"shelf": "s1", "plate": "p1", "remaining": 0})
        await p.emitter.emit(event_type, data)


def test_backlog_high_priority_first_within_the_window(tmp_path: Path, broker: Mosquitto) -> None:
    col = Collector(broker.port, [f"{BASE}/events/#"], client_id="prio-cloud")

    async def scenario() -> None:
        p = Pipeline(tmp_path, broker.port, window=10)
        await p.start_emitter()
        await _emit(p, 300)                             # low-priority backlog first,
        await _emit(p, 5, "omo.shelf.stock.low")        # then five stock-outs
        assert p.log.stats().delivered == 0             # nothing delivered without a broker
        p.start_sync()
        await await_until(lambda: p.log.stats().queued == 0, 20, "the drain")
        assert p.publisher.counters["inflight_peak"] <= 10
        await p.close()

    try:
        asyncio.run(scenario())
        col.wait_for(lambda: len(col.messages) >= 305, 10, "all events")
    finally:
        col.close()
    arrived = [json.loads(payload) for _, payload, _ in col.messages]
    high = [i for i, e in enumerate(arrived) if e["type"] == "omo.shelf.stock.low"]
    assert len(high) == 5 and max(high) < 10 + 5, f"stock-outs arrived at {high}"
    low_seqs = [e["seq"] for e in arrived if e["type"] == "omo.test.sample.created"]
    assert low_seqs == sorted(low_seqs) and len(low_seqs) == 300


def test_rate_cap_holds_the_drain_back(tmp_path: Path, broker: Mosquitto) -> None:
    rate, n = 400.0, 200
    col = Collector(broker.port, [f"{BASE}/events/#"], client_id="rate-cloud")

    async def scenario() -> float:
        p = Pipeline(tmp_path, broker.port, window=100, rate=rate)
        await p.start_emitter()
        await _emit(p, n)
        p.start_sync()
        await await_until(lambda: p.link.connected, 10, "connected")
        t0 = time.monotonic()
        await await_until(lambda: p.log.stats().queued == 0, 20, "the drain")
        elapsed = time.monotonic() - t0
        await p.close()
        return elapsed

    try:
        elapsed = asyncio.run(scenario())
    finally:
        col.close()
    burst = max(1.0, min(100.0, rate / 10))
    assert elapsed >= (n - burst) / rate * 0.95, f"drained {n} in {elapsed:.2f} s"


def test_resume_from_the_first_undelivered_event(tmp_path: Path, broker: Mosquitto) -> None:
    async def run(n_new: int) -> dict[str, int]:
        p = Pipeline(tmp_path, broker.port, window=20)
        await p.start_emitter()
        await _emit(p, n_new)
        p.start_sync()
        # the log's marks are written before the publisher counts them: wait for both
        await await_until(lambda: p.log.stats().queued == 0
                          and p.publisher.counters["delivered"] >= n_new, 20, "delivery")
        counters = dict(p.publisher.counters)
        await p.close()
        return counters

    first = asyncio.run(run(100))
    second = asyncio.run(run(30))
    assert first["published"] == 100 and first["delivered"] == 100
    assert second["published"] == 30 and second["delivered"] == 30


# ------------------------------------------------------------------ pure parts
def test_topics() -> None:
    assert TOPICS.event("omo.shelf.item.picked") == f"{BASE}/events/omo.shelf.item.picked"
    assert TOPICS.command_name(f"{BASE}/cmd/ping") == "ping"
    assert TOPICS.command_name(f"omo/v1/{STORE}/all/cmd/order.ready") == "order.ready"
    assert TOPICS.command_name(f"{BASE}/cmd/ping/result") is None
    assert TOPICS.command_name("omo/v1/other/edge-01/cmd/ping") is None
    assert TOPICS.result("ping") == f"{BASE}/cmd/ping/result"
    assert TOPICS.result("x/../#") == f"{BASE}/cmd/_invalid/result"


def test_backoff_is_jittered_and_capped() -> None:
    b = Backoff(initial_s=0.5, max_s=8.0)
    rng = random.Random(7)
    delays = [b.delay(k, rng) for k in range(1, 12)]
    for k, d in enumerate(delays, start=1):
        base = min(8.0, 0.5 * 2 ** (k - 1))
        assert base / 2 <= d <= base
    assert len({round(b.delay(3, rng), 6) for _ in range(20)}) > 1


def test_refusal_reasons_are_clear() -> None:
    cfg = sync_config(Path("/tmp"), 1883).broker
    assert "bad user name or password" in refusal_message(0x86, "x", cfg, "c")
    assert "password_env" in refusal_message(0x86, "x", cfg, "c")
    assert "not authorised" in refusal_message(0x87, "x", cfg, "c")
    assert "reason code 200" in refusal_message(200, "Odd", cfg, "c")
    err = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert describe_connect_error(err, cfg).startswith("TLS failure")
    assert "refused" in describe_connect_error(ConnectionRefusedError(111, "x"), cfg)
    assert "resolve" in describe_connect_error(socket.gaierror(-2, "Name unknown"), cfg)
    assert describe_lost("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] x").startswith("TLS failure")
    assert describe_lost(None) == "connection lost"


def test_every_catalogue_priority_has_a_lane() -> None:
    assert {s.priority for s in catalogue().values()} <= set(PRIORITY_NAMES)


def test_device_status_payloads() -> None:
    st = DeviceStatus(store=STORE, device=DEVICE, bootid="d" * 32, protocol="5",
                      health=lambda: {"sync": "ok"}, started_at=100.0, wall=lambda: 160.0)
    birth = json.loads(st.birth())
    assert birth["state"] == "online" and birth["health"] == {"sync": "ok"}
    assert json.loads(st.will())["state"] == "offline"
    assert json.loads(st.offline())["reason"] == "shutdown"
    assert not st.health_changed()
