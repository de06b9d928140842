"""Simulated cameras: video files of the store as each camera sees it.

Shoppers and staff in a camera's field of view are drawn in perspective (nearer is bigger),
with a real face taken from the images scikit-image ships (the Labeled Faces in the Wild
subset and the astronaut portrait) turned by the head's yaw to the camera (`sim.faces`), the
side or back of the head when turned further than FACE_TURN_DEG, far to near so that nearer
people occlude, under a slowly drifting light (gain and gamma). Files are MJPG in AVI
(OpenCV's wheels carry no H.264 encoder) and are read back by the daemon's capture source
through OpenCV, like any recorded camera.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from sim.faces import HeadSprites
from sim.world import (
    BODY_M,
    CAMERA_HEIGHT_M,
    FACE_TURN_DEG,
    HEAD_HEIGHT_M,
    HEAD_M,
    Agent,
    CameraDef,
    World,
    angle_diff,
)

# HEAD_M: the drawn head (face crop with hair and chin): 25-150 px at 6-1 m
HAIR = ((30, 30, 35), (25, 45, 70), (60, 90, 130), (40, 40, 40), (90, 140, 180))  # BGR


def lighting(t: float, seed: int) -> tuple[float, float]:
    """(gain, gamma) of the scene's light at time t: slow drifts, different per seed."""
    ph = (seed % 97) / 97 * 2 * math.pi
    gain = 1.0 + 0.2 * math.sin(2 * math.pi * t / 173.0 + ph)
    gamma = 1.0 + 0.15 * math.sin(2 * math.pi * t / 251.0 + 2 * ph)
    return gain, gamma


class CameraRenderer:
    def __init__(self, world: World, camera: CameraDef) -> None:
        self.world = world
        self.camera = camera
        cp = world.params.camera
        self.w, self.h, self.fps = cp.width, cp.height, cp.fps
        self.focal = (self.w / 2) / math.tan(math.radians(camera.fov_deg / 2))
        self.sprites = HeadSprites(world.seed)
        self.background = self._background()
        self.rng = np.random.default_rng(
            [world.seed, *camera.id.encode(), *world.scenario.name.encode()])
        self.noise = [self.rng.integers(0, 7, (self.h, self.w, 3), dtype=np.uint8)
                      for _ in range(4)]
        self._mask_cache: dict[int, np.ndarray] = {}
        self._lut_key: tuple[float, float] | None = None
        self._lut = np.arange(256, dtype=np.uint8)

    def _background(self) -> np.ndarray:
        img = np.zeros((self.h, self.w, 3), np.uint8)
        horizon = self.h // 2
        img[:horizon] = (200, 205, 210)  # wall
        for y in range(horizon, self.h):  # floor, lighter towards the camera
            shade = 120 + int(80 * (y - horizon) / (self.h - horizon))
            img[y] = (shade, shade - 5, shade - 15)
        for i in range(0, self.w, 64):  # shelving along the far wall
            cv2.rectangle(img, (i + 4, horizon - 60), (i + 56, horizon + 10), (90, 110, 140), -1)
            for r in range(4):
                y = horizon - 55 + r * 16
                cv2.line(img, (i + 6, y), (i + 54, y), (60, 70, 80), 2)
        return img

    def people(self, t: float) -> list[tuple[float, Agent, float, float]]:
        """(distance, agent, angle off the optical axis, head yaw to the camera) for the
        people in view at t, far to near. Yaw 0: facing the camera; positive: the nose
        turned to the image's right."""
        out = []
        cam = self.camera
        screens = self.world.layout.screens
        for a in self.world.agents:
            hd = a.head(t, screens)
            if hd is None or not cam.sees(hd[0], hd[1]):
                continue
            dx, dy = hd[0] - cam.pos[0], hd[1] - cam.pos[1]
            rel = angle_diff(math.atan2(dy, dx), cam.direction)
            yaw = angle_diff(math.atan2(-dy, -dx), hd[2])
            out.append((math.hypot(dx, dy), a, rel, yaw))
        out.sort(key=lambda p: -p[0])
        return out

    def frame(self, t: float) -> np.ndarray:
        img = self.background.copy()
        for dist, agent, angle, yaw in self.people(t):
            self._draw_person(img, agent, dist, angle, yaw)
        n = int(t * self.fps)
        img = cv2.add(img, self.noise[n % 4])
        img = cv2.subtract(img, self.noise[(n + 1) % 4])
        gain, gamma = lighting(t, self.world.seed)
        key = (round(gain, 2), round(gamma, 2))
        if key != self._lut_key:
            x = np.arange(256, dtype=np.float64) / 255.0
            self._lut = np.clip(255.0 * gain * x ** key[1], 0, 255).astype(np.uint8)
            self._lut_key = key
        out: np.ndarray = cv2.LUT(img, self._lut)
        return out

    def _mask(self, size: int) -> np.ndarray:
        m = self._mask_cache.get(size)
        if m is None:
            m = np.zeros((size, size), np.uint8)
            cv2.ellipse(m, (size // 2, size // 2), (max(1, size * 2 // 5), max(1, size // 2)),
                        0, 0, 360, 255, -1)
            m = m > 0
            self._mask_cache[size] = m
        return m

    def _draw_person(self, img: np.ndarray, a: Agent, d: float, rel: float,
                     yaw: float) -> None:
        u = int(self.w / 2 + self.focal * math.tan(rel))
        scale = self.focal / max(d, 0.5)
        head = max(8, int(HEAD_M * scale))
        head_y = int(self.h / 2 + (CAMERA_HEIGHT_M - HEAD_HEIGHT_M) * scale)
        foot_y = int(self.h / 2 + CAMERA_HEIGHT_M * scale)
        body_w = int(BODY_M * scale)
        color = tuple(int(c) for c in a.color[::-1])
        cv2.rectangle(img, (u - body_w // 2, head_y + head * 2 // 5),
                      (u + body_w // 2, foot_y), color, -1)
        x0, y0 = u - head // 2, head_y - head // 2
        x1, y1 = x0 + head, y0 + head
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(self.w, x1), min(self.h, y1)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        hair = HAIR[a.face % len(HAIR)]
        yaw_deg = math.degrees(yaw)
        src = self.sprites.face(a.face, yaw_deg, hair) if abs(yaw_deg) < FACE_TURN_DEG \
            else self.sprites.back(hair)
        patch = cv2.resize(src, (head, head), interpolation=cv2.INTER_AREA
                           if head < src.shape[0] else cv2.INTER_LINEAR)
        mask = self._mask(head)
        region = img[cy0:cy1, cx0:cx1]
        p = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        m = mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        region[m] = p[m]

    def write(self, path: Path, t0: float, t1: float) -> int:
        """Write the frames for [t0, t1) to `path` (MJPG/AVI); returns the frame count."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".part.avi")
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), self.fps,
                                 (self.w, self.h))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {tmp}")
        n = 0
        try:
            t = t0
            while t < t1 - 1e-9:
                writer.write(self.frame(t))
                n += 1
                t = t0 + n / self.fps
        finally:
            writer.release()
        tmp.replace(path)
        return n
