"""The daemon's side of the signage channel: a real Unix socket, real players (test
clients speaking signage.protocol), the real event log."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from edge.clock import ManualClock
from edge.config import Config, ConfigError
from edge.eventlog import open_readonly
from edge.events import Event
from edge.processing.processor import Output
from edge.signage_link.played import event_id
from edge.signage_link.rig import ChannelRig
from edge.signage_link.server import socket_path
from edge.signage_link.triggers import ProductInfo, ScreenFinder, TriggerProcessor
from edge.sync.commands import Command
from signage.protocol import (
    MAX_LINE,
    Ack,
    ContentKind,
    Item,
    Message,
    Orders,
    Played,
    Playlist,
    Priority,
    Show,
    encode,
)
from tests.core_fixtures import BOOT, SOURCE, minimal_config
from tests.signage_player import FakePlayer
from tests.waiting import await_until

ZONES = [
    {"id": "snacks", "kind": "shelf", "area": [0, 0, 4, 4]},
    {"id": "drinks", "kind": "shelf", "area": [10, 0, 14, 4]},
    {"id": "pickup", "kind": "pickup", "area": [30, 0, 34, 4]},
    {"id": "back", "kind": "other"},
]
SCREENS = [{"id": "screen-a", "zone": "snacks"}, {"id": "screen-b", "zone": "pickup"}]
SHELVES = [{"id": "shelf-1", "port": "/dev/null", "zone": "drinks", "plates": [
    {"id": "p1", "sku": "4901234567890", "name": "お茶 500ml", "unit_grams": 520,
     "price": 150},
    {"id": "p2", "sku": "4901234567891", "unit_grams": 85}]}]
RULE = {"id": "pick-card", "event": "omo.shelf.item.picked", "duration_s": 8,
        "cooldown_s": 30}


def config(tmp: Path, **channel: Any) -> Config:
    return minimal_config(tmp, zones=ZONES, screens=SCREENS, shelves=SHELVES,
                          signage_channel={"triggers": [RULE], **channel})


def command(name: str, args: dict[str, Any], at: float) -> Command:
    return Command(name=name, id=f"cmd-{name}", args=args, received_at=at)


def is_show(screen: str) -> Any:
    return lambda m: isinstance(m, Show) and m.screen == screen


def events(cfg: Config, event_type: str) -> list[Event]:
    with open_readonly(cfg.storage.path) as log:
        return [s.event for s in log.query(types=[event_type])]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


# ------------------------------------------------------------------ commands on the channel
def test_player_gets_the_current_state_then_changes(tmp_path: Path) -> None:
    cfg = config(tmp_path)

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            now = rig.clock.now()
            await rig.handlers.signage_show(command("signage.show", {
                "screen": "screen-a", "recommendation": {
                    "sku": "4901234567890", "title": "緑茶", "price": 150,
                    "reason": "popular today"}}, now))
            await rig.handlers.signage_show(command("signage.show", {
                "screen": "screen-b", "content": {"kind": "text", "text": "hello"}}, now))
            player = await FakePlayer.connect(rig.server.path, screens=("screen-a",))
            show = await player.expect(is_show("screen-a"), what="the live show")
            assert isinstance(show, Show) and show.priority is Priority.CLOUD
            assert show.trigger == "cloud" and show.item.kind is ContentKind.PRODUCT
            assert show.item.product is not None and show.item.product.name == "緑茶"
            assert show.until == pytest.approx(now + cfg.signage_channel.show_s)
            # a change after the connection is pushed
            await rig.handlers.signage_playlist(command("signage.playlist", {
                "playlist": "default", "items": [
                    {"kind": "image", "uri": "asset://a.png", "duration_s": 5},
                    {"kind": "text", "text": "セール"}]}, now))
            playlist = await player.expect(lambda m: isinstance(m, Playlist))
            assert isinstance(playlist, Playlist) and [i.kind for i in playlist.items] == [
                ContentKind.IMAGE, ContentKind.TEXT]
            await rig.handlers.order_ready(command("order.ready", {"orders": ["A12", "B7"]},
                                                   now))
            orders = await player.expect(lambda m: isinstance(m, Orders))
            assert isinstance(orders, Orders) and orders.orders == ("A12", "B7")
            assert orders.expires == pytest.approx(now + 600)
            # screen-b's show went to nobody here (this player shows screen-a only)
            assert not any(is_show("screen-b")(m) for m in player.received)
            await player.close()

    run(scenario())


def test_a_restarted_daemon_still_knows_what_to_show(tmp_path: Path) -> None:
    cfg = config(tmp_path)

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            now = rig.clock.now()
            await rig.handlers.signage_show(command("signage.show", {
                "screen": "screen-a", "content": {"kind": "image", "uri": "asset://x.png",
                                                  "duration_s": 600}}, now))
            await rig.handlers.order_ready(command("order.ready", {"orders": ["C3"]}, now))
        async with ChannelRig(cfg) as rig:  # a new daemon, state from disk
            player = await FakePlayer.connect(rig.server.path)
            show = await player.expect(is_show("screen-a"))
            assert isinstance(show, Show) and show.item.uri == "asset://x.png"
            orders = await player.expect(lambda m: isinstance(m, Orders))
            assert isinstance(orders, Orders) and orders.orders == ("C3",)
            await player.close()

    run(scenario())


def test_orders_leave_the_board_after_their_minutes(tmp_path: Path) -> None:
    cfg = config(tmp_path, order_minutes=1)
    clock = ManualClock()

    async def scenario() -> None:
        async with ChannelRig(cfg, clock) as rig:
            player = await FakePlayer.connect(rig.server.path)
            await rig.handlers.order_ready(command("order.ready", {"orders": ["A1"]},
                                                   clock.now()))
            clock.advance(30)
            await rig.handlers.order_ready(command("order.ready", {
                "orders": ["A2"], "mode": "add"}, clock.now()))
            both = await player.expect(lambda m: isinstance(m, Orders) and len(m.orders) == 2)
            assert isinstance(both, Orders) and both.orders == ("A1", "A2")
            clock.advance(31)  # A1's minute is over, A2 has 29 s left
            left = await player.expect(lambda m: isinstance(m, Orders) and len(m.orders) == 1)
            assert isinstance(left, Orders) and left.orders == ("A2",)
            clock.advance(30)
            empty = await player.expect(lambda m: isinstance(m, Orders) and not m.orders)
            assert isinstance(empty, Orders)
            await player.close()

    run(scenario())


# ------------------------------------------------------------------------ proof of play
def test_proof_of_play_is_recorded_once_across_a_reconnect_and_a_restart(
        tmp_path: Path) -> None:
    cfg = config(tmp_path)
    played = Played(id="player-1:42", screen="screen-a", item="asset://a.png",
                    started=1_767_225_600.0, ended=1_767_225_608.5, trigger="pick-card")

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            player = await FakePlayer.connect(rig.server.path)
            await player.send(played)
            await player.close()  # gone before the Ack
            await await_until(lambda: len(events(cfg, "omo.signage.item.played")) == 1,
                              what="the played event")
            again = await FakePlayer.connect(rig.server.path)
            await again.send(played)
            ack = await again.expect(lambda m: isinstance(m, Ack))
            assert isinstance(ack, Ack) and ack.ids == (played.id,)
            await again.close()
            assert rig.server._ctx is not None
            assert rig.server._ctx.state.counters["played.duplicate"] == 1
        async with ChannelRig(cfg) as rig:  # a restarted daemon finds it in the log
            player = await FakePlayer.connect(rig.server.path)
            await player.send(played)
            ack = await player.expect(lambda m: isinstance(m, Ack))
            assert isinstance(ack, Ack) and ack.ids == (played.id,)
            await player.close()

    run(scenario())
    [event] = events(cfg, "omo.signage.item.played")
    assert event.id == event_id(played.id, played.started)
    assert event.data == {"screen": "screen-a", "item": "asset://a.png", "duration_s": 8.5,
                          "start": "2026-01-01T00:00:00.000Z",
                          "end": "2026-01-01T00:00:08.500Z", "trigger": "pick-card"}


def test_a_backlog_after_an_outage_is_recorded_whole_and_once(tmp_path: Path) -> None:
    cfg = config(tmp_path, queue=1000)
    records = [Played(id=f"p1:{i}", screen="screen-a", item=f"asset://{i % 7}.png",
                      started=1.8e9 + i * 10, ended=1.8e9 + i * 10 + 8) for i in range(300)]

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            player = await FakePlayer.connect(rig.server.path)
            await player.send_raw(b"".join(encode(r) for r in records + records[:50]))
            acked: set[str] = set()
            while len(acked) < len(records):
                ack = await player.expect(lambda m: isinstance(m, Ack))
                assert isinstance(ack, Ack)
                acked.update(ack.ids)
            await player.close()

    run(scenario())
    stored = events(cfg, "omo.signage.item.played")
    assert len(stored) == 300 and len({e.id for e in stored}) == 300


# --------------------------------------------------------------- bad input, dead players
def test_malformed_lines_are_skipped_and_an_oversized_line_closes_that_connection(
        tmp_path: Path) -> None:
    cfg = config(tmp_path)
    played = Played(id="p-1", screen="screen-a", item="x", started=1.0e9, ended=1.0e9 + 1)

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            player = await FakePlayer.connect(rig.server.path)
            await player.send_raw(b"not json\n" + b'{"kind":"teleport"}\n' + b"\xff\xfe\n")
            await player.send(played)  # still served after the garbage
            await player.expect(lambda m: isinstance(m, Ack))
            big = await FakePlayer.connect(rig.server.path)
            await big.send_raw(b'{"kind":"played","id":"' + b"x" * (MAX_LINE + 10) + b'"}\n')
            assert await big.closed_by_peer()
            assert rig.server._ctx is not None
            counters = rig.server._ctx.state.counters
            assert counters["malformed"] == 3 and counters["oversized"] == 1
            # the first player and new ones are fine
            await rig.handlers.signage_show(command("signage.show", {
                "screen": "screen-a", "content": {"kind": "text", "text": "ok"}},
                rig.clock.now()))
            await player.expect(is_show("screen-a"))
            await player.close()

    run(scenario())


def test_a_dead_or_slow_player_never_blocks_the_daemon(tmp_path: Path) -> None:
    cfg = config(tmp_path, queue=8)
    filler = Item(id="big", kind=ContentKind.TEXT, text="x" * 50_000)

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            stuck = await FakePlayer.connect(rig.server.path)  # never reads
            for i in range(200):  # 10 MB: far beyond what the socket buffers
                rig.server.publish(Playlist(name=f"p{i}", items=(filler,)))
                await asyncio.sleep(0)
            assert rig.server._ctx is not None
            counters = rig.server._ctx.state.counters
            rig.server._report()
            assert counters["dropped"] > 0
            # a live player is served meanwhile, and a supersede keeps only the newest
            live = await FakePlayer.connect(rig.server.path, screens=("screen-b",))
            await live.expect(lambda m: isinstance(m, Playlist) and m.name == "p199")
            for text in ("one", "two"):
                await rig.handlers.signage_show(command("signage.show", {
                    "screen": "screen-b", "content": {"kind": "text", "text": text}},
                    rig.clock.now()))
            show = await live.expect(lambda m: is_show("screen-b")(m) and m.item.text == "two")
            assert isinstance(show, Show)
            # the stuck player dies mid-stream; the daemon takes a new connection
            stuck.writer.transport.abort()
            await await_until(lambda: len(rig.server.connections) == 1, what="cleanup")
            fresh = await FakePlayer.connect(rig.server.path, screens=("screen-b",))
            again = await fresh.expect(is_show("screen-b"))
            assert isinstance(again, Show) and again.item.text == "two"
            await fresh.close()
            await live.close()

    run(scenario())


def test_the_socket_is_0660_and_a_stale_one_is_replaced(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    path = socket_path(cfg)
    path.parent.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            assert stat.S_IMODE(os.stat(rig.server.path).st_mode) == 0o660
            player = await FakePlayer.connect(rig.server.path)
            await player.send(Played(id="z", screen="screen-a", item="x", started=1e9,
                                     ended=1e9))
            await player.expect(lambda m: isinstance(m, Ack))
            await player.close()
        assert not path.exists()

    run(scenario())


# ----------------------------------------------------------------------------- triggers
def test_nearest_screen_same_zone_then_geometry_then_default() -> None:
    areas = {"snacks": (0.0, 0.0, 4.0, 4.0), "drinks": (10.0, 0.0, 14.0, 4.0),
             "pickup": (30.0, 0.0, 34.0, 4.0)}
    finder = ScreenFinder([("screen-b", "pickup"), ("screen-a", "snacks")], areas, "screen-b")
    assert finder.nearest("snacks") == "screen-a"
    assert finder.nearest("drinks") == "screen-a"  # 6 m from snacks, 16 m from pickup
    assert finder.nearest("back") == "screen-b"  # no area: the default
    assert ScreenFinder([], areas, None).nearest("drinks") is None


def test_cooldown_is_per_screen_and_product(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rule = cfg.signage_channel.triggers[0]
    proc = TriggerProcessor((rule,), ScreenFinder.from_config(cfg),
                            {"s1": ProductInfo("s1", "One", 100.0)}, {"shelf-1": "drinks"})

    def pick(sku: str, at: float) -> list[dict[str, Any]]:
        ev = Event.new("omo.shelf.item.picked", {"shelf": "shelf-1", "plate": "p1",
                                                  "sku": sku, "quantity": 1},
                       source=SOURCE, bootid=BOOT, epoch_s=at)
        out = Output(at)
        proc.on_event(ev, out)
        return [e.data for e in out]

    [first] = pick("s1", 100.0)
    assert first["screen"] == "screen-a" and first["product"] == {
        "sku": "s1", "name": "One", "price": 100.0} and first["zone"] == "drinks"
    assert pick("s1", 110.0) == []  # within 30 s, same screen and product
    assert len(pick("s2", 111.0)) == 1  # another product
    assert len(pick("s1", 130.5)) == 1
    assert proc.counters()["triggers.cooldown"] == 1


def test_a_pick_shows_the_product_card_on_the_nearest_screen(tmp_path: Path) -> None:
    cfg = config(tmp_path)

    async def scenario() -> None:
        async with ChannelRig(cfg) as rig:
            player = await FakePlayer.connect(rig.server.path, screens=("screen-a",
                                                                         "screen-b"))
            await rig.emitter.emit("omo.shelf.item.picked", {
                "shelf": "shelf-1", "plate": "p1", "sku": "4901234567890", "quantity": 1})
            show: Message = await player.expect(is_show("screen-a"), what="the card")
            assert isinstance(show, Show) and show.priority is Priority.TRIGGER
            assert show.trigger == "pick-card" and show.item.duration_s == 8
            assert show.item.product is not None
            assert (show.item.product.name, show.item.product.price) == ("お茶 500ml", 150)
            await player.close()

    run(scenario())
    [fired] = events(cfg, "omo.signage.trigger.fired")
    assert fired.data["screen"] == "screen-a" and fired.data["cause"] == "omo.shelf.item.picked"


def test_a_trigger_dated_at_its_cause_still_shows_for_its_whole_duration(
        tmp_path: Path) -> None:
    """A journey offer is dated at the zone entry, which presence confirms seconds later:
    the card must run its whole duration from when the daemon stored the trigger."""
    cfg = config(tmp_path)
    clock = ManualClock(1_767_258_000.0)

    async def scenario() -> None:
        async with ChannelRig(cfg, clock=clock) as rig:
            player = await FakePlayer.connect(rig.server.path, screens=("screen-a",))
            await rig.emitter.emit("omo.signage.trigger.fired", {
                "rule": "journey-offer", "screen": "screen-a", "item": "product:s1",
                "priority": 1, "duration_s": 15.0, "cause": "omo.journey.offer.triggered",
                "product": {"sku": "s1", "name": "One"}}, at=clock.now() - 7.0)
            show: Message = await player.expect(is_show("screen-a"), what="the card")
            assert isinstance(show, Show)
            assert show.until == pytest.approx(clock.now() + 15.0, abs=0.01)
            await player.close()

    run(scenario())


def test_trigger_screens_must_be_configured(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="screen-z"):
        config(tmp_path, triggers=[{**RULE, "screens": ["screen-z"]}])
    with pytest.raises(ConfigError, match=r"item\.grabbed"):
        config(tmp_path, triggers=[{**RULE, "event": "omo.shelf.item.grabbed"}])


# ------------------------------------------------------------------------- in the daemon
def test_the_daemon_runs_the_channel_and_its_triggers(tmp_path: Path) -> None:
    from edge.daemon import Daemon

    cfg = minimal_config(tmp_path, zones=ZONES, screens=SCREENS, signage_channel={
        "triggers": [{"id": "promo", "event": "omo.test.sample.created",
                      "content": "asset://promo.png", "screens": ["screen-a"],
                      "priority": "urgent", "cooldown_s": 0}]})

    async def scenario() -> None:
        daemon = Daemon(cfg, status_every_s=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop, handle_signals=False))
        await asyncio.wait_for(daemon.ready.wait(), 10)
        path = socket_path(cfg)
        await await_until(path.exists, what="the player socket")
        player = await FakePlayer.connect(path)
        await daemon.emitter.emit("omo.test.sample.created", {"n": 1})
        show = await player.expect(is_show("screen-a"), what="the trigger's show")
        assert isinstance(show, Show) and show.item.uri == "asset://promo.png"
        assert show.priority is Priority.URGENT and show.trigger == "promo"
        player.writer.transport.abort()  # the player dies; a new one gets the state
        again = await FakePlayer.connect(path)
        await again.expect(lambda m: is_show("screen-a")(m) and m.trigger == "promo")
        await again.close()
        health = daemon.supervisor.states["signage-channel"].health
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
        assert str(health) == "ok"

    run(scenario())


def test_the_signage_bench_reports_every_path_and_the_ceiling() -> None:
    from edge.signage_link.bench import run as bench

    result = bench(5, frames=4)
    assert set(result["paths"]) == {"pick", "pick_after_commit", "trigger",
                                    "trigger_after_commit", "command", "append_only", "raw",
                                    "raw_rtt", "frame", "frame_flip_only"}
    assert result["ceiling_p50_ms"] > 0 and result["p50_ms"] > 0
    # every pick reached a real player process, which reported the flip of its card
    e2f = result["event_to_frame"]
    assert e2f["shown"] == 5 and e2f["missed"] == 0
    assert 0 < e2f["p50_ms"] <= e2f["p99_ms"]
    assert 0 < e2f["flip_p50_ms"] <= e2f["p50_ms"]  # the flip is a part of the whole
    for name in ("still", "video"):
        row = result["frame_rates"][name]
        assert row["fps"] > 0 and row["ceiling_fps"] > 0 and row["ratio"] > 0
        assert set(row) == {"fps", "ceiling_fps", "ratio", "goal_fps", "meets_goal"}
    assert result["machine"]["cores"]
