"""Footfall: door-counter crossings in, per-minute windows out."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest

from drivers.readings import Direction, DoorCrossing
from edge.catalogue import spec
from edge.config import ConfigError
from edge.events import format_time
from edge.presence.footfall import EVENT, CounterSpec, FootfallProcessor, build
from edge.processing.processor import Output
from tests.core_fixtures import minimal_config

T0 = 1_767_258_000.0  # a minute boundary


def feed(p: FootfallProcessor, *items: tuple[float, str, Direction] | float
         ) -> list[tuple[float, dict[str, Any]]]:
    """Crossings (t, counter, direction) and ticks (t) in order; the emissions."""
    out: list[tuple[float, dict[str, Any]]] = []
    for item in items:
        if isinstance(item, tuple):
            t, counter, direction = item
            o = Output(t)
            p.on_reading(DoorCrossing(counter, t, direction), o)
        else:
            o = Output(item)
            p.on_tick(item, o)
        for e in o:
            assert e.type == EVENT
            spec(EVENT).validator.validate(e.data)
            out.append((e.at, e.data))
    return out


def test_a_window_per_minute_with_in_out_and_occupancy() -> None:
    p = FootfallProcessor({"door-1": CounterSpec("entrance")})
    IN, OUT = Direction.IN, Direction.OUT
    got = feed(p, T0, (T0 + 5, "door-1", IN), (T0 + 20, "door-1", IN), T0 + 55,
               (T0 + 70, "door-1", OUT), T0 + 125)
    assert got == [
        (T0 + 60, {"counter": "door-1", "zone": "entrance", "window_start": format_time(T0),
                   "window_s": 60.0, "in": 2, "out": 0, "occupancy": 2}),
        (T0 + 120, {"counter": "door-1", "zone": "entrance",
                    "window_start": format_time(T0 + 60), "window_s": 60.0, "in": 0,
                    "out": 1, "occupancy": 1}),
    ]


def test_quiet_minutes_are_reported_and_occupancy_never_goes_below_zero() -> None:
    p = FootfallProcessor({"door-1": CounterSpec("entrance"), "door-2": CounterSpec("entrance")})
    got = feed(p, T0 + 1, (T0 + 10, "door-2", Direction.OUT), (T0 + 11, "door-9", Direction.IN),
               (T0 + 200, "door-2", Direction.IN))
    by_counter = {(d["counter"], at): (d["in"], d["out"], d["occupancy"]) for at, d in got}
    # door-2's crossing at +200 closes its own quiet minutes; door-1 waits for a tick
    assert by_counter == {("door-2", T0 + 60): (0, 1, 0), ("door-2", T0 + 120): (0, 0, 0),
                          ("door-2", T0 + 180): (0, 0, 0)}
    assert p.unknown == 1
    got = feed(p, T0 + 240)
    assert [(d["counter"], at) for at, d in got] == [
        ("door-1", T0 + 60), ("door-1", T0 + 120), ("door-1", T0 + 180), ("door-1", T0 + 240),
        ("door-2", T0 + 240)]
    assert got[-1][1]["occupancy"] == 1 and got[-1][1]["in"] == 1


def test_occupancy_resets_at_the_closing_time() -> None:
    # closing at 22:00 in Tokyo (13:00 UTC): after the window that ends then, zero
    closing = 13 * 3600
    p = FootfallProcessor({"door-1": CounterSpec("entrance", time(22, 0), "Asia/Tokyo")})
    day = 1_767_225_600.0  # 2026-01-01T00:00Z
    got = feed(p, day + closing - 120, (day + closing - 90, "door-1", Direction.IN),
               (day + closing - 80, "door-1", Direction.IN), day + closing + 65)
    assert [d["occupancy"] for _, d in got] == [2, 2, 0]
    assert [d["in"] for _, d in got] == [2, 0, 0]


def test_built_only_when_a_door_counter_is_configured(tmp_path: Path) -> None:
    assert build(minimal_config(tmp_path)) == []
    cfg = minimal_config(tmp_path, zones=[{"id": "entrance", "name": "E", "kind": "entrance"}],
                         door_counters=[{"id": "door-1", "port": "/dev/ttyUSB0",
                                         "zone": "entrance", "occupancy_reset": "21:30"}])
    (proc,) = build(cfg)
    assert proc.name == "footfall" and set(proc.doors) == {"door-1"}
    assert proc.doors["door-1"].spec == CounterSpec("entrance", time(21, 30), "UTC")


def test_door_counter_config_problems_are_all_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        minimal_config(
            tmp_path, zones=[{"id": "entrance", "name": "E", "kind": "entrance"}],
            shelves=[{"id": "s1", "port": "/dev/ttyUSB0", "zone": "entrance", "plates": []}],
            door_counters=[
                {"id": "door-1", "port": "/dev/ttyUSB0", "zone": "street"},
                {"id": "door-1", "port": "/dev/ttyUSB1", "zone": "entrance",
                 "occupancy_reset": "24:00"}])
    text = str(err.value)
    assert "shelves[].port and door_counters[].port: '/dev/ttyUSB0' is used twice" in text
    assert "door_counters[].id: 'door-1' is used twice" in text
    assert "door_counters[0].zone = 'street': no such zone" in text
    assert "door_counters[1].occupancy_reset" in text and "HH:MM" in text
