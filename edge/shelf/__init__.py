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
    """The shelf processor for `config`, or nothing without shelves."""
    from edge.shelf.processor import ShelfProcessor

    if not config.shelves:
        return []
    return [ShelfProcessor(plate_specs(config))]
