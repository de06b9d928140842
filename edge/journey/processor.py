"""The journey processor: opted-in shoppers' visits -> offers at the shelf, attributed picks
and a summary per visit (docs/journey.md).

It reads events from the log's live tail, never readings, so the log recomputes it. Time
comes only from the events and the host's ticks.

- `omo.journey.interests.updated` replaces a customer's interest list (the
  `journey.interests` command records it; the builder starts from the lists kept in the
  state folder).
- `omo.presence.app_user.arrived` links a visit to its customer. When that visitor enters a
  zone holding a product of their list (not expired), `omo.journey.offer.triggered` tells the
  cloud to send the app a coupon, and `omo.signage.trigger.fired` puts the product's card
  (never the shopper) on the nearest screen: once per product per visit, and not again for
  the same customer and product within `offer_cooldown_s`.
- `omo.shelf.item.picked` is decided `attribution_wait_s` after it happened (zone changes
  are decided late) by `edge.journey.attribution`. With `attribution_needs_receipt` (the
  default) such a pick waits for the visit's end and is confirmed by the shopper's own
  receipt (the one sold as they left a checkout zone), which must list the product with
  as many units as were picked while they stood in the plate's zone; a confirmed pick
  becomes `omo.journey.pick.attributed`, dated at the pick. A return
  (`omo.shelf.item.returned`) attributed by the same rule takes the units back out of that
  shopper's picks.
- `omo.presence.visit.ended` of an opted-in visit: `omo.journey.completed`, as long after
  the visit's end, with its zones, products looked at (stays of `look_dwell_s` or more in
  their zone), picked (attributed, one entry per unit, less what they put back), bought
  (picked units found on a receipt recorded between the first pick and the summary; each
  receipt unit counts for one visit) and offered.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.config import defaults
from edge.config.model import Journey
from edge.events import Event, parse_time
from edge.journey.attribution import Candidate, Outcome, Stay, decide, presence
from edge.journey.interests import Interest, from_event
from edge.processing.processor import BaseProcessor, Output, Subscriptions
from edge.signage_link.state import TRIGGER_FIRED
from edge.signage_link.triggers import PRIORITIES, ProductInfo, ScreenFinder

if TYPE_CHECKING:
    from edge.config import Config

INTERESTS = "omo.journey.interests.updated"
OFFER = "omo.journey.offer.triggered"
ATTRIBUTED = "omo.journey.pick.attributed"
COMPLETED = "omo.journey.completed"
SALE = "omo.pos.sale.recorded"
FOOTFALL = "omo.presence.footfall.window"
RULE = "journey-offer"  # the rule name the screen's proof of play carries
SUBSCRIBED = (INTERESTS, "omo.presence.app_user.arrived", "omo.presence.zone.entered",
              "omo.presence.zone.exited", "omo.presence.visit.ended",
              "omo.shelf.item.picked", "omo.shelf.item.returned", SALE, FOOTFALL)
TICK_S = 1.0
MAX_VISITS = 20_000  # visits followed at once (open, or ended and not yet summarised)
MAX_STAYS = 500  # zone stays kept per visit
MAX_PENDING = 10_000  # picks waiting for their decision
MAX_COOLDOWNS = 100_000
MAX_LIST = 1_000  # entries per list in a summary
SALE_KEEP_S = 3 * 3600.0
STALE_S = 6 * 3600.0  # a visit with no news this long is dropped (its end was never seen)


@dataclass(frozen=True)
class Store:
    """What the processor knows of the store: where each product is, screens, cards."""

    product_zones: dict[str, frozenset[str]]  # sku -> zones of its plates
    zone_products: dict[str, tuple[str, ...]]  # zone -> skus on its plates
    shelf_zones: dict[str, str]
    products: dict[str, ProductInfo]
    screens: ScreenFinder
    checkout_zones: frozenset[str] = frozenset()


@dataclass
class Visit:
    visitor: str
    customer: str | None = None
    stays: list[Stay] = field(default_factory=list)
    ended_at: float | None = None
    duration_s: float | None = None
    offered: list[str] = field(default_factory=list)
    picked: list[str] = field(default_factory=list)
    first_pick: float | None = None
    last_t: float = 0.0  # the time of its latest event
    provisional: list[tuple[Pick, float]] = field(default_factory=list)  # await the receipt
    present_units: Counter[str] = field(default_factory=Counter)  # picked while in the zone

    def zone_at(self) -> str | None:
        last = self.stays[-1] if self.stays else None
        return last.zone if last is not None and last.end is None else None


@dataclass(frozen=True)
class Pick:
    t: float
    zone: str
    sku: str
    shelf: str
    plate: str
    quantity: int
    returned: bool = False  # a return: takes units back out of the shopper's picks


@dataclass
class Receipt:
    sold_at: float
    left: Counter[str]  # units not yet claimed by a visit's summary
    lines: Counter[str] = field(default_factory=Counter)  # as sold


class JourneyProcessor(BaseProcessor):
    name = "journey"
    subscriptions = Subscriptions(events=SUBSCRIBED, tick_s=TICK_S)

    def __init__(self, store: Store, settings: Journey | None = None,
                 interests: dict[str, tuple[Interest, ...]] | None = None) -> None:
        self.store = store
        self.s = settings or defaults(Journey)  # the [journey] keys at their defaults
        self.interests: OrderedDict[str, tuple[Interest, ...]] = OrderedDict(interests or {})
        self.visits: dict[str, Visit] = {}
        self.pending: deque[Pick] = deque()
        self.receipts: deque[Receipt] = deque()
        self.last_offer: dict[tuple[str, str], float] = {}
        self.counts: Counter[str] = Counter()
        self.occupancy: dict[str, tuple[float, int]] = {}  # door counter -> (time, people)
        self.zone_s: defaultdict[str, float] = defaultdict(float)  # seconds spent per zone
        self.seen_open_at: dict[str, int] = {}  # door counter -> visits open at its time

    def counters(self) -> dict[str, int]:
        out = {f"journey.{k}": v for k, v in sorted(self.counts.items())}
        out["journey.customers"] = len(self.interests)
        out["journey.visits"] = len(self.visits)
        return out

    # ------------------------------------------------------------------ inputs
    def on_event(self, event: Event, out: Output) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is None:
            return
        try:
            t = parse_time(event.time)
        except ValueError:
            self.counts["skipped.bad_time"] += 1
            return
        handler(self, event.data, t, out)

    def _visit(self, visitor: Any) -> Visit | None:
        if not isinstance(visitor, str):
            return None
        visit = self.visits.get(visitor)
        if visit is None:
            if len(self.visits) >= MAX_VISITS:
                self.counts["skipped.too_many_visits"] += 1
                return None
            visit = self.visits[visitor] = Visit(visitor)
        return visit

    def _seen(self, visit: Visit, t: float) -> None:
        visit.last_t = max(visit.last_t, t)

    def _interests(self, d: dict[str, Any], t: float, out: Output) -> None:
        parsed = from_event(d)
        if parsed is None:
            self.counts["skipped.bad_interests"] += 1
            return
        customer, items = parsed
        self.interests.pop(customer, None)
        if items:
            self.interests[customer] = items
            while len(self.interests) > self.s.max_customers:
                self.interests.popitem(last=False)
        for visit in self.visits.values():  # already in the store: offer where they stand
            zone = visit.zone_at()
            if visit.customer == customer and visit.ended_at is None and zone is not None:
                self._offer(visit, zone, t, out)

    def _arrived(self, d: dict[str, Any], t: float, out: Output) -> None:
        visit, customer = self._visit(d.get("visitor")), d.get("customer")
        if visit is not None and isinstance(customer, str):
            self._seen(visit, t)
            visit.customer = customer
            zone = visit.zone_at()
            if zone is not None:
                self._offer(visit, zone, t, out)

    def _entered(self, d: dict[str, Any], t: float, out: Output) -> None:
        visit, zone = self._visit(d.get("visitor")), d.get("zone")
        if visit is None or not isinstance(zone, str) or visit.ended_at is not None:
            return
        self._seen(visit, t)
        if visit.stays and visit.stays[-1].end is None:  # an exit was missed
            visit.stays[-1].end = t
        if len(visit.stays) >= MAX_STAYS:
            self.counts["skipped.stays"] += 1
            return
        visit.stays.append(Stay(zone, t))
        if visit.customer is not None:
            self._offer(visit, zone, t, out)

    def _exited(self, d: dict[str, Any], t: float, out: Output) -> None:
        visit, zone = self.visits.get(str(d.get("visitor"))), d.get("zone")
        if visit is None:
            return
        for stay in reversed(visit.stays):
            if stay.zone == zone and stay.end is None:
                stay.end = max(stay.start, t)
                self.zone_s[stay.zone] += stay.end - stay.start
                return

    def _ended(self, d: dict[str, Any], t: float, out: Output) -> None:
        visit = self.visits.get(str(d.get("visitor")))
        if visit is None or visit.ended_at is not None:
            return
        visit.ended_at = t
        duration = d.get("duration_s")
        visit.duration_s = float(duration) if isinstance(duration, int | float) else None
        for stay in visit.stays:
            if stay.end is None:
                stay.end = max(stay.start, t)
                self.zone_s[stay.zone] += stay.end - stay.start

    def _picked(self, d: dict[str, Any], t: float, out: Output) -> None:
        self._shelf(d, t, returned=False)

    def _returned(self, d: dict[str, Any], t: float, out: Output) -> None:
        self._shelf(d, t, returned=True)

    def _shelf(self, d: dict[str, Any], t: float, *, returned: bool) -> None:
        shelf, plate, sku, qty = d.get("shelf"), d.get("plate"), d.get("sku"), d.get("quantity")
        zone = d.get("zone")
        if not isinstance(zone, str) and isinstance(shelf, str):
            zone = self.store.shelf_zones.get(shelf)
        if not (isinstance(zone, str) and isinstance(sku, str) and isinstance(plate, str)
                and isinstance(qty, int) and qty >= 1):
            self.counts["skipped.pick"] += 1
            return
        if len(self.pending) >= MAX_PENDING:
            self.counts["skipped.pending"] += 1
            return
        self.pending.append(Pick(t, zone, sku, str(shelf), plate, qty, returned))

    def _sale(self, d: dict[str, Any], t: float, out: Output) -> None:
        lines = d.get("lines")
        try:
            sold = parse_time(str(d.get("sold_at")))
        except ValueError:
            sold = t
        left: Counter[str] = Counter()
        for line in lines if isinstance(lines, list) else ():
            if isinstance(line, dict) and isinstance(line.get("sku"), str) \
                    and isinstance(line.get("quantity"), int):
                left[line["sku"]] += line["quantity"]
        if left:
            self.receipts.append(Receipt(sold, left, Counter(left)))

    def _footfall(self, d: dict[str, Any], t: float, out: Output) -> None:
        counter, occupancy = d.get("counter"), d.get("occupancy")
        if isinstance(counter, str) and isinstance(occupancy, int):
            self.occupancy[counter] = (t, occupancy)
            self.seen_open_at[counter] = sum(
                1 for v in self.visits.values()
                if v.stays and v.stays[0].start <= t and (v.ended_at is None or v.ended_at > t))

    def unseen(self, zone: str) -> float:
        """Shoppers expected in `zone` that BLE does not follow: the door counters'
        occupancy less the visits BLE followed at the same moment, times the zone's share of
        the time followed visitors spent in zones (0 without a door counter)."""
        if not self.occupancy:
            return 0.0
        people = sum(n for _, n in self.occupancy.values())
        seen = max(self.seen_open_at.values(), default=0)
        total = sum(self.zone_s.values())
        share = (self.zone_s.get(zone, 0.0) + 60.0) / (total + 60.0 * max(1, len(self.zone_s)))
        return max(0, people - seen) * share

    # ------------------------------------------------------------------ offers
    def _offer(self, visit: Visit, zone: str, t: float, out: Output) -> None:
        customer = visit.customer
        assert customer is not None
        for interest in self.interests.get(customer, ()):
            sku = interest.sku
            if zone not in self.store.product_zones.get(sku, ()) or sku in visit.offered:
                continue
            if interest.expires <= t:
                self.counts["offers.expired"] += 1
                continue
            last = self.last_offer.get((customer, sku))
            if last is not None and 0.0 <= t - last < self.s.offer_cooldown_s:
                self.counts["offers.cooldown"] += 1
                continue
            self.last_offer[(customer, sku)] = t
            visit.offered.append(sku)
            screen = self.store.screens.nearest(zone)
            out.emit(OFFER, {"customer": customer, "visitor": visit.visitor, "sku": sku,
                             "zone": zone, "screen": screen}, at=t)
            self.counts["offers"] += 1
            if screen is not None:
                self._show(sku, zone, screen, t, out)
        if len(self.last_offer) > MAX_COOLDOWNS:
            self.last_offer = {k: v for k, v in self.last_offer.items()
                               if t - v < self.s.offer_cooldown_s}

    def _show(self, sku: str, zone: str, screen: str, t: float, out: Output) -> None:
        info = self.store.products.get(sku, ProductInfo(sku, sku, None))
        product: dict[str, object] = {"sku": info.sku[:64], "name": info.name[:128]}
        if info.price is not None:
            product["price"] = info.price
        out.emit(TRIGGER_FIRED, {
            "rule": RULE, "screen": screen, "item": f"product:{sku}"[:128],
            "priority": int(PRIORITIES[self.s.show_priority]), "duration_s": self.s.show_s,
            "cause": OFFER, "zone": zone, "product": product}, at=t)

    # ------------------------------------------------------------------- ticks
    def on_tick(self, now: float, out: Output) -> None:
        wait = self.s.attribution_wait_s
        while self.pending and self.pending[0].t + wait <= now:
            self._attribute(self.pending.popleft(), out)
        for visitor in list(self.visits):
            visit = self.visits[visitor]
            if visit.ended_at is None and now - visit.last_t > STALE_S:
                del self.visits[visitor]
                self.counts["visits.stale"] += 1
                continue
            if visit.ended_at is None or visit.ended_at + wait > now:
                continue
            if any(p.t <= visit.ended_at for p in self.pending):
                continue  # a pick of this visit still undecided
            del self.visits[visitor]
            if visit.customer is not None:
                self._complete(visit, out)
        while self.receipts and self.receipts[0].sold_at < now - SALE_KEEP_S:
            self.receipts.popleft()

    def _attribute(self, pick: Pick, out: Output) -> None:
        candidates = [Candidate(v.visitor, v.customer is not None, tuple(v.stays))
                      for v in self.visits.values()
                      if v.stays and v.stays[0].start <= pick.t + self.s.attribution_window_s]
        decision = decide(candidates, pick.zone, pick.t,
                          window_s=self.s.attribution_window_s,
                          threshold=self.s.attribution_threshold,
                          ambiguity_ratio=self.s.ambiguity_ratio,
                          unseen=self.unseen(pick.zone))
        self.counts[f"{'returns' if pick.returned else 'picks'}.{decision.outcome}"] += 1
        if not pick.returned:
            for c in candidates:  # what each shopper's receipt must account for
                if presence(c.stays, pick.zone, pick.t, self.s.attribution_window_s) > 0:
                    self.visits[c.visitor].present_units[pick.sku] += pick.quantity
        if decision.outcome is not Outcome.ATTRIBUTED or decision.visitor is None:
            return
        visit = self.visits[decision.visitor]
        assert visit.customer is not None
        if not pick.returned and not self._stays_after(visit, pick):
            self.counts["picks.leaving"] += 1
            return
        if self.s.attribution_needs_receipt:
            visit.provisional.append((pick, decision.confidence))
            return
        self._credit(visit, pick, decision.confidence, out)

    def _stays_after(self, visit: Visit, pick: Pick) -> bool:
        """Whether BLE still has the shopper in the pick's zone `attribution_stay_after_s`
        after the pick. Presence decides an exit a few seconds late, so a shopper BLE sees
        leave just after the pick may have been gone when it happened."""
        after = self.s.attribution_stay_after_s
        if after <= 0:
            return True
        return any(s.covers(pick.zone, pick.t) and (s.end is None or s.end >= pick.t + after)
                   for s in visit.stays)

    def _credit(self, visit: Visit, pick: Pick, confidence: float, out: Output) -> None:
        """The pick (or return) is the shopper's: into the event and the summary."""
        assert visit.customer is not None
        if pick.returned:  # put back: no longer among the shopper's picks
            for _ in range(pick.quantity):
                if pick.sku in visit.picked:
                    del visit.picked[len(visit.picked) - 1 - visit.picked[::-1].index(pick.sku)]
            return
        out.emit(ATTRIBUTED, {"customer": visit.customer, "visitor": visit.visitor,
                              "sku": pick.sku, "shelf": pick.shelf, "plate": pick.plate,
                              "quantity": pick.quantity,
                              "confidence": round(min(1.0, confidence), 3)},
                 at=pick.t)
        visit.picked.extend([pick.sku] * pick.quantity)
        if visit.first_pick is None:
            visit.first_pick = pick.t

    def _receipt(self, visit: Visit) -> Receipt | None:
        """The visit's own receipt: the one receipt sold `receipt_lead_s` (give or take
        `receipt_slack_s`) before the visit last left a checkout zone; None if there is no
        such exit, or not exactly one receipt then."""
        exits = [s.end if s.end is not None else visit.ended_at for s in visit.stays
                 if s.zone in self.store.checkout_zones]
        if not exits or exits[-1] is None:
            return None
        due = exits[-1] - self.s.receipt_lead_s
        found = [r for r in self.receipts if abs(r.sold_at - due) <= self.s.receipt_slack_s]
        return found[0] if len(found) == 1 else None

    def _confirm(self, visit: Visit, out: Output) -> None:
        """The visit's provisional picks, checked against its receipt: a pick is the
        shopper's when the receipt lists its product with at least as many units as were
        picked while the shopper stood in the plate's zone (so someone BLE does not see
        picking the same product beside them leaves it undecided)."""
        if not visit.provisional:
            return
        receipt = self._receipt(visit)
        for pick, confidence in visit.provisional:
            if pick.returned:
                self._credit(visit, pick, confidence, out)
            elif receipt is None:
                self.counts["picks.no_receipt"] += 1
            elif receipt.lines[pick.sku] >= visit.present_units[pick.sku]:
                self._credit(visit, pick, confidence, out)
                self.counts["picks.confirmed"] += 1
            else:
                self.counts["picks.not_on_receipt"] += 1
        visit.provisional.clear()

    def _complete(self, visit: Visit, out: Output) -> None:
        assert visit.customer is not None and visit.ended_at is not None
        self._confirm(visit, out)
        zones: list[str] = []
        looked: list[str] = []
        for stay in visit.stays:
            if not zones or zones[-1] != stay.zone:
                zones.append(stay.zone)
            end = visit.ended_at if stay.end is None else stay.end
            if end - stay.start >= self.s.look_dwell_s:
                looked += [s for s in self.store.zone_products.get(stay.zone, ())
                           if s not in looked]
        start = visit.stays[0].start if visit.stays else visit.ended_at
        duration = visit.duration_s if visit.duration_s is not None \
            else max(0.0, visit.ended_at - start)
        out.emit(COMPLETED, {
            "customer": visit.customer, "visitor": visit.visitor,
            "duration_s": round(max(0.0, duration), 1), "zones": zones[:MAX_LIST],
            "looked": looked[:MAX_LIST], "picked": visit.picked[:MAX_LIST],
            "bought": self._bought(visit)[:MAX_LIST], "offers": visit.offered[:MAX_LIST]},
            at=visit.ended_at)
        self.counts["completed"] += 1

    def _bought(self, visit: Visit) -> list[str]:
        """Picked units found on a receipt sold from the first pick on (each receipt unit
        counts once, for the first visit summarised that claims it)."""
        if visit.first_pick is None:
            return []
        bought: list[str] = []
        for sku in visit.picked:
            for receipt in self.receipts:
                if receipt.sold_at >= visit.first_pick and receipt.left[sku] > 0:
                    receipt.left[sku] -= 1
                    bought.append(sku)
                    break
        return bought


