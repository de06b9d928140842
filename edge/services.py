"""The daemon's shared services, typed: what a component may use besides its context.

`Services` is built once by the daemon (or by a replay) and handed to every component through
its context. `SimHooks` is the one place where the simulator (or a test) plugs in: production
leaves every hook unset, and no production code path knows anything else about the simulator.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from edge.processing.bus import ReadingBus

if TYPE_CHECKING:
    from bleak.backends.scanner import BaseBleakScanner

    from drivers.ble import BleScanner
    from drivers.camera import CaptureSource, FrameGate
    from drivers.readings import Reading
    from edge.backoff import Backoff
    from edge.clock import Clock
    from edge.config import BleReceiver, Config
    from edge.eventlog import EventLog
    from edge.runtime import ComponentState, Emitter
    from edge.sync.commands import Command
    from signage.protocol import Screenshot

BleBackendFactory = Callable[["BleReceiver"], "tuple[type[BaseBleakScanner], dict[str, Any]]"]
"""Returns the bleak scanner backend class for a receiver, and its constructor arguments."""
CommandHandler = Callable[["Command"], Awaitable[dict[str, Any]]]


@dataclass
class SimHooks:
    """What the simulator injects into the daemon. Every hook is optional; unset, the daemon
    behaves exactly as in a store."""

    ble_backend: BleBackendFactory | None = None
    """bleak backend for a BLE receiver, instead of the platform's (BlueZ)."""
    ble_scanner_made: Callable[[str, BleScanner], None] | None = None
    """Called with (receiver id, scanner) when a BLE source makes its scanner, so the
    simulator can wait until the source has handed on every advert the scanner took."""
    capture_opened: Callable[[str, CaptureSource], None] | None = None
    """Called with (camera id, capture) when a camera source opens its capture, so the
    simulator can wait for the reader to catch up with its clock."""
    frame_gate: FrameGate | None = None
    """Holds each camera's capture back until its last frame was handled (the simulator's
    lockstep: every frame rendered is analysed, however slow the model). Unset, a capture
    keeps only the newest frame and never waits."""
    reading_handled: Callable[[str, Reading], None] | None = None
    """Called with (processor name, reading) after a processor handled a reading (or raised
    on it), from the event loop: what the simulator's frame gate waits for."""
    sync_backoff: Backoff | None = None
    """Reconnect back-off for the MQTT link (tests use a fast one)."""


class SensorState(StrEnum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"


class SensorRegistry:
    """The online/offline state of every sensor, keyed "<kind>:<id>" (e.g. "shelf:shelf-1")."""

    def __init__(self) -> None:
        self._states: dict[str, SensorState] = {}

    def set(self, key: str, state: SensorState) -> None:
        self._states[key] = state

    def get(self, key: str) -> SensorState:
        return self._states.get(key, SensorState.UNKNOWN)

    def online(self, key: str) -> bool:
        return self.get(key) is SensorState.ONLINE

    def snapshot(self) -> dict[str, str]:
        return {k: str(v) for k, v in sorted(self._states.items())}


@dataclass
class Services:
    """What the daemon shares with its components."""

    config: Config
    clock: Clock
    event_log: EventLog
    emitter: Emitter
    hooks: SimHooks = field(default_factory=SimHooks)
    readings: ReadingBus = field(default_factory=ReadingBus)
    sensors: SensorRegistry = field(default_factory=SensorRegistry)
    command_handlers: dict[str, CommandHandler] = field(default_factory=dict)
    """Command name -> handler; the sync component fills the gaps with its defaults."""
    components: dict[str, ComponentState] = field(default_factory=dict)
    """The supervisor's component states (shared, live), for health reports."""
    signage_listeners: list[Callable[[str, str], None]] = field(default_factory=list)
    """Told (kind, name) after a signage command rewrote its hand-off file under
    ``<state_dir>/signage/<kind>/<name>.json`` (the channel server pushes it to players)."""
    signage_screenshot: Callable[[str, int, float], Awaitable[Screenshot]] | None = None
    """(screen, width, timeout_s) -> the PNG its player shows (the signage channel server,
    while it runs); raises LookupError (no such player) or TimeoutError."""
    config_pending: Config | None = None
    """A config that `config.reload` validated, applied at the next restart."""
    address_key: bytes = field(default_factory=lambda: os.urandom(16), repr=False)
    """The key every BLE source hashes advertisers' addresses with: one per process, so a
    device heard by several receivers has one hash, and hashes cannot be linked across
    restarts."""
