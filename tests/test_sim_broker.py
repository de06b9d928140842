"""`omo-edge sim --broker mqtt://HOST:PORT`: the run syncs to a broker the user runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main as cli_main
from edge.eventlog import open_readonly
from edge.mosquitto import Mosquitto
from sim.cli import parse_broker_url
from tests.sync_fixtures import Collector

BASE = "omo/v1/sim-store/sim-edge"


def test_run_events_arrive_at_an_external_broker(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with Mosquitto(workdir=tmp_path / "broker") as broker:
        sub = Collector(broker.port, [f"{BASE}/#"], client_id="sim-user-cloud")
        try:
            code = cli_main(["sim", "--scenario", "sensor-unplug",
                             "--broker", f"mqtt://127.0.0.1:{broker.port}",
                             "--duration", "30", "--headless", "--quiet",
                             "--out", str(tmp_path / "run")])
            assert code == 0
            el = open_readonly(tmp_path / "run" / "events.db")
            stored = list(el.query())
            el.close()
            delivered = {s.event.id: s.event.type for s in stored if s.delivered}
            # the run waits for the outbox: all but the stop event (logged as the
            # daemon's sync stops) went out, the sensors' offline/online changes too
            assert [s.event.type for s in stored if not s.delivered] \
                == ["omo.device.daemon.stopped"]
            assert list(delivered.values()).count("omo.sensor.status.changed") == 4
            # every event the broker acknowledged reached a subscriber of that broker, on
            # its type's topic
            def arrived() -> dict[str, str] | None:
                topics = {json.loads(p)["id"]: t for t, p in sub.matching(
                    lambda t, _p: t.startswith(f"{BASE}/events/"))}
                return topics if set(delivered) <= set(topics) else None

            got = sub.wait_for(arrived, what="the run's delivered events at the broker")
            for event_id, kind in delivered.items():
                assert got[event_id] == f"{BASE}/events/{kind}"
            status = sub.json_on(f"{BASE}/status")
            assert status and status[0]["store"] == "sim-store"
        finally:
            sub.close()
    out = capsys.readouterr().out
    assert f"broker mqtt://127.0.0.1:{broker.port}: {len(delivered)} of {len(stored)} " \
           "events delivered" in out


@pytest.mark.parametrize(("url", "expected"), [
    ("mqtt://broker.local:1884", ("broker.local", 1884)),
    ("mqtt://10.0.0.5", ("10.0.0.5", 1883)),
    ("mqtt://[::1]:1883/", ("::1", 1883)),
])
def test_broker_url(url: str, expected: tuple[str, int]) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(("url", "says"), [
    ("localhost:1883", "expected mqtt://HOST:PORT"),
    ("http://localhost:1883", "expected mqtt://HOST:PORT"),
    ("mqtts://localhost:8883", "TLS is not supported"),
    ("mqtt://:1883", "no host"),
    ("mqtt://localhost:99999", "the port must be a number from 1 to 65535"),
    ("mqtt://localhost:port", "the port must be a number from 1 to 65535"),
    ("mqtt://localhost:0", "port 0"),
    ("mqtt://u:secret@localhost:1883", "user names and passwords are not supported"),
    ("mqtt://localhost:1883/omo", "no path"),
    ("mqtt://bad host!:1883", "'bad host!' is not a host name or IP address"),
])
def test_bad_broker_url_is_a_usage_error(url: str, says: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["sim", "--broker", url]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_broker_outage_cannot_use_an_external_broker(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["sim", "--scenario", "broker-outage",
                     "--broker", "mqtt://127.0.0.1:1883"]) == 2
    assert "stops and restarts its own broker" in capsys.readouterr().err
