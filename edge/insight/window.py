"""What one insight window accumulates, and the two events it becomes (docs/insight.md).

Pure bookkeeping: the processor (`edge.insight.processor`) decides which window an input
belongs to; a `Window` only counts, and `interest` and `funnel` turn the counts into event
data with the config's weights.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from edge.events import format_time


@dataclass(frozen=True)
class Catalogue:
    """The products the store's shelves hold (sku -> zone) and which zones a camera
    covers; products sharing a zone share its dwell and shelf attention."""

    product_zone: dict[str, str]
    zones: tuple[str, ...]
    camera_zones: frozenset[str] = frozenset()

    def products_in(self, zone: str) -> int:
        return sum(1 for z in self.product_zone.values() if z == zone)


@dataclass(frozen=True)
class Weights:
    """The interest score's weights: the `insight.weight_*` keys (their defaults live in
    the config schema only)."""

    zone_min: float
    attention_min: float
    pick: float
    ret: float
    offer: float
    paired: float  # per unit picked together with another product of the shelf, at even odds
    pair_split: float  # how a pair's credit follows the picks so far (0: halves)


def _seconds() -> defaultdict[str, float]:
    return defaultdict(float)


@dataclass
class Window:
    """One window's counts."""

    start: float
    length_s: float
    passed: dict[str, set[str]] = field(default_factory=dict)  # zone -> visitors
    stopped: dict[str, set[str]] = field(default_factory=dict)
    stop_s: defaultdict[str, float] = field(default_factory=_seconds)  # zone -> s of stops
    looked: Counter[str] = field(default_factory=Counter)  # zone -> people who looked
    zone_attention_s: defaultdict[str, float] = field(default_factory=_seconds)  # shelf cams
    product_attention_s: defaultdict[str, float] = field(default_factory=_seconds)  # cards
    product_looked: Counter[str] = field(default_factory=Counter)
    picked: Counter[str] = field(default_factory=Counter)
    paired: Counter[str] = field(default_factory=Counter)  # picked with another plate's
    pairs: list[tuple[str, int, str]] = field(default_factory=list)  # sku, units, other sku
    returned: Counter[str] = field(default_factory=Counter)
    offered: Counter[str] = field(default_factory=Counter)  # journey offers at the shelf
    bought: Counter[str] = field(default_factory=Counter)
    late_sales: int = 0

    @property
    def end(self) -> float:
        return self.start + self.length_s

    def _base(self) -> dict[str, Any]:
        return {"window_start": format_time(self.start), "window_s": self.length_s}

    def pair_credit(self, weights: Weights, picks_so_far: Counter[str]) -> Counter[str]:
        """Per product, its paired units weighted by the odds that it was the product the
        shopper came for, times 2 (1 per unit at even odds): the odds are the two products'
        units picked so far (plus one each), to the power `pair_split` (0: even)."""
        credit: Counter[str] = Counter()
        for sku, units, other in self.pairs:
            mine = (picks_so_far[sku] + 1.0) ** weights.pair_split
            theirs = (picks_so_far[other] + 1.0) ** weights.pair_split
            credit[sku] += 2.0 * units * mine / (mine + theirs)
        return credit

    def interest(self, cat: Catalogue, weights: Weights, coverage: float,
                 picks_so_far: Counter[str] | None = None) -> dict[str, Any]:
        """`omo.insight.product.interest` data: one row per product on the shelves (and
        any other product picked, returned or sold), highest score first. `picks_so_far`:
        units picked per product since the processor started (the odds of a pair)."""
        credit = self.pair_credit(weights, picks_so_far or Counter())
        rows = []
        for sku in _skus(cat, self):
            zone = cat.product_zone.get(sku)
            share = 1.0 / cat.products_in(zone) if zone else 0.0
            zone_s = self.stop_s[zone] * share / coverage if zone else 0.0
            attention_s = self.product_attention_s[sku] + (
                self.zone_attention_s[zone] * share if zone else 0.0)
            score = (weights.zone_min * zone_s / 60.0
                     + weights.attention_min * attention_s / 60.0
                     + weights.pick * (self.picked[sku] - self.paired[sku])
                     + weights.paired * credit[sku] + weights.ret * self.returned[sku]
                     + weights.offer * self.offered[sku])
            row: dict[str, Any] = {"sku": sku, "score": round(score, 3),
                                   "zone_s": round(zone_s, 1),
                                   "attention_s": round(attention_s, 1),
                                   "picked": self.picked[sku], "paired": self.paired[sku],
                                   "paired_credit": round(credit[sku], 3),
                                   "returned": self.returned[sku],
                                   "offered": self.offered[sku]}
            if zone:
                row["zone"] = zone
            rows.append(row)
        rows.sort(key=lambda r: (-r["score"], r["sku"]))
        return {**self._base(), "products": rows}

    def funnel(self, cat: Catalogue, coverage: float) -> dict[str, Any]:
        """`omo.insight.funnel.window` data: per zone and per product."""
        zones: dict[str, dict[str, Any]] = {}
        for zone in sorted(set(cat.zones) | set(self.passed) | set(self.stopped)):
            seen_p = len(self.passed.get(zone, ()))
            seen_s = len(self.stopped.get(zone, ()))
            row: dict[str, Any] = {"zone": zone, "passed": round(seen_p / coverage),
                                   "stopped": round(seen_s / coverage),
                                   "passed_seen": seen_p, "stopped_seen": seen_s}
            if zone in cat.camera_zones:
                row["looked"] = self.looked[zone]
            zones[zone] = row
        products = []
        for sku in _skus(cat, self):
            picked, returned, bought = self.picked[sku], self.returned[sku], self.bought[sku]
            prow: dict[str, Any] = {"sku": sku, "picked": picked, "returned": returned,
                                    "bought": bought,
                                    "picked_not_bought": max(0, picked - returned - bought)}
            pzone = cat.product_zone.get(sku)
            if pzone:
                prow.update(zone=pzone, passed=zones[pzone]["passed"],
                            stopped=zones[pzone]["stopped"])
            covered = pzone is not None and pzone in cat.camera_zones
            looked = self.product_looked[sku] + (
                int(zones[pzone].get("looked", 0)) if covered and pzone else 0)
            if looked or covered:
                prow["looked"] = looked
            products.append(prow)
        out = {**self._base(), "coverage": round(coverage, 4), "zones": list(zones.values()),
               "products": products}
        if self.late_sales:
            out["late_sales"] = self.late_sales
        return out


def _skus(cat: Catalogue, w: Window) -> list[str]:
    extra = (set(w.picked) | set(w.returned) | set(w.bought) | set(w.product_attention_s)
             ) - set(cat.product_zone)
    return sorted(cat.product_zone) + sorted(extra)
