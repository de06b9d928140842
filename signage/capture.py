"""A small PNG of what the panel shows, for the `signage.screenshot` command: the frame the
player drew (never a camera image), scaled to a requested width."""

from __future__ import annotations

import base64
import io

import pygame

from signage.protocol import MAX_LINE, Capture, Screenshot

MIN_WIDTH, MAX_WIDTH = 32, 640


def png_of(surface: pygame.Surface, width: int) -> tuple[bytes, int, int]:
    """`surface` scaled to `width` (clamped to MIN_WIDTH..MAX_WIDTH and to its own width,
    aspect kept) as PNG bytes, with the size."""
    w, h = surface.get_size()
    width = max(MIN_WIDTH, min(MAX_WIDTH, width, w))
    height = max(1, round(h * width / w))
    small = pygame.transform.smoothscale(surface.convert(32) if surface.get_bitsize() < 24
                                         else surface, (width, height))
    out = io.BytesIO()
    pygame.image.save(small, out, "screenshot.png")
    return out.getvalue(), width, height


def screenshot(surface: pygame.Surface, capture: Capture) -> Screenshot:
    """The answer to `capture`; halved in width until its line fits the channel."""
    width = capture.width
    while True:
        data, w, h = png_of(surface, width)
        png = base64.b64encode(data).decode("ascii")
        if len(png) <= MAX_LINE - 4096 or w <= MIN_WIDTH:
            return Screenshot(id=capture.id, screen=capture.screen, png=png, width=w, height=h)
        width = w // 2
