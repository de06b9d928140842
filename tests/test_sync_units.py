"""The sync parts without a broker: the command processor (answers, duplicates, bad
payloads, failures, flood shedding, what it logs), the command store's pruning, the
publisher's handling of a refused PUBACK, the MQTT link's typed dispatch, and the
dropped-events report."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edge.catalogue import PRIORITY_NAMES, Priority
from edge.eventlog import EventLog, RetentionPolicy
from edge.events import Event
from edge.sync import commands as commands_mod
from edge.sync.command_store import CommandStore
from edge.sync.commands import Command, CommandProcessor, CommandRejected, Outcome
from edge.sync.connection import (
    Link,
    LinkListener,
    PubAck,
    _Ack,
    _Down,
    _Message,
    _Up,
    is_tls_error,
)
from edge.sync.publisher import Publisher
from edge.sync.topics import Topics
from tests.core_fixtures import SOURCE, sample
from tests.sync_fixtures import BASE, DEVICE, PREFIX, STORE, sync_config

TOPICS = Topics(PREFIX, STORE, DEVICE)
WALL = 1_800_000_000.0
SECRET = "do-not-log-this-4711"


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Harness:
    """A command processor with its store, a record list and an answer list."""

    def __init__(self, tmp: Path, handlers: dict[str, Any], **kwargs: Any) -> None:
        self.records: list[dict[str, Any]] = []
        self.answers: list[tuple[str, dict[str, Any]]] = []
        self.store = CommandStore(tmp / "commands.db")
        self.monotonic = Clock()

        async def record(data: dict[str, Any]) -> None:
            self.records.append(data)

        def answer(topic: str, payload: bytes) -> None:
            self.answers.append((topic, json.loads(payload)))

        self.processor = CommandProcessor(
            topics=TOPICS, handlers=handlers, store=self.store, record=record, answer=answer,
            max_bytes=1024, wall=lambda: WALL, monotonic=self.monotonic, **kwargs)

    def send(self, name: str, payload: Any, *, to_all: bool = False) -> dict[str, Any] | None:
        topic = f"{PREFIX}/{STORE}/all/cmd/{name}" if to_all else f"{BASE}/cmd/{name}"
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return asyncio.run(self.processor.handle(topic, raw))


def _handler(calls: list[Command], result: dict[str, Any] | None = None
             ) -> Callable[[Command], Awaitable[dict[str, Any]]]:
    async def handle(cmd: Command) -> dict[str, Any]:
        calls.append(cmd)
        return result if result is not None else {"done": cmd.id}
    return handle


# ------------------------------------------------------------------ command processor
def test_a_good_command_runs_once_and_is_answered_and_recorded(tmp_path: Path) -> None:
    calls: list[Command] = []
    h = Harness(tmp_path, {"ping": _handler(calls, {"pong": True})})
    answer = h.send("ping", {"id": "p-1", "args": {"echo": "hi"}})
    assert answer is not None
    assert answer["outcome"] == Outcome.OK and answer["ok"] is True
    assert answer["result"] == {"pong": True} and answer["device"] == DEVICE
    assert [c.args for c in calls] == [{"echo": "hi"}] and calls[0].received_at == WALL
    assert h.answers == [(f"{BASE}/cmd/ping/result", answer)]
    assert h.records == [{"command": "ping", "outcome": "ok", "command_id": "p-1"}]
    assert h.processor.counters["commands.ok"] == 1


def test_a_command_to_every_device_is_marked_so(tmp_path: Path) -> None:
    calls: list[Command] = []
    h = Harness(tmp_path, {"ping": _handler(calls)})
    h.send("ping", {"id": "p-all"}, to_all=True)
    assert calls[0].to_all and h.answers[0][0] == f"{BASE}/cmd/ping/result"


def test_a_repeated_id_is_answered_duplicate_with_the_first_result(tmp_path: Path) -> None:
    calls: list[Command] = []
    h = Harness(tmp_path, {"ping": _handler(calls)})
    first = h.send("ping", {"id": "same"})
    second = h.send("ping", {"id": "same"})
    assert first is not None and second is not None
    assert len(calls) == 1
    assert second["outcome"] == Outcome.DUPLICATE and not second["ok"]
    assert second["result"] == first["result"] == {"done": "same"}
    assert "first outcome: ok" in second["error"]
    assert [r["outcome"] for r in h.records] == ["ok", "duplicate"]


BAD: list[tuple[str, Any, str]] = [
    ("ping", b"{not json", "not JSON"),
    ("ping", b"\xff\xfe", "not UTF-8"),
    ("ping", b"[" * 600 + b"]" * 600, "too large"),
    ("ping", {"args": {}}, "'id' is a required property"),
    ("ping", {"id": "e-1", "expires_at": "2020-01-01T00:00:00Z"}, "expired"),
    ("self.destruct", {"id": "x-1"}, "unknown command"),
    ("UPPER", {"id": "x-2"}, "invalid command name"),
    ("signage.show", {"id": "s-1", "args": {"screen": "s"}}, "args"),
]


@pytest.mark.parametrize(("name", "payload", "expected"), BAD,
                         ids=[b[2] for b in BAD])
def test_a_bad_command_is_rejected_and_nothing_runs(tmp_path: Path, name: str, payload: Any,
                                                    expected: str) -> None:
    calls: list[Command] = []
    h = Harness(tmp_path, {"ping": _handler(calls), "signage.show": _handler(calls)})
    answer = h.send(name, payload)
    assert answer is not None and not calls
    assert answer["outcome"] == Outcome.REJECTED and expected in answer["error"]
    assert h.records[0]["outcome"] == "rejected"
    if isinstance(payload, dict) and "id" in payload:
        assert answer["id"] == payload["id"]


def test_handler_refusal_failure_and_timeout(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(cmd: Command) -> dict[str, Any]:
        raise CommandRejected("unknown screen")

    async def crash(cmd: Command) -> dict[str, Any]:
        raise RuntimeError("boom " + SECRET)

    async def hang(cmd: Command) -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    monkeypatch.setattr(commands_mod, "HANDLER_TIMEOUT_S", 0.05)
    h = Harness(tmp_path, {"refuse": refuse, "crash": crash, "hang": hang})
    outcomes = [h.send(n, {"id": f"{n}-1"}) for n in ("refuse", "crash", "hang")]
    assert [(a or {})["outcome"] for a in outcomes] == ["rejected", "failed", "failed"]
    assert "timed out" in (outcomes[2] or {})["error"]
    assert h.processor.counters["commands.failed"] == 2


def test_command_logs_carry_no_payload_text(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    async def crash(cmd: Command) -> dict[str, Any]:
        raise RuntimeError("boom " + cmd.args["text"])

    h = Harness(tmp_path, {"crash": crash, "ping": _handler([])})
    with caplog.at_level(logging.DEBUG, logger="omo_edge.sync.commands"):
        h.send("crash", {"id": "c-1", "args": {"text": SECRET}})
        h.send("ping", {"id": ["x", SECRET]})                             # schema error
        h.send("ping", b'{"id": "j-1", "args": "' + SECRET.encode() + b'"')  # not JSON
    assert caplog.records, "the outcomes are logged"
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert all(SECRET not in (r.exc_text or "") for r in caplog.records)


def test_a_command_flood_is_shed_counted_and_logged_once(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    calls: list[Command] = []
    h = Harness(tmp_path, {"ping": _handler(calls)}, rate=2.0, burst=3.0)
    with caplog.at_level(logging.WARNING, logger="omo_edge.sync.commands"):
        results = [h.send("ping", {"id": f"f-{i}"}) for i in range(10)]
    assert [(r or {}).get("outcome") for r in results] == ["ok"] * 3 + ["shed"] * 7
    assert [(r or {}).get("id") for r in results] == [f"f-{i}" for i in range(10)]
    assert len(calls) == 3 and len(h.answers) == 10 and len(h.records) == 3
    assert h.processor.counters["commands.shed"] == 7
    assert h.processor.counters["commands.shed.ping"] == 7
    assert h.processor.counters["commands.received"] == 3
    assert len([r for r in caplog.records if "shedding" in r.getMessage()]) == 1
    h.monotonic.t += 1.0                     # two more tokens a second later
    assert [(h.send("ping", {"id": f"g-{i}"}) or {}).get("outcome") for i in range(3)] == [
        "ok", "ok", "shed"]


def test_a_topic_that_is_not_a_command_is_ignored(tmp_path: Path) -> None:
    h = Harness(tmp_path, {})
    assert asyncio.run(h.processor.handle(f"{BASE}/cmd/ping/result", b"{}")) is None
    assert not h.answers and not h.records


# -------------------------------------------------------------------- command store
def test_the_command_store_prunes_old_ids(tmp_path: Path) -> None:
    store = CommandStore(tmp_path / "commands.db", keep_s=100)
    assert store.claim("old", "ping", now=1000.0) is None
    store.finish("old", "ping", "ok", {"outcome": "ok"})
    assert store.claim("new", "ping", now=1080.0) is None
    assert store.claim("old", "ping", now=1090.0) == ("ok", {"outcome": "ok"})
    assert store.prune(now=1150.0) == 1           # "old" is 150 s old, "new" 70 s
    assert store.claim("old", "ping", now=1150.0) is None   # forgotten: runs again
    assert store.claim("new", "ping", now=1150.0) == ("running", None)
    assert store.prune(now=1150.0) == 0
    store.close()


# --------------------------------------------------------------------------- publisher
class FakeLink:
    """What the publisher needs of a Link: publish (message ids) and drop."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.dropped: list[tuple[int, str]] = []
        self._mid = 0

    def publish(self, topic: str, payload: bytes | str, qos: int = 1,
                retain: bool = False) -> int | None:
        self._mid += 1
        self.published.append((topic, payload if isinstance(payload, bytes)
                               else payload.encode()))
        return self._mid

    def drop(self, generation: int, reason: str) -> None:
        self.dropped.append((generation, reason))


