"""The shelf processor: weight samples in; picks, returns, stock and sensor faults out.

Each configured plate has its own detector (`edge.shelf.detector`), so simultaneous picks on
neighbouring plates never mix. A settled change becomes a quantity (`edge.shelf.quantity`);
a decrease is a pick. An increase is a return when it is no larger than the largest pick from
that plate in the last `return_window_s` not yet put back (one shopper puts back at most what
they took); anything more is a restock.
The plate's count follows, with `omo.shelf.stock.changed` after every change and
`omo.shelf.stock.low` / `.out` when it reaches the threshold / zero.

Faults per plate (`omo.shelf.sensor.fault`, raised and cleared): `stuck` (identical readings
for `stuck_s`), `saturated` (a reading at or beyond the load cell's range), `drifting` (the
auto-zero moving faster than `drift_g_per_min`). A controller that goes away is reported by
the source loop as `omo.sensor.status.changed`, not here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from drivers.readings import BeamEdge, Reading, WeightSample
from edge.events import Event
from edge.processing.processor import BaseProcessor, Output, Subscriptions
from edge.shelf.commands import CALIBRATED, REQUESTED, Action
from edge.shelf.detector import Change, DetectorSettings, Phase, PlateDetector
from edge.shelf.quantity import TOLERANCE, Quantity, quantity

PICKED = "omo.shelf.item.picked"
RETURNED = "omo.shelf.item.returned"
STOCK_CHANGED = "omo.shelf.stock.changed"
STOCK_LOW = "omo.shelf.stock.low"
STOCK_OUT = "omo.shelf.stock.out"
FAULT = "omo.shelf.sensor.fault"
TICK_S = 10.0
GAP_S = 5.0  # no sample for this long (an unplug): the plate is weighed afresh
DRIFT_EVERY_S = 1.0  # how often the auto-zero's position is kept for the drift fault
_LEARNING, _IDLE = Phase.LEARNING, Phase.IDLE  # module constants: faster than enum lookups


class Reason(StrEnum):
    """Why a plate's count changed."""

    INITIAL = "initial"
    PICK = "pick"
    RETURN = "return"
    RESTOCK = "restock"
    CORRECTION = "correction"


class Fault(StrEnum):
    STUCK = "stuck"
    SATURATED = "saturated"
    DRIFTING = "drifting"


@dataclass(frozen=True)
class PlateSpec:
    """A plate as the processor needs it: where it is, its product and its calibration.
    `tare_grams` 0 means "learn it": the first stable weight holds `stock` (or `capacity`)
    units. With a tare, the starting count is `stock`, or else the weight's."""

    shelf: str
    plate: str
    number: int
    sku: str
    unit_grams: float
    capacity: int
    low_stock: int
    zone: str = ""
    name: str = ""
    stock: int | None = None
    tare_grams: float = 0.0
    scale: float = 1.0
    max_grams: float = 30_000.0


@dataclass(frozen=True)
class ShelfSettings:
    return_window_s: float = 600.0
    visit_s: float = 60.0  # one shopper's stop at a shelf: what they picked, they may return
    tolerance: float = TOLERANCE
    stuck_s: float = 60.0
    drift_g_per_min: float = 10.0
    drift_window_s: float = 300.0
    detector: DetectorSettings = field(default_factory=DetectorSettings)


