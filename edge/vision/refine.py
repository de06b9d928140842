"""A second, finer look at small faces, for the attention test's landmarks.

A face of 20-35 px gives landmarks whose nose barely leaves the eye midpoint even when the
head is turned 40 degrees (docs/vision.md, "Measured"): its yaw ratio reads frontal and a
shopper standing still in a queue becomes a false look. `RefiningDetector` wraps a detector:
for each face whose box's larger side is under `below_px`, it runs `crop_detector` again on
the face's own neighbourhood (the box grown by `margin` box sizes on each side) enlarged
`zoom` times, and gives the face the landmarks of the crop's detection that matches it (the
highest overlap with the face's box, at least MATCH_IOU). The box and score stay the first
look's (tracking is unchanged); a face the second look does not find keeps its landmarks.

The cost is one inference per small face on a small image ((1 + 2 x margin) x face x zoom
square: about 0.2 of a 640 x 480 frame for a 30 px face), at most `max_faces` a frame (the
smallest first). `below_px` = 0 turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge.vision.detection import BgrImage, Detection, Detector, ModelInfo
from edge.vision.zoom import unzoomed

MATCH_IOU = 0.3  # a crop detection overlapping the face's box less is another face


@dataclass(frozen=True)
class RefineParams:
    below_px: float = 0.0  # faces smaller than this (the box's larger side) get a second look
    zoom: float = 4.0
    margin: float = 0.5  # the crop: the box grown by this many box sizes on each side
    max_faces: int = 8  # second looks per frame at most (the smallest faces first)

    @property
    def enabled(self) -> bool:
        return self.below_px > 0 and self.zoom > 1.0 and self.max_faces > 0


def _size(d: Detection) -> float:
    return max(d.box.width, d.box.height)


def look_again(crop_detector: Detector, frame: BgrImage, face: Detection, zoom: float,
               margin: float = 0.5) -> Detection | None:
    """The detector's answer for `face` on a second look: its neighbourhood (the box grown
    by `margin` box sizes a side) enlarged `zoom` times; the crop's detection that overlaps
    the face's box most (at least MATCH_IOU, with landmarks), in the frame's pixels with
    the second look's own score; None when the second look does not find it."""
    h, w = frame.shape[:2]
    b = face.box
    m = margin * _size(face)
    x0, y0 = max(0, int(b.x1 - m)), max(0, int(b.y1 - m))
    x1, y1 = min(w, int(np.ceil(b.x2 + m))), min(h, int(np.ceil(b.y2 + m)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    crop = cv2.resize(frame[y0:y1, x0:x1], None, fx=zoom, fy=zoom,
                      interpolation=cv2.INTER_LINEAR)
    best: tuple[float, Detection] | None = None
    for found in crop_detector.detect(np.ascontiguousarray(crop)):
        d = unzoomed(found, zoom, float(x0), float(y0))
        iou = d.box.iou(b)
        if d.landmarks is not None and iou >= MATCH_IOU and (best is None or iou > best[0]):
            best = (iou, d)
    return None if best is None else best[1]


def refine_face(crop_detector: Detector, frame: BgrImage, face: Detection,
                params: RefineParams) -> Detection | None:
    """The face with its landmarks from the second look, or None when the second look does
    not find it."""
    again = look_again(crop_detector, frame, face, params.zoom, params.margin)
    if again is None or again.landmarks is None:
        return None
    return replace(face, landmarks=again.landmarks)


class RefiningDetector:
    """`inner`'s detections, the small faces' landmarks from a second look; the Detector
    protocol. `crop_detector` runs the second looks (usually the model behind `inner`)."""

    def __init__(self, inner: Detector, crop_detector: Detector,
                 params: RefineParams) -> None:
        self.inner, self.crop_detector, self.params = inner, crop_detector, params
        self.looks = 0  # second looks run
        self.found = 0  # ... that found their face

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    def detect(self, frame: BgrImage) -> list[Detection]:
        found = self.inner.detect(frame)
        p = self.params
        if not p.enabled:
            return found
        small = sorted((i for i, d in enumerate(found)
                        if d.landmarks is not None and _size(d) < p.below_px),
                       key=lambda i: _size(found[i]))[:p.max_faces]
        out = list(found)
        for i in small:
            self.looks += 1
            better = refine_face(self.crop_detector, frame, found[i], p)
            if better is not None:
                self.found += 1
                out[i] = better
        return out
