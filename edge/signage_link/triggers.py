"""The trigger processor: events from the log's live tail -> ``omo.signage.trigger.fired``.

Rules come from config (`[[signage_channel.triggers]]`): an event type, the content (the
card of the event's product, or an asset), a priority, a duration, a cooldown and the
screens. The processor is pure (time from the events); the channel server turns each fired
event into a `Show` on its screen, so triggers are replayable from the log.

"Nearest screen" for an event without configured screens: a screen in the event's zone (the
event's `zone`, else its shelf's zone); else the screen whose zone area (`zones[].area`) is
nearest the event zone's area on the plan (rectangle to rectangle, ties by centre distance,
then by id); else `signage_channel.default_screen`; else the rule is skipped (counted).
Cooldown: a rule fires at most once per `cooldown_s` for one screen and one product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.events import Event
from edge.processing.processor import BaseProcessor, Output, Subscriptions
from edge.signage_link.state import TRIGGER_FIRED
from signage.protocol import Priority

if TYPE_CHECKING:
    from edge.config import Config
    from edge.config.model import Trigger
    from edge.processing.processor import Processor

PRIORITIES = {"trigger": Priority.TRIGGER, "cloud": Priority.CLOUD, "urgent": Priority.URGENT}
MAX_COOLDOWNS = 10_000  # remembered (rule, screen, product) firings before old ones go


@dataclass(frozen=True)
class ProductInfo:
    sku: str
    name: str
    price: float | None


Rect = tuple[float, float, float, float]


def _gap(a: Rect, b: Rect) -> float:
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return math.hypot(dx, dy)


def _centre_distance(a: Rect, b: Rect) -> float:
    return math.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)


class ScreenFinder:
    """Which screen is nearest a zone (see the module's docstring)."""

    def __init__(self, screens: list[tuple[str, str]], areas: dict[str, Rect],
                 default: str | None) -> None:
        self.screens = sorted(screens)
        self.areas = areas
        self.default = default

    @classmethod
    def from_config(cls, config: Config) -> ScreenFinder:
        areas: dict[str, Rect] = {}
        for z in config.zones:
            if len(z.area) == 4:
                x0, y0, x1, y1 = z.area
                areas[z.id] = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        return cls([(s.id, s.zone) for s in config.screens], areas,
                   config.signage_channel.default_screen)

    def nearest(self, zone: str | None) -> str | None:
        if zone is not None:
            for screen, screen_zone in self.screens:
                if screen_zone == zone:
                    return screen
            here = self.areas.get(zone)
            if here is not None:
                placed = [(_gap(here, self.areas[z]), _centre_distance(here, self.areas[z]), s)
                          for s, z in self.screens if z in self.areas]
                if placed:
                    return min(placed)[2]
        return self.default


class TriggerProcessor(BaseProcessor):
    """Fires the configured rules on the events they name."""

    name = "signage-triggers"

    def __init__(self, rules: tuple[Trigger, ...], finder: ScreenFinder,
                 products: dict[str, ProductInfo], shelf_zones: dict[str, str]) -> None:
        self.rules = rules
        self.finder = finder
        self.products = products
        self.shelf_zones = shelf_zones
        self.subscriptions = Subscriptions(events=tuple(sorted({r.event for r in rules})))
        self._last: dict[tuple[str, str, str], float] = {}
        self._counts: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self._counts[name] = self._counts.get(name, 0) + 1

    def counters(self) -> dict[str, int]:
        return {f"triggers.{k}": v for k, v in self._counts.items()}

    def _zone(self, event: Event) -> str | None:
        zone = event.data.get("zone")
        if isinstance(zone, str):
            return zone
        shelf = event.data.get("shelf")
        return self.shelf_zones.get(shelf) if isinstance(shelf, str) else None

    def on_event(self, event: Event, out: Output) -> None:
        for rule in self.rules:
            if rule.event == event.type:
                self._fire(rule, event, out)

    def _fire(self, rule: Trigger, event: Event, out: Output) -> None:
        sku = event.data.get("sku")
        data: dict[str, object] = {"rule": rule.id, "priority": int(PRIORITIES[rule.priority]),
                                   "duration_s": rule.duration_s, "cause": event.type}
        if rule.content == "product":
            if not isinstance(sku, str) or not sku:
                self._count("no_product")
                return
            info = self.products.get(sku, ProductInfo(sku, sku, None))
            product: dict[str, object] = {"sku": info.sku, "name": info.name}
            if info.price is not None:
                product["price"] = info.price
            data.update(item=f"product:{sku}"[:128], product=product)
            subject = sku
        else:
            data.update(item=rule.content[:128], uri=rule.content)
            subject = sku if isinstance(sku, str) else rule.content
        zone = self._zone(event)
        if zone is not None:
            data["zone"] = zone
        screens = list(rule.screens) or [s for s in [self.finder.nearest(zone)] if s]
        if not screens:
            self._count("no_screen")
            return
        for screen in screens:
            key = (rule.id, screen, subject)
            last = self._last.get(key)
            if last is not None and out.now - last < rule.cooldown_s:
                self._count("cooldown")
                continue
            self._last[key] = out.now
            out.emit(TRIGGER_FIRED, {**data, "screen": screen})
            self._count("fired")
        if len(self._last) > MAX_COOLDOWNS:
            longest = max(r.cooldown_s for r in self.rules)
            self._last = {k: t for k, t in self._last.items() if out.now - t < longest}


def build(config: Config) -> list[Processor]:
    """The trigger processor, when rules and screens are configured."""
    rules = config.signage_channel.triggers
    if not rules or not config.screens:
        return []
    products = {p.sku: ProductInfo(p.sku, p.name or p.sku, p.price)
                for s in config.shelves for p in s.plates}
    return [TriggerProcessor(rules, ScreenFinder.from_config(config), products,
                             {s.id: s.zone for s in config.shelves})]
