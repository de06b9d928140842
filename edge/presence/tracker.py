"""The presence processor: BLE adverts in; visits, zones and dwell out.

Per advertiser (see `identity`) it keeps one track: an RSSI window per receiver (`rssi`), a
belief over where it is (`locate`), and the visit's state. Every `tick_s` of reading time it
updates the beliefs of all heard tracks in one batch, smooths each track's zone probabilities
over `smooth_s` either side (so zones are decided `smooth_s` late) and decides the zone with
hysteresis: a new zone must lead, with at least `enter_p` of the belief, for `min_zone_s`
before the visitor is moved, and the move is dated back to when it began to lead, less
`lag_s` for the RSSI window's and the motion model's lag. A track silent for
`visit_timeout_s` ends its visit: the undecided last seconds are settled, and the visit ends
half an advertising interval after the last advert heard.

Events (times are when things happened, not when they were decided):
`omo.presence.visit.started` (half an advertising interval before the first advert, once
`min_readings` confirm the visit),
`omo.presence.app_user.arrived` (an opted-in app user's visit, with the pseudonymous
customer id), `omo.presence.zone.entered` / `.exited` (with dwell seconds) and
`omo.presence.visit.ended` (with the duration). Staff and asset tags are never tracked.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drivers.readings import BleAdvert, Reading
from edge.events import Event
from edge.presence.identity import DeviceKind, Identifier, Identity
from edge.presence.locate import Array, Locator
from edge.presence.pseudonym import Pseudonyms
from edge.presence.rssi import RssiWindow
from edge.processing.processor import BaseProcessor, Output, Subscriptions


@dataclass(frozen=True)
class PresenceSettings:
    """The tunables of the presence processor (config keys under `[ble]`)."""

    tick_s: float = 1.0  # how often beliefs and zones are updated
    window_s: float = 3.0  # the RSSI filter's window
    visit_timeout_s: float = 30.0  # silence that ends a visit
    min_readings: int = 3  # readings that confirm a visit
    enter_p: float = 0.4  # the belief a new zone needs ...
    min_zone_s: float = 2.0  # ... for this long, before the visitor is moved
    lag_s: float = 3.0  # how far a zone change is dated back (the RSSI window and motion lag)
    smooth_s: float = 2.0  # fixed-lag smoothing: zones are decided this much later


@dataclass
class Track:
    """One advertiser's visit in progress."""

    identity: Identity
    first_t: float
    last_t: float
    belief: Array
    windows: list[RssiWindow]  # one per receiver, in the processor's receiver order
    readings: int = 0
    visitor: str | None = None  # set when the visit is confirmed (started)
    updated_t: float | None = None
    zone: int | None = None
    zone_since: float = 0.0
    candidate: int | None = None
    candidate_since: float = 0.0
    confidence: float = 0.0  # the belief in the current zone at the last update
    first_update_t: float = 0.0
    started_at: float = 0.0  # when the visit began (set when it is confirmed)
    heard: list[int] = field(default_factory=list)  # readings per receiver, for the interval

    def interval(self) -> float:
        """The advertising interval as the best receiver hears it (it misses a few), within
        0.1-5 s: a visit began, and ended, about half of one before the first and after the
        last advert heard."""
        n = max(self.heard, default=0)
        if n < 2 or self.last_t <= self.first_t:
            return DEFAULT_INTERVAL_S
        return min(5.0, max(0.1, (self.last_t - self.first_t) / (n - 1)))

    @property
    def start(self) -> float:
        return self.first_t - self.interval() / 2

    @property
    def end(self) -> float:
        return self.last_t + self.interval() / 2
    history: deque[tuple[float, Array]] = field(default_factory=deque)  # for smoothing
    history_sum: Array | None = None  # the sum of the history's probabilities


CustomerId = Callable[[int], str]
DEFAULT_INTERVAL_S = 1.0
KEYS_UPDATED = "omo.presence.app_keys.updated"


