"""Fonts: a CJK font found through fontconfig, drawn with pygame.freetype.

pygame's default font draws kana and kanji as boxes; the project's setup installs Debian's
fonts-ipaexfont-gothic (see the Makefile). `freetype.Font.get_metrics` returns None for each
glyph a font lacks, which is how `covers` tells glyphs from boxes.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pygame.freetype

PROBE = "日本語のテキスト"


def covers(font: pygame.freetype.Font, text: str) -> bool:
    """True if `font` has a glyph for every non-space character of `text`."""
    chars = "".join(ch for ch in text if not ch.isspace())
    if not chars:
        return True
    size = font.size if isinstance(font.size, (int, float)) and font.size else 16
    metrics = font.get_metrics(chars, size=float(size))
    return all(m is not None for m in metrics)


def fontconfig_match(pattern: str = ":lang=ja") -> Path | None:
    """The font file fontconfig picks for `pattern`, or None (no fc-match, no font)."""
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-f", "%{file}", pattern], capture_output=True, text=True,
                             timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out) if out and Path(out).is_file() else None


@dataclass(frozen=True)
class FontChoice:
    path: Path | None  # None: pygame's bundled default (no Japanese)
    japanese: bool


@lru_cache(maxsize=1)
def choose() -> FontChoice:
    """The CJK font if fontconfig has one that covers Japanese, else pygame's default."""
    pygame.freetype.init()
    path = fontconfig_match()
    if path is not None:
        try:
            if covers(pygame.freetype.Font(str(path), 16), PROBE):
                return FontChoice(path, True)
        except (OSError, pygame.error):
            pass
    return FontChoice(None, False)


@lru_cache(maxsize=32)
def font(size: int) -> pygame.freetype.Font:
    """The chosen font at `size` pixels."""
    choice = choose()
    f = pygame.freetype.Font(str(choice.path) if choice.path else None, size)
    f.antialiased = True
    return f
