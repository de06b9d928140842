"""End to end: the simulator drives the real drivers inside the real daemon, and is scored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from edge.app_keys import load_app_keys
from edge.cli import main as cli_main
from edge.eventlog import open_readonly
from edge.events import validate_envelope
from edge.status import read_status
from tests.sim_fixtures import short_run


def test_streams_reach_the_daemon_through_the_drivers(tmp_path: Path) -> None:
    res = asyncio.run(short_run(tmp_path, seed=5, duration=60.0))
    run = res.report["run"]
    readings, sent, comps = res.readings, run["sent"], run["components"]
    rx_ids = [r.id for r in res.world.layout.receivers]
    assert set(readings) == {f"ble:{r}" for r in rx_ids} | {
        "shelf:shelf-1", "shelf:shelf-2", "shelf:shelf-3", "camera:cam-1", "camera:cam-2",
        "door:door-1"}
    # every advert handed to bleak reached the scanner callback: counted, or counted as bad
    for rx in rx_ids:
        assert readings[f"ble:{rx}"] > 0
        assert readings[f"ble:{rx}"] + comps[f"ble:{rx}"]["counters"]["bad_adverts"] \
            == sent["ble_delivered"][rx]
    # every line written to a pty was read by pyserial: a sample, or a counted bad line
    for shelf, n in sent["shelf_lines"].items():
        bad = comps[f"shelf:{shelf}"]["counters"].get("bad_lines", 0)
        assert n - sent["shelf_lines_garbled"] <= readings[f"shelf:{shelf}"] <= n
        assert readings[f"shelf:{shelf}"] + bad >= n
    # every door-counter line reached the reader (good, or counted as bad): shoppers' walks
    # became crossings, and the footfall windows were scored against the truth
    door = comps["door:door-1"]["counters"]
    assert sent["door_lines"] > 60 and door["bad_lines"] <= sent["door_lines_garbled"]
    # and the lockstep waited for it: every undamaged line was taken before the clock moved
    assert door["lines"] >= sent["door_lines"] - sent["door_lines_garbled"]
    crossings = sent["door_crossings"]["in"] + sent["door_crossings"]["out"]
    assert crossings > 0 and abs(readings["door:door-1"] - crossings) <= 1
    # the video files were decoded by OpenCV at the camera's rate: 2 fps for 60 s
    assert readings["camera:cam-1"] == readings["camera:cam-2"] == 121
    # each metric is scored exactly when the log holds an event type it needs
    logged = set(run["events_by_type"])
    for name, m in res.report["metrics"].items():
        assert m["scored"] == bool(logged & set(m["needs"])), name
        assert ("value" in m) if m["scored"] else m["reason"]
    # the cameras are not analysed without --vision: the report says how to turn them on
    vision = res.report["metrics"]["opportunities_to_see_error"]
    assert not vision["scored"] and "run with --vision" in vision["reason"]
    snap = res.snapshots[-1]
    assert snap.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status = read_status(tmp_path / "state")
    assert status is not None  # what `omo-edge status` reads
    assert [k.id for k in load_app_keys(tmp_path / "state").keys] == ["sim-1"]  # the app key
    assert status["components"]["shelf:shelf-1"]["readings"]["shelf:shelf-1"] > 0
    el = open_readonly(tmp_path / "events.db")
    types = [s.event.type for s in el.query()]
    el.close()
    assert types[0] == "omo.device.daemon.started" and "omo.device.daemon.stopped" in types
    text = (tmp_path / "events.db").read_bytes()
    for agent in res.world.agents:  # no raw addresses in the log
        if agent.beacon is not None:
            assert agent.beacon["address"].encode() not in text


def test_footfall_windows_are_logged_and_scored(tmp_path: Path) -> None:
    res = asyncio.run(short_run(tmp_path, seed=3, duration=125.0))
    el = open_readonly(tmp_path / "events.db")
    windows = [s.event for s in el.query(types=["omo.presence.footfall.window"])]
    for w in windows:
        validate_envelope(w.to_dict())
    el.close()
    assert [w.data["window_s"] for w in windows] == [60.0, 60.0]
    metrics = res.report["metrics"]
    fin, fout = metrics["footfall_in_error"], metrics["footfall_out_error"]
    assert fin["scored"] and fout["scored"] and fin["better"] == "lower"
    assert fin["details"]["events"] == sum(w.data["in"] for w in windows) > 0
    assert fin["details"]["truth"] > 0 and fin["value"] <= 0.25
    assert windows[-1].data["occupancy"] == sum(w.data["in"] - w.data["out"] for w in windows)


def test_same_seed_same_truth_and_report(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    code = cli_main(["sim", "--seed", "9", "--duration", "40", "--speed", "max", "--headless",
                     "--quiet", "--out", str(a), "--report", str(a / "report.json")])
    assert code == 0
    shown = capsys.readouterr().out
    assert "camera:cam-1" in shown
    assert all(f"  {name} " in shown for name in json.loads((a / "report.json").read_text())
               ["metrics"])
    asyncio.run(short_run(b, seed=9, duration=40.0))
    assert (a / "truth.jsonl").read_bytes() == (b / "truth.jsonl").read_bytes()
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (a, b))
    assert ra["truth_sha256"] == rb["truth_sha256"]
    assert ra["metrics"] == rb["metrics"]
    assert ra["run"]["sent"] == rb["run"]["sent"]


def test_sensor_unplug_goes_offline_and_comes_back(tmp_path: Path) -> None:
    res = asyncio.run(short_run(tmp_path, scenario="sensor-unplug", seed=2, duration=80.0))
    el = open_readonly(tmp_path / "events.db")
    changes = [(s.event.data["sensor"], s.event.data["status"])
               for s in el.query(types=["omo.sensor.status.changed"])]
    for stored in el.query():  # every event the run emitted matches its schema
        validate_envelope(stored.event.to_dict())
    el.close()
    assert changes.count(("shelf-2", "offline")) == 1 and ("shelf-2", "online") in changes
    assert changes.count(("cam-1", "offline")) == 1 and ("cam-1", "online") in changes
    comps = res.report["run"]["components"]
    assert comps["shelf:shelf-2"]["counters"]["disconnects"] == 1
    assert res.readings["shelf:shelf-2"] < res.readings["shelf:shelf-1"]


def test_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["sim", "--scenario", "nope"]) == 2
    assert "normal-day" in capsys.readouterr().err
