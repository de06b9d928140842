"""Presence: who came in, where they went and for how long.

`build` is the part's processor builder (see `edge.processing.registry`): with BLE receivers
configured it returns the presence processor (`edge.presence.tracker`), which turns adverts
into visits, zones and dwell; the door counter's footfall processor lives beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import Config
    from edge.processing.processor import Processor


def build(config: Config) -> list[Processor]:
    """The presence processor for `config`, or nothing without BLE receivers."""
    from edge.presence.wiring import presence_processor

    if not config.ble.enabled or not config.ble.listeners():
        return []
    return [presence_processor(config)]
