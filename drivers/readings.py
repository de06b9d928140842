"""Readings: what drivers produce. Small, immutable, and free of personal data.

A reading carries the time it was taken (from the caller's clock) and the sensor that took it.
No raw MAC address ever leaves a driver: BLE adverts carry a keyed hash of the address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class BleAdvert:
    """One advertisement heard by one receiver."""

    receiver: str
    t: float
    rssi: int
    address_hash: str  # 16 hex digits: a keyed hash of the advertiser's address
    manufacturer_data: tuple[tuple[int, bytes], ...] = ()
    service_data: tuple[tuple[str, bytes], ...] = ()
    service_uuids: tuple[str, ...] = ()
    tx_power: int | None = None


@dataclass(frozen=True)
class WeightSample:
    """One plate weight reported by a shelf controller (one valid protocol line)."""

    shelf: str
    controller: str
    plate: int
    grams: float
    seq: int
    t: float
    stable: bool | None = None  # the scale's own stability flag; None: not reported (omo)


_new = object.__new__


def weight_sample(shelf: str, controller: str, plate: int, grams: float, seq: int, t: float,
                  stable: bool | None = None) -> WeightSample:
    """`WeightSample(...)`, built without the frozen dataclass's per-field
    `object.__setattr__` (the readers' hot path: a third of the cost of parsing a line).
    The object is the same: equal, hashed and shown alike."""
    sample: WeightSample = _new(WeightSample)
    d = sample.__dict__
    d["shelf"] = shelf
    d["controller"] = controller
    d["plate"] = plate
    d["grams"] = grams
    d["seq"] = seq
    d["t"] = t
    d["stable"] = stable
    return sample


@dataclass(frozen=True)
class BeamEdge:
    """An IR beam across a plate's front broke (a hand reached in) or cleared (it left), as
    a shelf controller reports it. `lane` is the beam's number across the plate (1 = left),
    so two hands at different places on one plate are two breaks."""

    shelf: str
    controller: str
    plate: int
    lane: int
    broken: bool
    seq: int
    t: float


@dataclass(frozen=True)
class Frame:
    """The newest frame of a camera. `image` is a BGR numpy array; never stored by default."""

    camera: str
    t: float
    index: int
    image: Any = field(repr=False, compare=False)


class Direction(StrEnum):
    """Which way a person crossed a door counter's beams."""

    IN = "in"
    OUT = "out"


@dataclass(frozen=True)
class DoorCrossing:
    """One person crossing a door counter, with the direction its beams gave."""

    counter: str
    t: float
    direction: Direction


Reading = BleAdvert | WeightSample | BeamEdge | Frame | DoorCrossing
"""Every kind of reading a driver produces; the reading bus dispatches on the class."""

RECORDABLE: tuple[type[BleAdvert] | type[WeightSample] | type[DoorCrossing]
                  | type[BeamEdge], ...] = (BleAdvert, WeightSample, DoorCrossing, BeamEdge)
"""The readings `omo-edge record` keeps (never frames: images do not leave the device)."""
