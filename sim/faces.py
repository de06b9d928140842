"""Heads for the simulated cameras: real faces (the photos scikit-image ships) turned from
frontal towards profile, and the back of a head.

A face photo is frontal. To turn it by a yaw angle it is treated as a surface with depth: an
elliptic cylinder (the head) with a ridge for the nose. Each row is rotated about the vertical
axis and projected orthographically (x' = x cos(yaw) + z sin(yaw)); the near side is
stretched, the far side squeezed, and the nose moves past the eye midpoint, so a detector's
landmarks follow the turn. Where the turned face leaves the head's outline, the side of the
head shows (hair above, skin below). Crops are rendered once per face and yaw bucket.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np

BASE_PX = 96  # side of the square crops the renderer scales from
YAW_STEP_DEG = 5.0
HEAD_DEPTH = 1.3  # the head's depth per half face width (an elliptic cylinder)
NOSE_DEPTH = 0.55  # the nose ridge's height over the cylinder, per half face width
PHOTO_YAW_DEG = 7.0  # the LFW photos face about this far to one side on average: turn it back
NOSE_V = 0.2  # the nose ridge's centre row (-1 top, 1 bottom) in the face crop


@lru_cache(maxsize=1)
def face_photos() -> tuple[np.ndarray, ...]:
    """BGR square face crops (BASE_PX): the astronaut's and the first 100 images of the
    Labeled Faces in the Wild subset (its other 100 are not faces)."""
    from skimage import data

    # scikit-image ships no type hints: state what these two loaders return
    lfw_subset: Callable[[], np.ndarray] = data.lfw_subset
    astronaut: Callable[[], np.ndarray] = data.astronaut
    faces = []
    for img in lfw_subset()[:100]:
        g = cv2.resize((img * 255).astype(np.uint8), (BASE_PX, BASE_PX),
                       interpolation=cv2.INTER_CUBIC)
        faces.append(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR))
    astro = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    faces[0] = cv2.resize(astro[40:200, 150:310], (BASE_PX, BASE_PX),
                          interpolation=cv2.INTER_AREA)
    return tuple(faces)


def _depth(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Depth towards the viewer of the face point (u, v), both in [-1, 1]."""
    head = HEAD_DEPTH * np.sqrt(np.clip(1.0 - u * u, 0.0, 1.0))
    nose = NOSE_DEPTH * np.exp(-(u * u) / (2 * 0.13 ** 2)
                               - ((v - NOSE_V) ** 2) / (2 * 0.22 ** 2))
    out: np.ndarray = head + nose
    return out


def turn(face: np.ndarray, yaw_deg: float, hair: tuple[int, int, int]) -> np.ndarray:
    """The frontal face crop turned by `yaw_deg` (positive: the nose moves to the image's
    right), the side of the head filled in; same size as `face`."""
    s = face.shape[0]
    th = math.radians(yaw_deg + PHOTO_YAW_DEG)
    u = (np.arange(s, dtype=np.float32) + 0.5) / s * 2 - 1
    v = u.copy()
    map_x = np.empty((s, s), np.float32)
    valid = np.zeros((s, s), bool)
    for r in range(s):
        fwd = u * math.cos(th) + _depth(u, np.full_like(u, v[r])) * math.sin(th)
        # the far side folds behind the near one: keep the visible (outermost) part
        fwd = np.maximum.accumulate(fwd) if th >= 0 else np.minimum.accumulate(fwd[::-1])[::-1]
        src = np.interp(u, fwd, u, left=np.nan, right=np.nan)
        ok = ~np.isnan(src)
        valid[r] = ok
        map_x[r] = np.where(ok, (src + 1) / 2 * s - 0.5, 0)
    map_y = np.repeat(np.arange(s, dtype=np.float32)[:, None], s, axis=1)
    out = cv2.remap(face, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    skin = np.median(face[s // 3: 2 * s // 3, s // 3: 2 * s // 3].reshape(-1, 3), axis=0)
    side = np.empty_like(out)
    side[: s * 2 // 5] = hair
    side[s * 2 // 5:] = (skin * 0.8).astype(np.uint8)
    out[~valid] = side[~valid]
    return out


def back_of_head(size: int, hair: tuple[int, int, int], seed: int) -> np.ndarray:
    """A head seen from behind: hair with a little texture."""
    rng = np.random.default_rng(seed)
    img = np.empty((size, size, 3), np.uint8)
    img[:] = hair
    tex = rng.integers(-18, 19, (size // 4 + 1, size // 4 + 1, 1), dtype=np.int16)
    tex = cv2.resize(tex.astype(np.float32), (size, size))[..., None].astype(np.int16)
    out: np.ndarray = np.clip(img.astype(np.int16) + tex, 0, 255).astype(np.uint8)
    return out


class HeadSprites:
    """Head crops per face and yaw bucket, rendered on first use (so once per run)."""

    def __init__(self, seed: int) -> None:
        self.faces = face_photos()
        self.seed = seed
        self._turned: dict[tuple[int, int, tuple[int, int, int]], np.ndarray] = {}
        self._backs: dict[tuple[int, int, int], np.ndarray] = {}

    def face(self, index: int, yaw_deg: float, hair: tuple[int, int, int]) -> np.ndarray:
        bucket = round(yaw_deg / YAW_STEP_DEG)
        key = (index % len(self.faces), bucket, hair)
        img = self._turned.get(key)
        if img is None:
            img = turn(self.faces[key[0]], bucket * YAW_STEP_DEG, hair)
            self._turned[key] = img
        return img

    def back(self, hair: tuple[int, int, int]) -> np.ndarray:
        img = self._backs.get(hair)
        if img is None:
            img = back_of_head(BASE_PX, hair, self.seed)
            self._backs[hair] = img
        return img
