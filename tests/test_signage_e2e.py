"""End to end on one machine: the daemon's channel server and trigger rules (ChannelRig, a
real event log) and the real player loop (offscreen) on the real socket. A pick at a shelf
puts the product's card on the nearest screen; its proof of play lands in the event log as
omo.signage.item.played."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import pygame
import pytest

from edge.backoff import Backoff
from edge.eventlog import open_readonly
from edge.signage_link.rig import ChannelRig
from edge.sync.commands import Command, CommandRejected
from signage import draw
from signage.app import PlayerApp, RunOptions
from tests.core_fixtures import minimal_config
from tests.signage_fixtures import near, pixel
from tests.waiting import await_until

ZONES = [{"id": "drinks", "kind": "shelf", "area": [0, 0, 4, 4]}]
SCREENS = [{"id": "screen-a", "zone": "drinks", "width": 320, "height": 180,
            "fullscreen": False}]
SHELVES = [{"id": "shelf-1", "port": "/dev/null", "zone": "drinks", "plates": [
    {"id": "p1", "sku": "4901234567890", "name": "お茶 500ml", "unit_grams": 520,
     "price": 150}]}]
RULE = {"id": "pick-card", "event": "omo.shelf.item.picked", "duration_s": 1,
        "cooldown_s": 30}


def test_a_pick_reaches_the_real_player_and_its_proof_of_play_the_log(tmp_path: Path) -> None:
    cfg = minimal_config(tmp_path, zones=ZONES, screens=SCREENS, shelves=SHELVES,
                         signage_channel={"triggers": [RULE]})

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            app = PlayerApp(cfg, cfg.screens[0], RunOptions(driver="offscreen", fps=60))
            app.client.backoff = Backoff(initial_s=0.02, max_s=0.1)
            runner = asyncio.create_task(app.run())
            await await_until(lambda: app.client.connected, 10, "the player connected")
            await rig.emitter.emit("omo.shelf.item.picked", {
                "shelf": "shelf-1", "plate": "p1", "sku": "4901234567890", "quantity": 1})
            await await_until(lambda: near(pixel(app.display, 3, 3), draw.CARD, 10), 10,
                              "the card on the panel")
            await await_until(lambda: app.store.pending() == 0
                              and app.player.status.played >= 1, 10, "played and acked")
            app.stop.set()
            await runner

    asyncio.run(asyncio.wait_for(scenario(), 60))
    with open_readonly(cfg.storage.path) as log:
        played = [s.event for s in log.query(types=["omo.signage.item.played"])]
    assert any(e.data.get("trigger") == "pick-card" and e.data.get("screen") == "screen-a"
               for e in played), [e.data for e in played]


def test_a_screenshot_command_returns_the_panel_and_a_skip_becomes_an_event(
        tmp_path: Path) -> None:
    """signage.screenshot: the daemon asks the real player over the channel for a PNG of its
    panel (here the splash, then a product card); a Show of a missing asset is skipped by
    the player and lands in the log as omo.signage.item.skipped with its reason code."""
    cfg = minimal_config(tmp_path, zones=ZONES, screens=SCREENS, shelves=SHELVES,
                         signage_channel={"triggers": [RULE]})
    result: dict[str, Any] = {}

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            app = PlayerApp(cfg, cfg.screens[0], RunOptions(driver="offscreen", fps=60))
            app.client.backoff = Backoff(initial_s=0.02, max_s=0.1)
            runner = asyncio.create_task(app.run())
            await await_until(lambda: app.client.connected, 10, "the player connected")
            await await_until(lambda: rig.server.connections and all(
                c.hello for c in rig.server.connections), 10, "hello")
            shot = await rig.handlers.signage_screenshot(Command(
                name="signage.screenshot", id="s1", received_at=rig.clock.now(),
                args={"screen": "screen-a", "width": 160}))
            result["splash"] = shot
            await rig.handlers.signage_show(Command(
                name="signage.show", id="c1", received_at=rig.clock.now(),
                args={"screen": "screen-a", "content": {"kind": "image",
                                                        "uri": "asset://gone.png"}}))
            await await_until(lambda: events(cfg, "omo.signage.item.skipped"), 10,
                              "the skip recorded")
            await rig.emitter.emit("omo.shelf.item.picked", {
                "shelf": "shelf-1", "plate": "p1", "sku": "4901234567890", "quantity": 1})
            await await_until(lambda: near(pixel(app.display, 3, 3), draw.CARD, 10), 10,
                              "the card on the panel")
            result["card"] = await rig.handlers.signage_screenshot(Command(
                name="signage.screenshot", id="s2", received_at=rig.clock.now(),
                args={"screen": "screen-a"}))
            app.stop.set()
            await runner
            await await_until(lambda: not rig.server.connections, 10, "the player gone")
            with pytest.raises(CommandRejected, match="no player"):
                await rig.handlers.signage_screenshot(Command(
                    name="signage.screenshot", id="s3", received_at=rig.clock.now(),
                    args={"screen": "screen-a"}))

    asyncio.run(asyncio.wait_for(scenario(), 60))
    splash = png_surface(result["splash"]["png_base64"])
    assert splash.get_size() == (160, 90) == (result["splash"]["width"],
                                              result["splash"]["height"])
    assert near(pixel(splash, 2, 2), draw.SPLASH, 12)
    card = png_surface(result["card"]["png_base64"])
    assert card.get_size() == (320, 180)
    assert near(pixel(card, 3, 3), draw.CARD, 12)
    [skip] = events(cfg, "omo.signage.item.skipped")
    assert skip.data["screen"] == "screen-a" and skip.data["reason"] == "missing"
    assert set(skip.data) <= {"screen", "item", "reason", "trigger"}  # codes, no content


def png_surface(b64: str) -> pygame.Surface:
    return pygame.image.load(io.BytesIO(base64.b64decode(b64)), "shot.png")


def events(cfg: Any, event_type: str) -> list[Any]:
    with open_readonly(cfg.storage.path) as log:
        return [s.event for s in log.query(types=[event_type])]