def test_a_refused_puback_drops_the_event_from_the_window(tmp_path: Path) -> None:
    async def scenario() -> None:
        with EventLog(tmp_path / "e.db") as log:
            stored = log.append_many([sample(i) for i in range(3)])
            link = FakeLink()
            pub = Publisher(log, link, TOPICS, window=10, ack_linger_s=0.0)  # type: ignore[arg-type]
            pub.link_up(1, session_present=False)
            await pub._fill()
            assert pub.inflight == 3
            assert [p for _, p in link.published] == [e.to_json().encode() for e in stored]
            pub.acks(1, [PubAck(1, 0x00), PubAck(2, 0x87)])
            assert pub.inflight == 1                      # both left the window
            assert pub.counters["nacked"] == 1 and pub.counters["acked"] == 1
            assert link.dropped and link.dropped[0][0] == 1
            assert "0x87" in (pub.last_nack or "")
            await pub.flush()
            assert pub.counters["delivered"] == 1
            assert [e.seq for e in log.pending()] == [stored[1].seq, stored[2].seq]
            # The link goes down: the refused event is sent again on the next connection.
            pub.link_down(1, "dropped")
            pub.link_up(2, session_present=True)
            await pub._fill()
            assert [p for _, p in link.published[3:]] == [
                stored[1].to_json().encode(), stored[2].to_json().encode()]
            pub.close()

    asyncio.run(scenario())


