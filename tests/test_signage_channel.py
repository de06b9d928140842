"""The player's channel client against a real Unix socket server written here (the daemon's
side is its own): Hello first, unacknowledged proof of play resent on every connection and
forgotten only on Ack, garbage lines counted and skipped, reconnection after the daemon
goes away, messages applied in order."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from edge.backoff import Backoff
from signage.channel import ChannelClient
from signage.protocol import (
    MAX_LINE,
    Ack,
    ContentKind,
    Hello,
    Item,
    Message,
    Played,
    Playlist,
    Show,
    decode,
    encode,
)
from signage.store import PlayerStore
from tests.waiting import await_until

FAST = Backoff(initial_s=0.02, max_s=0.1)


def played(n: int) -> Played:
    return Played(id=f"p{n}", screen="scr", item=f"i{n}", started=100.0 + n, ended=101.0 + n)


class FakeDaemon:
    """A daemon's side of the channel: records what arrives, sends what the test says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[list[Message]] = []  # per connection
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._conn, path=str(self.path))

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got: list[Message] = []
        self.lines.append(got)
        self.writers.append(writer)
        while line := await reader.readline():
            got.append(decode(line))

    async def send(self, *raw: bytes) -> None:
        w = self.writers[-1]
        for line in raw:
            w.write(line)
        await w.drain()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        await self.server.wait_closed()
        self.path.unlink(missing_ok=True)


def test_channel_resends_until_acked_and_survives_a_daemon_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = PlayerStore(tmp_path / "player.db")
        store.add_played(played(1))  # recorded while the daemon was away
        store.add_played(played(2))
        got: list[Message] = []
        sock = tmp_path / "player.sock"
        client = ChannelClient(sock, Hello(player="d1/scr", screens=("scr",)), store,
                               got.append, backoff=FAST, rng=random.Random(1))
        task = asyncio.create_task(client.run())
        await asyncio.sleep(0)  # the client is retrying: no daemon yet
        daemon = FakeDaemon(sock)
        await daemon.start()
        await await_until(lambda: daemon.lines and len(daemon.lines[0]) >= 3, 10, "resend")
        first = daemon.lines[0]
        assert isinstance(first[0], Hello) and first[0].screens == ("scr",)
        assert [m.id for m in first[1:] if isinstance(m, Played)] == ["p1", "p2"]

        item = Item(id="x", kind=ContentKind.TEXT, text="こんにちは")
        await daemon.send(encode(Playlist("default", (item,))), b"not json\n",
                          b'{"kind":"nope"}\n', b"x" * (MAX_LINE + 10) + b"\n",
                          encode(Show(screen="scr", item=item)), encode(Ack(ids=("p1",))))
        await await_until(lambda: store.pending() == 1, 10, "ack of p1")
        assert [type(m).__name__ for m in got] == ["Playlist", "Show"]
        assert client.stats.bad_lines == 3

        # a new record while connected goes out at once
        store.add_played(played(3))
        client.send_played(played(3))
        await await_until(lambda: len(daemon.lines[0]) >= 4, 10, "p3 sent")

        await daemon.stop()  # the daemon restarts
        await await_until(lambda: not client.connected, 10, "disconnect seen")
        daemon = FakeDaemon(sock)
        await daemon.start()
        await await_until(lambda: daemon.lines and len(daemon.lines[0]) >= 3, 10, "reconnect")
        again = daemon.lines[0]
        assert isinstance(again[0], Hello)
        assert [m.id for m in again[1:] if isinstance(m, Played)] == ["p2", "p3"]
        await daemon.send(encode(Ack(ids=("p2", "p3"))))
        await await_until(lambda: store.pending() == 0, 10, "all acked")
        assert client.stats.connects == 2
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await daemon.stop()
        store.close()

    asyncio.run(scenario())
