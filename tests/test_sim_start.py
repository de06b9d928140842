"""`omo-edge sim --start`: runs on other dates (a simulated week for `omo-edge report`), and
the run's status.toml carries the store's zone and product names for the report."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from edge.config import load
from edge.events import parse_time
from sim.cli import _start
from sim.runner import Options, Simulation, _names_toml


def test_start_takes_a_date_or_an_rfc3339_time() -> None:
    assert _start("2026-01-05") == 1_767_603_600.0  # 09:00 UTC, when the default run starts
    assert _start("2026-01-05T19:00:00+09:00") == _start("2026-01-05T10:00:00Z")
    for bad in ("5 Jan", "2026-01-05T10:00:00", "2026-13-01"):
        with pytest.raises(argparse.ArgumentTypeError):
            _start(bad)


def test_the_world_starts_when_asked(tmp_path: Path) -> None:
    sim = Simulation(Options(duration=60, out=tmp_path, start_epoch=_start("2026-01-07")))
    assert sim.world.start_epoch == 1_767_776_400.0
    assert sim.world.truth[0]["start_epoch"] == 1_767_776_400.0  # the scorers' time origin
    default = Simulation(Options(duration=60, out=tmp_path))
    assert default.world.start_epoch == 1_767_258_000.0


def test_the_pushed_interest_lists_expire_relative_to_the_start() -> None:
    """The simulated cloud's expiry times move with `--start`: dated from the default start,
    every list of a later week had expired, and the week's runs made no journey offer."""
    def pushed(start: float | None) -> list[tuple[float, str]]:
        sim = Simulation(Options(duration=900, seed=3, start_epoch=start))
        return [(item["expires_t"], item["expires"]) for rec in sim.world.truth
                if rec["type"] == "interests" for item in rec["products"]]

    later = pushed(_start("2026-01-07"))
    assert later
    assert [t for t, _ in later] == [t for t, _ in pushed(None)]
    assert all(parse_time(s) == 1_767_776_400.0 + t for t, s in later)


def test_status_toml_names_zones_and_products(tmp_path: Path) -> None:
    sim = Simulation(Options(duration=60, out=tmp_path))
    path = tmp_path / "status.toml"
    path.write_text('[store]\nid = "sim-store"\ndevice = "sim-edge"\n'
                    + _names_toml(sim.world, tmp_path), encoding="utf-8")
    config = load(path, require_secrets=False)
    names = {p.sku: p.name for s in config.shelves for p in s.plates}
    assert names["DRK-TEA-350"] == "緑茶 350ml" and len(names) == 11
    assert {z.id: z.name for z in config.zones}["care"] == "Personal care"
