"""Password auth, a broker refusing the credentials, and (mutual) TLS with certificates made
by openssl in the test, all against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from pathlib import Path

import pytest

from edge.mosquitto import Mosquitto, free_port
from edge.runtime import Health
from edge.status import read_status
from tests.sync_fixtures import (
    BASE,
    Collector,
    await_until,
    make_certs,
    running_daemon,
    sync_config,
)


@pytest.fixture(scope="module")
def password_broker(tmp_path_factory: pytest.TempPathFactory) -> Mosquitto:
    d = tmp_path_factory.mktemp("pw")
    pw = d / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "edge", "s3cret"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "cloud", "cl0ud"], check=True)
    pw.chmod(0o644)
    port = free_port()
    broker = Mosquitto(port=port, default_listener=False, extra_config=(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"))
    broker.start()
    yield broker
    broker.close()


async def _emit_samples(daemon: object, n: int) -> None:
    for i in range(n):
        await daemon.emitter.emit("omo.test.sample.created", {"n": i})  # type: ignore[attr-defined]


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_password_auth_from_the_environment(tmp_path: Path, password_broker: Mosquitto,
                                            protocol: str) -> None:
    collector = Collector(password_broker.port, [f"{BASE}/events/#"], username="cloud",
                          password="cl0ud", client_id=f"cloud-{protocol}")
    cfg = sync_config(tmp_path, password_broker.port, env={"OMO_TEST_PW": "s3cret"},
                      username="edge", password_env="OMO_TEST_PW", protocol=protocol)

    async def scenario() -> None:
        async with running_daemon(cfg) as daemon:
            await _emit_samples(daemon, 20)
            await await_until(lambda: daemon.event_log.stats().queued == 0, 20, "delivery")
            assert daemon.supervisor.states["sync"].health == Health.OK

    try:
        asyncio.run(scenario())
        got = collector.wait_for(lambda: len(collector.matching(
            lambda t, _p: t.endswith("omo.test.sample.created"))) >= 20, 10, "samples")
        assert got
    finally:
        collector.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_refused_credentials_are_reported_and_events_accumulate(
        tmp_path: Path, password_broker: Mosquitto, protocol: str,
        caplog: pytest.LogCaptureFixture) -> None:
    cfg = sync_config(tmp_path, password_broker.port, env={"OMO_TEST_PW": "wrong"},
                      username="edge", password_env="OMO_TEST_PW", protocol=protocol)
    caplog.set_level(logging.WARNING, logger="omo_edge.sync")

    async def scenario() -> None:
        async with running_daemon(cfg) as daemon:
            state = daemon.supervisor.states["sync"]
            await await_until(lambda: state.counters.get("refused", 0) >= 2, 20, "refusals")
            assert state.health == Health.DEGRADED
            assert "refused" in state.detail
            assert any(w in state.detail for w in ("bad user name or password",
                                                   "not authorised"))
            await _emit_samples(daemon, 30)
            stats = daemon.event_log.stats()
            assert stats.queued >= 30 and stats.delivered == 0
            def status_shows_it() -> bool:
                snap = read_status(cfg.storage.state_dir) or {}
                return ("refused" in json.dumps(snap)
                        and snap.get("outbox", {}).get("queued", 0) >= 30)

            await await_until(status_shows_it, 10, "the status file")
            snap = read_status(cfg.storage.state_dir)
            assert snap is not None
            assert snap["components"]["sync"]["health"] == "degraded"
            assert snap["outbox"]["queued"] >= 30

    asyncio.run(scenario())
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert logged, "the refusal was not logged"
    assert "s3cret" not in " ".join(logged) and "wrong" not in " ".join(logged)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> tuple[Mosquitto, int, dict[str, Path]]:
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    for p in certs.values():
        p.chmod(0o644)
    tls_port = free_port()
    broker = Mosquitto(extra_config=(
        f"listener {tls_port} 127.0.0.1\ncafile {certs['ca.crt']}\n"
        f"certfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
        "require_certificate true\n"))
    broker.start()
    yield broker, tls_port, certs
    broker.close()


def test_mutual_tls_delivers(tmp_path: Path, tls_broker: tuple[Mosquitto, int, dict[str, Path]]
                             ) -> None:
    broker, tls_port, certs = tls_broker
    collector = Collector(broker.port, [f"{BASE}/events/#"], client_id="cloud-tls")
    cfg = sync_config(tmp_path, tls_port, tls={"ca": str(certs["ca.crt"]),
                                               "cert": str(certs["client.crt"]),
                                               "key": str(certs["client.key"])})

    async def scenario() -> None:
        async with running_daemon(cfg) as daemon:
            await _emit_samples(daemon, 10)
            await await_until(lambda: daemon.event_log.stats().queued == 0, 20, "delivery")
            state = daemon.supervisor.states["sync"]
            assert state.health == Health.OK and "TLS" in state.detail

    try:
        asyncio.run(scenario())
        collector.wait_for(lambda: len(collector.matching(
            lambda t, _p: t.endswith("omo.test.sample.created"))) >= 10, 10, "samples")
    finally:
        collector.close()


@pytest.mark.parametrize(("case", "expected"), [
    ("no-client-cert", "client certificate"),
    ("untrusted-ca", "certificate"),
])
def test_tls_failures_are_reported(tmp_path: Path,
                                   tls_broker: tuple[Mosquitto, int, dict[str, Path]],
                                   case: str, expected: str) -> None:
    _, tls_port, certs = tls_broker
    tls = ({"ca": str(certs["ca.crt"])} if case == "no-client-cert" else
           {"ca": str(certs["other-ca.crt"]), "cert": str(certs["client.crt"]),
            "key": str(certs["client.key"])})
    cfg = sync_config(tmp_path, tls_port, tls=tls)

    async def scenario() -> None:
        async with running_daemon(cfg) as daemon:
            state = daemon.supervisor.states["sync"]
            await await_until(lambda: "TLS failure" in state.detail, 20, "a TLS failure")
            assert state.health == Health.DEGRADED
            assert expected in state.detail
            assert state.counters.get("refused", 0) >= 1
            assert daemon.event_log.stats().delivered == 0

    asyncio.run(scenario())
