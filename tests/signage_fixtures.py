"""Shared helpers for the signage tests: offscreen SDL, tiny screens, content files."""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import cv2
import numpy as np
import pygame

from edge.config import Config
from edge.config.loading import parse
from signage.cache import AssetCache
from signage.player import ScreenPlayer
from signage.store import PlayerStore

W, H = 320, 180


def config(tmp: Path, **screen: Any) -> Config:
    raw: dict[str, Any] = {
        "store": {"id": "s1", "device": "d1", "timezone": "Asia/Tokyo"},
        "storage": {"path": str(tmp / "events.db")},
        "zones": [{"id": "front", "kind": "screen"}],
        "screens": [{"id": "scr", "zone": "front", "width": W, "height": H,
                     "fullscreen": False, **screen}],
    }
    return parse(raw, env={})


def make_player(tmp: Path, cfg: Config | None = None, **kw: Any) -> ScreenPlayer:
    cfg = cfg or config(tmp)
    pygame.display.init()
    pygame.freetype.init()
    screen = cfg.screens[0]
    from signage.layout import logical_size
    size = logical_size(screen.width, screen.height, screen.rotation)
    store = kw.pop("store", None) or PlayerStore(tmp / "player.db")
    return ScreenPlayer(screen, size=size, cache=AssetCache(tmp / "cache"), store=store,
                        tz=zoneinfo.ZoneInfo(cfg.timezone), **kw)


def png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 36)) -> Path:
    surface = pygame.Surface(size)
    surface.fill(colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(surface, str(path))
    return path


def video(path: Path, colour_bgr: tuple[int, int, int], frames: int = 12, fps: float = 25.0,
          size: tuple[int, int] = (W, H)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    for _ in range(frames):
        out.write(np.full((size[1], size[0], 3), colour_bgr, np.uint8))
    out.release()
    return path


def pixel(surface: pygame.Surface, x: int, y: int) -> tuple[int, int, int]:
    c = surface.get_at((x, y))
    return (c.r, c.g, c.b)


def near(c: tuple[int, int, int], want: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(c, want, strict=True))


def is_black(surface: pygame.Surface) -> bool:
    arr = pygame.surfarray.pixels3d(surface)
    return bool(arr.max() < 16)
