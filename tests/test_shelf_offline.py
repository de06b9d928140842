"""The offline harness (`sim.shelf_offline`) against the full path's way of stepping the world."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.readings import Reading, WeightSample
from drivers.shelf_serial import ShelfReader
from sim.world import TICK_S, build_world, scenarios


def test_with_a_reader_tick_the_harness_weighs_the_samples_the_full_path_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`omo-edge sim` steps the world tick by tick (`ShelfGenerator.step(k * tick, (k + 1)
    * tick)`) and the generator draws its noise plate by plate within a step: the harness
    must step the same way, or every sample's noise differs from the full path's and a
    miss seen there cannot be traced offline (it stepped by 0.5 s before)."""
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
    offline.run("normal-day", 3, duration, reader_tick=TICK_S)

    world = build_world(scenarios()["normal-day"], 3, duration)
    gen = ShelfGenerator(world)
    readers = {s.id: ShelfReader(s.id, "loop://", 115200, now=lambda: 0.0)
               for s in world.layout.shelves}
    full: list[tuple[str, int, float, float]] = []
    for k in range(round(duration / TICK_S)):
        t1 = (k + 1) * TICK_S
        for shelf_id, data in gen.step(k * TICK_S, t1).items():
            for part in readers[shelf_id].lines.feed(data):
                reading = readers[shelf_id].handle(part)
                if isinstance(reading, WeightSample):
                    full.append((reading.shelf, reading.plate, reading.grams,
                                 world.start_epoch + t1))
    assert len(full) > 1000
    by_plate = sorted(fed, key=lambda r: (r[0], r[1]))  # stable: each plate in time order
    assert [r[:3] for r in by_plate] == [r[:3] for r in sorted(full, key=lambda r: (r[0], r[1]))]
    # and each is dated at the end of the tick it was written in, as the reader dates it
    assert [round(r[3], 6) for r in by_plate] == \
        [round(r[3], 6) for r in sorted(full, key=lambda r: (r[0], r[1]))]
