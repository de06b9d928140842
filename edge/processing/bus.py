"""The reading bus: sources publish readings; processors, the recorder and tests subscribe.

Subscriptions are typed by reading class (`subscribe(BleAdvert, sink)` hands the sink only
`BleAdvert`s). Each kind has a stated back-pressure policy that every subscriber's inbox
follows (see `POLICIES`):

- adverts, weight samples and door crossings go through a bounded queue; a reading that
  finds the queue full is dropped and counted (never silently);
- frames are newest-only: a frame replaces the one still waiting from the same camera, and
  the replaced frame is counted as skipped.

`publish` never blocks (sources run on the loop and must not stall); `deliver` waits for
room in every subscriber's inbox, so a replay at full speed loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Protocol, TypeVar, cast

from drivers.readings import BeamEdge, BleAdvert, DoorCrossing, Frame, Reading, WeightSample


class Policy(StrEnum):
    """How a subscriber's inbox treats a kind of reading when the subscriber falls behind."""

    QUEUE = "bounded-queue"  # keep every reading in order; drop and count when full
    NEWEST = "newest-only"  # keep only the newest per sensor; count the replaced ones


class ReadingKind(StrEnum):
    """The name of a kind of reading, as counters and recordings spell it."""

    BLE = "ble"
    WEIGHT = "weight"
    BEAM = "beam"
    FRAME = "frame"
    DOOR = "door"


KINDS: dict[type[Reading], ReadingKind] = {
    BleAdvert: ReadingKind.BLE, WeightSample: ReadingKind.WEIGHT, Frame: ReadingKind.FRAME,
    DoorCrossing: ReadingKind.DOOR, BeamEdge: ReadingKind.BEAM,
}
POLICIES: dict[ReadingKind, Policy] = {
    ReadingKind.BLE: Policy.QUEUE, ReadingKind.WEIGHT: Policy.QUEUE,
    ReadingKind.DOOR: Policy.QUEUE, ReadingKind.FRAME: Policy.NEWEST,
    ReadingKind.BEAM: Policy.QUEUE,  # an edge lost would leave a hand in the shelf
}


def kind_of(reading: Reading) -> ReadingKind:
    return KINDS[type(reading)]


R = TypeVar("R", bound=Reading)
R_contra = TypeVar("R_contra", contravariant=True)


class Sink(Protocol[R_contra]):
    """Where the bus hands readings: an inbox, a recorder, a counter."""

    def offer(self, reading: R_contra) -> None:
        """Take a reading without blocking (an inbox may drop it and count the drop)."""

    async def put(self, reading: R_contra) -> None:
        """Take a reading, waiting for room if need be."""


class CallbackSink:
    """A sink that calls a function for each reading (it never waits and never drops)."""

    def __init__(self, callback: Callable[[R], None]) -> None:
        self._callback: Callable[[Reading], None] = cast(Callable[[Reading], None], callback)

    def offer(self, reading: Reading) -> None:
        self._callback(reading)

    async def put(self, reading: Reading) -> None:
        self._callback(reading)


class ReadingBus:
    """Hands each reading to the sinks subscribed to its class, in subscription order."""

    def __init__(self) -> None:
        self._sinks: dict[type, list[Sink[Reading]]] = {}

    def subscribe(self, kind: type[R], sink: Sink[R]) -> Callable[[], None]:
        """Hand `sink` every reading of class `kind`; returns an unsubscribe function."""
        erased = cast("Sink[Reading]", sink)  # the dispatch below keeps the classes apart
        self._sinks.setdefault(kind, []).append(erased)

        def unsubscribe() -> None:
            sinks = self._sinks.get(kind, [])
            if erased in sinks:
                sinks.remove(erased)

        return unsubscribe

    def subscribe_callback(self, kind: type[R], callback: Callable[[R], None]
                           ) -> Callable[[], None]:
        return self.subscribe(kind, cast("Sink[R]", CallbackSink(callback)))

    def publish(self, reading: Reading) -> None:
        """From a source: hand the reading on without blocking."""
        for sink in self._sinks.get(type(reading), ()):
            sink.offer(reading)

    async def deliver(self, reading: Reading) -> None:
        """From a replay: hand the reading on, waiting for room in every inbox."""
        for sink in list(self._sinks.get(type(reading), ())):
            await sink.put(reading)

    def has_subscribers(self, kind: type[Reading]) -> bool:
        return bool(self._sinks.get(kind))
