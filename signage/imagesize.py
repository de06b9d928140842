"""An image's width and height read from its header, before anything is decoded: the guard
against decompression bombs (a small file that decodes to gigabytes). PNG, JPEG, GIF, BMP
and WebP; anything else is None (the caller refuses it)."""

from __future__ import annotations

import struct
from pathlib import Path

MAX_PIXELS = 40_000_000
"""The most pixels an image may have (8K is 33 million); more is skipped as too-large."""

HEAD = 64 * 1024  # a JPEG's frame header is usually in its first few kilobytes


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def dimensions(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, or None if it is not a format read here or
    its header is cut off. Raises OSError if the file cannot be read."""
    with path.open("rb") as fh:
        data = fh.read(HEAD)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    if data[:2] == b"\xff\xd8":
        return _jpeg(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return w, h
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            w = int.from_bytes(data[24:27], "little") + 1
            h = int.from_bytes(data[27:30], "little") + 1
            return w, h
        if chunk == b"VP8 " and len(data) >= 30:
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def fits(path: Path, max_pixels: int = MAX_PIXELS) -> bool | None:
    """True if the image is within `max_pixels`, False if over, None if its size is not
    readable from its header."""
    size = dimensions(path)
    if size is None:
        return None
    return size[0] * size[1] <= max_pixels
