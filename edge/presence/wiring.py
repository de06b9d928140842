"""The presence processor built from the config: floor plan, identities, pseudonyms."""

from __future__ import annotations

from pathlib import Path

from drivers.app_beacon import customer_id
from edge.app_keys import load_app_keys
from edge.config import Config
from edge.presence.identity import Identifier
from edge.presence.locate import (
    GridLocator,
    Locator,
    RadioModel,
    ReceiverPlace,
    StrongestLocator,
    ZoneArea,
)
from edge.presence.pseudonym import Pseudonyms
from edge.presence.tracker import PresenceProcessor, PresenceSettings


def locator_for(config: Config, model: RadioModel) -> Locator:
    """A grid locator when the config has a floor plan (every receiver placed, zones with
    areas), else the strongest receiver's zone."""
    listeners = config.ble.listeners()
    receivers = [ReceiverPlace(r.id, r.zone, r.position[0] if r.position else 0.0,
                               r.position[1] if r.position else 0.0)
                 for r in listeners]
    areas = [ZoneArea(z.id, *z.area) for z in config.zones if len(z.area) == 4]
    if areas and all(len(r.position) == 2 for r in listeners):
        return GridLocator(receivers, areas, model)
    zones = sorted({r.zone for r in listeners})
    return StrongestLocator(receivers, zones, model)


class AppKeys:
    """The app beacon keys the cloud sent (`presence.app_keys`), read from the state folder
    when the processor is built and again when the command's event says they changed."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.ring = load_app_keys(state_dir)

    def reload(self) -> None:
        self.ring = load_app_keys(self.state_dir)

    def resolve(self, major: int, minor: int, t: float) -> int | None:
        return self.ring.resolve(major, minor, t)


def presence_processor(config: Config) -> PresenceProcessor:
    ble = config.ble
    model = RadioModel(level_1m=float(ble.level_1m), path_loss_n=ble.path_loss_n)
    key = config.privacy.pseudonym_key
    keys = AppKeys(config.storage.state_dir)
    return PresenceProcessor(
        [r.id for r in ble.listeners()], locator_for(config, model),
        Identifier(ble.app_uuids, ble.exclude, keys.resolve),
        Pseudonyms(key.encode() if key else None, config.timezone),
        customer_id=customer_id,
        settings=PresenceSettings(visit_timeout_s=ble.visit_timeout_s),
        on_keys_updated=keys.reload)
