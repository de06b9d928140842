"""What a processor is: logic that turns readings and events into events.

A processor is synchronous and pure: it keeps its own state, reads time only from the
readings, events and ticks it is given, and does no I/O. Its host (`edge.processing.host`)
does the rest: the inbox, the back-pressure policy, ticks from the clock, and appending what
the processor emits to the event log. So the same readings always give the same events,
live, in the simulator or replayed from a recording.

A processor declares what it consumes in `subscriptions`:

- `readings`: reading classes (`BleAdvert`, `WeightSample`, `Frame`, `DoorCrossing`);
- `events`: event types or dotted prefixes from the log's live tail (`omo.shelf` takes every
  shelf event); a processor never receives its own events;
- `tick_s`: if set, `on_tick` is called at every multiple of `tick_s` seconds of reading time
  (and of clock time while no readings come), before any later input: for timeouts;
- `own_thread`: run the handlers on a thread of the processor's own, in order, instead of on
  the event loop: for heavy work such as inference on frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.readings import Reading
from edge.events import Event


@dataclass(frozen=True)
class Subscriptions:
    """What a processor consumes."""

    readings: tuple[type[Reading], ...] = ()
    events: tuple[str, ...] = ()
    tick_s: float | None = None
    own_thread: bool = False

    def __post_init__(self) -> None:
        if self.tick_s is not None and self.tick_s <= 0:
            raise ValueError("tick_s must be positive")

    def wants_event(self, event_type: str) -> bool:
        return any(event_type == p or event_type.startswith(p + ".") for p in self.events)


@dataclass(frozen=True)
class Emission:
    """One event a processor asked for: its type, data and time (epoch seconds)."""

    type: str
    data: dict[str, Any]
    at: float


@dataclass
class Output:
    """Collects what a processor emits while it handles one input. `now` is the time of that
    input (a reading's, an event's or a tick's); an emission without `at` takes it."""

    now: float
    emissions: list[Emission] = field(default_factory=list)

    def emit(self, event_type: str, data: dict[str, Any], *, at: float | None = None) -> None:
        self.emissions.append(Emission(event_type, data, self.now if at is None else at))

    def __iter__(self) -> Iterator[Emission]:
        return iter(self.emissions)


class Processor(Protocol):
    """The interface every processor implements (subclass `BaseProcessor` for no-op
    defaults)."""

    name: str
    subscriptions: Subscriptions

    def on_reading(self, reading: Reading, out: Output) -> None: ...

    def on_event(self, event: Event, out: Output) -> None: ...

    def on_tick(self, now: float, out: Output) -> None: ...


class BaseProcessor:
    """No-op handlers; a processor overrides the ones its subscriptions need."""

    name = "processor"
    subscriptions = Subscriptions()

    def on_reading(self, reading: Reading, out: Output) -> None:
        return None

    def on_event(self, event: Event, out: Output) -> None:
        return None

    def on_tick(self, now: float, out: Output) -> None:
        return None

    def counters(self) -> dict[str, int]:
        """Optional: what the processor counts (skipped inputs, state sizes); the host
        shows them with its own in the component's counters (`omo-edge status`)."""
        return {}
