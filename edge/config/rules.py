"""Checks that span keys: unique ids, zone references, TLS files, low stock below capacity,
MQTT BLE nodes.
Each adds problems in the reader's format; values that already failed are None and skipped."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from edge.config.model import (
    BleMqttNode,
    BleReceiver,
    Camera,
    Config,
    DoorCounter,
    Screen,
    Shelf,
)


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
        if shelf.protocol != "omo" and len(shelf.plates) != 1:
            problems.append(f"shelves[{i}].protocol = {shelf.protocol!r}: a commercial scale "
                            f"weighs a single plate, but the shelf has {len(shelf.plates)} "
                            "plates; give it exactly one [[shelves.plates]] table")
    return problems


def ids(config: Config) -> list[str]:
    return [*unique([z.id for z in config.zones], "zones[].id"),
            *unique([s.id for s in config.shelves], "shelves[].id"),
            *unique([c.id for c in config.cameras], "cameras[].id"),
            *unique([b.id for b in config.ble.receivers], "ble.receivers[].id"),
            *unique([n.node for n in config.ble.mqtt.nodes], "ble.mqtt.nodes[].node"),
            *unique([*(b.id for b in config.ble.receivers),
                     *(n.receiver for n in config.ble.mqtt.nodes)],
                    "ble.receivers[].id and ble.mqtt.nodes[].receiver"),
            *unique([s.id for s in config.screens], "screens[].id"),
            *unique([d.id for d in config.door_counters], "door_counters[].id"),
            *unique([s.port for s in config.shelves]
                    + [d.port for d in config.door_counters],
                    "shelves[].port and door_counters[].port")]


def zone_references(config: Config) -> list[str]:
    zone_ids = config.zone_ids()
    defined = ", ".join(sorted(z for z in zone_ids if z)) or "none (add [[zones]])"
    placed: list[tuple[str, tuple[Shelf | DoorCounter | Camera | BleReceiver | BleMqttNode
                                  | Screen, ...]]] = [
        ("shelves", config.shelves), ("door_counters", config.door_counters),
        ("cameras", config.cameras),
        ("ble.receivers", config.ble.receivers), ("ble.mqtt.nodes", config.ble.mqtt.nodes),
        ("screens", config.screens)]
    return [f"{kind}[{i}].zone = {item.zone!r}: no such zone; defined zones: {defined}"
            for kind, items in placed for i, item in enumerate(items)
            if item.zone and item.zone not in zone_ids]


def ble(config: Config) -> list[str]:
    mqtt = config.ble.mqtt
    problems = []
    if config.ble.enabled and not config.ble.receivers and not (mqtt.enabled and mqtt.nodes):
        problems.append("ble.enabled = true: but no [[ble.receivers]] or [[ble.mqtt.nodes]] "
                        "are configured")
    if mqtt.enabled and not mqtt.nodes:
        problems.append("ble.mqtt.enabled = true: but no [[ble.mqtt.nodes]] are configured "
                        "(adverts from unlisted nodes are dropped)")
    problems += [f"ble.receivers[{i}].id = 'mqtt': reserved (the MQTT feed's sensor is ble:mqtt)"
                 for i, r in enumerate(config.ble.receivers) if r.id == "mqtt"]
    ignored = set(mqtt.ignore_nodes or ())
    problems += [f"ble.mqtt.nodes[{i}].node = {n.node!r}: also in ble.mqtt.ignore_nodes"
                 for i, n in enumerate(mqtt.nodes) if n.node in ignored]
    return problems


def floor_plan(config: Config) -> list[str]:
    problems = []
    for i, z in enumerate(config.zones):
        a = z.area
        if a and (len(a) != 4 or a[0] >= a[2] or a[1] >= a[3]):
            problems.append(f"zones[{i}].area = {list(a)}: expected [x0, y0, x1, y1] with "
                            "x0 < x1 and y0 < y1 (metres)")
    for i, r in enumerate(config.ble.receivers):
        if r.position and len(r.position) != 2:
            problems.append(f"ble.receivers[{i}].position = {list(r.position)}: expected "
                            "[x, y] (metres)")
    for i, n in enumerate(config.ble.mqtt.nodes):
        if n.position and len(n.position) != 2:
            problems.append(f"ble.mqtt.nodes[{i}].position = {list(n.position)}: expected "
                            "[x, y] (metres)")
    every: list[BleReceiver | BleMqttNode] = [*config.ble.receivers, *config.ble.mqtt.nodes]
    placed = [bool(r.position) for r in every]
    if any(placed) and not all(placed):
        problems.append("ble.receivers[].position, ble.mqtt.nodes[].position: give every "
                        "receiver a position, or none")
    if all(placed) and placed and not any(z.area for z in config.zones):
        problems.append("ble.receivers[].position: the receivers are placed but no zone has "
                        "an area; add zones[].area")
    return problems


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


def vision(config: Config) -> list[str]:
    screens = {s.id for s in config.screens}
    problems = [f"cameras[{i}].screen = {c.screen!r}: no such screen; defined screens: "
                f"{', '.join(sorted(screens)) or 'none (add [[screens]])'}"
                for i, c in enumerate(config.cameras) if c.screen and c.screen not in screens]
    v = config.vision
    if v.attention_leave < v.attention_enter:
        problems.append(f"vision.attention_leave = {v.attention_leave}: must be at least "
                        f"vision.attention_enter ({v.attention_enter})")
    if v.zoom > 1.0 and v.zoom_band_bottom <= v.zoom_band_top:
        problems.append(f"vision.zoom_band_bottom = {v.zoom_band_bottom}: must be below "
                        f"vision.zoom_band_top ({v.zoom_band_top})")
    return problems


def signage(config: Config) -> list[str]:
    screens = {s.id for s in config.screens}
    problems = []
    sc = config.signage_channel
    if sc.default_screen is not None and sc.default_screen not in screens:
        problems.append(f"signage_channel.default_screen = {sc.default_screen!r}: not one of "
                        "the configured screens")
    from edge.catalogue import catalogue

    known = catalogue()
    for i, rule in enumerate(sc.triggers):
        if rule.event is not None and rule.event not in known:
            problems.append(f"signage_channel.triggers[{i}].event = {rule.event!r}: not an event "
                            "type in the catalogue (README lists them)")
        for name in rule.screens or ():
            if name not in screens:
                problems.append(f"signage_channel.triggers[{i}].screens: {name!r} is not one "
                                "of the configured screens")
    problems += unique([t.id for t in sc.triggers], "signage_channel.triggers[].id")
    return problems


ALL = (store, plates, ids, zone_references, ble, floor_plan, tls, signage, vision)
