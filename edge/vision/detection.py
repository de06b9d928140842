"""What a detector gives the vision pipeline, whichever model is behind it.

A detector takes one BGR frame (a numpy ``uint8`` array, H x W x 3, as OpenCV decodes it)
and returns detections in that frame's pixel coordinates. Every model (MTCNN, YuNet, the
person detectors) is wrapped to this interface, so the pipeline cannot tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

BgrImage = npt.NDArray[np.uint8]
"""An H x W x 3 BGR frame."""


class DetectionKind(StrEnum):
    """What was detected."""

    FACE = "face"
    PERSON = "person"


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Landmarks:
    """The five face landmarks, in the frame's pixels, named from the subject's side (the
    subject's right eye appears on the image's left)."""

    right_eye: Point
    left_eye: Point
    nose: Point
    right_mouth: Point
    left_mouth: Point


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in the frame's pixels: (x1, y1) top left, (x2, y2) bottom right."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: Box) -> float:
        """Intersection over union with `other` (0 when either is empty)."""
        w = min(self.x2, other.x2) - max(self.x1, other.x1)
        h = min(self.y2, other.y2) - max(self.y1, other.y1)
        inter = max(0.0, w) * max(0.0, h)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Detection:
    """One face or person in a frame: its box, the model's score (0-1) and, for faces from a
    model that gives them, the five landmarks."""

    kind: DetectionKind
    box: Box
    score: float
    landmarks: Landmarks | None = None


@dataclass(frozen=True)
class ModelInfo:
    """Which model made a detection: reported in audience events (name and version only)."""

    name: str
    version: str
    kind: DetectionKind


class Detector(Protocol):
    """A loaded model. `detect` is blocking (run it off the event loop) and thread-confined:
    one detector per thread. Raises `ValueError` for a frame that is not H x W x 3 uint8."""

    @property
    def info(self) -> ModelInfo: ...

    def detect(self, frame: BgrImage) -> list[Detection]: ...
