"""Person detectors in the common ONNX output shapes: FastestDet, YOLO-style and SSD-style.

- FastestDet (dog-qiuqiu, BSD-3): 352 x 352 BGR / 255 in; out 1 x (5 + 80) x H x W: obj,
  tanh(dx), tanh(dy), sigmoid(w), sigmoid(h) per cell, then COCO class scores (0 = person);
  score = obj x class score, as in the upstream example.
- YOLO-style (YOLOv5u/v8/v11 exports): letterboxed RGB / 255 in; out 1 x (4 + C) x N rows
  cx, cy, w, h in input pixels then C class scores (1 x N x (4 + C) is transposed).
- SSD-style: resized RGB in, (x - mean) / std; out boxes 1 x N x 4 normalised (x1 y1 x2 y2,
  or y1 x1 y2 x2 with `box_order="yxyx"`) and scores 1 x N x C (`person_class`, 1 when class
  0 is the background).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge.vision.detection import BgrImage, Box, Detection, DetectionKind, ModelInfo
from edge.vision.models.base import OnnxDetector, as_float, input_size
from edge.vision.models.errors import ModelLoadError
from edge.vision.models.frames import letterbox
from edge.vision.models.nms import nms

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Decoded:
    """Boxes (N x 4, x1 y1 x2 y2) in frame pixels and their scores, before NMS."""

    boxes: F32
    scores: F32

    @staticmethod
    def empty() -> Decoded:
        return Decoded(np.empty((0, 4), np.float32), np.empty(0, np.float32))


def decode_fastestdet(out: F32, width: int, height: int, threshold: float,
                      cls: int = 0) -> Decoded:
    """`out` is 1 x (5 + C) x H x W; boxes in a width x height frame."""
    f = out[0]
    _, gh, gw = f.shape
    score = f[0] * f[5 + cls]
    ys, xs = np.nonzero(score > threshold)
    if ys.size == 0:
        return Decoded.empty()
    cx = (xs + np.tanh(f[1, ys, xs])) / gw
    cy = (ys + np.tanh(f[2, ys, xs])) / gh
    bw = 1.0 / (1.0 + np.exp(-f[3, ys, xs]))
    bh = 1.0 / (1.0 + np.exp(-f[4, ys, xs]))
    boxes = np.stack([(cx - bw / 2) * width, (cy - bh / 2) * height,
                      (cx + bw / 2) * width, (cy + bh / 2) * height], axis=1)
    return Decoded(boxes.astype(np.float32), score[ys, xs].astype(np.float32))


def decode_yolo(out: F32, threshold: float, cls: int = 0) -> Decoded:
    """`out` is 1 x (4 + C) x N (or 1 x N x (4 + C)); boxes in input pixels."""
    a = out[0]
    if a.shape[0] > a.shape[1]:
        a = a.T
    if a.shape[0] < 5 or cls >= a.shape[0] - 4:
        raise ValueError(f"a YOLO output of {a.shape[0]} rows has no class {cls}")
    score = a[4 + cls]
    keep = np.flatnonzero(score > threshold)
    cx, cy, w, h = a[0, keep], a[1, keep], a[2, keep], a[3, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return Decoded(boxes.astype(np.float32).reshape(-1, 4), score[keep].astype(np.float32))


def decode_ssd(boxes: F32, scores: F32, width: int, height: int, threshold: float,
               cls: int = 1, box_order: str = "xyxy") -> Decoded:
    """`boxes` 1 x N x 4 normalised, `scores` 1 x N x C; boxes in a width x height frame."""
    b, s = boxes[0], scores[0]
    if s.ndim == 1:
        s = s[:, None]
    if cls >= s.shape[1]:
        raise ValueError(f"SSD scores have {s.shape[1]} classes, no class {cls}")
    score = s[:, cls]
    keep = np.flatnonzero(score > threshold)
    b = b[keep]
    if box_order == "yxyx":
        b = b[:, [1, 0, 3, 2]]
    scaled = b * np.array([width, height, width, height], dtype=np.float32)
    return Decoded(scaled.astype(np.float32).reshape(-1, 4), score[keep].astype(np.float32))


def _detections(d: Decoded, nms_threshold: float, w: int, h: int) -> list[Detection]:
    keep = nms(d.boxes, d.scores, nms_threshold)
    return [Detection(DetectionKind.PERSON,
                      Box(max(0.0, float(d.boxes[i, 0])), max(0.0, float(d.boxes[i, 1])),
                          min(float(w), float(d.boxes[i, 2])), min(float(h), float(d.boxes[i, 3]))),
                      float(d.scores[i])) for i in keep]


def _fixed_size(session: ort.InferenceSession, what: str) -> tuple[int, int]:
    w, h = input_size(session)
    if w is None or h is None:
        raise ModelLoadError(f"{what}: the input size must be fixed in the file")
    return w, h


class FastestDetDetector(OnnxDetector):
    def __init__(self, session: ort.InferenceSession, *, version: str, name: str = "fastestdet",
                 score_threshold: float = 0.5, nms_threshold: float = 0.35) -> None:
        super().__init__(ModelInfo(name, version, DetectionKind.PERSON))
        shape = session.get_outputs()[0].shape
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] < 6):
            raise ModelLoadError(f"not a FastestDet model: output shape {shape}")
        self._session = session
        self._input = session.get_inputs()[0].name
        self._size = _fixed_size(session, "FastestDet")
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold

    def _detect(self, frame: BgrImage) -> list[Detection]:
        h, w = frame.shape[:2]
        # INTER_LINEAR, not the upstream example's INTER_AREA: 0.25 ms against 1.7 ms here
        img = cv2.resize(frame, self._size, interpolation=cv2.INTER_LINEAR)
        blob = (img.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1 / 255))
        out = as_float(self._run(self._session, {self._input: blob})[0])
        return _detections(decode_fastestdet(out, w, h, self.score_threshold),
                           self.nms_threshold, w, h)


class YoloDetector(OnnxDetector):
    def __init__(self, session: ort.InferenceSession, *, version: str, name: str = "yolo",
                 score_threshold: float = 0.35, nms_threshold: float = 0.45,
                 person_class: int = 0) -> None:
        super().__init__(ModelInfo(name, version, DetectionKind.PERSON))
        self._session = session
        self._input = session.get_inputs()[0].name
        self._size = _fixed_size(session, "YOLO")
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.person_class = person_class

    def _detect(self, frame: BgrImage) -> list[Detection]:
        h, w = frame.shape[:2]
        lb = letterbox(frame, *self._size, pad=114)
        blob = lb.image[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
        out = as_float(self._run(self._session, {self._input: blob})[0])
        d = decode_yolo(out, self.score_threshold, self.person_class)
        return _detections(Decoded(d.boxes / lb.scale, d.scores), self.nms_threshold, w, h)


class SsdDetector(OnnxDetector):
    def __init__(self, session: ort.InferenceSession, *, version: str, name: str = "ssd",
                 score_threshold: float = 0.5, nms_threshold: float = 0.45,
                 person_class: int = 1, box_order: str = "xyxy", mean: float = 127.5,
                 std: float = 127.5) -> None:
        super().__init__(ModelInfo(name, version, DetectionKind.PERSON))
        if box_order not in ("xyxy", "yxyx"):
            raise ValueError(f"box_order must be xyxy or yxyx, not {box_order!r}")
        outs = session.get_outputs()
        box_out = [o.name for o in outs if "box" in o.name.lower()]
        score_out = [o.name for o in outs if "score" in o.name.lower() or "conf" in o.name.lower()]
        if len(box_out) != 1 or len(score_out) != 1:
            raise ModelLoadError(f"not an SSD-style model: outputs {[o.name for o in outs]} "
                                 "need one named *box* and one named *score*/*conf*")
        self._names = [box_out[0], score_out[0]]
        self._session = session
        inp = session.get_inputs()[0]
        self._input = inp.name
        self._nhwc = inp.shape[-1] == 3
        shape: list[Any] = inp.shape
        hw = (shape[1], shape[2]) if self._nhwc else (shape[2], shape[3])
        if not all(isinstance(v, int) for v in hw):
            raise ModelLoadError("SSD: the input size must be fixed in the file")
        self._size = (int(hw[1]), int(hw[0]))
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.person_class, self.box_order = person_class, box_order
        self.mean, self.std = mean, std

    def _detect(self, frame: BgrImage) -> list[Detection]:
        h, w = frame.shape[:2]
        img = cv2.resize(frame, self._size, interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
        x = (img.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)
        blob = x[None] if self._nhwc else x.transpose(2, 0, 1)[None]
        boxes, scores = self._ordered(blob)
        d = decode_ssd(boxes, scores, w, h, self.score_threshold, self.person_class,
                       self.box_order)
        return _detections(d, self.nms_threshold, w, h)

    def _ordered(self, blob: F32) -> tuple[F32, F32]:
        outs = self._run(self._session, {self._input: np.ascontiguousarray(blob)})
        named = dict(zip([o.name for o in self._session.get_outputs()], outs, strict=True))
        return as_float(named[self._names[0]]), as_float(named[self._names[1]])
