"""The player process loop with a stand-in daemon on the real socket: the playlist it sends
plays, a Show puts the product card on the panel within a few frames, proof of play reaches
the daemon and is forgotten on Ack; while the daemon is away the screen keeps playing and
the records wait, then arrive when it returns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pygame

from edge.backoff import Backoff
from signage import draw
from signage.app import PlayerApp, RunOptions, socket_path
from signage.protocol import (
    Ack,
    ContentKind,
    Hello,
    Item,
    Played,
    Playlist,
    Priority,
    Product,
    Show,
    decode,
    encode,
)
from tests.signage_fixtures import config, near, pixel, png
from tests.waiting import await_until

RED = (255, 0, 0)


def test_player_app_against_a_stand_in_daemon(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    png(cfg.storage.state_dir / "signage" / "cache" / "red.png", RED)
    received: list[object] = []
    writers: list[asyncio.StreamWriter] = []

    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while line := await reader.readline():
            received.append(decode(line))

    async def scenario() -> None:
        app = PlayerApp(cfg, cfg.screens[0], RunOptions(driver="offscreen", fps=60))
        app.client.backoff = Backoff(initial_s=0.02, max_s=0.1)
        path = socket_path(cfg)
        server = await asyncio.start_unix_server(conn, path=str(path))
        runner = asyncio.create_task(app.run())
        await await_until(lambda: any(isinstance(m, Hello) for m in received), 10, "hello")
        red = Item(id="red", kind=ContentKind.IMAGE, uri="asset://red.png", duration_s=0.3)
        writers[-1].write(encode(Playlist("default", (red,))))
        await writers[-1].drain()
        centre = (app.display.get_width() // 2, app.display.get_height() // 2)
        await await_until(lambda: near(pixel(app.display, *centre), RED), 10, "red on screen")
        card = Item(id="card", kind=ContentKind.PRODUCT, duration_s=0.3,
                    product=Product(sku="4901234567890", name="抹茶ラテ", price=320.0))
        frames = app.player.status.frames
        writers[-1].write(encode(Show(screen="scr", item=card, priority=Priority.TRIGGER,
                                      trigger="pickup")))
        await writers[-1].drain()
        await await_until(lambda: near(pixel(app.display, 3, 3), draw.CARD, 10), 10, "card")
        assert app.player.status.frames - frames <= 3  # within a few frames of the Show
        await await_until(lambda: any(isinstance(m, Played) and m.item == "card"
                                      and m.trigger == "pickup" for m in received), 10,
                          "card's proof of play")
        ids = tuple(m.id for m in received if isinstance(m, Played))
        writers[-1].write(encode(Ack(ids=ids)))
        await writers[-1].drain()
        await await_until(lambda: app.store.pending() < len(ids) or not ids, 10, "acked")

        # the daemon goes away: the screen keeps playing, records wait in the store
        server.close()
        for w in writers:
            w.close()
        await server.wait_closed()
        path.unlink()
        await await_until(lambda: not app.client.connected, 10, "disconnected")
        await await_until(lambda: app.store.pending() >= 2, 10, "records kept")
        assert near(pixel(app.display, *centre), RED)
        waiting = {p.id for p in app.store.unacked()}
        received.clear()
        server = await asyncio.start_unix_server(conn, path=str(path))
        await await_until(lambda: waiting <= {m.id for m in received if isinstance(m, Played)},
                          10, "resent after the daemon returned")
        app.stop.set()
        await runner
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
    pygame.display.quit()