class PresenceProcessor(BaseProcessor):
    """Turns `BleAdvert` readings into presence events (see the module's docstring)."""

    name = "presence"

    def __init__(self, receivers: list[str], locator: Locator, identifier: Identifier,
                 pseudonyms: Pseudonyms, customer_id: CustomerId,
                 settings: PresenceSettings | None = None,
                 on_keys_updated: Callable[[], None] | None = None) -> None:
        """`on_keys_updated` is called when the cloud sent new app beacon keys (the builder
        reloads them into the identifier's resolver)."""
        self.settings = settings or PresenceSettings()
        self.subscriptions = Subscriptions(readings=(BleAdvert,), events=(KEYS_UPDATED,),
                                           tick_s=self.settings.tick_s)
        self.on_keys_updated = on_keys_updated
        self.receivers = list(receivers)
        self.receiver_index = {r: i for i, r in enumerate(receivers)}
        self.locator = locator
        self.identifier = identifier
        self.pseudonyms = pseudonyms
        self.customer_id = customer_id
        self.tracks: dict[str, Track] = {}
        self.unknown_receiver = 0
        self.excluded = 0

    def counters(self) -> dict[str, int]:
        ident = self.identifier
        return {"presence.tracks": len(self.tracks),
                "presence.visits_open": sum(1 for t in self.tracks.values() if t.visitor),
                "presence.malformed_frames": ident.malformed,
                "presence.telemetry_frames": ident.telemetry,
                "presence.unresolved_app_tokens": ident.unresolved_app,
                "presence.excluded_tags": self.excluded,
                "presence.unknown_receiver": self.unknown_receiver}

    # ------------------------------------------------------------------ readings
    def on_reading(self, reading: Reading, out: Output) -> None:
        if not isinstance(reading, BleAdvert):
            return
        rx = self.receiver_index.get(reading.receiver)
        if rx is None:
            self.unknown_receiver += 1
            return
        identity = self.identifier.identify(reading)
        if identity is None:
            return
        if identity.excluded:
            self.excluded += 1
            return
        t = reading.t
        track = self.tracks.get(identity.key)
        if track is None:
            window_s = self.settings.window_s
            track = Track(identity, t, t, self.locator.new_belief(),
                          [RssiWindow(window_s) for _ in self.receivers],
                          heard=[0] * len(self.receivers))
            self.tracks[identity.key] = track
        track.windows[rx].add(t, reading.rssi)
        track.heard[rx] += 1
        track.readings += 1
        if t > track.last_t:
            track.last_t = t

    def on_event(self, event: Event, out: Output) -> None:
        if event.type == KEYS_UPDATED and self.on_keys_updated is not None:
            self.on_keys_updated()

    # --------------------------------------------------------------------- ticks
    def on_tick(self, now: float, out: Output) -> None:
        """End the visits gone silent; update every heard track's belief in one batch; move
        and start visits."""
        s = self.settings
        live: list[Track] = []
        rows: list[list[float]] = []
        for key in list(self.tracks):
            track = self.tracks[key]
            if now - track.last_t > s.visit_timeout_s:
                self._end(track, out)
                del self.tracks[key]
                continue
            row = [w.median(now) for w in track.windows]
            if any(v == v for v in row):  # NaN != NaN: a receiver heard it in the window
                live.append(track)
                rows.append(row)
        if not live:
            return
        level_1m = np.array([math.nan if t.identity.level_1m is None else t.identity.level_1m
                             for t in live], dtype=np.float64)
        dt = np.array([s.tick_s if t.updated_t is None else now - t.updated_t for t in live],
                      dtype=np.float64)
        beliefs, probs = self.locator.update(np.stack([t.belief for t in live]),
                                             np.array(rows, dtype=np.float64), level_1m, dt)
        for i, track in enumerate(live):
            track.belief = beliefs[i]
            if track.updated_t is None:
                track.first_update_t = now
            track.updated_t = now
            move = self._decide(track, *self._smoothed(track, probs[i], now))
            if track.visitor is None:
                if move is not None:
                    track.zone = move[0]
                if track.readings >= s.min_readings and track.zone is not None:
                    self._start(track, out)
            elif move is not None:
                self._move(track, *move, out)

    def _smoothed(self, track: Track, probs: Array, now: float) -> tuple[Array, float]:
        """Fixed-lag smoothing: the mean zone probabilities over `smooth_s` either side of
        `now - smooth_s`, and that time (the decision waits `smooth_s` for what follows)."""
        lag = self.settings.smooth_s
        if lag <= 0:
            return probs, now
        history = track.history
        history.append((now, probs))
        track.history_sum = probs.copy() if track.history_sum is None \
            else track.history_sum + probs
        while history[0][0] < now - 2 * lag - 1e-9:
            track.history_sum -= history.popleft()[1]
        mean: Array = track.history_sum / len(history)
        return mean, max(track.first_update_t, now - lag)

    def _decide(self, track: Track, zone_probs: Array, now: float
                ) -> tuple[int, float] | None:
        """Zone hysteresis: the (zone, since) the track should move to, if any."""
        probs: list[float] = zone_probs.tolist()
        best = probs.index(max(probs))
        if track.zone is None:
            track.zone = best
            track.confidence = probs[best]
            return None
        track.confidence = probs[track.zone]
        if best == track.zone:
            track.candidate = None
            return None
        if best != track.candidate:
            track.candidate, track.candidate_since = best, now
        if probs[best] >= self.settings.enter_p \
                and now - track.candidate_since >= self.settings.min_zone_s:
            since = max(track.zone_since, track.candidate_since - self.settings.lag_s)
            track.candidate = None
            track.confidence = probs[best]
            return best, since
        return None

    def _settle_tail(self, track: Track, end: float, out: Output) -> None:
        """At a visit's end, decide the last seconds that smoothing and hysteresis held
        back: a zone that leads them (typically the walk out through the entrance) is
        entered, dated as any move."""
        s = self.settings
        if track.updated_t is None:
            return
        decided = track.updated_t - s.smooth_s
        tail = [p for t, p in track.history if t > decided]
        if not tail:
            return
        mean = np.mean(tail, axis=0)
        best = int(np.argmax(mean))
        if best == track.zone or mean[best] < s.enter_p:
            return
        since = track.candidate_since if track.candidate == best else decided
        at = max(track.zone_since, since - s.lag_s)
        if at < end:
            self._move(track, best, at, out)

    # -------------------------------------------------------------------- events
    def _zone_name(self, zone: int) -> str:
        return self.locator.zones[zone]

    def _start(self, track: Track, out: Output) -> None:
        identity = track.identity
        start = track.start
        track.visitor = self.pseudonyms.visitor_id(identity.key, start)
        track.started_at = start
        opted_in = identity.kind is DeviceKind.APP
        assert track.zone is not None
        zone = self._zone_name(track.zone)
        out.emit("omo.presence.visit.started",
                 {"visitor": track.visitor, "opted_in": opted_in, "zone": zone}, at=start)
        if opted_in and identity.member is not None:
            out.emit("omo.presence.app_user.arrived",
                     {"visitor": track.visitor, "customer": self.customer_id(identity.member),
                      "zone": zone}, at=start)
        out.emit("omo.presence.zone.entered",
                 {"visitor": track.visitor, "zone": zone, **self._signal(track, out.now)},
                 at=start)
        track.zone_since = start

    def _move(self, track: Track, zone: int, at: float, out: Output) -> None:
        assert track.visitor is not None and track.zone is not None
        out.emit("omo.presence.zone.exited",
                 {"visitor": track.visitor, "zone": self._zone_name(track.zone),
                  "dwell_s": round(at - track.zone_since, 1)}, at=at)
        track.zone, track.zone_since = zone, at
        out.emit("omo.presence.zone.entered",
                 {"visitor": track.visitor, "zone": self._zone_name(zone),
                  **self._signal(track, out.now)}, at=at)

    def _signal(self, track: Track, now: float) -> dict[str, float]:
        """How sure the move was and what it rests on: the zone's belief, and the filtered
        RSSI, its IQR and variance at the receiver that hears the visitor best."""
        levels = [lv for w in track.windows if (lv := w.level(now)) is not None]
        signal = {"confidence": round(min(1.0, max(0.0, track.confidence)), 3)}
        if levels:
            best = max(levels, key=lambda lv: lv.median)
            signal.update(rssi_dbm=round(best.median, 1), rssi_iqr_db=round(best.iqr, 1),
                          rssi_variance_db2=round(best.variance, 1))
        return signal

    def _end(self, track: Track, out: Output) -> None:
        if track.visitor is None or track.zone is None:
            return
        end = track.end
        self._settle_tail(track, end, out)
        out.emit("omo.presence.zone.exited",
                 {"visitor": track.visitor, "zone": self._zone_name(track.zone),
                  "dwell_s": round(max(0.0, end - track.zone_since), 1)}, at=end)
        out.emit("omo.presence.visit.ended",
                 {"visitor": track.visitor,
                  "opted_in": track.identity.kind is DeviceKind.APP,
                  "duration_s": round(end - track.started_at, 1)}, at=end)
