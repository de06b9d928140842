"""Visitor ids: keyed hashes of an advertiser's identity under a key that rotates daily.

The day's key is HMAC-SHA256(privacy key, local date), so the same beacon gets the same id all
day (a visit can be followed from zone to zone) and an unrelated id the next day (visits
cannot be linked across days). Without a configured key the process draws a random one: ids
are then stable only until the daemon restarts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import zoneinfo


class Pseudonyms:
    """16-hex-digit visitor ids for identity keys, rotating at local midnight."""

    def __init__(self, key: bytes | None, timezone: str = "UTC") -> None:
        self._key = key if key else os.urandom(32)
        self._tz = zoneinfo.ZoneInfo(timezone)
        self._day: dt.date | None = None
        self._day_key = b""
        self._cache: dict[str, str] = {}

    def day_of(self, t: float) -> dt.date:
        return dt.datetime.fromtimestamp(t, self._tz).date()

    def visitor_id(self, identity_key: str, t: float) -> str:
        """The id of `identity_key` on the local day of epoch time `t`."""
        day = self.day_of(t)
        if day != self._day:
            self._day = day
            self._day_key = hmac.new(self._key, day.isoformat().encode(), hashlib.sha256
                                     ).digest()
            self._cache.clear()
        vid = self._cache.get(identity_key)
        if vid is None:
            vid = hashlib.blake2b(identity_key.encode(), key=self._day_key, digest_size=8
                                  ).hexdigest()
            self._cache[identity_key] = vid
        return vid
