"""A processor for tests of the seam: counts readings per sensor in 10-second windows.

A window is closed (one `omo.test.sample.created` event, at the window's end) by the first
reading of a later window from the same sensor, or by a tick once the window is 20 s old.
It uses readings, ticks and its own state only, as every processor must.
"""

from __future__ import annotations

import math
import threading

from drivers.readings import BeamEdge, BleAdvert, DoorCrossing, Frame, Reading, WeightSample
from edge.config import Config
from edge.events import Event
from edge.processing.processor import BaseProcessor, Output, Subscriptions

WINDOW_S = 10.0


class WindowCounter(BaseProcessor):
    name = "window-counter"
    subscriptions = Subscriptions(readings=(BleAdvert, WeightSample, DoorCrossing, BeamEdge),
                                  tick_s=5.0)

    def __init__(self) -> None:
        self.open: dict[str, tuple[float, int]] = {}  # sensor -> (window start, count)
        self.ticks: list[float] = []

    def on_reading(self, reading: Reading, out: Output) -> None:
        if isinstance(reading, BleAdvert):
            sensor = f"ble:{reading.receiver}"
        elif isinstance(reading, WeightSample):
            sensor = f"shelf:{reading.shelf}:{reading.plate}"
        elif isinstance(reading, DoorCrossing):
            sensor = f"door:{reading.counter}"
        elif isinstance(reading, BeamEdge):
            sensor = f"beam:{reading.shelf}:{reading.plate}"
        else:
            return
        start = math.floor(reading.t / WINDOW_S) * WINDOW_S
        current = self.open.get(sensor)
        if current is not None and current[0] != start:
            self._close(sensor, out)
            current = None
        self.open[sensor] = (start, 1 if current is None else current[1] + 1)

    def on_tick(self, now: float, out: Output) -> None:
        self.ticks.append(now)
        for sensor, (start, _) in sorted(self.open.items()):
            if now - start >= 2 * WINDOW_S:
                self._close(sensor, out)

    def _close(self, sensor: str, out: Output) -> None:
        start, n = self.open.pop(sensor)
        out.emit("omo.test.sample.created", {"n": n, "payload": f"{sensor}@{start:.0f}"},
                 at=start + WINDOW_S)


class Echo(BaseProcessor):
    """Consumes the window counter's events from the log's tail and answers each one."""

    name = "echo"
    subscriptions = Subscriptions(events=("omo.test",))

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_event(self, event: Event, out: Output) -> None:
        self.seen.append(event.id)
        if not str(event.data.get("payload", "")).startswith("echo:"):
            out.emit("omo.test.sample.created",
                     {"n": event.data["n"], "payload": f"echo:{event.data['payload']}"})


class Fragile(BaseProcessor):
    """Raises on every weight sample and emits an invalid event for each advert."""

    name = "fragile"
    subscriptions = Subscriptions(readings=(BleAdvert, WeightSample, Frame))

    def on_reading(self, reading: Reading, out: Output) -> None:
        if isinstance(reading, WeightSample):
            raise RuntimeError("a processor bug")
        if isinstance(reading, BleAdvert):
            out.emit("omo.test.sample.created", {"n": -1})
            out.emit("omo.test.sample.created", {"n": reading.rssi + 200})


class Threaded(BaseProcessor):
    """Handles weight samples on a thread of its own and notes where and in which order."""

    name = "threaded"
    subscriptions = Subscriptions(readings=(WeightSample,), own_thread=True)

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.seqs: list[int] = []

    def on_reading(self, reading: Reading, out: Output) -> None:
        self.threads.add(threading.current_thread().name)
        assert isinstance(reading, WeightSample)
        self.seqs.append(reading.seq)


def window_counter(config: Config) -> WindowCounter:
    return WindowCounter()


def echo(config: Config) -> Echo:
    return Echo()


def fragile(config: Config) -> Fragile:
    return Fragile()
