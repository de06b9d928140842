"""SDL under pygame-ce: which video drivers this build has, and opening the display.

pygame-ce's wheels carry their own libSDL2; `video_drivers()` asks that library (the one
pygame loaded) for its compiled-in drivers with SDL_GetNumVideoDrivers/SDL_GetVideoDriver,
which works without opening a display. The pygame wheel lacks KMSDRM (a Raspberry Pi
console without X); pygame-ce's has it.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pygame

HEADLESS = ("offscreen", "dummy")


def _loaded_sdl() -> Path | None:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split()[-1] if line.split() else ""
        if "/libSDL2-2" in path or path.endswith("libSDL2-2.0.so.0"):
            return Path(path)
    return None


def video_drivers() -> tuple[str, ...]:
    """The video drivers compiled into the SDL that pygame uses, lower-case (kmsdrm, x11,
    wayland, offscreen, dummy...). Empty if that library cannot be found."""
    pygame.init  # noqa: B018 (pygame is imported: its SDL is mapped)
    path = _loaded_sdl()
    if path is None:
        return ()
    sdl = ctypes.CDLL(str(path))
    sdl.SDL_GetVideoDriver.restype = ctypes.c_char_p
    sdl.SDL_GetVideoDriver.argtypes = [ctypes.c_int]
    count = int(sdl.SDL_GetNumVideoDrivers())
    names = (sdl.SDL_GetVideoDriver(i) for i in range(count))
    return tuple(n.decode().lower() for n in names if n)


class DisplayError(RuntimeError):
    """The display cannot be opened (no such driver, no device, no permission)."""


def open_display(width: int, height: int, *, fullscreen: bool,
                 driver: str | None = None) -> pygame.Surface:
    """Open the screen with `driver` (else $SDL_VIDEODRIVER, else SDL's choice). Headless
    drivers ignore `fullscreen`. Raises DisplayError with SDL's reason."""
    if driver:
        os.environ["SDL_VIDEODRIVER"] = driver
    chosen = os.environ.get("SDL_VIDEODRIVER", "")
    try:
        pygame.display.init()
        flags = 0
        if fullscreen and chosen not in HEADLESS:
            flags |= pygame.FULLSCREEN
        surface = pygame.display.set_mode((width, height), flags)
        pygame.mouse.set_visible(False)
    except pygame.error as exc:
        raise DisplayError(f"cannot open the display with driver {chosen or 'auto'!r}: {exc}"
                           ) from None
    pygame.display.set_caption("omo-edge signage")
    return surface
