"""The store's screens in the simulator: the real signage player on the simulated clock.

Each configured screen gets the player `omo-edge signage` runs (`signage.player.ScreenPlayer`,
drawing offscreen into a small canvas) and its channel client (`signage.channel`), connected
to the daemon's own channel socket like a player process in a store. The simulated cloud
pushes the default playlist (promotion posters, written into the player's asset cache) with
the `signage.playlist` command; journey offers and other triggers reach the screens as the
daemon's `Show` messages. Each simulator tick advances every player to the simulated time, so
proof of play (`omo.signage.item.played`) carries simulated times: the vision processor joins
the audience with the item on screen, and the report charts the audience per content item.

Played ids are derived from the seed, the screen and a counter, so a seed's events are the
same on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.config import Config
from edge.config.model import Screen
from signage.cache import AssetCache
from signage.channel import ChannelClient
from signage.protocol import SOCKET_NAME, Hello, Message, Played
from signage.store import PlayerStore

log = logging.getLogger(__name__)

CANVAS = (320, 180)  # the players draw offscreen at this size: enough for the pixels, cheap
CONNECT_TIMEOUT_S = 10.0
ACK_TIMEOUT_S = 10.0
PLAYLIST = "default"
IDLE_TICK_S = 1.0  # a player with nothing due is still advanced this often (simulated s)


@dataclass(frozen=True)
class Poster:
    """A promotion poster in the default playlist: an image asset drawn at start."""

    name: str
    colour: tuple[int, int, int]  # BGR
    duration_s: float


POSTERS = (
    Poster("promo-seasonal-sale.png", (40, 70, 200), 12.0),
    Poster("promo-bento-lunch.png", (60, 160, 60), 10.0),
    Poster("promo-app-coupon.png", (170, 110, 30), 8.0),
)


def playlist_args(screens: list[str]) -> dict[str, Any]:
    """The `signage.playlist` command the simulated cloud sends: every poster, in turn."""
    return {"playlist": PLAYLIST, "screens": screens,
            "items": [{"kind": "image", "uri": f"asset://{p.name}", "duration_s": p.duration_s}
                      for p in POSTERS]}


def write_posters(cache_dir: Path) -> None:
    """Draw each poster (a coloured panel with a light band) into the asset cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    for p in POSTERS:
        image = np.zeros((270, 480, 3), np.uint8)
        image[:] = p.colour
        image[100:170, 40:440] = (235, 235, 235)
        cv2.imwrite(str(cache_dir / p.name), image)


class SimScreen:
    """One screen: the real player and its channel client, advanced by the simulator."""

    def __init__(self, config: Config, screen: Screen, seed: int) -> None:
        from signage.player import ScreenPlayer  # pygame: only when screens run

        root = config.storage.state_dir / "signage"
        self.screen = screen
        self.store = PlayerStore(root / f"player-{screen.id}.db")
        self._n = 0
        self._prefix = f"sim{seed}-{screen.id}"
        self.player = ScreenPlayer(screen, size=CANVAS, cache=AssetCache(root / "cache"),
                                   store=self.store, tz=zoneinfo.ZoneInfo(config.timezone),
                                   on_played=self._played, new_id=self._new_id)
        self.client = ChannelClient(root / SOCKET_NAME,
                                    Hello(player=f"sim/{screen.id}", screens=(screen.id,)),
                                    self.store, self._message)
        self.now = 0.0
        self.last_tick = float("-inf")
        self.woken = False
        self.task: asyncio.Task[None] | None = None

    def _new_id(self) -> str:
        self._n += 1
        return f"{self._prefix}-{self._n}"

    def _played(self, played: Played) -> None:
        self.client.send_played(played)

    def _message(self, message: Message) -> None:
        self.player.apply(message, self.now)
        self.woken = True

    def tick(self, now: float) -> None:
        """Advance the player to `now` when something can change: the item on screen ends,
        a message arrived, or `IDLE_TICK_S` passed (the screen's on/off hours). A still
        frame needs no redraw, so the other simulator ticks cost nothing."""
        self.now = now
        cur = self.player.current
        if not (self.woken or cur is None or now >= cur.ends
                or now >= self.last_tick + IDLE_TICK_S):
            return
        self.woken = False
        self.last_tick = now
        self.player.tick(now)
        self.player.prepare_ahead()


class SimScreens:
    """Every configured screen, played on the simulated clock (see the module's doc)."""

    def __init__(self, config: Config, seed: int) -> None:
        import pygame
        import pygame.freetype

        if not pygame.display.get_init():  # the store view initialises it (or "dummy")
            pygame.display.init()
        pygame.freetype.init()
        write_posters(config.storage.state_dir / "signage" / "cache")
        self.screens = [SimScreen(config, s, seed) for s in config.screens]

    async def start(self, now: float) -> None:
        """Connect every player to the daemon's channel (bounded wait)."""
        for s in self.screens:
            s.now = now
            s.task = asyncio.create_task(s.client.run())
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not all(s.client.connected for s in self.screens):
            if time.monotonic() > deadline:
                raise RuntimeError("the simulated screens could not connect to the daemon's "
                                   "signage channel")
            await asyncio.sleep(0.01)

    def tick(self, now: float) -> None:
        for s in self.screens:
            s.tick(now)

    async def close(self, now: float) -> int:
        """End what is on screen (its proof of play is sent), wait (bounded) until the
        daemon has acknowledged every record, stop the clients; the records left unacked."""
        for s in self.screens:
            s.now = now
            s.player.close(now)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while any(s.store.pending() for s in self.screens) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        left = sum(s.store.pending() for s in self.screens)
        for s in self.screens:
            if s.task is not None:
                s.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await s.task
            s.store.close()
        if left:
            log.warning("sim: %d proof-of-play records were not acknowledged", left)
        return left

    def counters(self) -> dict[str, dict[str, int]]:
        return {s.screen.id: {"played": s.player.status.played,
                              "skipped": sum(s.player.status.skipped.values()),
                              "connects": s.client.stats.connects,
                              "acked": s.client.stats.acked}
                for s in self.screens}
