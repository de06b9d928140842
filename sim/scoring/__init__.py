"""Scoring: the daemon's events against the simulator's ground truth, one scorer per metric.

Scorers register themselves with `@scorer(...)` in the module of the part they judge
(`presence`, `shelf`, `vision`, `insight`, `journey`); `PARTS` lists those modules. A scorer
declares the event types it needs: if none of them is in the log, the metric is reported as
not scored, with the reason, instead of a meaningless number. Every result says how it was
computed and which way is better (`better`: "higher" for precision, recall, accuracy and
correlation, "lower" for errors); every number in a metric's value shares that direction.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.events import parse_time

PARTS = ("sim.scoring.presence", "sim.scoring.shelf", "sim.scoring.vision",
         "sim.scoring.insight", "sim.scoring.journey")


class Truth:
    """Ground-truth records (the simulator's JSON lines), indexed by type."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.records = list(records)
        self.by_type: dict[str, list[dict[str, Any]]] = {}
        for r in self.records:
            self.by_type.setdefault(r["type"], []).append(r)
        run = self.by_type.get("run", [{}])[0]
        self.start_epoch = float(run.get("start_epoch", 0.0))
        self.duration = float(run.get("duration_s", 0.0))
        self.plates: dict[tuple[str, str], str] = {
            (shelf, plate): sku
            for shelf, plates in run.get("layout", {}).get("shelves", {}).items()
            for plate, sku in plates.items()}
        self.cameras: dict[str, str] = dict(run.get("layout", {}).get("cameras", {}))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return self.by_type.get(kind, [])


@dataclass
class EventView:
    """An event as the scorers see it: type, data and time relative to the run's start."""

    type: str
    t: float
    data: dict[str, Any]


def event_views(events: Iterable[dict[str, Any]], start_epoch: float) -> list[EventView]:
    return [EventView(e["type"], parse_time(e["time"]) - start_epoch, e.get("data", {}))
            for e in events]


Better = Literal["higher", "lower"]  # which way a metric's value improves


@dataclass(frozen=True)
class Scorer:
    name: str
    part: str
    needs: tuple[str, ...]
    how: str
    better: Better
    fn: Callable[[Truth, list[EventView]], dict[str, Any]]


@dataclass
class Registry:
    scorers: dict[str, Scorer] = field(default_factory=dict)

    def add(self, s: Scorer) -> None:
        if s.name in self.scorers:
            raise ValueError(f"two scorers are named {s.name!r}")
        self.scorers[s.name] = s


REGISTRY = Registry()


def scorer(name: str, *, part: str, better: Better, needs: tuple[str, ...], how: str
           ) -> Callable[[Callable[[Truth, list[EventView]], dict[str, Any]]],
                         Callable[[Truth, list[EventView]], dict[str, Any]]]:
    def register(fn: Callable[[Truth, list[EventView]], dict[str, Any]]
                 ) -> Callable[[Truth, list[EventView]], dict[str, Any]]:
        REGISTRY.add(Scorer(name, part, needs, how, better, fn))
        return fn
    return register


def load_parts() -> Registry:
    for module in PARTS:
        importlib.import_module(module)
    return REGISTRY


def score(truth: Truth, events: list[dict[str, Any]], *,
          switched_off: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every registered metric: scored (value, details, how) or not scored (reason).
    `switched_off` maps a part the run did not turn on to how to turn it on; its metrics
    without events say so instead of calling the part unbuilt."""
    registry = load_parts()
    views = event_views(events, truth.start_epoch)
    present = {v.type for v in views}
    out: dict[str, Any] = {}
    for name in sorted(registry.scorers):
        s = registry.scorers[name]
        base = {"part": s.part, "needs": list(s.needs), "how": s.how, "better": s.better}
        if not present.intersection(s.needs):
            off = (switched_off or {}).get(s.part)
            why = (f"the {s.part} part was off in this run ({off})" if off else
                   f"the {s.part} part is not built or not producing yet")
            out[name] = {**base, "scored": False, "reason": (
                f"no {' or '.join(s.needs)} events in the log: {why}")}
            continue
        out[name] = {**base, "scored": True, **s.fn(truth, views)}
    return out


# ------------------------------------------------------------------ shared maths
def match_by_time(truth: list[tuple[float, Any]], found: list[tuple[float, Any]],
                  tolerance_s: float, same: Callable[[Any, Any], bool] = lambda a, b: True
                  ) -> list[tuple[int, int]]:
    """One-to-one matches (truth index, found index), closest in time first, within the
    tolerance and where `same(truth_item, found_item)`."""
    pairs = sorted(
        (abs(tt - ft), i, j)
        for i, (tt, ti) in enumerate(truth)
        for j, (ft, fi) in enumerate(found)
        if abs(tt - ft) <= tolerance_s and same(ti, fi))
    used_t: set[int] = set()
    used_f: set[int] = set()
    out = []
    for _, i, j in pairs:
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            out.append((i, j))
    return sorted(out)


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    r = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rho (Pearson on tie-averaged ranks); None if undefined."""
    if len(a) != len(b) or len(a) < 2:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    if va == 0 or vb == 0:
        return None
    return float(cov / (va * vb) ** 0.5)


def ratio(n: float, d: float) -> float | None:
    return round(n / d, 4) if d else None
