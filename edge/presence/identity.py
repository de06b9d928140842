"""Who an advert belongs to: the beacon it carries, or the device that sent it.

A beacon is keyed on its decoded id (iBeacon UUID/major/minor, Eddystone namespace/instance),
never on the sender's address: phones rotate their addresses, beacons do not. The store app's
beacon carries a rotating token that only the cloud's keys resolve to a member number, so an
app user is keyed on that member. A device without a beacon frame (a phone advertising for
its own reasons) is keyed on the driver's keyed hash of its address.

Tags listed in `ble.exclude` (staff badges, asset tags) are recognised and marked, so presence
counts leave them out. Decoding is cached by the frame's bytes: a store hears the same few
hundred frames over and over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from drivers.beacons import (
    AltBeacon,
    EddystoneEncryptedTlm,
    EddystoneTlm,
    EddystoneUid,
    IBeacon,
    MalformedBeacon,
    decode_beacon,
)
from drivers.readings import BleAdvert

CACHE_LIMIT = 65_536


class DeviceKind(StrEnum):
    """What kind of advertiser a presence track follows."""

    APP = "app"  # the store app's beacon: an opted-in shopper
    BEACON = "beacon"  # another beacon (a shopper's tag, or staff and assets when excluded)
    DEVICE = "device"  # an advertiser without a beacon frame, keyed on its hashed address


@dataclass(frozen=True)
class Identity:
    """The stable key of an advertiser and what it is."""

    key: str
    kind: DeviceKind
    excluded: bool = False  # a staff or asset tag: never counted as a shopper
    member: int | None = None  # the app user's member number, for DeviceKind.APP
    level_1m: int | None = None  # the beacon's own RSSI at 1 m, when its frame says


@dataclass(frozen=True)
class _Frame:
    """A decoded frame: a fixed identity (a beacon), an app token to resolve per reading, or
    neither (a device, keyed on its hashed address); `telemetry` frames are not tracked."""

    identity: Identity | None = None
    app: tuple[int, int] | None = None  # (major, minor) of an app beacon's token
    level_1m: int | None = None
    telemetry: bool = False


AppResolver = Callable[[int, int, float], int | None]
"""(major, minor, time) -> the app user's member number, or None if no key resolves it."""


class Identifier:
    """Maps adverts to identities; counts malformed frames, telemetry-only frames and app
    tokens that no key resolves."""

    def __init__(self, app_uuids: tuple[str, ...], exclude: tuple[str, ...],
                 resolve_app: AppResolver | None = None) -> None:
        self.app_uuids = frozenset(u.lower() for u in app_uuids)
        self.exclude = tuple(e.lower() for e in exclude)
        self.resolve_app = resolve_app
        self.malformed = 0
        self.telemetry = 0
        self.unresolved_app = 0
        self._frames: dict[tuple[object, object], _Frame | None] = {}
        self._devices: dict[str, Identity] = {}
        self._members: dict[int, Identity] = {}

    def identify(self, advert: BleAdvert) -> Identity | None:
        """The advert's identity; None for a malformed frame, a telemetry frame (Eddystone
        TLM: it names no beacon) or an app token no key resolves (each counted)."""
        cache_key = (advert.manufacturer_data, advert.service_data)
        frame = self._frames.get(cache_key, _MISSING)
        if frame is _MISSING:
            frame = self._decode(advert)
            if len(self._frames) >= CACHE_LIMIT:
                self._frames.clear()
            self._frames[cache_key] = frame
        if frame is None:
            self.malformed += 1
            return None
        if frame.identity is not None:
            return frame.identity
        if frame.app is not None:
            return self._app(frame, advert.t)
        if frame.telemetry:
            self.telemetry += 1
            return None
        device = self._devices.get(advert.address_hash)
        if device is None:
            key = f"addr:{advert.address_hash}"
            device = Identity(key, DeviceKind.DEVICE, excluded=self._excluded(key))
            if len(self._devices) >= CACHE_LIMIT:
                self._devices.clear()
            self._devices[advert.address_hash] = device
        return device

    def _app(self, frame: _Frame, t: float) -> Identity | None:
        assert frame.app is not None
        member = self.resolve_app(*frame.app, t) if self.resolve_app else None
        if member is None:
            self.unresolved_app += 1
            return None
        identity = self._members.get(member)
        if identity is None:
            identity = Identity(f"app:{member}", DeviceKind.APP, member=member,
                                level_1m=frame.level_1m)
            if len(self._members) >= CACHE_LIMIT:
                self._members.clear()
            self._members[member] = identity
        return identity

    def _excluded(self, key: str) -> bool:
        return any(key.startswith(e) for e in self.exclude)

    def _decode(self, advert: BleAdvert) -> _Frame | None:
        try:
            beacon = decode_beacon(dict(advert.manufacturer_data), dict(advert.service_data))
        except MalformedBeacon:
            return None
        if isinstance(beacon, IBeacon) and beacon.uuid in self.app_uuids:
            return _Frame(app=(beacon.major, beacon.minor), level_1m=beacon.measured_power)
        if isinstance(beacon, IBeacon | AltBeacon | EddystoneUid):
            level = (beacon.measured_power if isinstance(beacon, IBeacon)
                     else beacon.reference_rssi if isinstance(beacon, AltBeacon)
                     else beacon.tx_power - EDDYSTONE_0M_TO_1M_DB)
            return _Frame(Identity(beacon.key, DeviceKind.BEACON,
                                   excluded=self._excluded(beacon.key), level_1m=level))
        if isinstance(beacon, EddystoneTlm | EddystoneEncryptedTlm):
            return _Frame(telemetry=True)
        return _Frame()  # no beacon, or an Eddystone URL: the device itself


EDDYSTONE_0M_TO_1M_DB = 41  # Eddystone states power at 0 m; free-space loss to 1 m is 41 dB
_MISSING = _Frame()
