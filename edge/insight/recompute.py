"""Recompute insight from stored events: the same processor, fed the log's events in the order
the live tail gave them (by `seq`), with ticks from their times, as `ProcessorHost` does.

For trying other weights or windows on a day already logged (the live events of the
insight processor itself are left out), and for tests that the output depends on the events
alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from edge.events import Event, parse_time
from edge.insight.processor import InsightProcessor
from edge.processing.processor import Emission, Output


def recompute(processor: InsightProcessor, events: Iterable[Event],
              until: float | None = None) -> list[Emission]:
    """What `processor` emits for `events` (in `seq` order), ticking up to `until` (default:
    the last event's time) as the host does."""
    tick_s = processor.subscriptions.tick_s or 10.0
    out: list[Emission] = []
    next_tick: float | None = None
    last = -math.inf

    def tick_to(t: float) -> None:
        nonlocal next_tick
        if next_tick is None:
            next_tick = (math.floor(t / tick_s) + 1) * tick_s
            return
        while next_tick <= t:
            o = Output(next_tick)
            processor.on_tick(next_tick, o)
            out.extend(o)
            next_tick += tick_s

    for event in sorted(events, key=lambda e: e.seq):
        if not processor.subscriptions.wants_event(event.type):
            continue
        t = parse_time(event.time)
        last = max(last, t)
        tick_to(t)
        o = Output(t)
        processor.on_event(event, o)
        out.extend(o)
    if until is not None or last > -math.inf:
        tick_to(until if until is not None else last)
    return out
