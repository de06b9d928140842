"""The presence processor: BLE adverts in; visits, zones and dwell out.

Per advertiser (see `identity`) it keeps one track: an RSSI window per receiver (`rssi`), a
belief over where it is (`locate`), and the visit's state. Every `tick_s` of reading time it
updates the belief from the receivers' filtered levels and decides the zone with hysteresis:
a new zone must lead, with at least `enter_p` of the belief, for `min_zone_s` before the
visitor is moved, and the move is dated back to when it began to lead, less the filter's lag.
A track silent for `visit_timeout_s` ends its visit at the last time it was heard.

Events (times are when things happened, not when they were decided):
`omo.presence.visit.started` (at the first advert, once `min_readings` confirm it),
`omo.presence.app_user.arrived` (an opted-in app user's visit, with the pseudonymous
customer id), `omo.presence.zone.entered` / `.exited` (with dwell seconds) and
`omo.presence.visit.ended` (with the duration). Staff and asset tags are never tracked.
"""

from __future__ import annotations

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
    enter_p: float = 0.6  # the belief a new zone needs ...
    min_zone_s: float = 2.0  # ... for this long, before the visitor is moved
    lag_s: float = 1.5  # how far a zone change is dated back for the filter's lag


@dataclass
class Track:
    """One advertiser's visit in progress."""

    identity: Identity
    first_t: float
    last_t: float
    belief: Array
    windows: dict[int, RssiWindow] = field(default_factory=dict)
    readings: int = 0
    visitor: str | None = None  # set when the visit is confirmed (started)
    updated_t: float | None = None
    zone: int | None = None
    zone_since: float = 0.0
    candidate: int | None = None
    candidate_since: float = 0.0


CustomerId = Callable[[int], str]
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
        self.receiver_index = {r: i for i, r in enumerate(receivers)}
        self.locator = locator
        self.identifier = identifier
        self.pseudonyms = pseudonyms
        self.customer_id = customer_id
        self.tracks: dict[str, Track] = {}
        self.unknown_receiver = 0
        self.excluded = 0

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
        track = self.tracks.get(identity.key)
        if track is None:
            track = Track(identity, reading.t, reading.t, self.locator.new_belief())
            self.tracks[identity.key] = track
        window = track.windows.get(rx)
        if window is None:
            window = track.windows[rx] = RssiWindow(self.settings.window_s)
        window.add(reading.t, reading.rssi)
        track.readings += 1
        if reading.t > track.last_t:
            track.last_t = reading.t

    def on_event(self, event: Event, out: Output) -> None:
        if event.type == KEYS_UPDATED and self.on_keys_updated is not None:
            self.on_keys_updated()

    # --------------------------------------------------------------------- ticks
    def on_tick(self, now: float, out: Output) -> None:
        s = self.settings
        for key in list(self.tracks):
            track = self.tracks[key]
            if now - track.last_t > s.visit_timeout_s:
                self._end(track, out)
                del self.tracks[key]
                continue
            move = self._locate(track, now)
            if track.visitor is None:
                if move is not None:
                    track.zone = move[0]
                if track.readings >= s.min_readings and track.zone is not None:
                    self._start(track, out)
            elif move is not None:
                self._move(track, *move, out)

    def _locate(self, track: Track, now: float) -> tuple[int, float] | None:
        """Update the track's belief; the (zone, since) it should move to, if any."""
        levels: dict[int, float] = {}
        for rx, window in track.windows.items():
            level = window.level(now)
            if level is not None:
                levels[rx] = level.median
        if not levels:
            return None
        dt = self.settings.tick_s if track.updated_t is None else now - track.updated_t
        track.belief, probs = self.locator.update(track.belief, levels,
                                                  track.identity.level_1m, dt)
        track.updated_t = now
        best = int(np.argmax(probs))
        if track.zone is None:
            track.zone, track.zone_since = best, track.first_t
            return None
        if best == track.zone:
            track.candidate = None
            return None
        if best != track.candidate:
            track.candidate, track.candidate_since = best, now
        if probs[best] >= self.settings.enter_p \
                and now - track.candidate_since >= self.settings.min_zone_s:
            since = max(track.zone_since, track.candidate_since - self.settings.lag_s)
            track.candidate = None
            return best, since
        return None

    # -------------------------------------------------------------------- events
    def _zone_name(self, zone: int) -> str:
        return self.locator.zones[zone]

    def _start(self, track: Track, out: Output) -> None:
        identity = track.identity
        track.visitor = self.pseudonyms.visitor_id(identity.key, track.first_t)
        opted_in = identity.kind is DeviceKind.APP
        assert track.zone is not None
        zone = self._zone_name(track.zone)
        out.emit("omo.presence.visit.started",
                 {"visitor": track.visitor, "opted_in": opted_in, "zone": zone},
                 at=track.first_t)
        if opted_in and identity.member is not None:
            out.emit("omo.presence.app_user.arrived",
                     {"visitor": track.visitor, "customer": self.customer_id(identity.member),
                      "zone": zone}, at=track.first_t)
        out.emit("omo.presence.zone.entered", {"visitor": track.visitor, "zone": zone},
                 at=track.first_t)
        track.zone_since = track.first_t

    def _move(self, track: Track, zone: int, at: float, out: Output) -> None:
        assert track.visitor is not None and track.zone is not None
        out.emit("omo.presence.zone.exited",
                 {"visitor": track.visitor, "zone": self._zone_name(track.zone),
                  "dwell_s": round(at - track.zone_since, 1)}, at=at)
        out.emit("omo.presence.zone.entered",
                 {"visitor": track.visitor, "zone": self._zone_name(zone)}, at=at)
        track.zone, track.zone_since = zone, at

    def _end(self, track: Track, out: Output) -> None:
        if track.visitor is None or track.zone is None:
            return
        end = track.last_t
        out.emit("omo.presence.zone.exited",
                 {"visitor": track.visitor, "zone": self._zone_name(track.zone),
                  "dwell_s": round(max(0.0, end - track.zone_since), 1)}, at=end)
        out.emit("omo.presence.visit.ended",
                 {"visitor": track.visitor,
                  "opted_in": track.identity.kind is DeviceKind.APP,
                  "duration_s": round(end - track.first_t, 1)}, at=end)
