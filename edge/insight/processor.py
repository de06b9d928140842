"""The insight processor: presence, shelf, vision, signage and sale events -> product interest
and the funnel, one pair of events per window (docs/insight.md).

It reads events from the log's live tail, never readings, so `omo-edge replay` or a replay of
the log recomputes the same windows. Time comes only from the events and the host's ticks.
Events are placed in the window of the moment they describe (a stop by its start, a sale by
its receipt's time); a window is reported `close_after_s` after its end, so events decided
late (zone changes, visit ends) still land in it. An input for a window already reported goes
to the oldest open one and is counted (`insight.late.<kind>`).
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from typing import TYPE_CHECKING, Any

from edge.events import Event, parse_time
from edge.insight.window import Catalogue, Weights, Window
from edge.processing.processor import BaseProcessor, Output, Subscriptions

if TYPE_CHECKING:
    from edge.config import Config

INTEREST = "omo.insight.product.interest"
FUNNEL = "omo.insight.funnel.window"
SALE = "omo.pos.sale.recorded"
OFFER = "omo.journey.offer.triggered"
SUBSCRIBED = ("omo.presence.visit.started", "omo.presence.zone.entered",
              "omo.presence.zone.exited", "omo.presence.footfall.window",
              "omo.shelf.item.picked", "omo.shelf.item.returned", "omo.vision.person.left",
              "omo.signage.item.played", SALE, OFFER)
TICK_S = 10.0
MIN_FOOTFALL = 10  # door-counter entries before coverage is estimated from them
MAX_PENDING_VISITS = 10_000  # visits waiting for the door counter's window to close
MAX_RECEIPTS = 100_000  # receipt ids remembered to count a resent sale once
MAX_PLAYS = 1_000  # product cards remembered per screen, for the attention join
PLAY_KEEP_S = 3600.0
CARD_PREFIX = "product:"
PAIR_S = 1.0  # picks on two plates of a shelf this close together: one hand took both
MAX_PRODUCTS = 10_000  # products whose picks so far are counted (the odds of a pair)


class InsightProcessor(BaseProcessor):
    name = "insight"
    subscriptions = Subscriptions(events=SUBSCRIBED, tick_s=TICK_S)

    def __init__(self, catalogue: Catalogue, weights: Weights, *, window_s: float,
                 close_after_s: float, stop_dwell_s: float,
                 plate_skus: dict[tuple[str, str], str] | None = None) -> None:
        self.cat = catalogue
        self.weights = weights
        self.window_s = window_s
        self.close_after_s = close_after_s
        self.stop_dwell_s = stop_dwell_s
        self.plate_skus = plate_skus or {}
        self.windows: dict[int, Window] = {}
        self.next_close: int | None = None  # the oldest window not yet reported
        self.visits = 0  # visits that started before the door counter's last window ended
        self.pending_visits: list[float] = []  # ... and the start times of later ones
        self.footfall_in = 0
        self.footfall_end = -math.inf
        self.receipts: OrderedDict[str, None] = OrderedDict()
        self.plays: dict[str, deque[tuple[float, float, str]]] = {}  # screen -> cards
        self.counts: dict[str, int] = {}
        # shelf -> its last pick (time, plate, sku, units, window key, already paired)
        self.last_pick: dict[str, tuple[float, str, str, int, int, bool]] = {}
        self.picks_so_far: Counter[str] = Counter()  # units per product since the start

    # ---------------------------------------------------------------- plumbing
    def _count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def counters(self) -> dict[str, int]:
        return {f"insight.{k}": v for k, v in sorted(self.counts.items())}

    def coverage(self) -> float:
        """Share of shoppers BLE follows: visits over the door counter's entries, both over
        the time the counter's reported windows cover."""
        if self.footfall_in < MIN_FOOTFALL or self.visits == 0:
            return 1.0
        return min(10.0, max(0.05, self.visits / self.footfall_in))

    def _window(self, t: float, kind: str) -> Window:
        k = math.floor(t / self.window_s)
        if self.next_close is None:
            self.next_close = k
        if k < self.next_close:
            self._count(f"late.{kind}")
            k = self.next_close
        w = self.windows.get(k)
        if w is None:
            w = self.windows[k] = Window(k * self.window_s, self.window_s)
        return w

    # ------------------------------------------------------------------ inputs
    def on_event(self, event: Event, out: Output) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is None:
            return
        try:
            t = parse_time(event.time)
        except ValueError:
            self._count("skipped.bad_time")
            return
        handler(self, event.data, t)

    def _entered(self, d: dict[str, Any], t: float) -> None:
        zone, visitor = d.get("zone"), d.get("visitor")
        if isinstance(zone, str) and isinstance(visitor, str):
            self._window(t, "zone").passed.setdefault(zone, set()).add(visitor)

    def _exited(self, d: dict[str, Any], t: float) -> None:
        zone, visitor, dwell = d.get("zone"), d.get("visitor"), d.get("dwell_s")
        if not (isinstance(zone, str) and isinstance(visitor, str)
                and isinstance(dwell, int | float)) or dwell < self.stop_dwell_s:
            return
        w = self._window(t - float(dwell), "zone")
        w.stopped.setdefault(zone, set()).add(visitor)
        w.stop_s[zone] += float(dwell)

    def _visit(self, d: dict[str, Any], t: float) -> None:
        if t < self.footfall_end:
            self.visits += 1
        elif len(self.pending_visits) < MAX_PENDING_VISITS:
            self.pending_visits.append(t)

    def _footfall(self, d: dict[str, Any], t: float) -> None:
        n, length = d.get("in"), d.get("window_s")
        if isinstance(n, int) and n > 0:
            self.footfall_in += n
        end = t  # the window's end is the event's time
        if isinstance(length, int | float) and end > self.footfall_end:
            self.footfall_end = end
            self.visits += sum(1 for v in self.pending_visits if v < end)
            self.pending_visits = [v for v in self.pending_visits if v >= end]

    def _sku(self, d: dict[str, Any]) -> str | None:
        sku = d.get("sku")
        if isinstance(sku, str) and sku:
            return sku
        return self.plate_skus.get((str(d.get("shelf")), str(d.get("plate"))))

    def _shelf(self, d: dict[str, Any], t: float, picked: bool) -> None:
        sku, qty = self._sku(d), d.get("quantity")
        if sku is None or not isinstance(qty, int) or qty < 1:
            self._count("skipped.no_product")
            return
        w = self._window(t, "shelf")
        (w.picked if picked else w.returned)[sku] += qty
        if picked:
            if sku in self.picks_so_far or len(self.picks_so_far) < MAX_PRODUCTS:
                self.picks_so_far[sku] += qty
            self._pair(d, t, sku, qty, w)

    def _pair(self, d: dict[str, Any], t: float, sku: str, qty: int, w: Window) -> None:
        """Two picks on different plates of one shelf within PAIR_S: a shopper who takes a
        second product along with the one they came for; both count as paired units, and the
        pair is kept to share its credit when the window is reported."""
        shelf, plate = str(d.get("shelf")), str(d.get("plate"))
        k = math.floor(w.start / self.window_s)
        last = self.last_pick.get(shelf)
        paired = False
        if last is not None and not last[5] and last[1] != plate and abs(t - last[0]) <= PAIR_S:
            paired = True
            w.paired[sku] += qty
            w.pairs.append((sku, qty, last[2]))
            before = self.windows.get(last[4])
            if before is not None:
                before.paired[last[2]] += last[3]
                before.pairs.append((last[2], last[3], sku))
        self.last_pick[shelf] = (t, plate, sku, qty, k, paired)

    def _picked(self, d: dict[str, Any], t: float) -> None:
        self._shelf(d, t, True)

    def _returned(self, d: dict[str, Any], t: float) -> None:
        self._shelf(d, t, False)

    def _offered(self, d: dict[str, Any], t: float) -> None:
        sku = d.get("sku")
        if isinstance(sku, str) and sku:
            self._window(t, "offer").offered[sku] += 1

    def _played(self, d: dict[str, Any], t: float) -> None:
        item, screen = d.get("item"), d.get("screen")
        if not (isinstance(item, str) and item.startswith(CARD_PREFIX)
                and isinstance(screen, str)):
            return
        try:
            start, end = parse_time(str(d.get("start"))), parse_time(str(d.get("end")))
        except ValueError:
            start, end = t - float(d.get("duration_s", 0.0) or 0.0), t
        plays = self.plays.setdefault(screen, deque(maxlen=MAX_PLAYS))
        plays.append((start, end, item[len(CARD_PREFIX):]))
        while plays and plays[0][1] < t - PLAY_KEEP_S:
            plays.popleft()

    def _person(self, d: dict[str, Any], t: float) -> None:
        dwell, attention = d.get("dwell_s"), d.get("attention_s")
        if not isinstance(dwell, int | float) or not isinstance(attention, int | float):
            return
        seen_from = t - float(dwell)
        w = self._window(seen_from, "vision")
        zone, screen, looked = d.get("zone"), d.get("screen"), d.get("looked") is True
        if isinstance(zone, str) and looked:
            w.looked[zone] += 1
        if isinstance(screen, str):
            self._card_attention(w, screen, seen_from, t, float(attention), looked)
        elif isinstance(zone, str):  # a camera on a shelf: attention to the shelf
            w.zone_attention_s[zone] += float(attention)

    def _card_attention(self, w: Window, screen: str, t0: float, t1: float,
                        attention: float, looked: bool) -> None:
        """Attention to a screen, shared among the product cards it showed meanwhile by
        their time on screen (time with no card is not a product's)."""
        span = max(t1 - t0, 1e-9)
        for start, end, sku in self.plays.get(screen, ()):
            overlap = min(end, t1) - max(start, t0)
            if overlap > 0:
                w.product_attention_s[sku] += attention * overlap / span
                if looked:
                    w.product_looked[sku] += 1

    def _sale(self, d: dict[str, Any], t: float) -> None:
        receipt, lines = d.get("receipt"), d.get("lines")
        if not isinstance(receipt, str) or not isinstance(lines, list):
            return
        if receipt in self.receipts:
            self._count("sales.duplicate")
            return
        self.receipts[receipt] = None
        if len(self.receipts) > MAX_RECEIPTS:
            self.receipts.popitem(last=False)
        try:
            sold = parse_time(str(d.get("sold_at")))
        except ValueError:
            sold = t
        k = math.floor(sold / self.window_s)
        late = self.next_close is not None and k < self.next_close
        w = self._window(sold, "sale")
        if late:
            w.late_sales += 1
        for line in lines:
            if isinstance(line, dict) and isinstance(line.get("sku"), str):
                w.bought[line["sku"]] += int(line.get("quantity", 0))
        self._count("sales")

    # ------------------------------------------------------------------- ticks
    def on_tick(self, now: float, out: Output) -> None:
        if self.next_close is None:
            return
        while (self.next_close + 1) * self.window_s + self.close_after_s <= now:
            k = self.next_close
            w = self.windows.pop(k, None) or Window(k * self.window_s, self.window_s)
            cov = self.coverage()
            out.emit(INTEREST, w.interest(self.cat, self.weights, cov, self.picks_so_far),
                     at=w.end)
            out.emit(FUNNEL, w.funnel(self.cat, cov), at=w.end)
            self._count("windows")
            self.next_close = k + 1


