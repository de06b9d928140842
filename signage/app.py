"""The player process for one screen: the frame loop and the channel client in one asyncio
loop. One process drives one screen (`omo-edge signage --screen ID`): a crash or a hung
display driver takes one screen down, not all, and systemd restarts it.

Files under ``<state_dir>/signage/``: ``player.sock`` (the daemon's channel), ``cache/``
(assets), ``player-<screen>.db`` (proof of play until acked, last playlists) and
``player-<screen>.json`` (status, rewritten every few seconds).

sd_notify: READY=1 after the first frame is on screen; WATCHDOG=1 only while frames are
actually drawn (a loop stuck in a driver stops the pings and systemd restarts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pygame

from edge import sdnotify
from edge.backoff import Backoff
from edge.config import Config
from edge.config.model import Screen
from edge.files import write_json_atomic
from signage.cache import AssetCache, AssetError
from signage.capture import screenshot
from signage.channel import ChannelClient
from signage.layout import logical_size, present
from signage.player import ScreenPlayer
from signage.power import ScreenPower
from signage.protocol import (
    SOCKET_NAME,
    Capture,
    Hello,
    Item,
    Message,
    Playlist,
    Show,
    Skipped,
)
from signage.sdl import open_display
from signage.store import PlayerStore

log = logging.getLogger("omo.signage")
STATUS_EVERY_S = 5.0
FETCH_RETRY = Backoff(initial_s=2.0, max_s=300.0)  # an asset fetch that failed is retried
FETCH_ATTEMPTS = 12  # then given up until a message names the asset again
IDLE_PRESENT_S = 1.0  # a still screen is presented again at least this often (watchdog)


def signage_dir(config: Config) -> Path:
    return config.storage.state_dir / "signage"


def socket_path(config: Config) -> Path:
    return signage_dir(config) / SOCKET_NAME


@dataclass
class RunOptions:
    driver: str | None = None
    frames: int | None = None  # stop after this many frames (headless demos, tests)
    screenshot: Path | None = None  # write the last frame as PNG on exit
    clock: Callable[[], float] = time.time
    on_frame: Callable[[], None] | None = None  # after each frame is on screen (bench)
    fps: int | None = None  # overrides the screen's frame rate cap
    frame_log: TextIO | None = None
    """Per change of what is shown, a line: CLOCK_MONOTONIC ns when its first frame was
    flipped, ns when that frame was drawn (its flip began), the item id."""


class Watchdog:
    """Pets systemd's watchdog only when frames were drawn since the last pet."""

    def __init__(self, interval_s: float | None) -> None:
        self.interval_s = interval_s
        self.last = time.monotonic()
        self.frames_since = 0

    def frame_drawn(self) -> None:
        self.frames_since += 1

    def check(self) -> None:
        """Called on every turn of the frame loop: pets if frames were drawn lately."""
        now = time.monotonic()
        if self.interval_s is not None and now - self.last >= self.interval_s:
            if self.frames_since:
                sdnotify.notify("WATCHDOG=1")
            self.frames_since = 0
            self.last = now


