"""MTCNN (Zhang et al. 2016) over the P-, R- and O-nets exported from facenet-pytorch.

The cascade follows `facenet_pytorch.models.utils.detect_face` step for step, so the boxes
match the torch implementation's: an image pyramid (factor 0.709) with P-net proposals per
scale, NMS per scale (IoU 0.5) and across scales (0.7), bounding-box regression and squaring,
R-net on 24 x 24 crops (NMS 0.7), O-net on 48 x 48 crops giving the five landmarks, and a
last NMS by intersection over the smaller box.

Every resize is torch's `interpolate(mode="area")`, i.e. an adaptive average pool: output
cell i averages input pixels floor(i*n/m) .. ceil((i+1)*n/m) - 1. It is computed exactly from
one integral image per frame (shared by all pyramid levels and all crops); `cv2.INTER_AREA`
weighs fractional pixels instead and shifts the boxes (IoU 0.93-0.95 against torch's).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge.vision.detection import (
    BgrImage,
    Box,
    Detection,
    DetectionKind,
    Landmarks,
    ModelInfo,
    Point,
)
from edge.vision.models.base import OnnxDetector, as_float
from edge.vision.models.nms import Overlap, nms

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

THRESHOLDS = (0.6, 0.7, 0.7)
FACTOR = 0.709
MIN_FACE = 40


def _bins(n_in: int, n_out: int) -> tuple[I64, I64]:
    i = np.arange(n_out, dtype=np.int64)
    return (i * n_in) // n_out, ((i + 1) * n_in + n_out - 1) // n_out


class AreaResizer:
    """Exact adaptive average pooling of regions of one image, via its integral image."""

    def __init__(self, bgr: npt.NDArray[np.uint8]) -> None:
        h, w, _ = bgr.shape
        # (h + 1) x (w + 1) x 3 sums with a zero first row and column (BGR order still);
        # int32 is exact up to 2^23 pixels (255 x 2^23 < 2^31), float64 beyond (4K and up)
        depth = cv2.CV_32S if h * w <= (1 << 23) else cv2.CV_64F
        self._s = cv2.integral(bgr, sdepth=depth)

    def resize(self, y0: int, y1: int, x0: int, x1: int, oh: int, ow: int) -> F32:
        """Rows y0..y1-1 and columns x0..x1-1 averaged into oh x ow x 3 (float32)."""
        ys, ye = _bins(y1 - y0, oh)
        xs, xe = _bins(x1 - x0, ow)
        ys, ye, xs, xe = ys + y0, ye + y0, xs + x0, xe + x0
        rows = self._s[ye] - self._s[ys]  # oh x (w + 1) x 3: sums over each band of rows
        total = rows[:, xe] - rows[:, xs]
        count = ((ye - ys)[:, None] * (xe - xs)[None, :]).astype(np.float32)
        out: F32 = total.astype(np.float32) / count[..., None]
        return out

    def resize_many(self, y0: I64, y1: I64, x0: I64, x1: I64, size: int) -> F32:
        """Each region k (rows y0[k]..y1[k]-1, columns x0[k]..x1[k]-1) into size x size x 3."""
        i = np.arange(size, dtype=np.int64)[None]
        hy, wx = (y1 - y0)[:, None], (x1 - x0)[:, None]
        ys, ye = y0[:, None] + (i * hy) // size, y0[:, None] + ((i + 1) * hy + size - 1) // size
        xs, xe = x0[:, None] + (i * wx) // size, x0[:, None] + ((i + 1) * wx + size - 1) // size
        return self._pool(ys, ye, xs, xe)

    def _pool(self, ys: I64, ye: I64, xs: I64, xe: I64) -> F32:
        """K x oh x ow x 3 means of the cells [ys, ye) x [xs, xe) (each K x oh or K x ow)."""
        stride = self._s.shape[1]
        flat = self._s.reshape(-1, 3)
        ys_, ye_ = ys[:, :, None] * stride, ye[:, :, None] * stride
        xs_, xe_ = xs[:, None, :], xe[:, None, :]
        total = (flat.take((ye_ + xe_).ravel(), axis=0) - flat.take((ys_ + xe_).ravel(), axis=0)
                 - flat.take((ye_ + xs_).ravel(), axis=0) + flat.take((ys_ + xs_).ravel(),
                                                                      axis=0))
        count = ((ye - ys)[:, :, None] * (xe - xs)[:, None, :]).astype(np.float32)
        out: F32 = (total.astype(np.float32).reshape(*count.shape, 3) / count[..., None])
        return out


def _normalise(hwc: F32) -> F32:
    """... x H x W x 3 BGR pixel means -> ... x 3 x H x W RGB network input (the nets were
    trained on RGB)."""
    out: F32 = np.ascontiguousarray(np.moveaxis(
        (hwc[..., ::-1] - np.float32(127.5)) * np.float32(0.0078125), -1, -3))
    return out


def _rerec(b: F32) -> F32:
    h = b[:, 3] - b[:, 1]
    w = b[:, 2] - b[:, 0]
    side = np.maximum(w, h)
    b = b.copy()
    b[:, 0] = b[:, 0] + w * 0.5 - side * 0.5
    b[:, 1] = b[:, 1] + h * 0.5 - side * 0.5
    b[:, 2] = b[:, 0] + side
    b[:, 3] = b[:, 1] + side
    return b


def _bbreg(b: F32, reg: F32) -> F32:
    w = b[:, 2] - b[:, 0] + 1
    h = b[:, 3] - b[:, 1] + 1
    b = b.copy()
    b[:, 0] = b[:, 0] + reg[:, 0] * w
    b[:, 1] = b[:, 1] + reg[:, 1] * h
    b[:, 2] = b[:, 2] + reg[:, 2] * w
    b[:, 3] = b[:, 3] + reg[:, 3] * h
    return b


def _pad(b: F32, w: int, h: int) -> tuple[I64, I64, I64, I64]:
    """facenet-pytorch's crop bounds: truncated, clamped to 1..w / 1..h (1-based)."""
    t = np.trunc(b[:, :4]).astype(np.int64)
    x, y, ex, ey = t[:, 0], t[:, 1], t[:, 2], t[:, 3]
    return np.maximum(y, 1), np.minimum(ey, h), np.maximum(x, 1), np.minimum(ex, w)


