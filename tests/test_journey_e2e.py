"""The OMO journey end to end on one machine: the real daemon (sync to a real Mosquitto on a
free port, the signage channel server, the journey processor) and the real player loop
(offscreen pygame) on the daemon's socket.

The cloud pushes an opted-in customer's interest list as the `journey.interests` command over
MQTT; the shopper's visit comes as the presence processor reports it (arrival with the
customer id, zone changes), a pick at the shelf as the shelf processor reports it. The
screen in the product's zone shows the product card (pixels), the offer reaches the cloud's
subscriber, and the journey summary follows at the visit's end. Then a restart: the list is
kept, the next visit is within the cooldown, and no offer is made."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.backoff import Backoff
from edge.config import Config, parse
from edge.daemon import Daemon
from edge.events import format_time
from edge.mosquitto import Mosquitto
from edge.runtime import Health
from signage import draw
from signage.app import PlayerApp, RunOptions
from tests.signage_fixtures import near, pixel
from tests.sync_fixtures import BASE, Collector, running_daemon, sync_raw
from tests.waiting import await_until

TEA = "4901234567890"
CUSTOMER = "m2f"
ALICE, ALICE_AGAIN = "a1" * 8, "a2" * 8
OFFER = "omo.journey.offer.triggered"
COMPLETED = "omo.journey.completed"


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as m:
        yield m


def journey_config(tmp: Path, port: int) -> Config:
    raw: dict[str, Any] = sync_raw(tmp, port)
    raw.update(
        zones=[{"id": "entrance", "kind": "entrance", "area": [0, 0, 2, 2]},
               {"id": "drinks", "kind": "shelf", "area": [4, 0, 6, 2]}],
        shelves=[{"id": "shelf-1", "port": str(tmp / "no-such-port"), "zone": "drinks",
                  "plates": [{"id": "p1", "sku": TEA, "name": "お茶 500ml",
                              "unit_grams": 520, "price": 150}]}],
        screens=[{"id": "screen-drinks", "zone": "drinks", "width": 320, "height": 180,
                  "fullscreen": False}],
        journey={"attribution_wait_s": 1.0, "show_s": 30.0,
                 "attribution_needs_receipt": False})
    return parse(raw, env={})


def on_topic(col: Collector, event_type: str) -> list[dict[str, Any]]:
    return [e["data"] for e in col.json_on(f"{BASE}/events/{event_type}")]


async def walk(daemon: Daemon, visitor: str, to: str) -> float:
    """An opted-in shopper arrives at the entrance and walks to `to`, as presence says
    (dated back, as it dates them); returns the time they are said to be there since + 20."""
    emit, now = daemon.emitter.emit, time.time()
    await emit("omo.presence.visit.started", {"visitor": visitor, "opted_in": True,
                                              "zone": "entrance"}, at=now - 30)
    await emit("omo.presence.app_user.arrived", {"visitor": visitor, "customer": CUSTOMER,
                                                 "zone": "entrance"}, at=now - 30)
    await emit("omo.presence.zone.entered", {"visitor": visitor, "zone": "entrance"},
               at=now - 30)
    await emit("omo.presence.zone.exited", {"visitor": visitor, "zone": "entrance",
                                            "dwell_s": 10.0}, at=now - 20)
    await emit("omo.presence.zone.entered", {"visitor": visitor, "zone": to}, at=now - 20)
    return now


async def leave(daemon: Daemon, visitor: str, zone: str) -> None:
    now = time.time()
    await daemon.emitter.emit("omo.presence.zone.exited",
                              {"visitor": visitor, "zone": zone, "dwell_s": 10.0}, at=now)
    await daemon.emitter.emit("omo.presence.visit.ended",
                              {"visitor": visitor, "opted_in": True, "duration_s": 30.0}, at=now)


def test_an_opted_in_shopper_at_the_shelf_gets_the_card_the_coupon_and_a_summary(
        tmp_path: Path, broker: Mosquitto) -> None:
    cfg = journey_config(tmp_path, broker.port)
    col = Collector(broker.port, [f"{BASE}/events/{OFFER}", f"{BASE}/events/{COMPLETED}",
                                  f"{BASE}/cmd/+/result"],
                    client_id="journey-cloud")
    result_topic = f"{BASE}/cmd/journey.interests/result"

    async def push_interests() -> dict[str, Any]:
        expires = format_time(time.time() + 86400)
        await asyncio.to_thread(col.publish, f"{BASE}/cmd/journey.interests", json.dumps(
            {"id": "j-1", "args": {"customer": CUSTOMER,
                                   "products": [{"sku": TEA, "expires": expires}]}}))
        await await_until(lambda: col.json_on(result_topic), 15, "the command's answer")
        answer: dict[str, Any] = col.json_on(result_topic)[0]
        return answer

    async def first_visit() -> None:
        async with running_daemon(cfg) as daemon:
            sync = daemon.supervisor.states["sync"]
            await await_until(lambda: sync.health == Health.OK, 15, "connected")
            answer = await push_interests()
            assert answer["outcome"] == "ok", answer
            assert answer["result"]["products"] == 1
            app = PlayerApp(cfg, cfg.screens[0], RunOptions(driver="offscreen", fps=60))
            app.client.backoff = Backoff(initial_s=0.02, max_s=0.1)
            runner = asyncio.create_task(app.run())
            try:
                await await_until(lambda: app.client.connected, 10, "the player connected")
                assert not near(pixel(app.display, 3, 3), draw.CARD, 10)
                walked = await walk(daemon, ALICE, "drinks")
                await await_until(lambda: near(pixel(app.display, 3, 3), draw.CARD, 10), 15,
                                  "the product card on the screen")
                await asyncio.to_thread(col.wait_for, lambda: on_topic(col, OFFER), 15,
                                        "the offer at the cloud")
                await daemon.emitter.emit("omo.shelf.item.picked", {
                    "shelf": "shelf-1", "plate": "p1", "sku": TEA, "quantity": 1,
                    "zone": "drinks"}, at=walked - 10)  # 10 s after reaching the shelf
                await leave(daemon, ALICE, "drinks")
                await asyncio.to_thread(col.wait_for, lambda: on_topic(col, COMPLETED), 20,
                                        "the journey summary at the cloud")
            finally:
                app.stop.set()
                await runner
            shown = [s.event.data for s in daemon.event_log.query(
                types=["omo.signage.trigger.fired"])]
            assert [(d["screen"], d["item"], d["product"]["name"]) for d in shown] == [
                ("screen-drinks", f"product:{TEA}", "お茶 500ml")]
            assert CUSTOMER not in json.dumps(shown) and ALICE not in json.dumps(shown)

    async def second_visit() -> None:
        async with running_daemon(cfg) as daemon:  # restarted: the list is kept
            sync = daemon.supervisor.states["sync"]
            await await_until(lambda: sync.health == Health.OK, 15, "connected again")
            host = daemon.supervisor.states["processor:journey"]
            await await_until(lambda: host.counters.get("journey.customers") == 1, 10,
                              "the kept list loaded")
            await walk(daemon, ALICE_AGAIN, "drinks")
            await leave(daemon, ALICE_AGAIN, "drinks")
            await asyncio.to_thread(col.wait_for, lambda: len(on_topic(col, COMPLETED)) == 2,
                                    20, "the second summary")

    try:
        asyncio.run(asyncio.wait_for(first_visit(), 90))
        [offer] = on_topic(col, OFFER)
        assert offer == {"customer": CUSTOMER, "visitor": ALICE, "sku": TEA,
                         "zone": "drinks", "screen": "screen-drinks"}
        [done] = on_topic(col, COMPLETED)
        assert done["customer"] == CUSTOMER and done["visitor"] == ALICE
        assert done["zones"] == ["entrance", "drinks"]
        assert done["picked"] == [TEA] and done["offers"] == [TEA]
        assert done["duration_s"] == 30.0
        asyncio.run(asyncio.wait_for(second_visit(), 60))
        again = on_topic(col, COMPLETED)[1]
        assert again["visitor"] == ALICE_AGAIN and again["offers"] == []
        assert len(on_topic(col, OFFER)) == 1  # the cooldown held: it is in the log
    finally:
        col.close()
