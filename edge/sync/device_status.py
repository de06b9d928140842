"""Device status on MQTT: the retained birth message, the Last Will and the heartbeat.

    <prefix>/<store>/<device>/status            retained, QoS 1
        {"state": "online", "version", "bootid", "time", "protocol", "health": {...}}
        {"state": "offline", "reason": "connection lost" | "shutdown", "bootid", "time"}
    <prefix>/<store>/<device>/status/heartbeat  QoS 0, every broker.heartbeat seconds
        {"time", "bootid", "uptime_s", "outbox": {...}, "sync": {...}, "health": {...}}

The Last Will is registered with every connection, so the broker marks the device offline
when the connection drops without a goodbye (crash, power cut, network loss).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from edge import __version__
from edge.eventlog import OutboxStats
from edge.events import format_time

HealthSource = Callable[[], dict[str, str]]


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class DeviceStatus:
    def __init__(self, *, store: str, device: str, bootid: str, protocol: str,
                 health: HealthSource, started_at: float | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.device = device
        self.bootid = bootid
        self.protocol = protocol
        self.health = health
        self.started_at = started_at if started_at is not None else wall()
        self._wall = wall
        self.last_health: dict[str, str] = {}

    def birth(self) -> bytes:
        self.last_health = self.health()
        return _dump({"state": "online", "store": self.store, "device": self.device,
                      "version": __version__, "bootid": self.bootid,
                      "time": format_time(self._wall()), "protocol": self.protocol,
                      "health": self.last_health})

    def will(self) -> bytes:
        return _dump({"state": "offline", "store": self.store, "device": self.device,
                      "reason": "connection lost", "bootid": self.bootid})

    def offline(self, reason: str = "shutdown") -> bytes:
        return _dump({"state": "offline", "store": self.store, "device": self.device,
                      "reason": reason, "bootid": self.bootid,
                      "time": format_time(self._wall())})

    def health_changed(self) -> bool:
        return self.health() != self.last_health

    def heartbeat(self, stats: OutboxStats, sync_counters: dict[str, int]) -> bytes:
        now = self._wall()
        age = stats.oldest_undelivered_age_s(now)
        return _dump({
            "time": format_time(now), "bootid": self.bootid,
            "uptime_s": round(now - self.started_at, 1),
            "outbox": {"queued": stats.queued, "delivered": stats.delivered,
                       "dropped": stats.dropped(), "last_seq": stats.last_seq,
                       "oldest_undelivered_age_s": None if age is None else round(age, 1)},
            "sync": dict(sorted(sync_counters.items())),
            "health": self.health(),
        })
