"""Helpers for the vision tests: a real face detector (OpenCV's YuNet on the shared model
file, wrapped to the Detector protocol; the product ships its own decoders) and frames with
real faces from scikit-image pasted at known places."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from edge.vision.detection import (
    BgrImage,
    Box,
    Detection,
    DetectionKind,
    Landmarks,
    ModelInfo,
    Point,
)
from edge.vision.zoom import ZoomedDetector, ZoomParams
from sim.faces import face_photos, turn

YUNET = Path(__file__).resolve().parents[1].parent / "shared" / "models" / \
    "face_detection_yunet_2023mar.onnx"
if not YUNET.exists():
    YUNET = Path("/work/shared/models/face_detection_yunet_2023mar.onnx")


def yunet_path() -> Path:
    if not YUNET.exists():
        pytest.skip(f"the YuNet model file is absent ({YUNET}; see ../shared/models/README.md)")
    return YUNET


class CvYuNet:
    """cv2.FaceDetectorYN behind the Detector protocol (tests only)."""

    def __init__(self, path: Path, threshold: float = 0.6) -> None:
        self._det = cv2.FaceDetectorYN.create(str(path), "", (320, 320), threshold, 0.3, 50)
        self._size: tuple[int, int] | None = None

    @property
    def info(self) -> ModelInfo:
        return ModelInfo("yunet-cv2", "2023mar", DetectionKind.FACE)

    def detect(self, frame: BgrImage) -> list[Detection]:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError("not an H x W x 3 uint8 frame")
        size = (frame.shape[1], frame.shape[0])
        if size != self._size:
            self._det.setInputSize(size)
            self._size = size
        _, faces = self._det.detect(frame)
        out = []
        for f in faces if faces is not None else []:
            x, y, w, h = (float(v) for v in f[:4])
            p = [Point(float(f[4 + 2 * i]), float(f[5 + 2 * i])) for i in range(5)]
            out.append(Detection(DetectionKind.FACE, Box(x, y, x + w, y + h), float(f[14]),
                                 Landmarks(p[0], p[1], p[2], p[3], p[4])))
        return out


def astronaut_face() -> npt.NDArray[np.uint8]:
    """The astronaut's face (a frontal real face), BGR, about 170 px square."""
    from skimage import data

    astronaut: Callable[[], npt.NDArray[np.uint8]] = data.astronaut
    img = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(img[10:200, 130:320])


def scene(size: tuple[int, int] = (640, 480), faces: tuple[tuple[int, int, int], ...] = (),
          *, face: npt.NDArray[np.uint8] | None = None, seed: int = 0,
          mirror_turn: float = 0.0) -> npt.NDArray[np.uint8]:
    """A grey frame with the face pasted at (x, y) top left, `s` px wide, for each entry.
    `mirror_turn` > 0 squeezes the face's left part to mimic a head turning."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(150, 3, (h, w, 3)), 0, 255).astype(np.uint8)
    src = astronaut_face() if face is None else face
    for x, y, s in faces:
        patch = cv2.resize(src, (s, s), interpolation=cv2.INTER_AREA)
        x1, y1 = min(w, x + s), min(h, y + s)
        if x1 > x and y1 > y:
            img[y:y1, x:x1] = patch[:y1 - y, :x1 - x]
    return img


def photo_faces(yaw: float, size: int, at: int, threshold: float = 0.6) -> list[list[Detection]]:
    """Every 5th of scikit-image's real LFW photos, turned `yaw` degrees by the simulator's
    head model, pasted `size` px wide at (`at`, `at`) into a 160 x 160 grey frame and found by
    YuNet (`threshold`) enlarged twice, as the pipeline's band enlarges far faces: per photo,
    the detections that carry landmarks (a photo not found gives an empty list)."""
    det = ZoomedDetector(CvYuNet(yunet_path(), threshold), ZoomParams(2.0, (0.0, 1.0)))
    out = []
    for face in face_photos()[::5]:
        src = turn(face, yaw, (30, 30, 35)) if yaw else face
        img = np.full((160, 160, 3), 150, np.uint8)
        img[at:at + size, at:at + size] = cv2.resize(src, (size, size),
                                                     interpolation=cv2.INTER_AREA)
        out.append([d for d in det.detect(img) if d.landmarks is not None])
    return out
