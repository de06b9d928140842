"""Debug frames: the only way a frame reaches the disk, and then with every face blurred.

Off unless `privacy.store_frames` is true and `vision.debug_dir` is set. Each face box
(grown by a margin) is replaced by a strong Gaussian blur plus pixelation before the frame is
written as JPEG, so no face in a debug frame can be recognised.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.detection import Box

MARGIN = 0.25


def blur_faces(image: npt.NDArray[np.uint8], boxes: list[Box]) -> npt.NDArray[np.uint8]:
    """A copy of `image` with every box (grown by 25% a side) pixelated and blurred."""
    out = image.copy()
    h, w = out.shape[:2]
    for b in boxes:
        mx, my = b.width * MARGIN, b.height * MARGIN
        x1, y1 = max(0, int(b.x1 - mx)), max(0, int(b.y1 - my))
        x2, y2 = min(w, math.ceil(b.x2 + mx)), min(h, math.ceil(b.y2 + my))
        if x2 <= x1 or y2 <= y1:
            continue
        roi = out[y1:y2, x1:x2]
        small = cv2.resize(roi, (max(1, (x2 - x1) // 12), max(1, (y2 - y1) // 12)),
                           interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
        k = max(3, ((max(x2 - x1, y2 - y1) // 4) | 1))
        out[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (k, k), 0)
    return out


class DebugFrames:
    """Writes blurred frames to `folder` (at most `every_n`-th analysed frame per camera)."""

    def __init__(self, folder: Path, every_n: int = 10) -> None:
        self.folder, self.every_n = folder, max(1, every_n)
        self.written = 0
        self.failed = 0
        self._seen: dict[str, int] = {}

    def __call__(self, camera: str, index: int, image: npt.NDArray[np.uint8],
                 boxes: list[Box]) -> None:
        n = self._seen.get(camera, 0)
        self._seen[camera] = n + 1
        if n % self.every_n:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            ok = cv2.imwrite(str(self.folder / f"{camera}-{index:08d}.jpg"),
                             blur_faces(image, boxes))
        except (OSError, cv2.error):
            ok = False
        if ok:
            self.written += 1
        else:
            self.failed += 1
