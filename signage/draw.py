"""Drawn content: text, product and price cards, the built-in splash, the order board and
the ticker. Everything here is drawn from data (no file needed) and never black."""

from __future__ import annotations

from functools import lru_cache

import pygame

from signage import fonts
from signage.protocol import Product

BACKGROUND = (18, 22, 34)  # behind letterboxed images; dark, but not black
CARD = (250, 246, 238)
INK = (30, 30, 36)
ACCENT = (214, 40, 57)
SPLASH = (24, 64, 120)
BOARD = (16, 96, 64)
TICKER = (40, 40, 48)
WHITE = (255, 255, 255)
MAX_TEXT = 1000
CURRENCY = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}


def price_text(price: float, currency: str) -> str:
    symbol = CURRENCY.get(currency.upper())
    amount = f"{price:,.0f}" if currency.upper() == "JPY" else f"{price:,.2f}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def _wrap(font: pygame.freetype.Font, text: str, width: int) -> list[str]:
    """Lines of `text` no wider than `width`; breaks between words, or anywhere in CJK."""
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        line = ""
        for ch in para:
            if font.get_rect(line + ch).width > width and line:
                cut = line.rfind(" ")
                if cut > 0 and ch != " ":
                    lines.append(line[:cut])
                    line = line[cut + 1:] + ch
                else:
                    lines.append(line)
                    line = "" if ch == " " else ch
            else:
                line += ch
        lines.append(line)
    return lines


def text_block(surface: pygame.Surface, text: str, rect: pygame.Rect, size: int,
               colour: tuple[int, int, int], *, max_lines: int = 8) -> int:
    """Draw wrapped `text` at the top of `rect`; returns the height used."""
    font = fonts.font(size)
    y = rect.top
    text = text[:MAX_TEXT]  # more would not fit anyway; wrapping is per character
    for line in _wrap(font, text, rect.width)[:max_lines]:
        if y + size > rect.bottom:
            break
        font.render_to(surface, (rect.left, y), line, colour)
        y += int(size * 1.25)
    return y - rect.top


def text_card(size: tuple[int, int], text: str) -> pygame.Surface:
    surface = pygame.Surface(size)
    surface.fill(SPLASH)
    w, h = size
    pad = max(8, w // 20)
    text_block(surface, text, pygame.Rect(pad, pad, w - 2 * pad, h - 2 * pad),
               max(12, min(w, h) // 8), WHITE)
    return surface


def fit(image: pygame.Surface, size: tuple[int, int]) -> pygame.Surface:
    """`image` scaled to fit `size` (aspect kept), centred on BACKGROUND."""
    out = pygame.Surface(size)
    out.fill(BACKGROUND)
    iw, ih = image.get_size()
    if iw == 0 or ih == 0:
        return out
    scale = min(size[0] / iw, size[1] / ih)
    scaled = (pygame.transform.smoothscale(image.convert(32) if image.get_bitsize() < 24
                                           else image, (max(1, round(iw * scale)),
                                                        max(1, round(ih * scale))))
              if (iw, ih) != size else image)
    out.blit(scaled, scaled.get_rect(center=(size[0] // 2, size[1] // 2)))
    return out


def product_card(size: tuple[int, int], product: Product,
                 image: pygame.Surface | None) -> pygame.Surface:
    """A product and price card: image on the left (top in portrait), name, price, sku."""
    w, h = size
    surface = pygame.Surface(size)
    surface.fill(CARD)
    pad = max(6, min(w, h) // 24)
    portrait = h > w
    if portrait:
        pic = pygame.Rect(pad, pad, w - 2 * pad, h // 2 - pad)
        info = pygame.Rect(pad, h // 2 + pad, w - 2 * pad, h // 2 - 2 * pad)
    else:
        pic = pygame.Rect(pad, pad, w // 2 - pad, h - 2 * pad)
        info = pygame.Rect(w // 2 + pad, pad, w // 2 - 2 * pad, h - 2 * pad)
    if image is not None:
        surface.blit(fit(image, pic.size), pic)
    else:
        pygame.draw.rect(surface, (226, 220, 208), pic)
    big = max(12, min(w, h) // 9)
    y = info.top
    y += text_block(surface, product.name, pygame.Rect(info.left, y, info.width,
                                                       info.height), big, INK, max_lines=3)
    if product.price is not None:
        y += big // 2
        font = fonts.font(int(big * 1.4))
        font.render_to(surface, (info.left, y), price_text(product.price, product.currency),
                       ACCENT)
        y += int(big * 1.8)
    small = max(10, big // 2)
    if product.reason:
        y += text_block(surface, product.reason, pygame.Rect(info.left, y, info.width,
                                                             info.bottom - y), small, INK,
                        max_lines=2)
    fonts.font(small).render_to(surface, (info.left, max(y, info.bottom - small)),
                                product.sku, (110, 110, 120))
    return surface


def splash(size: tuple[int, int], title: str = "omo-edge") -> pygame.Surface:
    """The built-in splash: the last link of the fallback chain, needs no file."""
    w, h = size
    surface = pygame.Surface(size)
    surface.fill(SPLASH)
    pygame.draw.circle(surface, (60, 120, 200), (w // 2, h // 2), min(w, h) // 3, width=0)
    font = fonts.font(max(12, min(w, h) // 8))
    rect = font.get_rect(title)
    font.render_to(surface, (w // 2 - rect.width // 2, h // 2 - rect.height // 2), title, WHITE)
    return surface


def board(size: tuple[int, int], orders: list[str], title: str = "お受け取り") -> (
        pygame.Surface):
    """The order-ready board: a title and the order numbers in columns."""
    w, h = size
    surface = pygame.Surface(size)
    surface.fill(BOARD)
    head = max(10, min(w // 8, h // 10))
    fonts.font(head).render_to(surface, (head // 2, head // 2), title, WHITE)
    num = max(10, min(w // 5, h // 8))
    y = head * 2
    for order in orders:
        if y + num > h:
            break
        fonts.font(num).render_to(surface, (head // 2, y), order, (255, 236, 140))
        y += int(num * 1.3)
    return surface


@lru_cache(maxsize=8)
def _ticker_text(text: str, height: int) -> pygame.Surface:
    surface, _ = fonts.font(max(8, int(height * 0.6))).render(text, WHITE, TICKER)
    return surface


def ticker(size: tuple[int, int], text: str, offset_px: int) -> pygame.Surface:
    """The ticker strip with `text` scrolled left by `offset_px` (wrapping); the text is
    rendered once and only moved."""
    w, h = size
    surface = pygame.Surface(size)
    surface.fill(TICKER)
    if text:
        label = _ticker_text(text, h)
        x = w - offset_px % (label.get_width() + w)
        surface.blit(label, (x, (h - label.get_height()) // 2))
    return surface
