"""Render the README's screenshots of the main layouts offscreen, through the real player:

    .venv/bin/python -m signage.screenshots docs/signage

landscape.png (an image and the ticker), portrait.png (rotated 90 degrees, with the order
board), card.png (a Japanese product card) and board.png (the order-ready board beside a
video frame), at 960x540.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zoneinfo
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

import cv2
import numpy as np
import pygame

from edge.config.loading import parse
from signage.cache import AssetCache
from signage.layout import logical_size, present
from signage.player import ScreenPlayer
from signage.protocol import ContentKind, Item, Orders, Playlist, Priority, Product, Show
from signage.store import PlayerStore

W, H = 960, 540
NOW = 1_796_180_400.0  # a Wednesday, 12:00 in Tokyo


def _poster(path: Path, size: tuple[int, int]) -> None:
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (60 + 120 * x / w).astype(np.uint8)
    img[..., 1] = (40 + 80 * y / h).astype(np.uint8)
    img[..., 2] = 200
    cv2.circle(img, (w * 2 // 3, h // 2), h // 3, (40, 200, 255), -1)
    cv2.putText(img, "SPRING SALE", (w // 12, h // 2), cv2.FONT_HERSHEY_DUPLEX, h / 200,
                (255, 255, 255), max(1, h // 100))
    cv2.imwrite(str(path), img)


def _video(path: Path) -> None:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (640, 360))
    for k in range(10):
        frame = np.full((360, 640, 3), (90, 50 + 10 * k, 20), np.uint8)
        cv2.rectangle(frame, (40 + 30 * k, 120), (200 + 30 * k, 240), (255, 255, 255), -1)
        out.write(frame)
    out.release()


def _player(tmp: Path, **screen: Any) -> tuple[ScreenPlayer, int]:
    raw = {"store": {"id": "s", "device": "d", "timezone": "Asia/Tokyo"},
           "storage": {"path": str(tmp / "e.db")}, "zones": [{"id": "z", "kind": "screen"}],
           "screens": [{"id": "scr", "zone": "z", "width": W, "height": H, **screen}]}
    scr = parse(raw, env={}).screens[0]
    size = logical_size(scr.width, scr.height, scr.rotation)
    player = ScreenPlayer(scr, size=size, cache=AssetCache(tmp / "cache"),
                          store=PlayerStore(":memory:"), tz=zoneinfo.ZoneInfo("Asia/Tokyo"))
    return player, scr.rotation


def _save(player: ScreenPlayer, rotation: int, path: Path, at: float = NOW) -> None:
    canvas = player.tick(at)
    panel = pygame.Surface((W, H))
    present(canvas, panel, rotation)
    pygame.image.save(panel, str(path))
    player.close(at)


CARD = Item(id="card-matcha", kind=ContentKind.PRODUCT, duration_s=8.0,
            product=Product(sku="4901234567890", name="宇治抹茶ラテ 期間限定", price=320.0,
                            image="asset://matcha.png", reason="本日のおすすめ"))


def render(out: Path) -> list[Path]:
    pygame.display.init()
    pygame.display.set_mode((1, 1))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "cache").mkdir()
        _poster(tmp / "cache" / "poster.png", (1280, 720))
        _poster(tmp / "cache" / "matcha.png", (600, 600))
        _video(tmp / "cache" / "clip.avi")
        poster = Item(id="poster", kind=ContentKind.IMAGE, uri="asset://poster.png")
        clip = Item(id="clip", kind=ContentKind.VIDEO, uri="asset://clip.avi")
        orders = Orders(board="scr", orders=("A-017", "A-018", "B-102"), expires=NOW + 600)
        paths = []

        ticker = "本日のおすすめ: 宇治抹茶ラテ ¥320 — Today's pick: matcha latte"
        player, rot = _player(tmp, layout="ticker", ticker=ticker)
        player.apply(Playlist("default", (poster,)), NOW)
        paths.append(out / "landscape.png")
        _save(player, rot, paths[-1], NOW + 1.5)

        player, rot = _player(tmp, rotation=90, layout="board")
        player.apply(Playlist("default", (CARD,)), NOW)
        player.apply(orders, NOW)
        paths.append(out / "portrait.png")
        _save(player, rot, paths[-1])

        player, rot = _player(tmp)
        player.apply(Playlist("default", (poster,)), NOW)
        player.tick(NOW)
        player.apply(Show(screen="scr", item=CARD, priority=Priority.TRIGGER,
                          trigger="shelf-a.pickup"), NOW + 1)
        paths.append(out / "card.png")
        _save(player, rot, paths[-1], NOW + 1)

        player, rot = _player(tmp, layout="board")
        player.apply(Playlist("default", (clip,)), NOW)
        player.apply(orders, NOW)
        player.tick(NOW)
        paths.append(out / "board.png")
        _save(player, rot, paths[-1], NOW + 0.5)
    return paths


if __name__ == "__main__":
    for p in render(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/signage")):
        print(p)