@dataclass
class _Plate:
    spec: PlateSpec
    detector: PlateDetector
    tare: float
    scale: float
    count: int | None = None
    picked: deque[tuple[float, int]] = field(default_factory=deque)  # (t, units) returnable
    low: bool = False
    out: bool = False
    last_raw: float | None = None
    same_since: float = 0.0
    faults: set[Fault] = field(default_factory=set)
    drift: deque[tuple[float, float]] = field(default_factory=deque)
    drift_t: float = float("-inf")
    last_t: float | None = None
    max_g: float = 30_000.0  # the spec's max_grams (read on every sample)
    pending: dict[str, Any] | None = None  # a calibration request waiting for a stable weight
    absorb_g: float | None = None  # the calibration weight, whose removal is no pick

    def returnable(self, t: float, window_s: float, visit_s: float) -> int:
        """The most one shopper can put back: the largest pick from this plate in the last
        `window_s` not yet put back, or everything picked from it in the last `visit_s`
        (one shopper's stop at the shelf) not yet put back, whichever is more."""
        while self.picked and self.picked[0][0] < t - window_s:
            self.picked.popleft()
        largest = max((u for _, u in self.picked), default=0)
        return max(largest, sum(u for tp, u in self.picked if tp >= t - visit_s))

    def take_back(self, units: int) -> None:
        """Put `units` back against the newest pick at least that large, or else against
        the newest picks until they add up."""
        for i in range(len(self.picked) - 1, -1, -1):
            t, u = self.picked[i]
            if u >= units:
                if u == units:
                    del self.picked[i]
                else:
                    self.picked[i] = (t, u - units)
                return
        while units > 0 and self.picked:
            t, u = self.picked.pop()
            if u > units:
                self.picked.append((t, u - units))
            units -= u


