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

from drivers.beacons import MalformedBeacon, decode_eddystone_uid, decode_ibeacon
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
    """A decoded frame, before the per-reading parts (app token resolution) are applied."""

    key: str | None
    level_1m: int | None
    app: tuple[int, int] | None  # (major, minor) of an app beacon's token


AppResolver = Callable[[int, int, float], int | None]
"""(major, minor, time) -> the app user's member number, or None if no key resolves it."""


class Identifier:
    """Maps adverts to identities; counts malformed frames."""

    def __init__(self, app_uuids: tuple[str, ...], exclude: tuple[str, ...],
                 resolve_app: AppResolver | None = None) -> None:
        self.app_uuids = frozenset(u.lower() for u in app_uuids)
        self.exclude = tuple(e.lower() for e in exclude)
        self.resolve_app = resolve_app
        self.malformed = 0
        self.unresolved_app = 0
        self._frames: dict[tuple[object, object], _Frame | None] = {}

    def identify(self, advert: BleAdvert) -> Identity | None:
        """The advert's identity; None for a malformed frame or an app token no key
        resolves (both counted)."""
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
        assert isinstance(frame, _Frame)
        if frame.app is not None:
            member = self.resolve_app(*frame.app, advert.t) if self.resolve_app else None
            if member is None:
                self.unresolved_app += 1
                return None
            return Identity(f"app:{member}", DeviceKind.APP, member=member,
                            level_1m=frame.level_1m)
        if frame.key is None:
            key = f"addr:{advert.address_hash}"
            return Identity(key, DeviceKind.DEVICE, excluded=self._excluded(key))
        return Identity(frame.key, DeviceKind.BEACON, excluded=self._excluded(frame.key),
                        level_1m=frame.level_1m)

    def _excluded(self, key: str) -> bool:
        return any(key.startswith(e) for e in self.exclude)

    def _decode(self, advert: BleAdvert) -> _Frame | None:
        try:
            ib = decode_ibeacon(dict(advert.manufacturer_data))
            if ib is not None:
                if ib.uuid in self.app_uuids:
                    return _Frame(None, ib.measured_power, (ib.major, ib.minor))
                return _Frame(f"ibeacon:{ib.uuid}:{ib.major}:{ib.minor}", ib.measured_power,
                              None)
            ed = decode_eddystone_uid(dict(advert.service_data))
            if ed is not None:
                return _Frame(f"eddystone-uid:{ed.namespace}:{ed.instance}", ed.tx_power - 41,
                              None)
        except MalformedBeacon:
            return None
        return _Frame(None, None, None)


_MISSING = _Frame("", None, None)