class PlayerApp:
    def __init__(self, config: Config, screen: Screen, options: RunOptions) -> None:
        self.config = config
        self.screen = screen
        self.options = options
        root = signage_dir(config)
        self.cache = AssetCache(root / "cache")
        self.store = PlayerStore(root / f"player-{screen.id}.db")
        self.display = open_display(screen.width, screen.height, fullscreen=screen.fullscreen,
                                    driver=options.driver)
        size = logical_size(screen.width, screen.height, screen.rotation)
        self.player = ScreenPlayer(screen, size=size, cache=self.cache, store=self.store,
                                   tz=zoneinfo.ZoneInfo(config.timezone),
                                   on_played=self._played, on_skipped=self._skipped)
        if screen.rotation == 0:
            self.player.canvas = self.display  # draw straight onto the panel
        self.client = ChannelClient(socket_path(config),
                                    Hello(player=f"{config.device}/{screen.id}",
                                          screens=(screen.id,)),
                                    self.store, self._message)
        self.power = ScreenPower()
        self.fetch_failures = 0
        self._fetching: set[str] = set()
        self._fetch_tasks: set[asyncio.Task[None]] = set()
        self.fetch_retry = FETCH_RETRY
        self._rng = random.Random()
        self.stop = asyncio.Event()
        self.wake = asyncio.Event()  # a message arrived: draw the next frame now

    def _played(self, played: object) -> None:
        from signage.protocol import Played
        if isinstance(played, Played):
            self.client.send_played(played)

    def _skipped(self, skipped: Skipped) -> None:
        self.client.send(skipped)

    def _capture(self, capture: Capture) -> None:
        """Answer a Capture with what the panel shows now (the last frame flipped: messages
        are handled between frames), scaled down and PNG-encoded."""
        self.client.send(screenshot(self.display, capture))

    def _message(self, message: Message) -> None:
        if isinstance(message, Capture):
            if message.screen == self.screen.id:
                self._capture(message)
            return
        self.player.apply(message, self.options.clock())
        self.wake.set()
        items: tuple[Item, ...] = ()
        if isinstance(message, Playlist):
            items = message.items
        elif isinstance(message, Show) and message.screen == self.screen.id:
            items = (message.item,)
        for item in items:
            uris = [(item.uri, item.sha256)]
            if item.product and item.product.image:
                uris.append((item.product.image, None))
            for uri, sha in uris:
                if uri and uri.startswith(("http://", "https://")) and sha:
                    self._fetch(uri, sha)

    def _fetch(self, url: str, sha256: str) -> None:
        """Fetch a URL's asset in the background, retried with back-off (FETCH_RETRY, at most
        FETCH_ATTEMPTS times); until it lands the item is skipped as missing."""
        try:
            self.cache.resolve(url, sha256)
            return
        except AssetError:
            pass
        if url in self._fetching:
            return
        self._fetching.add(url)

        async def go() -> None:
            loop = asyncio.get_running_loop()
            try:
                for attempt in range(1, FETCH_ATTEMPTS + 1):
                    try:
                        await loop.run_in_executor(None, self.cache.fetch, url, sha256)
                        return
                    except AssetError as exc:
                        self.fetch_failures += 1
                        log.warning("signage: fetching an asset failed (attempt %d of %d): %s",
                                    attempt, FETCH_ATTEMPTS, exc.problem)
                    if attempt < FETCH_ATTEMPTS:
                        await asyncio.sleep(self.fetch_retry.delay(attempt, self._rng))
            finally:
                self._fetching.discard(url)

        task = asyncio.get_running_loop().create_task(go())
        self._fetch_tasks.add(task)
        task.add_done_callback(self._fetch_tasks.discard)

    def status(self) -> dict[str, object]:
        return {"screen": self.screen.id, "time": self.options.clock(),
                "connected": self.client.connected, "pending_played": self.store.pending(),
                "fetch_failures": self.fetch_failures, **self.player.status.as_dict(),
                "channel": self.client.stats.as_dict()}

    def _write_status(self) -> None:
        with contextlib.suppress(OSError):
            write_json_atomic(signage_dir(self.config) / f"player-{self.screen.id}.json",
                              self.status(), fsync=False)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop.set)
        client = loop.create_task(self.client.run())
        watchdog = Watchdog(sdnotify.watchdog_interval_s())
        period = 1.0 / (self.options.fps or self.screen.fps)
        next_status = 0.0
        frames = presented = 0
        presented_at = -IDLE_PRESENT_S
        logged: object = ()
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                canvas = self.player.tick(self.options.clock())
                self.power.set(self.player.is_on)
                # Only a frame that differs is presented (a still stays on the panel), and
                # a still one again every IDLE_PRESENT_S: the loop is idle between changes,
                # so a message is drawn at once instead of after a flip in progress.
                frames += 1
                if (self.player.changed or presented == 0
                        or started - presented_at >= IDLE_PRESENT_S):
                    drawn_ns = time.monotonic_ns()
                    present(canvas, self.display, self.screen.rotation)
                    pygame.display.flip()
                    presented_at = started
                    presented += 1
                    if self.options.frame_log is not None and (
                            self.player.status.current != logged):
                        logged = self.player.status.current
                        self.options.frame_log.write(
                            f"{time.monotonic_ns()} {drawn_ns} {logged}\n")
                        self.options.frame_log.flush()
                    if self.options.on_frame is not None:
                        self.options.on_frame()
                    watchdog.frame_drawn()
                    if presented == 1:
                        sdnotify.notify("READY=1")
                watchdog.check()
                self.player.prepare_ahead()  # the next item, now that this frame is shown
                if any(e.type == pygame.QUIT for e in pygame.event.get()):
                    break
                if started >= next_status:
                    self._write_status()
                    next_status = started + STATUS_EVERY_S
                if self.options.frames is not None and frames >= self.options.frames:
                    break
                self.wake.clear()
                await asyncio.sleep(0)  # let the channel read what is waiting
                if not self.wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), max(
                            0.0, period - (time.monotonic() - started)))
        finally:
            sdnotify.notify("STOPPING=1")
            client.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client
            self.player.close(self.options.clock())
            self._write_status()
            if self.options.screenshot is not None:
                pygame.image.save(self.display, str(self.options.screenshot))
            self.store.close()
        return 0
