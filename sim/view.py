"""The live view: the store from above, drawn with pygame onto a Surface.

Zones, shelves (with each plate's stock), screens, BLE receivers, cameras with their field of
view, shoppers (a ring for those carrying the app beacon), staff, and live counters. Works
with SDL's dummy video driver, so a headless run can save PNG snapshots.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from sim.world import World

ZONE_COLORS = {"entrance": (225, 236, 244), "shelf": (238, 232, 220), "screen": (232, 224, 244),
               "checkout": (222, 240, 226), "aisle": (236, 236, 236), "other": (236, 236, 236)}


def display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) \
        and os.environ.get("SDL_VIDEODRIVER") != "dummy"


class StoreView:
    def __init__(self, world: World, *, window: bool, scale: float = 40.0) -> None:
        if not window:
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame

        self.pg = pygame
        pygame.display.init()
        pygame.font.init()
        self.world = world
        self.s = scale
        self.margin = 20
        self.panel = 260
        lay = world.layout
        self.size = (int(lay.width * scale) + 2 * self.margin + self.panel,
                     int(lay.height * scale) + 2 * self.margin)
        self.window = pygame.display.set_mode(self.size) if window else None
        if window:
            pygame.display.set_caption(f"omo-edge sim: {world.scenario.name} seed {world.seed}")
        self.surface = pygame.Surface(self.size)
        self.font = pygame.font.Font(None, 20)
        self.big = pygame.font.Font(None, 26)
        self.closed = False

    def _p(self, x: float, y: float) -> tuple[int, int]:
        return int(self.margin + x * self.s), int(self.margin + y * self.s)

    def render(self, t: float, counters: dict[str, Any], stock: dict[tuple[str, int], int],
               offline: set[str]) -> Any:
        pg, s, w = self.pg, self.surface, self.world
        lay = w.layout
        s.fill((250, 250, 250))
        for z in lay.zones:
            r = z.rect
            x0, y0 = self._p(r.x0, r.y0)
            x1, y1 = self._p(r.x1, r.y1)
            pg.draw.rect(s, ZONE_COLORS.get(z.kind, (236, 236, 236)), (x0, y0, x1 - x0, y1 - y0))
            pg.draw.rect(s, (190, 190, 190), (x0, y0, x1 - x0, y1 - y0), 1)
            s.blit(self.font.render(z.name, True, (120, 120, 120)), (x0 + 4, y0 + 4 if
                   z.id not in ("drinks", "snacks") else y1 - 18))
        pg.draw.rect(s, (60, 60, 60), (*self._p(0, 0), int(lay.width * self.s),
                                       int(lay.height * self.s)), 2)
        dx, dy = self._p(*lay.door)
        pg.draw.line(s, (250, 250, 250), (dx, dy - 30), (dx, dy + 30), 6)
        for cam in lay.cameras:
            cx, cy = self._p(*cam.pos)
            half = math.radians(cam.fov_deg / 2)
            pts = [(cx, cy)] + [self._p(cam.pos[0] + cam.range_m * math.cos(a),
                                        cam.pos[1] + cam.range_m * math.sin(a))
                                for a in (cam.direction - half + i * half / 6 for i in range(13))]
            fov = pg.Surface(self.size, pg.SRCALPHA)
            pg.draw.polygon(fov, (255, 170, 0, 40) if cam.id not in offline else (255, 0, 0, 30),
                            pts)
            s.blit(fov, (0, 0))
            pg.draw.circle(s, (200, 110, 0) if cam.id not in offline else (220, 0, 0), (cx, cy),
                           6)
        for shelf in lay.shelves:
            r = shelf.rect
            x0, y0 = self._p(r.x0, r.y0)
            x1, y1 = self._p(r.x1, r.y1)
            edge = (220, 0, 0) if shelf.id in offline else (90, 70, 50)
            pg.draw.rect(s, (150, 120, 90), (x0, y0, x1 - x0, y1 - y0))
            pw = (x1 - x0) / len(shelf.plates)
            for pl in shelf.plates:
                frac = stock.get((shelf.id, pl.number), pl.stock) / pl.capacity
                px = int(x0 + pw * (pl.number - 1))
                h = int((y1 - y0 - 4) * min(1.0, frac))
                pg.draw.rect(s, (240, 220, 160), (px + 3, y1 - 2 - h, int(pw) - 6, h))
            pg.draw.rect(s, edge, (x0, y0, x1 - x0, y1 - y0), 2)
        for scr in lay.screens:
            x, y = self._p(*scr.pos)
            horiz = abs(math.sin(scr.facing)) > 0.5
            rect = (x - 30, y - 4, 60, 8) if horiz else (x - 4, y - 30, 8, 60)
            pg.draw.rect(s, (40, 40, 120), rect)
        for rx in lay.receivers:
            x, y = self._p(*rx.pos)
            pg.draw.polygon(s, (0, 120, 200), [(x, y - 7), (x + 7, y), (x, y + 7), (x - 7, y)], 2)
            s.blit(self.font.render(rx.id, True, (0, 90, 160)), (x + 8, y - 6))
        for a in w.agents:
            st = a.state(t)
            if st is None:
                continue
            x, y = self._p(st[0], st[1])
            if a.staff:
                pg.draw.rect(s, (30, 30, 30), (x - 6, y - 6, 12, 12))
            else:
                pg.draw.circle(s, a.color, (x, y), 7)
                if st[3].startswith(("look", "watch")):
                    pg.draw.circle(s, (0, 0, 0), (x, y), 7, 1)
            hx = x + int(11 * math.cos(st[2]))
            hy = y + int(11 * math.sin(st[2]))
            pg.draw.line(s, (60, 60, 60), (x, y), (hx, hy), 2)
            if a.beacon is not None:
                pg.draw.circle(s, (0, 120, 200), (x, y), 11, 2)
        self._panel(t, counters)
        if self.window is not None:
            self.window.blit(s, (0, 0))
            pg.display.flip()
            for event in pg.event.get():
                if event.type == pg.QUIT:
                    self.closed = True
        return s

    def _panel(self, t: float, counters: dict[str, Any]) -> None:
        pg, s = self.pg, self.surface
        x = self.size[0] - self.panel + 10
        pg.draw.rect(s, (245, 245, 248), (x - 10, 0, self.panel, self.size[1]))
        w = self.world
        lines = [(f"{w.scenario.name}  seed {w.seed}", self.big),
                 (f"t = {t:6.0f} s / {w.duration:.0f} s", self.big), ("", self.font)]
        for k, v in counters.items():
            lines.append((f"{k}: {v}", self.font))
        lines += [("", self.font), ("o shopper   (o) app beacon", self.font),
                  ("# staff   - heading", self.font), ("<> BLE receiver", self.font),
                  ("orange: camera view; red: offline", self.font)]
        y = 12
        for text, font in lines:
            s.blit(font.render(text, True, (30, 30, 30)), (x, y))
            y += font.get_linesize() + 2

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.pg.image.save(self.surface, str(path))

    def close(self) -> None:
        self.pg.display.quit()
