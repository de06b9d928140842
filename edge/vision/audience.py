"""Audience metrics per camera, time window and content item, with k-anonymity.

The pipeline reports, for every analysed frame, each live track's slice of time: how long
it was in view since its last sample (dwell) and how much of that it spent looking
(attention). A window (`window_s`, aligned to multiples of it in epoch seconds) collects the
slices; once it is over and `grace_s` more has passed, it becomes one summary: opportunities
to see (tracks whose face was seen), watchers (tracks that looked at least once), dwell and
attention seconds, and a dwell histogram. The same per content item that was on the
camera's screen at the time (from `omo.signage.item.played`, which arrives after the item
ended) is summed over a longer item window (`item_window_s`): a poster on screen for ten
seconds at a time rarely has k people in one minute, but does over a quarter of an hour. A
window or an item with fewer than `k` people is suppressed and counted: small groups could
single a person out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

DWELL_BUCKETS_S = (2.0, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds of the dwell histogram's buckets; the last bucket is open."""
ITEM_BIN_S = 0.5  # the per-item join's time resolution


def histogram(values: list[float]) -> list[int]:
    counts = [0] * (len(DWELL_BUCKETS_S) + 1)
    for v in values:
        counts[next((i for i, b in enumerate(DWELL_BUCKETS_S) if v < b),
                    len(DWELL_BUCKETS_S))] += 1
    return counts


@dataclass(frozen=True)
class Slice:
    track: int
    t: float
    dwell_s: float
    attention_s: float


@dataclass(frozen=True)
class Play:
    item: str
    start: float
    end: float


@dataclass
class Totals:
    tracks: set[int] = field(default_factory=set)
    watchers: set[int] = field(default_factory=set)
    dwell: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    attention_s: float = 0.0

    def add(self, s: Slice) -> None:
        self.tracks.add(s.track)
        self.dwell[s.track] += s.dwell_s
        if s.attention_s > 0:
            self.watchers.add(s.track)
        self.attention_s = max(0.0, self.attention_s + s.attention_s)

    def summary(self) -> dict[str, Any]:
        dwell = list(self.dwell.values())
        return {"passing": len(self.tracks), "watchers": len(self.watchers),
                "attention_s": round(self.attention_s, 2),
                "dwell_s_mean": round(sum(dwell) / len(dwell), 2) if dwell else 0.0}


class Audience:
    """One camera's windows. `add` slices; `due(now)` gives the summaries ready at `now`."""

    def __init__(self, camera: str, screen: str | None, *, window_s: float = 60.0,
                 k: int = 3, grace_s: float = 30.0, item_window_s: float = 900.0) -> None:
        self.camera, self.screen = camera, screen
        self.window_s, self.k, self.grace_s = window_s, k, grace_s
        self.item_window_s = item_window_s
        self.open: dict[int, list[Slice]] = defaultdict(list)
        # the same time by item window, per track and half second (a quarter of an hour of
        # a crowd at 10 frames/s stays small); only a camera on a screen has items to credit
        self.open_items: dict[int, dict[tuple[int, int], list[float]]] = defaultdict(dict)
        self.plays: list[Play] = []
        self.suppressed_windows = 0
        self.suppressed_items = 0

    def add(self, s: Slice) -> None:
        self.open[math.floor(s.t / self.window_s)].append(s)
        if self.screen is not None:
            bins = self.open_items[math.floor(s.t / self.item_window_s)]
            acc = bins.setdefault((s.track, math.floor(s.t / ITEM_BIN_S)), [0.0, 0.0])
            acc[0] += s.dwell_s
            acc[1] += s.attention_s

    def played(self, screen: str, item: str, start: float, end: float) -> None:
        if screen == self.screen:
            self.plays.append(Play(item, start, end))

    def due(self, now: float) -> list[tuple[float, dict[str, Any]]]:
        """(window end, summary) for each window over by `now - grace_s`; a window with
        fewer than k people gives nothing (counted)."""
        out = []
        for n in sorted(w for w in self.open if (w + 1) * self.window_s + self.grace_s <= now):
            slices = self.open.pop(n)
            t1 = (n + 1) * self.window_s
            summary = self._summary(slices)
            if summary is not None:
                out.append((t1, summary))
        return out

    def due_items(self, now: float) -> list[tuple[float, dict[str, Any]]]:
        """(item window end, {"window_s", "items"}) for each item window over by
        `now - grace_s` with at least one item seen by k people or more; items with fewer
        are left out (counted)."""
        out = []
        for n in sorted(w for w in self.open_items
                        if (w + 1) * self.item_window_s + self.grace_s <= now):
            slices = [Slice(track, (b + 0.5) * ITEM_BIN_S, dwell, attention)
                      for (track, b), (dwell, attention) in self.open_items.pop(n).items()]
            t0, t1 = n * self.item_window_s, (n + 1) * self.item_window_s
            items = self._items(slices, t0, t1)
            if items:
                out.append((t1, {"window_s": self.item_window_s, "items": items}))
        keep = max(self.window_s, self.item_window_s) + self.grace_s
        self.plays = [p for p in self.plays if p.end > now - keep]
        return out

    def flush(self) -> list[tuple[float, dict[str, Any]]]:
        return self.due(float("inf"))

    def _summary(self, slices: list[Slice]) -> dict[str, Any] | None:
        total = Totals()
        for s in slices:
            total.add(s)
        if len(total.tracks) < self.k:
            self.suppressed_windows += 1
            return None
        out = total.summary()
        out["dwell_histogram"] = {"bounds_s": list(DWELL_BUCKETS_S),
                                  "counts": histogram(list(total.dwell.values()))}
        return out

    def _items(self, slices: list[Slice], t0: float, t1: float) -> list[dict[str, Any]]:
        items: dict[str, Totals] = defaultdict(Totals)
        for p in self.plays:
            if p.end <= t0 or p.start >= t1:
                continue
            for s in slices:
                if p.start <= s.t < p.end:
                    items[p.item].add(s)
        shown = []
        for item, tot in sorted(items.items()):
            if len(tot.tracks) < self.k:
                self.suppressed_items += 1
                continue
            shown.append({"item": item, **tot.summary()})
        return shown
