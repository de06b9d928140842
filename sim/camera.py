"""Simulated cameras: video files of the store as each camera sees it.

Shoppers and staff in a camera's field of view are drawn in perspective (nearer is bigger),
with a real face taken from the images scikit-image ships (the Labeled Faces in the Wild
subset and the astronaut portrait) when they face the camera, and the back of a head when
they are turned away. Files are MJPG in AVI (OpenCV's wheels carry no H.264 encoder) and are
read back by the daemon's capture source through OpenCV, like any recorded camera.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from sim.world import FACE_TURN_DEG, Agent, CameraDef, World, angle_diff

CAMERA_HEIGHT_M = 2.0


def _faces() -> tuple[list[np.ndarray], np.ndarray]:
    """BGR face crops (square), and a hair patch for heads turned away."""
    from skimage import data

    # scikit-image ships no type hints: state what these two loaders return
    lfw_subset: Callable[[], np.ndarray] = data.lfw_subset
    astronaut: Callable[[], np.ndarray] = data.astronaut
    lfw = lfw_subset()[:100]  # the first 100 images of the subset are faces
    faces = [cv2.cvtColor((img * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR) for img in lfw]
    astro = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    faces[0] = astro[25:195, 145:315].copy()
    hair = astro[18:70, 170:290].copy()
    return faces, hair


class CameraRenderer:
    def __init__(self, world: World, camera: CameraDef) -> None:
        self.world = world
        self.camera = camera
        cp = world.params.camera
        self.w, self.h, self.fps = cp.width, cp.height, cp.fps
        self.focal = (self.w / 2) / math.tan(math.radians(camera.fov_deg / 2))
        self.faces, self.hair = _faces()
        self.background = self._background()
        self.rng = np.random.default_rng(
            [world.seed, *camera.id.encode(), *world.scenario.name.encode()])

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

    def frame(self, t: float) -> np.ndarray:
        img = self.background.copy()
        people: list[tuple[float, Agent, float, bool]] = []
        cam = self.camera
        for a in self.world.agents:
            st = a.state(t)
            if st is None or not cam.sees(st[0], st[1]):
                continue
            dx, dy = st[0] - cam.pos[0], st[1] - cam.pos[1]
            d = math.hypot(dx, dy)
            rel = angle_diff(math.atan2(dy, dx), cam.direction)
            to_cam = math.atan2(-dy, -dx)
            facing = abs(angle_diff(st[2], to_cam)) < math.radians(FACE_TURN_DEG)
            people.append((d, a, rel, facing))
        for dist, agent, angle, faces in sorted(people, key=lambda p: -p[0]):
            self._draw_person(img, agent, dist, angle, faces)
        noise = self.rng.integers(-6, 7, img.shape, dtype=np.int16)
        noisy: np.ndarray = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        return noisy

    def _draw_person(self, img: np.ndarray, a: Agent, d: float, rel: float,
                     facing: bool) -> None:
        u = int(self.w / 2 + self.focal * math.tan(rel))
        scale = self.focal / max(d, 0.5)
        head = max(8, int(0.32 * scale))
        head_y = int(self.h / 2 + (CAMERA_HEIGHT_M - 1.6) * scale)
        foot_y = int(self.h / 2 + CAMERA_HEIGHT_M * scale)
        body_w = int(0.45 * scale)
        color = tuple(int(c) for c in a.color[::-1])
        cv2.rectangle(img, (u - body_w // 2, head_y + head // 2), (u + body_w // 2, foot_y),
                      color, -1)
        x0, y0 = u - head // 2, head_y - head // 2
        x1, y1 = x0 + head, y0 + head
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(self.w, x1), min(self.h, y1)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        src = self.faces[a.face % len(self.faces)] if facing else self.hair
        patch = cv2.resize(src, (head, head), interpolation=cv2.INTER_LINEAR)
        mask = np.zeros((head, head), np.uint8)
        cv2.ellipse(mask, (head // 2, head // 2), (max(1, head * 9 // 20), max(1, head // 2)),
                    0, 0, 360, 255, -1)
        region = img[cy0:cy1, cx0:cx1]
        p = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        m = mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] > 0
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
