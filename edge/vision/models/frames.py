"""Checking and preparing frames for a model's input."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.detection import BgrImage


def check_frame(frame: object) -> BgrImage:
    """`frame` if it is an H x W x 3 uint8 array with H, W >= 1; else ValueError."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"a frame must be a numpy array, not {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"a frame must be uint8, not {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"a frame must be H x W x 3 (BGR), not {'x'.join(map(str, frame.shape))}")
    return frame


@dataclass(frozen=True)
class Letterbox:
    """A frame scaled by `scale` into the top left of a `width` x `height` canvas (the rest
    is padded): model coordinates / scale = frame coordinates."""

    image: BgrImage
    scale: float
    width: int
    height: int


def letterbox(frame: BgrImage, width: int, height: int, *, pad: int = 0) -> Letterbox:
    """Fit `frame` into width x height keeping its aspect ratio, top-left aligned."""
    h, w = frame.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = min(width, round(w * scale)), min(height, round(h * scale))
    if (nw, nh) != (w, h):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        frame = np.asarray(cv2.resize(frame, (nw, nh), interpolation=interp), dtype=np.uint8)
    if (nw, nh) == (width, height):
        return Letterbox(frame, scale, width, height)
    canvas = np.full((height, width, 3), pad, dtype=np.uint8)
    canvas[:nh, :nw] = frame
    return Letterbox(canvas, scale, width, height)
