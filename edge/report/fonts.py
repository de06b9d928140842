"""A Japanese font for the charts, found through matplotlib's font manager.

The same font the signage player uses: Debian's `fonts-ipaexfont-gothic` (what `make fonts`
installs), else Noto Sans CJK (`fonts-noto-cjk`). Without one, product names in kana or
kanji would be drawn as empty boxes: the report warns once and falls back to DejaVu Sans.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

# Preferred first; each is checked for real kana and kanji glyphs before it is used.
CJK_FAMILIES = ("IPAexGothic", "IPAGothic", "Noto Sans CJK JP", "Noto Sans JP",
                "Noto Sans CJK SC", "TakaoGothic", "VL Gothic", "Droid Sans Fallback")
FALLBACK = "DejaVu Sans"
PROBE = "日本語のテキスト"  # kanji and hiragana
INSTALL_HINT = "sudo apt-get install -y fonts-ipaexfont-gothic (or fonts-noto-cjk)"


@dataclass(frozen=True)
class ChartFont:
    family: str  # the matplotlib family name the charts use first
    path: str | None  # its file, or None for the fallback
    cjk: bool


def has_glyphs(path: str, text: str) -> bool:
    """Whether the font file at `path` has a glyph for every character of `text`."""
    from matplotlib.ft2font import FT2Font

    font = FT2Font(path)
    return all(font.get_char_index(ord(ch)) != 0 for ch in text if not ch.isspace())


def missing_glyphs(font: ChartFont, text: str) -> str:
    """The characters of `text` the chart font cannot draw (drawn as boxes)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font.path or font_manager.findfont(FALLBACK)
    ft = FT2Font(path)
    return "".join(sorted({ch for ch in text
                           if not ch.isspace() and ft.get_char_index(ord(ch)) == 0}))


def _find() -> tuple[str, str] | None:
    from matplotlib import font_manager

    def search() -> tuple[str, str] | None:
        by_name = {f.name: f.fname for f in font_manager.fontManager.ttflist}
        for family in CJK_FAMILIES:
            path = by_name.get(family)
            if path and has_glyphs(path, PROBE):
                return family, path
        return None

    found = search()
    if found is None:  # a font installed after matplotlib cached its list
        known = {f.fname for f in font_manager.fontManager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = search()
    return found


@cache
def chart_font() -> ChartFont:
    """The font for the charts (looked up once a process). `cjk` False: no Japanese font is
    installed (the caller warns, once, with INSTALL_HINT)."""
    found = _find()
    if found is None:
        return ChartFont(FALLBACK, None, cjk=False)
    return ChartFont(found[0], found[1], cjk=True)
