"""Small, far faces: run the detector a second time on an enlarged band of the frame.

A camera mounted on a screen at about head height sees far people's heads near the
horizon, a horizontal band around the middle of the frame, and small: a 640 x 480 camera
with an 80 degree lens shows a head 6 m away about 25 px tall, where face detectors at their
native scale find few faces (YuNet rarely below about 40 px) and their landmarks do not
follow a turned head. `ZoomedDetector` wraps any face detector: it detects on the whole
frame as before, and again on the band (`band`, fractions of the frame's height, whole
width) enlarged `zoom` times; the band's detections are mapped back to the frame's pixels
and merged with the frame's (a face found in both keeps the better-scoring detection, and
its landmarks). A band detection that touches the band's top or bottom edge is a face cut by
the band, which the whole frame sees better: it is dropped.

The cost is one more inference on zoom^2 x the band's share of the frame (2^2 x 0.28 = 1.1
frames with the defaults). `zoom` = 1 turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.detection import BgrImage, Box, Detection, Detector, Landmarks, ModelInfo, Point
from edge.vision.models.nms import Overlap, nms

EDGE_PX = 2.0  # a band detection within this of the band's top or bottom edge is cut
MERGE_OVERLAP = 0.5  # a detection covering more than this of a better one's is the same face


@dataclass(frozen=True)
class ZoomParams:
    zoom: float = 2.0
    band: tuple[float, float] = (0.42, 0.70)  # top and bottom, fractions of the height

    @property
    def enabled(self) -> bool:
        return self.zoom > 1.0 and self.band[1] > self.band[0]


def unzoomed(d: Detection, s: float, dx: float = 0.0, dy: float = 0.0) -> Detection:
    """`d`, found on a region of the frame enlarged `s` times whose top left corner is at
    (`dx`, `dy`), in the frame's pixels (box and landmarks)."""
    def p(q: Point) -> Point:
        return Point(q.x / s + dx, q.y / s + dy)

    lm = d.landmarks
    return Detection(d.kind, Box(d.box.x1 / s + dx, d.box.y1 / s + dy, d.box.x2 / s + dx,
                                 d.box.y2 / s + dy), d.score,
                     None if lm is None else Landmarks(p(lm.right_eye), p(lm.left_eye),
                                                       p(lm.nose), p(lm.right_mouth),
                                                       p(lm.left_mouth)))


def merge(dets: list[Detection]) -> list[Detection]:
    """One detection per face: of overlapping ones (intersection over the smaller box above
    MERGE_OVERLAP) the best-scoring is kept."""
    if len(dets) < 2:
        return dets
    boxes = np.array([(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in dets], np.float64)
    scores = np.array([d.score for d in dets], np.float64)
    return [dets[i] for i in nms(boxes, scores, MERGE_OVERLAP, overlap=Overlap.MIN).tolist()]


class ZoomedDetector:
    """`inner` on the whole frame and on the enlarged band; the Detector protocol."""

    def __init__(self, inner: Detector, params: ZoomParams | None = None) -> None:
        self.inner = inner
        self.params = params or ZoomParams()

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    def band_rows(self, height: int) -> tuple[int, int]:
        top, bottom = self.params.band
        y0 = max(0, min(height, round(top * height)))
        y1 = max(y0, min(height, round(bottom * height)))
        return y0, y1

    def detect(self, frame: BgrImage) -> list[Detection]:
        found = self.inner.detect(frame)  # raises ValueError for a bad frame, as any detector
        if not self.params.enabled:
            return found
        y0, y1 = self.band_rows(frame.shape[0])
        if y1 - y0 < 8:
            return found
        s = self.params.zoom
        band = cv2.resize(frame[y0:y1], None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        h = band.shape[0]
        extra = [unzoomed(d, s, dy=float(y0)) for d in self.inner.detect(np.ascontiguousarray(band))
                 if d.box.y1 > EDGE_PX and d.box.y2 < h - EDGE_PX]
        return merge(found + extra)