_HANDLERS = {
    "omo.presence.zone.entered": InsightProcessor._entered,
    "omo.presence.zone.exited": InsightProcessor._exited,
    "omo.presence.visit.started": InsightProcessor._visit,
    "omo.presence.footfall.window": InsightProcessor._footfall,
    "omo.shelf.item.picked": InsightProcessor._picked,
    "omo.shelf.item.returned": InsightProcessor._returned,
    "omo.signage.item.played": InsightProcessor._played,
    "omo.vision.person.left": InsightProcessor._person,
    SALE: InsightProcessor._sale,
    OFFER: InsightProcessor._offered,
}


def from_config(config: Config) -> InsightProcessor:
    ins = config.insight
    product_zone: dict[str, str] = {}
    plate_skus: dict[tuple[str, str], str] = {}
    for shelf in config.shelves:
        for plate in shelf.plates:
            product_zone.setdefault(plate.sku, shelf.zone)
            plate_skus[(shelf.id, plate.id)] = plate.sku
    camera_zones = frozenset(c.zone for c in config.cameras)
    cat = Catalogue(product_zone, tuple(sorted(config.zone_ids())), camera_zones)
    weights = Weights(ins.weight_zone_min, ins.weight_attention_min, ins.weight_pick,
                      ins.weight_return, ins.weight_offer, ins.weight_pick_paired,
                      ins.pair_split)
    return InsightProcessor(cat, weights, window_s=ins.window_minutes * 60.0,
                            close_after_s=ins.close_after_s, stop_dwell_s=ins.stop_dwell_s,
                            plate_skus=plate_skus)
