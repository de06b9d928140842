"""Opening items into playables: something that gives the main region a frame at a time.

`open_item` does the slow part (loading, decoding the first video frame, drawing a card) so
the player can prepare the next item while the current one is on screen. It raises
ContentError with a reason code for anything that cannot be played; the player skips it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import pygame

from signage import draw, imagesize
from signage.cache import AssetCache, AssetError
from signage.protocol import ContentKind, Item, SkipReason

Reason = SkipReason  # the codes an item is skipped with (signage.protocol)


class ContentError(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(str(reason))
        self.reason = reason


class Playable(Protocol):
    def frame(self, elapsed_s: float) -> pygame.Surface | None:
        """The frame at `elapsed_s` into the item, or None once it has no more."""

    def close(self) -> None: ...


@dataclass
class Still:
    """An image, a text or a product card: one surface for the whole duration."""

    surface: pygame.Surface

    def frame(self, elapsed_s: float) -> pygame.Surface | None:
        return self.surface

    def close(self) -> None:
        pass


class SurfaceCache:
    """Opened stills (a decoded and fitted image, a drawn card) by what they were made from,
    least recently used first out beyond `max_bytes`: a looping playlist decodes each image
    once, and a product picked again shows its card without drawing it. Surfaces in here are
    never drawn on (the player only blits them)."""

    def __init__(self, max_bytes: int = 128 << 20) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self._items: OrderedDict[Hashable, pygame.Surface] = OrderedDict()

    @staticmethod
    def _size(surface: pygame.Surface) -> int:
        return surface.get_pitch() * surface.get_height()

    def get(self, key: Hashable, make: Callable[[], pygame.Surface]) -> pygame.Surface:
        surface = self._items.get(key)
        if surface is not None:
            self._items.move_to_end(key)
            self.hits += 1
            return surface
        surface = make()
        size = self._size(surface)
        if size <= self.max_bytes:
            self._items[key] = surface
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self.bytes -= self._size(old)
        return surface


class Video:
    """A video decoded by OpenCV, frame by frame at the file's rate (frames behind are
    skipped with grab()). The first frame is decoded on open."""

    def __init__(self, path: Path, size: tuple[int, int]) -> None:
        self.size = size
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            self.cap.release()
            raise ContentError(Reason.UNDECODABLE)
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else 25.0
        self.expected = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.index = -1
        self.ended = False
        self.truncated = False
        self.current = self._read()
        if self.current is None:
            self.cap.release()
            raise ContentError(Reason.UNDECODABLE)

    def _read(self) -> pygame.Surface | None:
        ok, frame = self.cap.read()
        if not ok or frame is None:
            self.ended = True
            if self.expected and self.index + 1 < self.expected - 1:
                self.truncated = True
            return None
        self.index += 1
        h, w = frame.shape[:2]
        frame = np.ascontiguousarray(frame)
        surface = pygame.image.frombuffer(frame.data, (w, h), "BGR")
        if (w, h) != self.size:
            return draw.fit(surface, self.size)
        return surface  # it keeps `frame` alive and shares its pixels: no copy

    def frame(self, elapsed_s: float) -> pygame.Surface | None:
        want = int(elapsed_s * self.fps)
        while not self.ended and self.index < want - 1:
            if not self.cap.grab():
                self.ended = True
                if self.expected and self.index + 1 < self.expected - 1:
                    self.truncated = True
                break
            self.index += 1
        if not self.ended and self.index < want:
            nxt = self._read()
            if nxt is not None:
                self.current = nxt
        return None if self.ended else self.current

    def close(self) -> None:
        self.cap.release()


def _load(path: Path) -> pygame.Surface:
    """Decode an image, refusing one whose header says it is over the pixel limit (a
    decompression bomb) or whose size cannot be read from its header."""
    try:
        ok = imagesize.fits(path)
    except OSError:
        raise ContentError(Reason.MISSING) from None
    if ok is None:
        raise ContentError(Reason.UNDECODABLE)
    if not ok:
        raise ContentError(Reason.TOO_LARGE)
    try:
        return pygame.image.load(str(path))
    except (pygame.error, OSError, ValueError):
        raise ContentError(Reason.UNDECODABLE) from None


def _image(path: Path, size: tuple[int, int]) -> pygame.Surface:
    return draw.fit(_load(path), size)


def _asset(cache: AssetCache, uri: str | None, sha256: str | None) -> Path:
    if not uri:
        raise ContentError(Reason.INVALID)
    try:
        return cache.resolve(uri, sha256)
    except AssetError as exc:
        raise ContentError(Reason(str(exc.problem))) from None


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def open_item(item: Item, size: tuple[int, int], cache: AssetCache,
              stills: SurfaceCache | None = None) -> Playable:
    """A playable for `item` at `size`, its still taken from `stills` when it has it.
    Raises ContentError."""
    stills = stills or SurfaceCache(0)
    if item.kind is ContentKind.IMAGE:
        path = _asset(cache, item.uri, item.sha256)
        try:
            key = ("image", *_file_key(path), size)
        except OSError:
            raise ContentError(Reason.MISSING) from None
        return Still(stills.get(key, lambda: _image(path, size)))
    if item.kind is ContentKind.VIDEO:
        return Video(_asset(cache, item.uri, item.sha256), size)
    if item.kind is ContentKind.TEXT:
        if not item.text:
            raise ContentError(Reason.INVALID)
        return Still(draw.text_card(size, item.text))
    if item.kind is ContentKind.PRODUCT:
        product = item.product
        if product is None:
            raise ContentError(Reason.INVALID)
        picture_path: Path | None = None
        picture_key: tuple[str, int, int] | None = None
        if product.image:
            try:  # a card without its picture still shows name and price
                picture_path = _asset(cache, product.image, None)
                picture_key = _file_key(picture_path)
            except (ContentError, OSError):
                picture_path = None

        def card() -> pygame.Surface:
            picture = None
            if picture_path is not None:
                try:
                    picture = _load(picture_path)
                except ContentError:
                    picture = None
            return draw.product_card(size, product, picture)

        return Still(stills.get(("card", product, picture_key, size), card))
    raise ContentError(Reason.UNSUPPORTED)