# ----------------------------------------------------------------------------- link
class Recorder(LinkListener):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def acks(self, generation: int, acks: list[PubAck]) -> None:
        self.calls.append(("acks", (generation, acks)))

    def message(self, generation: int, topic: str, payload: bytes, mid: int, qos: int) -> None:
        self.calls.append(("message", (generation, topic, payload, mid, qos)))


def test_the_link_dispatches_typed_events_and_batches_acks(tmp_path: Path) -> None:
    link = Link(sync_config(tmp_path, 1).broker, client_id="t")
    rec = Recorder()
    link.listeners.append(rec)
    link._dispatch([_Ack(3, 1, 0), _Ack(3, 2, 0x80), _Message(3, "t/x", b"p", 7, 1),
                    _Ack(3, 4, 0), _Ack(4, 5, 0), _Up(99, True), _Down(99, "gone")])
    assert rec.calls == [
        ("acks", (3, [PubAck(1, 0), PubAck(2, 0x80)])),
        ("message", (3, "t/x", b"p", 7, 1)),
        ("acks", (3, [PubAck(4, 0)])),
        ("acks", (4, [PubAck(5, 0)])),
    ]  # an _Up or _Down of a connection that is not the current one changes nothing
    assert not link.status.connected
    assert is_tls_error("[SSL: CERTIFICATE_VERIFY_FAILED] x") and not is_tls_error(None)


# ------------------------------------------------------------- dropped-events report
def test_the_dropped_events_report_sums_by_reason_and_priority(tmp_path: Path) -> None:
    t0 = 1_767_225_600.0
    with EventLog(tmp_path / "e.db", policy=RetentionPolicy(max_age_s=3600)) as log:
        old = [sample(i, at=t0) for i in range(3)]
        old.append(sample(3, at=t0, event_type="omo.shelf.stock.low", shelf="s1",
                          plate="1", remaining=0))
        log.append_many(old)
        log.append(sample(9, at=t0 + 7200))
        log.enforce_retention(now=t0 + 7300)
        pages = log.db.execute("PRAGMA page_count").fetchone()[0]
        log.db.execute(f"PRAGMA max_page_count={pages}")
        full = [log.append(sample(100 + i, payload="y" * 4000)) for i in range(5)]
        log.db.execute("PRAGMA max_page_count=1000000")
        report = log.take_drop_report()
        assert report["age_retention"] == {Priority.LOW: 3, Priority.HIGH: 1}
        assert report["disk_full"] == {Priority.LOW: full.count(None)} and None in full
        assert log.take_drop_report() == {}           # reported once
        # The event the housekeeper makes of it matches the catalogue.
        for reason, by_prio in report.items():
            Event.new("omo.device.events.dropped", {
                "reason": reason, "count": sum(by_prio.values()),
                "by_priority": {PRIORITY_NAMES[p]: n for p, n in by_prio.items()}},
                source=SOURCE, bootid="c" * 32, epoch_s=t0)
        counters = log.counters()
        assert counters["dropped.age_retention"] == 4
        assert counters["dropped.priority.high"] == 1
