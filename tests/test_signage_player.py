"""The player engine offscreen, checked by its pixels: playlists rotate on schedule, items
are prepared ahead and no frame between two items is black, bad content is skipped and
counted, shows interrupt and the schedule resumes, regions and rotation land where they
should."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pygame
import pytest

from signage import draw, fonts
from signage.content import Reason
from signage.layout import logical_size, present
from signage.protocol import (
    ContentKind,
    Item,
    Orders,
    Played,
    Playlist,
    Priority,
    Product,
    Show,
    Skipped,
)
from tests.signage_fixtures import (
    H,
    W,
    config,
    is_black,
    make_player,
    near,
    pixel,
    png,
    video,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
# Wednesday 2026-12-02 12:00 in Tokyo
NOON = dt.datetime(2026, 12, 2, 12, 0, tzinfo=TOKYO).timestamp()


def image(name: str, duration: float = 1.0) -> Item:
    return Item(id=name, kind=ContentKind.IMAGE, uri=f"asset://{name}.png", duration_s=duration)


def centre(surface: pygame.Surface) -> tuple[int, int, int]:
    return pixel(surface, surface.get_width() // 2, surface.get_height() // 2)


def test_playlist_rotates_on_schedule_and_no_frame_is_black(tmp_path: Path) -> None:
    for name, colour in (("red", RED), ("green", GREEN), ("blue", BLUE)):
        png(tmp_path / "cache" / f"{name}.png", colour)
    played: list[Played] = []
    player = make_player(tmp_path, on_played=played.append)
    player.apply(Playlist("default", (image("red"), image("green"), image("blue"))), NOON)
    seen = []
    for k in range(0, 70):  # 3.5 s at 20 frames/s
        frame = player.tick(NOON + k * 0.05)
        assert not is_black(frame), f"black frame at {k}"
        seen.append(centre(frame))
    assert near(seen[0], RED) and near(seen[25], GREEN) and near(seen[45], BLUE)
    assert near(seen[65], RED)  # wrapped around
    assert [p.item for p in played] == ["red", "green", "blue"]
    assert played[0].ended == pytest.approx(NOON + 1.0, abs=0.06)
    assert player.status.prepared_hits >= 3  # each next item was opened ahead of its turn
    assert player.store.pending() == 3


def test_schedule_slot_by_weekday_and_time(tmp_path: Path) -> None:
    png(tmp_path / "cache" / "red.png", RED)
    png(tmp_path / "cache" / "blue.png", BLUE)
    cfg = config(tmp_path, schedule=[{"playlist": "lunch", "days": ["wed"], "start": "11:30",
                                      "end": "13:00"}])
    player = make_player(tmp_path, cfg)
    player.apply(Playlist("default", (image("red"),)), NOON)
    player.apply(Playlist("lunch", (image("blue"),)), NOON)
    assert near(centre(player.tick(NOON)), BLUE)  # Wednesday noon: the lunch slot
    player.close(NOON)
    thursday = NOON + 86400
    assert near(centre(player.tick(thursday)), RED)  # not Thursday: the default


def test_bad_content_is_skipped_counted_and_screen_keeps_content(tmp_path: Path) -> None:
    png(tmp_path / "cache" / "red.png", RED)
    (tmp_path / "cache" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    good = video(tmp_path / "full.avi", (0, 255, 0), frames=20)
    (tmp_path / "cache" / "cut.avi").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    items = (image("red"), image("corrupt"),
             Item(id="missing", kind=ContentKind.IMAGE, uri="asset://nope.png"),
             Item(id="badsha", kind=ContentKind.IMAGE, uri="asset://red.png", sha256="0" * 64),
             Item(id="cut", kind=ContentKind.VIDEO, uri="asset://cut.avi", duration_s=2.0),
             Item(id="html", kind=ContentKind.HTML, uri="https://x"))
    player = make_player(tmp_path)
    player.apply(Playlist("default", items), NOON)
    for k in range(80):
        assert not is_black(player.tick(NOON + k * 0.05)), k
    skipped = player.status.skipped
    assert skipped["undecodable"] >= 1 and skipped["missing"] >= 1
    assert skipped["corrupt"] >= 1 and skipped["unsupported"] >= 1
    assert skipped["truncated"] + skipped["undecodable"] >= 2  # the cut video, one way or other


def test_fallback_chain_default_playlist_then_splash(tmp_path: Path) -> None:
    png(tmp_path / "cache" / "green.png", GREEN)
    cfg = config(tmp_path, schedule=[{"playlist": "promo", "start": "00:00", "end": "24:00"}])
    player = make_player(tmp_path, cfg)
    player.apply(Playlist("promo", (Item(id="gone", kind=ContentKind.IMAGE,
                                         uri="asset://gone.png"),)), NOON)
    frame = player.tick(NOON)  # nothing playable anywhere: the splash
    assert near(centre(frame), (60, 120, 200), 60) or not is_black(frame)
    assert player.status.splash_shown == 1
    player.apply(Playlist("default", (image("green"),)), NOON)
    assert near(centre(player.tick(NOON + 10.5)), GREEN)  # promo broken: the default plays


def test_show_interrupts_then_schedule_resumes(tmp_path: Path) -> None:
    png(tmp_path / "cache" / "red.png", RED)
    played: list[Played] = []
    player = make_player(tmp_path, on_played=played.append)
    player.apply(Playlist("default", (image("red", 10.0),)), NOON)
    player.tick(NOON)
    card = Item(id="card-1", kind=ContentKind.PRODUCT, duration_s=2.0,
                product=Product(sku="4901234567890", name="抹茶ラテ", price=320.0))
    player.apply(Show(screen="scr", item=card, priority=Priority.TRIGGER, trigger="pickup"),
                 NOON + 1)
    frame = player.tick(NOON + 1)
    assert near(pixel(frame, 5, 5), draw.CARD, 10)  # the card is up in the same frame
    player.apply(Show(screen="other", item=image("red"), priority=Priority.URGENT), NOON + 1.5)
    assert near(pixel(player.tick(NOON + 2), 5, 5), draw.CARD, 10)  # another screen's show
    assert near(centre(player.tick(NOON + 3.05)), RED)  # the schedule resumes
    player.prepare_ahead()  # as the frame loop does once the frame is on screen
    assert [(p.item, p.trigger) for p in played] == [("red", None), ("card-1", "pickup")]


def test_japanese_product_card_draws_glyphs_not_boxes(tmp_path: Path) -> None:
    choice = fonts.choose()
    assert choice.japanese, "no Japanese font: run `make fonts` (fonts-ipaexfont-gothic)"
    font = fonts.font(24)
    assert fonts.covers(font, "抹茶ラテ 限定")
    # pygame's own default font has no kana or kanji: the check can fail
    import pygame.freetype
    assert not fonts.covers(pygame.freetype.Font(None, 24), "抹茶")
    product = Product(sku="4901234567890", name="抹茶ラテ", price=320.0)
    card = draw.product_card((W, H), product, None)
    name_area = pygame.Rect(W // 2 + 8, 8, W // 2 - 16, 30)
    inked = [pixel(card, x, y) for x in range(name_area.left, name_area.right)
             for y in range(name_area.top, name_area.bottom) if not near(pixel(card, x, y),
                                                                          draw.CARD, 30)]
    assert len(inked) > 40  # the name's strokes
    assert draw.price_text(320.0, "JPY") == "¥320"


def test_board_layout_shows_orders_until_they_expire(tmp_path: Path) -> None:
    png(tmp_path / "cache" / "red.png", RED)
    player = make_player(tmp_path, config(tmp_path, layout="board", board="pickup"))
    player.apply(Playlist("default", (image("red", 60),)), NOON)
    board = player.regions.board
    assert board is not None
    player.apply(Orders(board="pickup", orders=("A-17",), expires=NOON + 5), NOON)
    def numbers_ink(frame: pygame.Surface) -> int:
        return sum(1 for x in range(board.left, board.right, 2)
                   for y in range(board.top + 24, board.bottom, 2)
                   if near(pixel(frame, x, y), (255, 236, 140), 40))
    assert numbers_ink(player.tick(NOON + 1)) > 10
    assert numbers_ink(player.tick(NOON + 6)) == 0
    assert near(pixel(player.canvas, 10, H // 2), RED)  # main region, left


def test_portrait_rotation_puts_the_top_on_the_right(tmp_path: Path) -> None:
    size = logical_size(W, H, 90)
    assert size == (H, W)
    canvas = pygame.Surface(size)
    canvas.fill(BLUE)
    pygame.draw.rect(canvas, RED, (0, 0, size[0], 20))  # a marker along the logical top
    panel = pygame.display.set_mode((W, H))
    present(canvas, panel, 90)
    assert near(pixel(panel, W - 5, H // 2), RED)  # clockwise: the top is on the right
    assert near(pixel(panel, 5, H // 2), BLUE)


def test_screen_off_hours_blank(tmp_path: Path) -> None:
    png(tmp_path / "cache" / "red.png", RED)
    player = make_player(tmp_path, config(tmp_path, on="07:00", off="22:00"))
    player.apply(Playlist("default", (image("red"),)), NOON)
    assert near(centre(player.tick(NOON)), RED)
    assert is_black(player.tick(NOON + 11 * 3600)) and not player.is_on  # 23:00


def test_video_plays_between_images_without_a_black_frame(tmp_path: Path) -> None:
    png(tmp_path / "cache" / "red.png", RED)
    video(tmp_path / "cache" / "green.avi", (0, 255, 0), frames=10, fps=20.0)
    played: list[Played] = []
    player = make_player(tmp_path, on_played=played.append)
    clip = Item(id="clip", kind=ContentKind.VIDEO, uri="asset://green.avi", duration_s=5.0)
    player.apply(Playlist("default", (image("red", 0.5), clip)), NOON)
    colours = []
    for k in range(30):  # 1.5 s at 20 frames/s: red 0.5 s, the 0.5 s clip, red again
        frame = player.tick(NOON + k * 0.05)
        assert not is_black(frame), k
        colours.append(centre(frame))
    assert near(colours[2], RED) and near(colours[14], GREEN, 60) and near(colours[25], RED)
    assert played[1].item == "clip"
    assert played[1].ended - played[1].started == pytest.approx(0.5, abs=0.11)  # its length


def test_the_splash_gives_way_as_soon_as_content_arrives(tmp_path: Path) -> None:
    png(tmp_path / "cache" / "red.png", RED)
    player = make_player(tmp_path)
    player.tick(NOON)
    assert player.status.splash_shown == 1
    player.apply(Playlist("default", (image("red"),)), NOON + 0.1)
    assert near(centre(player.tick(NOON + 0.15)), RED)


def test_hostile_durations_and_texts_do_not_stall_the_screen(tmp_path: Path) -> None:
    png(tmp_path / "cache" / "red.png", RED)
    player = make_player(tmp_path)
    player.apply(Playlist("default", (image("red", float("nan")),
                                      Item(id="long", kind=ContentKind.TEXT, text="長" * 200_000,
                                           duration_s=-5.0))), NOON)
    player.apply(Show(screen="scr", item=Item(id="t", kind=ContentKind.TEXT, text="x",
                                              duration_s=float("inf")),
                      until=float("nan")), NOON)
    for k in range(5):
        assert not is_black(player.tick(NOON + k * 12.0))
    assert player.current is not None and player.current.ends <= NOON + 4 * 12.0 + 86400


def test_only_a_changed_frame_is_new_and_a_looping_playlist_decodes_each_image_once(
        tmp_path: Path) -> None:
    """`changed` tells the frame loop whether to present: a still on the canvas is not drawn
    again, a Show or the next item is; after one loop the images come from the cache."""
    for name, colour in (("red", RED), ("green", GREEN)):
        png(tmp_path / "cache" / f"{name}.png", colour)
    skipped: list[Skipped] = []
    player = make_player(tmp_path, on_skipped=skipped.append)
    player.apply(Playlist("default", (image("red"), image("green"), image("gone"))), NOON)
    assert near(centre(player.tick(NOON)), RED) and player.changed
    assert near(centre(player.tick(NOON + 0.5)), RED) and not player.changed  # same still
    assert near(centre(player.tick(NOON + 1.0)), GREEN) and player.changed  # the next item
    card = Item(id="card-2", kind=ContentKind.PRODUCT, duration_s=1.0,
                product=Product(sku="4901234567891", name="ほうじ茶", price=150.0))
    player.apply(Show(screen="scr", item=card, priority=Priority.TRIGGER, trigger="pickup"),
                 NOON + 1.2)
    assert near(pixel(player.tick(NOON + 1.2), 5, 5), draw.CARD, 10) and player.changed
    for k in range(4, 12):  # two more loops of the playlist ("gone" is skipped each time)
        player.tick(NOON + k)
    assert player.stills.hits >= 2  # red and green were decoded once
    assert {(s.item, s.reason) for s in skipped} == {("gone", Reason.MISSING)}
    assert all(s.screen == "scr" and s.trigger is None for s in skipped)
