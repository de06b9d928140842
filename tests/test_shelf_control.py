"""`omo-edge shelf tare|calibrate` against a running daemon (a real Unix socket, a real pty
opened by pyserial), and the calibration surviving a daemon restart."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from drivers.shelf_serial import encode_line
from edge.cli import main as cli_main
from edge.config import load
from edge.events import Event
from edge.shelf.commands import CALIBRATED
from edge.shelf.control import PLATES_FILE, handle_line, saved_calibrations
from sim.shelf import PtyPort
from tests.waiting import await_until

STOCK_CHANGED = "omo.shelf.stock.changed"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "omo-edge.toml"
    path.write_text(f"""
[store]
id = "store-1"
device = "edge-01"

[storage]
path = "{tmp_path / 'events.db'}"
state_dir = "{tmp_path / 'st'}"
min_free_mb = 0

[[zones]]
id = "snacks"
kind = "shelf"

[[shelves]]
id = "shelf-1"
port = "{tmp_path / 'ctrl'}"
zone = "snacks"

[[shelves.plates]]
id = "p1"
sku = "SNK-1"
unit_grams = 100
capacity = 24
low_stock = 3
stock = 10
""")
    return path


class Controller:
    """Writes the plate's raw load (`raw`, grams as the uncalibrated cell reads them) 40
    times a second to the pty, with a little noise."""

    def __init__(self, port: PtyPort) -> None:
        self.port = port
        self.raw = 0.0
        self.seq = 0
        self.rng = random.Random(4)

    async def run(self) -> None:
        while True:
            self.port.write(encode_line("C1", 1, self.raw + self.rng.gauss(0, 0.5), self.seq))
            self.seq += 1
            await asyncio.sleep(0.025)  # the controller's own pace, not a synchronisation


async def _daemon_run(cfg: Path, body: Any) -> list[Event]:
    from edge.daemon import Daemon

    daemon = Daemon(load(cfg, require_secrets=False), status_every_s=0.05)
    events: list[Event] = []
    daemon.services.emitter.subscribe(events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, handle_signals=False))
    try:
        await body(events)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    return events


def _of(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == kind]


def test_tare_and_calibrate_from_the_cli_survive_a_restart(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    cfg = _config(tmp_path)
    port = PtyPort(tmp_path / "ctrl")
    port.plug()
    ctrl = Controller(port)

    def cli(*argv: str) -> Any:
        return asyncio.to_thread(cli_main, ["shelf", "--config", str(cfg), *argv])

    async def first(events: list[Event]) -> None:
        feeder = asyncio.create_task(ctrl.run())
        try:
            # an uncalibrated cell: 200 g of its own, 1.1 g read per gram; 10 items stocked
            ctrl.raw = 200 + 1.1 * 1000
            await await_until(lambda: _of(events, STOCK_CHANGED), what="the first count")
            ctrl.raw = 200.0  # emptied
            await await_until(lambda: any(d["count"] == 0 for d in _of(events, STOCK_CHANGED)),
                              what="the plate emptied")
            assert await cli("tare", "shelf-1/p1") == 0
            await await_until(lambda: _of(events, CALIBRATED), what="the tare")
            ctrl.raw = 200 + 1.1 * 1000  # a known kilogram put on
            await await_until(lambda: len(_of(events, STOCK_CHANGED)) >= 3,
                              what="the kilogram weighed")
            assert await cli("calibrate", "p1", "--grams", "1000") == 0
            await await_until(lambda: len(_of(events, CALIBRATED)) == 2, what="the scale")
        finally:
            feeder.cancel()

    events = asyncio.run(_daemon_run(cfg, first))
    tare, cal = _of(events, CALIBRATED)
    assert tare["action"] == "tare" and tare["tare_grams"] == pytest.approx(200, abs=1.5)
    assert cal["action"] == "calibrate" and cal["scale"] == pytest.approx(1 / 1.1, rel=0.01)
    assert "requested" in capsys.readouterr().out
    state = tmp_path / "st"
    saved = json.loads((state / PLATES_FILE).read_text())
    assert saved["shelf-1/p1"] == {"tare_grams": cal["tare_grams"], "scale": cal["scale"]}
    assert saved_calibrations(state)[("shelf-1", "p1")] == (cal["tare_grams"], cal["scale"])

    # restarted with 7 items on the plate: counted from the weight with the saved calibration
    # (not from the config's stock = 10, nor with the config's tare 0 and scale 1)
    async def second(events: list[Event]) -> None:
        feeder = asyncio.create_task(ctrl.run())
        try:
            ctrl.raw = 200 + 1.1 * 700
            await await_until(lambda: _of(events, STOCK_CHANGED), what="the first count")
        finally:
            feeder.cancel()

    try:
        events = asyncio.run(_daemon_run(cfg, second))
    finally:
        port.unplug()
    (initial,) = _of(events, STOCK_CHANGED)[:1]
    assert initial["reason"] == "initial" and initial["count"] == 7


def test_the_cli_without_a_daemon_or_with_a_bad_plate_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path)
    assert cli_main(["shelf", "--config", str(cfg), "tare", "p1"]) == 1
    assert "does not answer" in capsys.readouterr().err
    assert cli_main(["shelf", "--config", str(cfg), "tare", "nope"]) == 2
    assert "no plate 'nope'" in capsys.readouterr().err


def test_the_control_socket_rejects_what_the_command_schema_rejects(tmp_path: Path) -> None:
    config = load(_config(tmp_path), require_secrets=False)
    at = "2026-01-01T00:00:00.000Z"
    for line in (b"garbage", b'{"command": "shell.exec"}',
                 b'{"command": "shelf.calibrate", "args": {"shelf": "shelf-1", "plate": "p1"}}',
                 b'{"command": "shelf.tare", "args": {"shelf": "shelf-1", "plate": "p9"}}'):
        answer, data = handle_line(config, line, at)
        assert answer["outcome"] == "rejected" and data is None, line
    answer, data = handle_line(
        config, b'{"command": "shelf.tare", "args": {"shelf": "shelf-1", "plate": "p1"}}', at)
    assert answer["outcome"] == "ok" and data == {"shelf": "shelf-1", "plate": "p1",
                                                  "action": "tare", "count": 0}
    # a damaged plates file is ignored (the config's calibration holds), never a crash
    (tmp_path / "st" / "shelf").mkdir(parents=True, exist_ok=True)
    (tmp_path / "st" / PLATES_FILE).write_text('{"shelf-1/p1": {"tare_grams": "x"}, "y": 3')
    assert saved_calibrations(tmp_path / "st") == {}
