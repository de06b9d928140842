"""Screen regions (main, ticker, order-ready board) and rotation onto the panel."""

from __future__ import annotations

from dataclasses import dataclass

import pygame


@dataclass(frozen=True)
class Regions:
    main: pygame.Rect
    ticker: pygame.Rect | None = None
    board: pygame.Rect | None = None


def logical_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """The size content is drawn at: the panel's, swapped for 90 and 270 degrees."""
    return (height, width) if rotation in (90, 270) else (width, height)


def regions(layout: str, size: tuple[int, int]) -> Regions:
    w, h = size
    if layout == "ticker":
        th = max(16, h // 12)
        return Regions(main=pygame.Rect(0, 0, w, h - th), ticker=pygame.Rect(0, h - th, w, th))
    if layout == "board":
        if w >= h:
            bw = max(40, w * 3 // 10)
            return Regions(main=pygame.Rect(0, 0, w - bw, h), board=pygame.Rect(w - bw, 0, bw, h))
        bh = max(40, h * 3 // 10)
        return Regions(main=pygame.Rect(0, 0, w, h - bh), board=pygame.Rect(0, h - bh, w, bh))
    return Regions(main=pygame.Rect(0, 0, w, h))


def present(canvas: pygame.Surface, display: pygame.Surface, rotation: int) -> None:
    """Put the logical `canvas` on the panel, rotated `rotation` degrees clockwise."""
    if rotation == 0:
        if canvas is not display:
            display.blit(canvas, (0, 0))
        return
    display.blit(pygame.transform.rotate(canvas, -rotation), (0, 0))
