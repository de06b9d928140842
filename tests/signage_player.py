"""A stand-in for the signage player in tests: a real Unix-socket client speaking
`signage.protocol`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from signage.protocol import MAX_LINE, Hello, Message, decode, encode


class FakePlayer:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[Message] = []

    @classmethod
    async def connect(cls, path: Path, screens: tuple[str, ...] = ("screen-a",),
                      hello: bool = True) -> FakePlayer:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE * 2)
        player = cls(reader, writer)
        if hello:
            await player.send(Hello(player="test-player", screens=screens))
        return player

    async def send(self, message: Message) -> None:
        await self.send_raw(encode(message))

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def expect(self, match: Callable[[Message], bool], timeout: float = 10.0,
                     what: str = "a message") -> Message:
        """The first message received (now or before) that `match`es."""
        for message in self.received:
            if match(message):
                self.received.remove(message)
                return message
        async def wait() -> Message:
            while True:
                line = await self.reader.readline()
                if not line:
                    raise AssertionError(f"the daemon closed the channel before {what}")
                message = decode(line)
                if match(message):
                    return message
                self.received.append(message)
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    async def closed_by_peer(self, timeout: float = 10.0) -> bool:
        async def drain() -> bool:
            while await self.reader.read(65536):
                pass
            return True
        return await asyncio.wait_for(drain(), timeout)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
