"""YuNet (Wu, Peng, Yu 2023; OpenCV zoo, MIT): a face detector with five landmarks.

Input: BGR float 0-255, NCHW, sides multiples of 32. The 2023mar file's input is fixed at
640 x 640; `load_detector` makes its height and width free (see `onnx_dims`), so a frame is
scaled to a longer side of `max_side` (640) and padded up to multiples of 32: a 640 x 480
frame goes in as it is. With a fixed-size file a frame is letterboxed into it instead.
Outputs per stride s in (8, 16, 32), row-major over the (H/s) x (W/s) grid: cls, obj
(score = sqrt(cls * obj)), bbox (dx, dy, log w, log h in stride units) and kps (five x, y
offsets in stride units).
"""

from __future__ import annotations

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
from edge.vision.models.base import OnnxDetector, as_float, input_size
from edge.vision.models.errors import ModelLoadError
from edge.vision.models.frames import letterbox
from edge.vision.models.nms import nms

F32 = npt.NDArray[np.float32]
STRIDES = (8, 16, 32)
SCORE = 0.6
NMS_IOU = 0.3
TOP_K = 750


def decode(outputs: dict[str, F32], width: int, height: int,
           score_threshold: float) -> tuple[F32, F32, F32]:
    """Boxes (N x 4, x1 y1 x2 y2), scores (N) and landmarks (N x 5 x 2) in input pixels."""
    boxes, scores, marks = [], [], []
    for s in STRIDES:
        cols = width // s
        cls = np.clip(outputs[f"cls_{s}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{s}"].reshape(-1), 0, 1)
        score = np.sqrt(cls * obj)
        idx = np.flatnonzero(score >= score_threshold)
        if idx.size == 0:
            continue
        bbox = outputs[f"bbox_{s}"].reshape(-1, 4)[idx]
        kps = outputs[f"kps_{s}"].reshape(-1, 10)[idx]
        c = (idx % cols).astype(np.float32)
        r = (idx // cols).astype(np.float32)
        cx, cy = (c + bbox[:, 0]) * s, (r + bbox[:, 1]) * s
        w, h = np.exp(bbox[:, 2]) * s, np.exp(bbox[:, 3]) * s
        boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
        scores.append(score[idx])
        k = kps.reshape(-1, 5, 2)
        marks.append(np.stack([(k[:, :, 0] + c[:, None]) * s, (k[:, :, 1] + r[:, None]) * s],
                              axis=2))
    if not boxes:
        return (np.empty((0, 4), np.float32), np.empty(0, np.float32),
                np.empty((0, 5, 2), np.float32))
    return (np.concatenate(boxes).astype(np.float32), np.concatenate(scores).astype(np.float32),
            np.concatenate(marks).astype(np.float32))


class YunetDetector(OnnxDetector):
    def __init__(self, session: ort.InferenceSession, *, version: str,
                 score_threshold: float = SCORE, nms_threshold: float = NMS_IOU,
                 max_side: int = 640) -> None:
        super().__init__(ModelInfo("yunet", version, DetectionKind.FACE))
        names = {o.name for o in session.get_outputs()}
        want = {f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in STRIDES}
        if not want <= names:
            raise ModelLoadError(f"not a YuNet model: outputs lack {sorted(want - names)}")
        self._session = session
        self._input = session.get_inputs()[0].name
        self._outputs = [o.name for o in session.get_outputs()]
        self._size = input_size(session)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        if max_side < 32:
            raise ValueError(f"max_side must be at least 32, not {max_side}")
        self.max_side = max_side

    def _canvas(self, h: int, w: int) -> tuple[int, int]:
        """The input size for an h x w frame: the file's, when fixed; else the frame scaled
        so its longer side is `max_side`, rounded up to multiples of 32."""
        fw, fh = self._size
        if fw is not None and fh is not None:
            return fw, fh
        scale = self.max_side / max(w, h)
        return (-(-round(w * scale) // 32) * 32, -(-round(h * scale) // 32) * 32)

    def _detect(self, frame: BgrImage) -> list[Detection]:
        h, w = frame.shape[:2]
        cw, ch = self._canvas(h, w)
        lb = letterbox(frame, cw, ch)
        blob = lb.image.transpose(2, 0, 1)[None].astype(np.float32)
        out = self._run(self._session, {self._input: blob})
        named = {n: as_float(v) for n, v in zip(self._outputs, out, strict=True)}
        boxes, scores, marks = decode(named, cw, ch, self.score_threshold)
        keep = nms(boxes, scores, self.nms_threshold, top_k=TOP_K)
        inv = 1.0 / lb.scale
        found = []
        for i in keep:
            b = boxes[i] * inv
            m = marks[i] * inv
            pts = [Point(float(m[k, 0]), float(m[k, 1])) for k in range(5)]
            found.append(Detection(
                DetectionKind.FACE,
                Box(max(0.0, float(b[0])), max(0.0, float(b[1])), min(float(w), float(b[2])),
                    min(float(h), float(b[3]))),
                float(scores[i]),
                Landmarks(right_eye=pts[0], left_eye=pts[1], nose=pts[2], right_mouth=pts[3],
                          left_mouth=pts[4])))
        return found
