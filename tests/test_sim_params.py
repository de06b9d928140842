"""`omo-edge sim --set section.key=value`: world parameters overridden and validated."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from edge.cli import main as cli_main
from sim.overrides import ParamError, apply, parameter_table, parse_sets, parse_value, specs
from sim.world import (
    BleParams,
    CameraParams,
    DoorParams,
    Params,
    ShelfParams,
    build_world,
    scenarios,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "sim.md"


def test_every_parameter_is_declared_and_its_default_is_allowed() -> None:
    declared = specs()
    for section, cls in (("ble", BleParams), ("shelf", ShelfParams), ("camera", CameraParams),
                         ("door", DoorParams)):
        assert {f"{section}.{f.name}" for f in dataclasses.fields(cls)} <= set(declared)
    nested = {"ble", "shelf", "camera", "door"}
    assert {f"world.{f.name}" for f in dataclasses.fields(Params) if f.name not in nested} \
        <= set(declared)
    assert len(declared) == sum(len(dataclasses.fields(c)) for c in (
        BleParams, ShelfParams, CameraParams, DoorParams)) + len(dataclasses.fields(Params)) - 4
    for spec in declared.values():  # the default, written as on the command line, parses
        text = ",".join(f"{v:g}" for v in spec.default) if isinstance(spec.default, tuple) \
            else f"{spec.default:g}"
        assert parse_value(spec, text) == spec.default, spec.key


def test_docs_list_every_parameter_with_its_default() -> None:
    text = DOCS.read_text()
    m = re.search(r"<!-- params:begin.*?-->\n(.*?)\n<!-- params:end -->", text, re.S)
    assert m, "docs/sim.md has no parameter table between the params markers"
    assert m.group(1) == parameter_table(), (
        "docs/sim.md's parameter table is out of date: paste the output of "
        "`omo-edge sim --list-params`")


def test_overrides_change_the_world_on_top_of_the_scenario() -> None:
    noisy = scenarios()["noisy-ble"]
    values = parse_sets(["world.staff=0", "shelf.bumps_per_hour=0", "ble.miss=0.2",
                         "world.stops=1,1", "world.browse_shelf=0", "world.online_share=0",
                         "world.staff=0"])
    assert values == {"world.staff": 0, "shelf.bumps_per_hour": 0.0, "ble.miss": 0.2,
                      "world.stops": (1, 1), "world.browse_shelf": 0.0,
                      "world.online_share": 0.0}
    params = apply(noisy.params, values)
    assert params.ble.miss == 0.2 and params.ble.noise_db == noisy.params.ble.noise_db == 7.0
    world = build_world(dataclasses.replace(noisy, params=params), 3, 600)
    assert not any(a.staff for a in world.agents)
    assert not any(r["type"] == "bump" for r in world.truth)
    looks = [r for r in world.truth if r["type"] == "look" and r["target_kind"] == "shelf"]
    assert looks and len({r["visitor"] for r in looks}) == len(looks)  # one product each
    assert world.truth[0]["params"]["ble"]["miss"] == 0.2
    empty = apply(Params(), parse_sets(["world.arrivals_per_hour=0"]))
    quiet = build_world(dataclasses.replace(noisy, params=empty), 3, 600)
    assert [a.id for a in quiet.agents] == ["s01", "s02"]  # staff only, no shoppers
    assert not any(r["type"] == "visit.started" for r in quiet.truth)


@pytest.mark.parametrize(("given", "says"), [
    ("ble.mis=0.3", "ble.mis: unknown key (did you mean 'ble.miss'?)"),
    ("blee.miss=0.3", "blee.miss: unknown section 'blee' (did you mean 'ble'?)"),
    ("ble.miss=1.5", "ble.miss = '1.5': expected a number from 0 to 1"),
    ("ble.miss=lots", "ble.miss = 'lots': expected a number from 0 to 1"),
    ("world.staff=2.5", "world.staff = '2.5': expected an integer from 0 to 50"),
    ("world.stops=3,1", "expected 2 comma-separated integers from 0 to 3, the second not "
                        "below the first"),
    ("world.walk_speed=1", "expected 2 comma-separated numbers"),
    ("camera.fps=inf", "camera.fps = 'inf': expected a number from 0.1 to 30"),
    ("ble.miss", "'ble.miss': expected section.key=value"),
    ("miss=0.3", "'miss=0.3': expected section.key=value"),
])
def test_bad_overrides_say_what_is_allowed(given: str, says: str) -> None:
    with pytest.raises(ParamError) as err:
        parse_sets([given])
    assert len(err.value.problems) == 1 and says in err.value.problems[0]


def test_cli_reports_every_bad_override_without_a_traceback(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["sim", "--set", "ble.mis=0.3", "--set", "camera.fps=0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "did you mean 'ble.miss'" in err and "camera.fps = '0'" in err
    assert cli_main(["sim", "--list-params"]) == 0
    assert capsys.readouterr().out.strip() == parameter_table()