class MtcnnDetector(OnnxDetector):
    def __init__(self, pnet: ort.InferenceSession, rnet: ort.InferenceSession,
                 onet: ort.InferenceSession, *, version: str, min_face: float = MIN_FACE,
                 thresholds: tuple[float, float, float] = THRESHOLDS,
                 factor: float = FACTOR) -> None:
        super().__init__(ModelInfo("mtcnn", version, DetectionKind.FACE))
        if min_face < 12:
            raise ValueError(f"min_face must be at least 12 px, not {min_face}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be between 0 and 1, not {factor}")
        self._pnet, self._rnet, self._onet = pnet, rnet, onet
        self.min_face = float(min_face)
        self.thresholds = thresholds
        self.factor = factor

    def _scales(self, h: int, w: int) -> list[float]:
        m = 12.0 / self.min_face
        minl = min(h, w) * m
        scales = []
        scale = m
        while minl >= 12:
            scales.append(scale)
            scale *= self.factor
            minl *= self.factor
        return scales

    def _stage1(self, area: AreaResizer, h: int, w: int) -> F32:
        found = []
        for scale in self._scales(h, w):
            hs, ws = int(h * scale + 1), int(w * scale + 1)
            blob = _normalise(area.resize(0, h, 0, w, hs, ws))[None]
            reg, prob = (as_float(o) for o in self._run(self._pnet, {"input": blob}))
            p = prob[0, 1]
            ys, xs = np.nonzero(p >= self.thresholds[0])
            if ys.size == 0:
                continue
            sc = np.float32(scale)
            bx, by = xs.astype(np.float32), ys.astype(np.float32)
            boxes = np.stack([
                np.floor((2 * bx + 1) / sc), np.floor((2 * by + 1) / sc),
                np.floor((2 * bx + 12) / sc), np.floor((2 * by + 12) / sc),
                p[ys, xs], reg[0, 0, ys, xs], reg[0, 1, ys, xs], reg[0, 2, ys, xs],
                reg[0, 3, ys, xs]], axis=1).astype(np.float32)
            found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
        if not found:
            return np.empty((0, 5), dtype=np.float32)
        boxes = np.concatenate(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        regw = boxes[:, 2] - boxes[:, 0]
        regh = boxes[:, 3] - boxes[:, 1]
        out = np.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
                        boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh,
                        boxes[:, 4]], axis=1).astype(np.float32)
        return _rerec(out)

    def _crops(self, area: AreaResizer, boxes: F32, w: int, h: int,
               size: int) -> tuple[F32, npt.NDArray[np.bool_]]:
        y, ey, x, ex = _pad(boxes, w, h)
        ok = (ey > y - 1) & (ex > x - 1)
        if not ok.any():
            return np.empty((0, 3, size, size), np.float32), ok
        return _normalise(area.resize_many(y[ok] - 1, ey[ok], x[ok] - 1, ex[ok], size)), ok

    def _detect(self, frame: BgrImage) -> list[Detection]:
        h, w = frame.shape[:2]
        area = AreaResizer(frame)
        boxes = self._stage1(area, h, w)
        if len(boxes) == 0:
            return []
        # R-net
        blob, ok = self._crops(area, boxes, w, h, 24)
        boxes = boxes[ok]
        if len(boxes) == 0:
            return []
        reg, prob = (as_float(o) for o in self._run(self._rnet, {"input": blob}))
        keep = prob[:, 1] > self.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        reg = reg[keep]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _rerec(_bbreg(boxes[pick], reg[pick]))
        if len(boxes) == 0:
            return []
        # O-net
        blob, ok = self._crops(area, boxes, w, h, 48)
        boxes = boxes[ok]
        if len(boxes) == 0:
            return []
        reg, marks, prob = (as_float(o) for o in self._run(self._onet, {"input": blob}))
        keep = prob[:, 1] > self.thresholds[2]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        reg, marks = reg[keep], marks[keep]
        bw = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        bh = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        px = bw * marks[:, :5] + boxes[:, 0:1] - 1
        py = bh * marks[:, 5:] + boxes[:, 1:2] - 1
        boxes = _bbreg(boxes, reg)
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7, overlap=Overlap.MIN, inclusive=True)
        return [self._detection(boxes[i], px[i], py[i], w, h) for i in pick]

    @staticmethod
    def _detection(b: F32, px: F32, py: F32, w: int, h: int) -> Detection:
        # MTCNN's points are in image order: the image's left eye (the subject's right) first
        pts = [Point(float(px[k]), float(py[k])) for k in range(5)]
        box = Box(max(0.0, float(b[0])), max(0.0, float(b[1])), min(float(w), float(b[2])),
                  min(float(h), float(b[3])))
        return Detection(DetectionKind.FACE, box, float(b[4]),
                         Landmarks(right_eye=pts[0], left_eye=pts[1], nose=pts[2],
                                   right_mouth=pts[3], left_mouth=pts[4]))
