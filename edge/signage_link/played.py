"""Proof of play into the event log, idempotently.

Each `Played` from a player becomes one ``omo.signage.item.played`` event whose id is
derived from the Played id (`event_id`), so a record sent again after a reconnect (or after
a daemon restart) is found in the log and recorded once; the player then gets its `Ack`.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from collections import OrderedDict
from dataclasses import replace
from enum import StrEnum

from edge.events import Event, InvalidEvent, format_time
from edge.runtime import Emitter
from edge.signage_link.state import ITEM_PLAYED
from signage.protocol import Played

REMEMBER = 4096  # recorded Played ids kept in memory (older ones are looked up in the log)
MAX_EPOCH_MS = (1 << 48) - 1


class Outcome(StrEnum):
    """What became of one Played: each but NOT_STORED is acknowledged."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # already in the log: acknowledged again, not stored twice
    INVALID = "invalid"  # can never be stored (counted): acknowledged so the player forgets it
    NOT_STORED = "not_stored"  # the log dropped it (disk full): not acknowledged, sent again


def event_id(played_id: str, started: float) -> str:
    """A UUIDv7-shaped event id that depends only on the Played id (and its start, for the
    time-ordered prefix)."""
    ms = min(MAX_EPOCH_MS, max(0, int(started * 1000))) if math.isfinite(started) else 0
    digest = int.from_bytes(hashlib.sha256(f"omo-played:{played_id}".encode()).digest()[:10],
                            "big")
    value = ms << 80 | 0x7 << 76 | (digest >> 68 & 0xFFF) << 64 | 0b10 << 62
    value |= digest & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def played_event(emitter: Emitter, played: Played) -> Event:
    """The event for one Played; raises InvalidEvent if the record does not fit the schema."""
    if not (math.isfinite(played.started) and math.isfinite(played.ended)
            and played.ended >= played.started):
        raise InvalidEvent("played: start and end must be finite, end not before start")
    data: dict[str, object] = {
        "screen": played.screen, "item": played.item,
        "duration_s": round(played.ended - played.started, 3),
        "start": format_time(played.started), "end": format_time(played.ended)}
    if played.trigger:
        data["trigger"] = played.trigger
    event = emitter.make(ITEM_PLAYED, data, at=played.ended)
    return replace(event, id=event_id(played.id, played.started))


class PlayedRecorder:
    """Records Played messages once each, whoever sends them and however often."""

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self._recorded: OrderedDict[str, None] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Outcome]] = {}

    def _remember(self, eid: str) -> None:
        self._recorded[eid] = None
        self._recorded.move_to_end(eid)
        while len(self._recorded) > REMEMBER:
            self._recorded.popitem(last=False)

    async def record(self, played: Played) -> Outcome:
        try:
            event = played_event(self.emitter, played)
        except (InvalidEvent, OverflowError, ValueError):
            return Outcome.INVALID
        if event.id in self._recorded:
            return Outcome.DUPLICATE
        pending = self._inflight.get(event.id)
        if pending is not None:  # the same record from another connection, being stored
            outcome = await asyncio.shield(pending)
            return Outcome.DUPLICATE if outcome is Outcome.RECORDED else outcome
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._inflight[event.id] = fut
        outcome = Outcome.NOT_STORED
        try:
            loop = asyncio.get_running_loop()
            if await loop.run_in_executor(None, self.emitter.log.contains, event.id):
                outcome = Outcome.DUPLICATE
            elif await self.emitter.append(event) is not None:
                outcome = Outcome.RECORDED
            if outcome is not Outcome.NOT_STORED:
                self._remember(event.id)
            return outcome
        finally:
            del self._inflight[event.id]
            fut.set_result(outcome)
