"""Smart shelves: load-cell plates to picks, returns, stock and sensor faults.

`build` is the part's processor builder (see `edge.processing.registry`): with shelves
configured it returns the shelf processor (`edge.shelf.processor`). Plates are numbered on
their controller in the order the config lists them (the first `[[shelves.plates]]` is
plate 1). See docs/shelf.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import Config
    from edge.processing.processor import Processor
    from edge.shelf.processor import PlateSpec


def plate_specs(config: Config) -> list[PlateSpec]:
    """Every configured plate, numbered by its position on its shelf (from 1)."""
    from edge.shelf.processor import PlateSpec

    return [PlateSpec(shelf=s.id, plate=p.id, number=i, sku=p.sku, unit_grams=p.unit_grams,
                      capacity=p.capacity, low_stock=p.low_stock, zone=s.zone, name=p.name,
                      stock=p.stock, tare_grams=p.tare_grams, scale=p.scale,
                      max_grams=p.max_grams)
            for s in config.shelves for i, p in enumerate(s.plates, start=1)]


def build(config: Config) -> list[Processor]:
    """The shelf processor for `config`, or nothing without shelves. Calibrations done by
    command and kept in the state folder (`edge.shelf.control`) replace the config's tare
    and scale; such a plate's starting count is then its weight's."""
    from dataclasses import replace

    from edge.shelf.control import saved_calibrations
    from edge.shelf.processor import ShelfProcessor

    if not config.shelves:
        return []
    saved = saved_calibrations(config.storage.state_dir)
    specs = [replace(s, tare_grams=saved[(s.shelf, s.plate)][0],
                     scale=saved[(s.shelf, s.plate)][1], stock=None)
             if (s.shelf, s.plate) in saved and saved[(s.shelf, s.plate)][0] != 0.0 else s
             for s in plate_specs(config)]
    return [ShelfProcessor(specs)]