class ShelfProcessor(BaseProcessor):
    """Every configured plate's stream, keyed by (shelf id, plate number on its controller)."""

    name = "shelf"
    subscriptions = Subscriptions(readings=(WeightSample, BeamEdge), events=(REQUESTED,),
                                  tick_s=TICK_S)

    def __init__(self, plates: list[PlateSpec], settings: ShelfSettings | None = None) -> None:
        self.settings = settings or ShelfSettings()
        self.plates: dict[tuple[str, int], _Plate] = {}
        for spec in plates:
            if spec.unit_grams <= 0 or spec.scale <= 0:
                raise ValueError(f"{spec.shelf}/{spec.plate}: unit_grams and scale must be "
                                 "positive")
            self.plates[(spec.shelf, spec.number)] = _Plate(
                spec, PlateDetector(spec.unit_grams, self.settings.detector),
                spec.tare_grams, spec.scale, max_g=spec.max_grams)
        self._stuck_s = self.settings.stuck_s
        self.samples = 0
        self.counts: dict[str, int] = {"unknown_plate": 0, "picks": 0,
                                       "returns": 0, "restocks": 0, "ambiguous": 0,
                                       "no_change": 0, "calibration_failed": 0,
                                       "gaps": 0, "beam_edges": 0}

    def counters(self) -> dict[str, int]:
        return {"shelf.samples": self.samples,
                **{f"shelf.{k}": v for k, v in self.counts.items()}}

    def count_of(self, shelf: str, number: int) -> int | None:
        """The plate's current count (None until its first stable weight)."""
        p = self.plates.get((shelf, number))
        return None if p is None else p.count

    # ------------------------------------------------------------------ input
    def on_reading(self, reading: Reading, out: Output) -> None:
        if type(reading) is not WeightSample:
            if isinstance(reading, BeamEdge):
                self._beam(reading)
            return
        p = self.plates.get((reading.shelf, reading.plate))
        if p is None:
            self.counts["unknown_plate"] += 1
            return
        self.samples += 1
        t, raw = reading.t, reading.grams
        if p.last_t is not None and t - p.last_t > GAP_S:
            # back after a silence (an unplugged controller): what changed meanwhile is a
            # correction of the count, not a pick or a return at the moment of replugging
            self.counts["gaps"] += 1
            p.detector.rebase(p.detector.baseline, quick=True)
        p.last_t = t
        if raw != p.last_raw:  # a live cell: not stuck (the common case, kept inline)
            p.last_raw, p.same_since = raw, t
        if p.faults or t - p.same_since >= self._stuck_s or abs(raw) >= p.max_g:
            self._watch_faults(p, t, raw, out)
        if p.faults and Fault.SATURATED in p.faults:
            return
        det = p.detector
        was_learning = det.phase is _LEARNING
        changes = det.add(t, (raw - p.tare) * p.scale)
        idle = det.phase is _IDLE
        if p.count is None or was_learning or changes is not None or p.pending is not None:
            self._after(p, t, was_learning, idle, changes, out)
        elif idle and t - p.drift_t >= DRIFT_EVERY_S:
            p.drift_t = t
            p.drift.append((t, det.drift_g))

    def _beam(self, edge: BeamEdge) -> None:
        """A beam edge: supporting evidence for the plate's detector (a hand in the shelf)."""
        p = self.plates.get((edge.shelf, edge.plate))
        if p is None:
            self.counts["unknown_plate"] += 1
            return
        self.counts["beam_edges"] += 1
        p.detector.beam(edge.lane, edge.broken, edge.t)

    def _after(self, p: _Plate, t: float, was_learning: bool, idle: bool,
               changes: list[Change] | None, out: Output) -> None:
        """What a sample means beyond tracking: the first count, a recount after a
        saturation, changes, a pending calibration."""
        if was_learning and idle:
            if p.count is None:
                self._start(p, t, out)
            else:  # back from a saturation or a gap: the weight says what the plate holds
                count = max(0, round(p.detector.baseline / p.spec.unit_grams))
                if count < p.count:  # taken while nobody could weigh them: returnable
                    p.picked.append((t, p.count - count))
                if count != p.count:
                    self._set_count(p, count, Reason.CORRECTION, count - p.count, t, out)
        elif changes is not None and p.count is not None:
            for change in changes:
                self._changed(p, change, out)
        if p.pending is not None and p.count is not None and idle:
            level = p.detector.stable_level()
            if level is not None:
                self._calibrate(p, level, t, out)

    def on_event(self, event: Event, out: Output) -> None:
        """A calibration request (edge.shelf.commands): kept until the plate is stable."""
        if event.type != REQUESTED:
            return
        data = event.data
        for p in self.plates.values():
            if p.spec.shelf == data.get("shelf") and p.spec.plate == data.get("plate"):
                p.pending = dict(data)
                return
        self.counts["unknown_plate"] += 1

    def _calibrate(self, p: _Plate, level: float, t: float, out: Output) -> None:
        """Carry out the pending request at the stable net `level`."""
        req, p.pending = p.pending, None
        assert req is not None
        spec = p.spec
        count = int(req.get("count", 0))
        target = count * spec.unit_grams
        if req.get("action") == str(Action.CALIBRATE):
            unscaled = level / p.scale  # reading - tare
            target += float(req.get("grams", 0.0))
            if unscaled <= 0 or target <= 0:
                self.counts["calibration_failed"] += 1
                return
            p.scale = target / unscaled
            p.detector.rebase(target)
            p.detector.phase = Phase.IDLE
            p.absorb_g = -float(req.get("grams", 0.0))
        else:
            shift = level - target
            p.tare += shift / p.scale
            p.detector.shift(shift)
        out.emit(CALIBRATED, {"shelf": spec.shelf, "plate": spec.plate,
                              "action": str(req.get("action")), "tare_grams": round(p.tare, 2),
                              "scale": round(p.scale, 6), "count": count}, at=t)
        if p.count is not None and count != p.count:
            self._set_count(p, count, Reason.CORRECTION, count - p.count, t, out)

    def on_tick(self, now: float, out: Output) -> None:
        s = self.settings
        for p in self.plates.values():
            while p.drift and p.drift[0][0] < now - s.drift_window_s:
                p.drift.popleft()
            if len(p.drift) < 2 or p.drift[-1][0] - p.drift[0][0] < s.drift_window_s / 2:
                continue
            rate = abs(p.drift[-1][1] - p.drift[0][1]) / ((p.drift[-1][0] - p.drift[0][0]) / 60)
            self._fault(p, Fault.DRIFTING, rate > s.drift_g_per_min, now, out,
                        {"g_per_min": round(rate, 2)})

    # ------------------------------------------------------------------ stock
    def _start(self, p: _Plate, t: float, out: Output) -> None:
        spec = p.spec
        level = p.detector.baseline
        if spec.tare_grams == 0.0:
            count = spec.stock if spec.stock is not None else spec.capacity
            shift = level - count * spec.unit_grams
            p.tare += shift / p.scale
            p.detector.shift(shift)
        else:
            count = spec.stock if spec.stock is not None else max(
                0, round(level / spec.unit_grams))
        self._set_count(p, count, Reason.INITIAL, 0, t, out)

    def _changed(self, p: _Plate, change: Change, out: Output) -> None:
        q = quantity(change.grams, p.spec.unit_grams, self.settings.tolerance)
        if q is None:
            self.counts["no_change"] += 1
            return
        if p.absorb_g is not None and abs(change.grams - p.absorb_g) < p.spec.unit_grams / 2:
            p.absorb_g = None  # the calibration weight taken off
            return
        if q.ambiguous:
            self.counts["ambiguous"] += 1
        assert p.count is not None
        if change.grams < 0:
            self.counts["picks"] += 1
            p.picked.append((change.t, q.count))
            out.emit(PICKED, self._item(p, q, change), at=change.t)
            self._set_count(p, max(0, p.count - q.count), Reason.PICK, -q.count, change.t, out)
            return
        if q.count <= p.returnable(change.t, self.settings.return_window_s,
                                   self.settings.visit_s):
            self.counts["returns"] += 1
            p.take_back(q.count)
            out.emit(RETURNED, self._item(p, q, change), at=change.t)
            self._set_count(p, p.count + q.count, Reason.RETURN, q.count, change.t, out)
            return
        self.counts["restocks"] += 1
        # the picks stay returnable: a shopper holding an item while staff fill the plate
        # may still put it back
        self._set_count(p, p.count + q.count, Reason.RESTOCK, q.count, change.t, out)

    def _item(self, p: _Plate, q: Quantity, change: Change) -> dict[str, Any]:
        spec = p.spec
        data: dict[str, Any] = {"shelf": spec.shelf, "plate": spec.plate, "sku": spec.sku,
                                "quantity": q.count, "grams": round(abs(change.grams), 1),
                                "confidence": q.confidence}
        if spec.zone:
            data["zone"] = spec.zone
        if q.ambiguous:
            data["ambiguous"] = True
            data["candidates"] = list(q.candidates)
        return data

    def _set_count(self, p: _Plate, count: int, reason: Reason, delta: int, t: float,
                   out: Output) -> None:
        spec = p.spec
        p.count = count
        base = {"shelf": spec.shelf, "plate": spec.plate, "sku": spec.sku}
        out.emit(STOCK_CHANGED, {**base, "count": count, "delta": delta,
                                 "reason": str(reason)}, at=t)
        low = count <= spec.low_stock
        if low and not p.low and count > 0:
            out.emit(STOCK_LOW, {**base, "remaining": count, "threshold": spec.low_stock}, at=t)
        p.low = low
        if count == 0 and not p.out:
            out.emit(STOCK_OUT, base, at=t)
        p.out = count == 0

    # ----------------------------------------------------------------- faults
    def _watch_faults(self, p: _Plate, t: float, raw: float, out: Output) -> None:
        if raw != p.last_raw:
            p.last_raw, p.same_since = raw, t
        stuck = t - p.same_since >= self.settings.stuck_s
        if stuck != (Fault.STUCK in p.faults):
            self._fault(p, Fault.STUCK, stuck, t, out, {"seconds": round(t - p.same_since, 1)})
        saturated = abs(raw) >= p.spec.max_grams
        if saturated != (Fault.SATURATED in p.faults):
            self._fault(p, Fault.SATURATED, saturated, t, out, {"grams": raw})

    def _fault(self, p: _Plate, fault: Fault, active: bool, t: float, out: Output,
               detail: dict[str, Any]) -> None:
        if active == (fault in p.faults):
            return
        if active:
            p.faults.add(fault)
        else:
            p.faults.discard(fault)
            if fault is Fault.SATURATED:
                p.detector.rebase(p.detector.baseline)
        out.emit(FAULT, {"shelf": p.spec.shelf, "plate": p.spec.plate, "fault": str(fault),
                         "active": active, **detail}, at=t)
