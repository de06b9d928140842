"""Helpers for core tests: minimal configs and event factories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.config import Config, parse
from edge.events import Event, source_uri

BOOT = "b" * 32
SOURCE = source_uri("store-1", "edge-01")


def minimal_config(tmp: Path, **overrides: Any) -> Config:
    raw: dict[str, Any] = {
        "store": {"id": "store-1", "device": "edge-01"},
        "storage": {"path": str(tmp / "events.db"), "min_free_mb": 0},
    }
    for key, value in overrides.items():
        raw[key] = value
    return parse(raw, env={})


def sample(n: int, at: float = 1_767_225_600.0, event_type: str = "omo.test.sample.created",
           **data: Any) -> Event:
    payload = {"n": n, **data} if event_type == "omo.test.sample.created" else data
    return Event.new(event_type, payload, source=SOURCE, bootid=BOOT, epoch_s=at + n / 1000)
