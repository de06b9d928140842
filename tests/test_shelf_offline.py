"""The offline harness (`sim.shelf_offline`) against the full path's way of stepping the world."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.device_clock import ClockSettings
from drivers.readings import Reading, WeightSample
from drivers.shelf_serial import ShelfReader
from sim.world import TICK_S, World, build_world, scenarios


@pytest.mark.parametrize("clock", [True, False])
def test_with_a_reader_tick_the_harness_weighs_the_samples_the_full_path_does(
        monkeypatch: pytest.MonkeyPatch, clock: bool) -> None:
    """`omo-edge sim` steps the world tick by tick (`ShelfGenerator.step(k * tick, (k + 1)
    * tick)`) and the generator draws its noise plate by plate within a step: the harness
    must step the same way, or every sample's noise differs from the full path's and a
    miss seen there cannot be traced offline (it stepped by 0.5 s before). Each tick's
    lines are read at its end and dated as the full path's reader dates them: at the
    tick's end, or on the controllers' clocks (`date_on_clock`, `clock=True` here)."""
    import sim.shelf_offline as offline
    from sim.shelf import ShelfGenerator

    duration = 60.0
    fed: list[tuple[str, int, float, float]] = []
    on_reading = offline.ShelfProcessor.on_reading

    def keep(self: Any, reading: Reading, out: Any) -> None:
        if isinstance(reading, WeightSample):
            fed.append((reading.shelf, reading.plate, reading.grams, reading.t))
        on_reading(self, reading, out)

    monkeypatch.setattr(offline.ShelfProcessor, "on_reading", keep)
    offline.run("normal-day", 3, duration, reader_tick=TICK_S, date_on_clock=clock)

    world = build_world(scenarios()["normal-day"], 3, duration)
    gen = ShelfGenerator(world)
    readers = {s.id: ShelfReader(s.id, "loop://", 115200, now=lambda: 0.0,
                                 clock=ClockSettings() if clock else None)
               for s in world.layout.shelves}
    full: list[tuple[str, int, float, float]] = []
    for k in range(round(duration / TICK_S)):
        t1 = (k + 1) * TICK_S
        for shelf_id, data in gen.step(k * TICK_S, t1).items():
            reader = readers[shelf_id]
            for reading in reader.handle_lines(reader.lines.feed(data), world.start_epoch + t1):
                if isinstance(reading, WeightSample):
                    full.append((reading.shelf, reading.plate, reading.grams, reading.t))
    assert len(full) > 1000
    by_plate = sorted(fed, key=lambda r: (r[0], r[1]))  # stable: each plate in time order
    assert [r[:3] for r in by_plate] == [r[:3] for r in sorted(full, key=lambda r: (r[0], r[1]))]
    # and each is dated as the reader dates it
    assert [round(r[3], 6) for r in by_plate] == \
        [round(r[3], 6) for r in sorted(full, key=lambda r: (r[0], r[1]))]
    ticks = [(r[3] - world.start_epoch) / TICK_S for r in by_plate]
    on_tick = [abs(x - round(x)) < 1e-3 for x in ticks]
    assert all(on_tick) if not clock else not all(on_tick)


def _read_ticks(world: World, gen: Any, duration: float
                ) -> tuple[list[tuple[str, float, float]], dict[str, ShelfReader]]:
    """Each tick's lines read at its end, as `omo-edge sim` hands them over (none while a
    scenario's controller is unplugged, nor in the second after its replug: the reader's
    back-off): (shelf, true time, dating error) of each line of a tick with none garbled,
    after the first second, and the readers."""
    readers = {s.id: ShelfReader(s.id, "loop://", 115200, now=lambda: 0.0,
                                 clock=ClockSettings()) for s in world.layout.shelves}
    away = {target: (off, on + 1.0) for target, off, on in world.outages("shelf")}
    errors: list[tuple[str, float, float]] = []
    for k in range(round(duration / TICK_S)):
        t1 = (k + 1) * TICK_S
        for shelf_id, lines in gen.timed_lines(k * TICK_S, t1).items():
            off, on = away.get(shelf_id, (0.0, 0.0))
            lines = [(t, line) for t, line in lines if not off <= t < on]
            reader = readers[shelf_id]
            parts = [part for _, line in lines for part in reader.lines.feed(line)]
            readings = reader.handle_lines(parts, world.start_epoch + t1)
            if t1 > 1.0 and len(readings) == len(lines):
                errors += [(shelf_id, t, r.t - world.start_epoch - t) for r, (t, _) in zip(
                    readings, lines, strict=True)]
    return errors, readers


def test_read_a_tick_at_a_time_the_lines_are_dated_when_the_controller_wrote_them() -> None:
    """`omo-edge sim` hands the reader a tick's lines at the tick's end; on the
    controllers' clocks (a boot offset of their own, tens of ppm off) each is dated within
    10 ms of when it was written (after the first second), where dating on arrival puts
    them up to a tick late."""
    from sim.shelf import ShelfGenerator

    world = build_world(scenarios()["normal-day"], 5, 300.0)
    errors, readers = _read_ticks(world, ShelfGenerator(world), 300.0)
    assert len(errors) > 10_000
    assert max(abs(e) for _, _, e in errors) < 0.01
    assert {r.clock_counters().anchors for r in readers.values()} == {1}


@pytest.mark.parametrize("reset", [True, False])
def test_a_replugged_controller_restarts_its_clock_or_keeps_it(reset: bool) -> None:
    """`sensor-unplug`: shelf-2's controller is away 35-55 % of the run. Restarted (the
    default: a USB-powered controller loses power) its clock counts from 0 at the replug,
    and the reader re-anchors once; kept, the reader goes on. Either way its
    lines from a second after the replug (the reader back) are dated within 10 ms."""
    from sim.shelf import ShelfGenerator

    duration = 150.0
    world = build_world(scenarios()["sensor-unplug"], 13, duration)
    gen = ShelfGenerator(world, reset_on_replug=reset)
    [(target, _, on)] = world.outages("shelf")
    clock = gen.clocks[world.layout.shelf(target).controller]
    assert (abs(clock.ms(on + 1.0) - 1000) <= 1) is reset  # a few ppm off
    errors, readers = _read_ticks(world, gen, duration)
    counts = readers[target].clock_counters()
    # a restart is a step back, or, after 24.8 days up (2^31 ms), a leap ahead: a jump
    assert (counts.resets + counts.jumps, counts.anchors) == ((1, 2) if reset else (0, 1))
    after = [e for shelf, t, e in errors if shelf == target and t > on + 2.0]
    assert len(after) > 500 and max(abs(e) for e in after) < 0.01


def test_old_firmware_writes_no_clock() -> None:
    from drivers.shelf_serial import parse_line
    from sim.shelf import ShelfGenerator

    world = build_world(scenarios()["normal-day"], 5, 10.0)
    lines = [line for ls in ShelfGenerator(world, clock=False).timed_lines(0.0, 10.0).values()
             for _, line in ls if line.startswith(b"$W")]
    assert lines and parse_line(lines[0]).ms is None
