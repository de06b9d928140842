"""One player's connection: a bounded outgoing queue, and the writer that drains it.

The daemon never waits for a player: `offer` only queues. A state message (Show, Playlist,
Orders) replaces an unsent one with the same `StateKey` (counted `superseded`); beyond the
queue's capacity the oldest message is dropped (counted `dropped`). A player that does not
read (dead, or slow) therefore costs at most `capacity` messages of memory, and gets the
newest state when it reads again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict
from dataclasses import dataclass, field

from edge.ratelimit import TokenBucket
from edge.signage_link.state import StateKey, StateMessage, key_of
from signage.protocol import Ack, BadMessage, Hello, Message, Orders, Playlist, Show, encode

_unique = itertools.count()
ACK_IDS = 256  # Played ids one Ack carries at most (unsent acks are joined up to it)
ACK_CHARS = 64 * 1024  # and their characters, well inside MAX_LINE
SKIPS_PER_S, SKIPS_BURST = 2.0, 20.0  # Skipped messages recorded as events, per connection
PLAYED_IN_FLIGHT = 64
"""Played records of one connection being stored at once (they share group commits); the
connection is not read further until one is done, so a flood waits in the socket."""


@dataclass
class ConnectionCounters:
    sent: int = 0
    superseded: int = 0
    dropped: int = 0
    unencodable: int = 0


@dataclass(eq=False)
class Connection:
    """The daemon's end of one player connection."""

    writer: asyncio.StreamWriter
    capacity: int
    hello: Hello | None = None
    counters: ConnectionCounters = field(default_factory=ConnectionCounters)
    _pending: OrderedDict[StateKey | int, Message] = field(default_factory=OrderedDict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    recording: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(PLAYED_IN_FLIGHT))
    closed: bool = False
    skips: TokenBucket = field(default_factory=lambda: TokenBucket(SKIPS_PER_S, SKIPS_BURST))

    def wants(self, message: StateMessage) -> bool:
        """Shows only for the screens the player announced (all, if it named none)."""
        if self.hello is None:
            return False
        if isinstance(message, Show) and self.hello.screens:
            return message.screen in self.hello.screens
        return True

    def offer(self, message: Message) -> None:
        """Queue a message without waiting (see the module's docstring for the bounds)."""
        if self.closed:
            return
        if isinstance(message, Ack) and self._pending:  # join unsent acks into one line
            last_key, last = next(reversed(self._pending.items()))
            if (isinstance(last, Ack) and len(last.ids) + len(message.ids) <= ACK_IDS
                    and sum(map(len, last.ids + message.ids)) <= ACK_CHARS):
                self._pending[last_key] = Ack(last.ids + message.ids)
                self._wake.set()
                return
        key: StateKey | int = key_of(message) if isinstance(message, Show | Playlist | Orders) \
            else next(_unique)
        if key in self._pending:
            del self._pending[key]
            self.counters.superseded += 1
        self._pending[key] = message
        while len(self._pending) > self.capacity:
            self._pending.popitem(last=False)
            self.counters.dropped += 1
        self._wake.set()

    def queued(self) -> int:
        return len(self._pending)

    async def write_loop(self) -> None:
        """Write what is queued, all of it at once, then wait for the socket to take it;
        returns when the connection breaks or is closed."""
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            chunks = []
            while self._pending:
                _, message = self._pending.popitem(last=False)
                try:
                    chunks.append(encode(message))
                except BadMessage:
                    self.counters.unencodable += 1
            if not chunks:
                continue
            try:
                self.writer.write(b"".join(chunks))
                await self.writer.drain()
            except (ConnectionError, OSError):
                return
            self.counters.sent += len(chunks)

    def close(self) -> None:
        self.closed = True
        self._wake.set()
        with contextlib.suppress(Exception):
            self.writer.close()
