"""Real faces for the vision model tests: scikit-image's astronaut portrait and LFW subset
(the first 100 images are faces, the last 100 non-faces), and the shared model files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
if not SHARED_MODELS.is_dir():
    SHARED_MODELS = Path("/work/shared/models")

needs_shared = pytest.mark.skipif(
    not (SHARED_MODELS / "face_detection_yunet_2023mar.onnx").is_file(),
    reason=f"the YuNet and FastestDet test files are not in {SHARED_MODELS} (they are never "
           "committed; see docs/models.md)")


def _data() -> tuple[Callable[[], np.ndarray], Callable[[], np.ndarray]]:
    from skimage import data

    lfw: Callable[[], np.ndarray] = data.lfw_subset
    astro: Callable[[], np.ndarray] = data.astronaut
    return lfw, astro


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(_data()[1](), cv2.COLOR_RGB2BGR))


def lfw(faces: bool = True) -> list[np.ndarray]:
    imgs = (_data()[0]() * 255).astype(np.uint8)
    part = imgs[:100] if faces else imgs[100:]
    return [np.ascontiguousarray(cv2.cvtColor(i, cv2.COLOR_GRAY2BGR)) for i in part]


def textured(seed: int = 0, w: int = 640, h: int = 480) -> np.ndarray:
    """A face-free frame: blurred noise blocks and stripes, as shelves and floors look."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, (h // 16, w // 16, 3), dtype=np.uint8)
    frame = cv2.resize(base, (w, h), interpolation=cv2.INTER_NEAREST)
    frame = cv2.GaussianBlur(frame, (5, 5), 0)
    noise = rng.integers(-20, 20, (h, w, 3))
    out = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    out[::40, :] = 20
    return out


def paste_scene(faces: list[np.ndarray], size: int, seed: int = 0, w: int = 640, h: int = 480,
                per_row: int = 0) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """`faces` resized to size x size on a grid in a textured w x h frame; returns the frame
    and each face's (x, y, x2, y2)."""
    frame = textured(seed, w, h)
    gap = size // 2 + 10
    cols = per_row or max(1, (w - gap) // (size + gap))
    truth = []
    for k, face in enumerate(faces):
        r, c = divmod(k, cols)
        x, y = gap + c * (size + gap), gap + r * (size + gap)
        if y + size > h - gap // 2 or x + size > w - gap // 2:
            break
        interp = cv2.INTER_AREA if size < face.shape[0] else cv2.INTER_LINEAR
        frame[y:y + size, x:x + size] = cv2.resize(face, (size, size), interpolation=interp)
        truth.append((x, y, x + size, y + size))
    return frame, truth
