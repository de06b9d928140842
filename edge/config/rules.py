"""Checks that span keys: unique ids, zone references, TLS files, low stock below capacity.
Each adds problems in the reader's format; values that already failed are None and skipped."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from edge.config.model import BleReceiver, Camera, Config, DoorCounter, Screen, Shelf


def unique(ids: Iterable[str | None], key: str) -> list[str]:
    seen: set[str] = set()
    problems = []
    for i in ids:
        if i is None:
            continue
        if i in seen:
            problems.append(f"{key}: {i!r} is used twice; ids must be unique")
        seen.add(i)
    return problems


def store(config: Config) -> list[str]:
    if config.device == "all":
        return ["store.device = 'all': reserved for commands to every device"]
    return []


def plates(config: Config) -> list[str]:
    problems = []
    for i, shelf in enumerate(config.shelves):
        for j, p in enumerate(shelf.plates):
            if p.capacity and p.low_stock is not None and p.low_stock >= p.capacity:
                problems.append(f"shelves[{i}].plates[{j}].low_stock = {p.low_stock}: expected "
                                f"less than capacity ({p.capacity})")
        problems += unique([p.id for p in shelf.plates], f"shelves[{i}].plates[].id")
    return problems


def ids(config: Config) -> list[str]:
    return [*unique([z.id for z in config.zones], "zones[].id"),
            *unique([s.id for s in config.shelves], "shelves[].id"),
            *unique([c.id for c in config.cameras], "cameras[].id"),
            *unique([b.id for b in config.ble.receivers], "ble.receivers[].id"),
            *unique([s.id for s in config.screens], "screens[].id"),
            *unique([d.id for d in config.door_counters], "door_counters[].id"),
            *unique([s.port for s in config.shelves]
                    + [d.port for d in config.door_counters],
                    "shelves[].port and door_counters[].port")]


def zone_references(config: Config) -> list[str]:
    zone_ids = config.zone_ids()
    defined = ", ".join(sorted(z for z in zone_ids if z)) or "none (add [[zones]])"
    placed: list[tuple[str, tuple[Shelf | DoorCounter | Camera | BleReceiver | Screen,
                                  ...]]] = [
        ("shelves", config.shelves), ("door_counters", config.door_counters),
        ("cameras", config.cameras),
        ("ble.receivers", config.ble.receivers), ("screens", config.screens)]
    return [f"{kind}[{i}].zone = {item.zone!r}: no such zone; defined zones: {defined}"
            for kind, items in placed for i, item in enumerate(items)
            if item.zone and item.zone not in zone_ids]


def ble(config: Config) -> list[str]:
    if config.ble.enabled and not config.ble.receivers:
        return ["ble.enabled = true: but no [[ble.receivers]] are configured"]
    return []


def tls(config: Config) -> list[str]:
    t = config.broker.tls
    if t is None:
        return []
    problems = [f"broker.tls.{name} = {value!r}: no such file"
                for name, value in (("ca", t.ca), ("cert", t.cert), ("key", t.key))
                if value is not None and not Path(value).is_file()]
    if (t.cert is None) != (t.key is None):
        problems.append("broker.tls: cert and key go together (mutual TLS needs both)")
    return problems


ALL = (store, plates, ids, zone_references, ble, tls)