_HANDLERS = {
    INTERESTS: JourneyProcessor._interests,
    "omo.presence.app_user.arrived": JourneyProcessor._arrived,
    "omo.presence.zone.entered": JourneyProcessor._entered,
    "omo.presence.zone.exited": JourneyProcessor._exited,
    "omo.presence.visit.ended": JourneyProcessor._ended,
    "omo.shelf.item.picked": JourneyProcessor._picked,
    "omo.shelf.item.returned": JourneyProcessor._returned,
    SALE: JourneyProcessor._sale,
    FOOTFALL: JourneyProcessor._footfall,
}


def store_from_config(config: Config) -> Store:
    zones: dict[str, set[str]] = {}
    zone_products: dict[str, list[str]] = {}
    products: dict[str, ProductInfo] = {}
    for shelf in config.shelves:
        for plate in shelf.plates:
            zones.setdefault(plate.sku, set()).add(shelf.zone)
            listed = zone_products.setdefault(shelf.zone, [])
            if plate.sku not in listed:
                listed.append(plate.sku)
            products.setdefault(plate.sku, ProductInfo(plate.sku, plate.name or plate.sku,
                                                       plate.price))
    return Store({k: frozenset(v) for k, v in zones.items()},
                 {k: tuple(v) for k, v in zone_products.items()},
                 {s.id: s.zone for s in config.shelves}, products,
                 ScreenFinder.from_config(config),
                 frozenset(z.id for z in config.zones if z.kind == "checkout"))


def from_config(config: Config, interests: dict[str, tuple[Interest, ...]] | None = None
                ) -> JourneyProcessor:
    return JourneyProcessor(store_from_config(config), config.journey,
                            interests)

