"""The player's side of the local channel (signage/protocol.py): connect to the daemon's
Unix socket, say Hello, resend every unacknowledged Played, then apply what the daemon
sends. While the daemon is away it retries with back-off and the screen keeps playing;
proof of play waits in the player's store (signage/store.py) until an Ack."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.backoff import Backoff
from signage.protocol import MAX_LINE, Ack, BadMessage, Hello, Message, Played, decode, encode
from signage.store import PlayerStore

log = logging.getLogger("omo.signage.channel")
RECONNECT = Backoff(initial_s=0.2, max_s=5.0)


@dataclass
class ChannelStats:
    connects: int = 0
    bad_lines: int = 0
    received: int = 0
    acked: int = 0
    sent_played: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class ChannelClient:
    def __init__(self, path: Path, hello: Hello, store: PlayerStore,
                 on_message: Callable[[Message], None], *,
                 backoff: Backoff = RECONNECT,
                 rng: random.Random | None = None) -> None:
        self.path = path
        self.hello = hello
        self.store = store
        self.on_message = on_message
        self.backoff = backoff
        self.rng = rng or random.Random()
        self.stats = ChannelStats()
        self._writer: asyncio.StreamWriter | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    def send_played(self, played: Played) -> None:
        """Send a record now if connected; it is in the store either way (resent later)."""
        if self.send(played):
            self.stats.sent_played += 1

    def send(self, message: Message) -> bool:
        """Send `message` now if connected (best effort: nothing is kept for later)."""
        if self._writer is None:
            return False
        try:
            self._writer.write(encode(message))
        except (OSError, RuntimeError, BadMessage):
            return False
        return True

    async def run(self) -> None:
        """Connect, serve, reconnect; returns only when cancelled."""
        failures = 0
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.path),
                                                                    limit=MAX_LINE + 1)
            except OSError:
                failures += 1
                await asyncio.sleep(self.backoff.delay(failures, self.rng))
                continue
            failures = 0
            self.stats.connects += 1
            try:
                await self._serve(reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                self._writer = None
                writer.close()
            log.info("signage: the daemon's channel closed; reconnecting")
            failures += 1
            await asyncio.sleep(self.backoff.delay(failures, self.rng))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(encode(self.hello))
        for played in self.store.unacked():
            writer.write(encode(played))
            self.stats.sent_played += 1
        await writer.drain()
        self._writer = writer
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # longer than MAX_LINE: dropped by the reader
                self.stats.bad_lines += 1
                continue
            if not line:
                return
            try:
                message = decode(line)
            except BadMessage:
                self.stats.bad_lines += 1
                continue
            self.stats.received += 1
            if isinstance(message, Ack):
                self.stats.acked += self.store.ack(message.ids)
            else:
                self.on_message(message)
            await writer.drain()
