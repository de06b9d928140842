"""The simulator's lockstep waits for the BLE sources: a tick never runs ahead of adverts
stamped before it, however slowly a source's task gets to read its scanner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.ble import BleScanner
from drivers.readings import BleAdvert, Reading
from edge.config import Config
from edge.processing.processor import BaseProcessor, Output, Subscriptions
from sim.runner import Options, simulate


class LateAdverts(BaseProcessor):
    """Counts adverts handed to it after a tick later than their own time."""

    name = "late-adverts"
    subscriptions = Subscriptions(readings=(BleAdvert,), tick_s=1.0)

    def __init__(self) -> None:
        self.last_tick = float("-inf")
        self.adverts = 0
        self.late = 0

    def on_reading(self, reading: Reading, out: Output) -> None:
        assert isinstance(reading, BleAdvert)
        self.adverts += 1
        if reading.t < self.last_tick:
            self.late += 1

    def on_tick(self, now: float, out: Output) -> None:
        self.last_tick = now


def test_ticks_wait_for_slow_ble_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    read = BleScanner.read

    async def slow_read(self: BleScanner) -> list[BleAdvert]:
        batch = await read(self)
        await asyncio.sleep(0.05)  # not a synchronisation: the source's task lags its scanner
        return batch

    monkeypatch.setattr(BleScanner, "read", slow_read)
    probe = LateAdverts()

    def factory(config: Config) -> LateAdverts:
        return probe

    res = asyncio.run(simulate(Options(scenario="normal-day", seed=3, duration=40.0, out=tmp_path,
                                 report=tmp_path / "report.json", headless=True,
                                 snapshot_every_s=40.0, progress=False,
                                 processors=(factory,))))
    assert probe.adverts > 200
    assert probe.late == 0
    assert res.report["run"]["ticks_readers_lagged"] == 0  # waited for, not timed out
