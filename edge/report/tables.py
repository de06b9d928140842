"""The report's tables, computed from the event log over a period.

Each table is a tuple of frozen rows. An event whose data lacks what a table needs (an older
schema, a hand-made log) is skipped and counted in `Report.skipped`, never a crash.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.eventlog import EventLogError, open_readonly
from edge.events import parse_time
from edge.report.period import Period, ReportError

FOOTFALL = "omo.presence.footfall.window"
ZONE_EXITED = "omo.presence.zone.exited"
INTEREST = "omo.insight.product.interest"
FUNNEL = "omo.insight.funnel.window"
SALE = "omo.pos.sale.recorded"
AUDIENCE = "omo.vision.audience.window"
AUDIENCE_ITEMS = "omo.vision.audience.items"
PLAYED = "omo.signage.item.played"
STOCK_OUT = "omo.shelf.stock.out"
STOCK_LOW = "omo.shelf.stock.low"
STOCK_CHANGED = "omo.shelf.stock.changed"
STOPPED = "omo.device.daemon.stopped"
TYPES = (FOOTFALL, ZONE_EXITED, INTEREST, FUNNEL, SALE, AUDIENCE, AUDIENCE_ITEMS, PLAYED,
         STOCK_OUT, STOCK_LOW, STOCK_CHANGED, STOPPED)
PRODUCT_ITEM = "product:"  # a signage item that is a product card: product:<sku>
SCREEN_TOTAL = "(all content)"


@dataclass(frozen=True)
class Names:
    """Display names from the config: products by SKU, zones by id. Unknown: the id."""

    products: Mapping[str, str] = field(default_factory=dict)
    zones: Mapping[str, str] = field(default_factory=dict)

    def product(self, sku: str) -> str:
        return self.products.get(sku) or sku

    def zone(self, zone: str) -> str:
        return self.zones.get(zone) or zone

    def item(self, item: str) -> str:
        """A content item as a manager reads it: a product card by its product's name, an
        image or video by its file name (``asset://spring-sale.png`` -> ``spring-sale``)."""
        if item.startswith(PRODUCT_ITEM):
            return self.product(item[len(PRODUCT_ITEM):])
        if "://" in item:
            name = item.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            return name.rsplit(".", 1)[0] or item
        return item


@dataclass(frozen=True)
class Footfall:
    """People in through the door counters, by local hour of day and by local date."""

    by_hour: tuple[int, ...]  # 24 entries, summed over the period's days
    by_day: tuple[tuple[str, int], ...]  # (YYYY-MM-DD, entries)
    total: int
    by_day_hour: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (YYYY-MM-DD, 24 entries)

    @property
    def days(self) -> int:
        return len(self.by_day)


@dataclass(frozen=True)
class DwellRow:
    zone: str
    name: str
    stays: int
    median_s: float
    mean_s: float
    p90_s: float


@dataclass(frozen=True)
class InterestRow:
    sku: str
    name: str
    score: float
    zone_s: float
    attention_s: float
    picked: int
    returned: int


@dataclass(frozen=True)
class FunnelRow:
    """One product's funnel: its zone's shoppers who passed and stopped, people who looked,
    units picked, returned and bought (from the POS)."""

    sku: str
    name: str
    passed: int
    stopped: int
    looked: int
    picked: int
    returned: int
    bought: int

    @property
    def conversion(self) -> float | None:
        """Units bought per shopper who passed the product's zone."""
        return self.bought / self.passed if self.passed else None

    @property
    def pick_to_buy(self) -> float | None:
        """Units bought per unit picked up."""
        return self.bought / self.picked if self.picked else None


@dataclass(frozen=True)
class AudienceRow:
    """A content item on a screen: the camera's audience while it showed, and its plays."""

    screen: str
    item: str
    label: str
    passing: int
    watchers: int
    attention_s: float
    plays: int
    shown_s: float

    @property
    def watch_rate(self) -> float | None:
        return self.watchers / self.passing if self.passing else None


@dataclass(frozen=True)
class StockRow:
    shelf: str
    plate: str
    sku: str
    name: str
    outs: int
    lows: int
    # out of stock: until the next count above zero, the daemon's stop (after which nobody
    # knows) or the period's end
    out_minutes: float


@dataclass(frozen=True)
class Report:
    period: Period
    first_time: str | None  # the first and last event read (UTC text)
    last_time: str | None
    events: int
    skipped: Mapping[str, int]
    footfall: Footfall
    dwell: tuple[DwellRow, ...]
    interest: tuple[InterestRow, ...]
    funnel: tuple[FunnelRow, ...]
    sales_receipts: int
    audience: tuple[AudienceRow, ...]
    stock: tuple[StockRow, ...]

    def span(self) -> str:
        """The dates reported: the period's, or where open, the first and last event's
        (local dates)."""
        tz = self.period.tz

        def day(text: str | None) -> str:
            return (datetime.fromtimestamp(parse_time(text), tz).date().isoformat()
                    if text else "?")

        first = self.period.first.isoformat() if self.period.first else day(self.first_time)
        last = self.period.last.isoformat() if self.period.last else day(self.last_time)
        when = first if first == last else f"{first} to {last}"
        return f"{when} ({self.period.tz_name})"


@dataclass(frozen=True)
class _Ev:
    type: str
    time: str
    data: Mapping[str, Any]


def read_events(logs: Sequence[Path], period: Period,
                types: Sequence[str] = TYPES) -> Iterator[_Ev]:
    """The period's events of `types` from one or more logs (each read-only), in time
    order; an event in two logs (the same id) once."""
    if not logs:
        raise ReportError("no event log given")
    found: list[tuple[str, int, _Ev]] = []
    seen: set[str] = set()
    for i, path in enumerate(logs):
        try:
            log = open_readonly(path)
        except EventLogError as exc:
            raise ReportError(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise ReportError(f"{path} is not a readable event log ({exc})") from None
        try:
            for stored in log.query(types=types, since=period.since, until=period.until):
                ev = stored.event
                if ev.id in seen:
                    continue
                seen.add(ev.id)
                found.append((ev.time, i, _Ev(ev.type, ev.time, ev.data)))
        except sqlite3.DatabaseError as exc:
            raise ReportError(f"{path} is not a readable event log ({exc})") from None
        finally:
            log.close()
    found.sort(key=lambda t: (t[0], t[1]))
    return (ev for _, _, ev in found)


def _num(data: Mapping[str, Any], key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} is not a number")
    return float(value)


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} is not a string")
    return value


def _rows(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise TypeError(f"{key} is not a list")
    return [r for r in value if isinstance(r, dict)]


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class _Builder:
    def __init__(self, period: Period, names: Names) -> None:
        self.period = period
        self.names = names
        self.skipped: dict[str, int] = defaultdict(int)
        self.events = 0
        self.first: str | None = None
        self.last: str | None = None
        self.hours = [0] * 24
        self.days: dict[str, int] = defaultdict(int)
        self.day_hours: dict[str, list[int]] = {}
        self.dwell: dict[str, list[float]] = defaultdict(list)
        self.interest: dict[str, list[float]] = defaultdict(lambda: [0.0] * 5)
        self.funnel: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
        self.sold: dict[str, int] = defaultdict(int)
        self.receipts: set[str] = set()
        self.audience: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 5)
        self.stock: dict[tuple[str, str], list[Any]] = {}
        self.out_since: dict[tuple[str, str], float] = {}

    def local(self, text: str) -> datetime:
        return datetime.fromtimestamp(parse_time(text), self.period.tz)

    def add(self, ev: _Ev) -> None:
        if ev.type == STOPPED:  # bookkeeping, not something to report on its own
            self._daemon_stopped(ev)
            return
        self.events += 1
        self.first = self.first or ev.time
        self.last = ev.time
        handlers = {FOOTFALL: self._footfall_window, ZONE_EXITED: self._zone_exited,
                    INTEREST: self._product_interest, FUNNEL: self._funnel_window,
                    SALE: self._sale_recorded, AUDIENCE: self._audience_window,
                    AUDIENCE_ITEMS: self._audience_items,
                    PLAYED: self._item_played, STOCK_OUT: self._stock_out,
                    STOCK_LOW: self._stock_low, STOCK_CHANGED: self._stock_changed}
        handler = handlers.get(ev.type)
        if handler is None:
            return
        try:
            handler(ev)
        except (KeyError, TypeError, ValueError, IndexError):
            self.skipped[ev.type] += 1

    def _footfall_window(self, ev: _Ev) -> None:
        n = int(_num(ev.data, "in"))
        start = self.local(ev.data.get("window_start") or ev.time)
        day = start.date().isoformat()
        self.hours[start.hour] += n
        self.days[day] += n
        self.day_hours.setdefault(day, [0] * 24)[start.hour] += n

    def _zone_exited(self, ev: _Ev) -> None:
        self.dwell[_str(ev.data, "zone")].append(_num(ev.data, "dwell_s"))

    def _product_interest(self, ev: _Ev) -> None:
        for row in _rows(ev.data, "products"):
            acc = self.interest[_str(row, "sku")]
            for i, key in enumerate(("score", "zone_s", "attention_s", "picked", "returned")):
                acc[i] += _num(row, key)

    def _funnel_window(self, ev: _Ev) -> None:
        for row in _rows(ev.data, "products"):
            acc = self.funnel[_str(row, "sku")]
            for i, key in enumerate(("passed", "stopped", "looked", "picked", "returned",
                                     "bought")):
                acc[i] += int(row.get(key, 0) or 0)

    def _sale_recorded(self, ev: _Ev) -> None:
        receipt = _str(ev.data, "receipt")
        lines = [(_str(r, "sku"), int(_num(r, "quantity"))) for r in _rows(ev.data, "lines")]
        if receipt in self.receipts:  # recorded once per receipt; a second log's copy
            return
        self.receipts.add(receipt)
        for sku, qty in lines:
            self.sold[sku] += qty

    def _audience_window(self, ev: _Ev) -> None:
        screen = ev.data.get("screen")
        if not isinstance(screen, str) or not screen:
            return  # a camera on a shelf, not on a screen: no content to credit
        # `items` in a window: logs written before omo.vision.audience.items
        self._add_audience(screen, [(SCREEN_TOTAL, ev.data)] + [
            (_str(r, "item"), r) for r in _rows(ev.data, "items")])

    def _audience_items(self, ev: _Ev) -> None:
        self._add_audience(_str(ev.data, "screen"), [(_str(r, "item"), r)
                                                     for r in _rows(ev.data, "items")])

    def _add_audience(self, screen: str, rows: list[tuple[str, Mapping[str, Any]]]) -> None:
        for item, row in rows:
            acc = self.audience[(screen, item)]
            acc[0] += _num(row, "passing")
            acc[1] += _num(row, "watchers")
            acc[2] += float(row.get("attention_s", 0) or 0)

    def _item_played(self, ev: _Ev) -> None:
        acc = self.audience[(_str(ev.data, "screen"), _str(ev.data, "item"))]
        acc[3] += 1
        acc[4] += float(ev.data.get("duration_s", 0) or 0)

    def _plate(self, ev: _Ev) -> tuple[tuple[str, str], list[Any]]:
        key = (_str(ev.data, "shelf"), _str(ev.data, "plate"))
        row = self.stock.setdefault(key, [str(ev.data.get("sku") or ""), 0, 0, 0.0])
        if not row[0] and ev.data.get("sku"):
            row[0] = str(ev.data["sku"])
        return key, row

    def _stock_out(self, ev: _Ev) -> None:
        key, row = self._plate(ev)
        row[1] += 1
        self.out_since.setdefault(key, parse_time(ev.time))

    def _stock_low(self, ev: _Ev) -> None:
        _, row = self._plate(ev)
        row[2] += 1

    def _stock_changed(self, ev: _Ev) -> None:
        key = (_str(ev.data, "shelf"), _str(ev.data, "plate"))
        if _num(ev.data, "count") > 0 and key in self.out_since:
            self.stock[key][3] += (parse_time(ev.time) - self.out_since.pop(key)) / 60.0

    def _stages(self, sku: str) -> tuple[int, int, int, int, int, int]:
        """passed, stopped, looked, picked, returned, bought: bought from the POS's
        receipts when the period has any, else the funnel windows' own count."""
        f = self.funnel[sku]
        return f[0], f[1], f[2], f[3], f[4], self.sold[sku] if self.receipts else f[5]

    def _daemon_stopped(self, ev: _Ev) -> None:
        """Out-of-stock spells end when the daemon stops: what happened while it was down
        is unknown (its next start counts every plate again)."""
        for key, since in self.out_since.items():
            self.stock[key][3] += max(0.0, parse_time(ev.time) - since) / 60.0
        self.out_since.clear()

    def finish(self) -> Report:
        names = self.names
        end = self.period.until or self.last
        for key, since in self.out_since.items():  # still out at the period's end
            if end is not None:
                self.stock[key][3] += max(0.0, parse_time(end) - since) / 60.0
        footfall = Footfall(tuple(self.hours), tuple(sorted(self.days.items())),
                            sum(self.hours),
                            tuple((d, tuple(h)) for d, h in sorted(self.day_hours.items())))
        dwell = tuple(sorted(
            (DwellRow(z, names.zone(z), len(v), statistics.median(v), statistics.fmean(v),
                      _percentile(v, 0.9)) for z, v in self.dwell.items() if v),
            key=lambda r: -r.median_s))
        interest = tuple(sorted(
            (InterestRow(sku, names.product(sku), round(a[0], 3), round(a[1], 1),
                         round(a[2], 1), int(a[3]), int(a[4]))
             for sku, a in self.interest.items()),
            key=lambda r: (-r.score, r.sku)))
        skus = set(self.funnel) | set(self.sold)
        funnel = tuple(sorted(
            (FunnelRow(sku, names.product(sku), *self._stages(sku)) for sku in skus),
            key=lambda r: (-r.bought, -r.picked, r.sku)))
        audience = tuple(sorted(
            (AudienceRow(screen, item, names.item(item), int(a[0]), int(a[1]), round(a[2], 1),
                         int(a[3]), round(a[4], 1))
             for (screen, item), a in self.audience.items()),
            key=lambda r: (r.screen, r.item != SCREEN_TOTAL, -r.passing, -r.plays, r.item)))
        stock = tuple(sorted(
            (StockRow(shelf, plate, r[0], names.product(r[0]) if r[0] else plate, r[1], r[2],
                      round(r[3], 1))
             for (shelf, plate), r in self.stock.items()),
            key=lambda r: (-r.outs, -r.out_minutes, -r.lows, r.shelf, r.plate)))
        return Report(self.period, self.first, self.last, self.events, dict(self.skipped),
                      footfall, dwell, interest, funnel, len(self.receipts), audience, stock)


def compute(events: Iterable[_Ev], period: Period, names: Names | None = None) -> Report:
    builder = _Builder(period, names or Names())
    for ev in events:
        builder.add(ev)
    return builder.finish()


def build(logs: Sequence[Path], period: Period, names: Names | None = None) -> Report:
    """The report over `period` from the event logs at `logs` (read-only). Raises
    ReportError when a log is missing or unreadable, or the period holds no event the
    report uses."""
    report = compute(read_events(logs, period), period, names)
    if report.events == 0:
        where = ", ".join(str(p) for p in logs)
        raise ReportError(f"no events to report in {where} for {period.label()} (has the "
                          "daemon run in that period? the report reads footfall, zone, "
                          "insight, sales, audience, signage and stock events)")
    return report
