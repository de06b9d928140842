"""Non-maximum suppression: one numpy helper for every decoder.

numpy rather than `cv2.dnn.NMSBoxes`: MTCNN's last stage suppresses by intersection over the
smaller box ("min") with inclusive pixel areas (+1), which NMSBoxes cannot do, and keeping
one implementation makes the MTCNN boxes identical to facenet-pytorch's.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.floating]
Indices = npt.NDArray[np.intp]


class Overlap(StrEnum):
    UNION = "union"  # intersection over union
    MIN = "min"  # intersection over the smaller box


def nms(boxes: Floats, scores: Floats, threshold: float, *, overlap: Overlap = Overlap.UNION,
        inclusive: bool = False, top_k: int | None = None) -> Indices:
    """Indices of the boxes kept, best score first. `boxes` is N x 4 (x1, y1, x2, y2); a box
    is dropped when its overlap with a kept, better box exceeds `threshold`. `inclusive` counts
    pixels as MTCNN does (width = x2 - x1 + 1)."""
    n = len(boxes)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    b = np.asarray(boxes, dtype=np.float64)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    one = 1.0 if inclusive else 0.0
    area = (x2 - x1 + one) * (y2 - y1 + one)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    union = overlap is Overlap.UNION
    if n <= MATRIX_MAX:
        return _greedy_matrix(x1, y1, x2, y2, area, order, threshold, one, union, top_k)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if top_k is not None and len(keep) >= top_k:
            break
        rest = order[1:]
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + one
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + one
        inter = np.maximum(w, 0.0) * np.maximum(h, 0.0)
        denom = area[i] + area[rest] - inter if union else np.minimum(area[i], area[rest])
        # keep where inter / denom <= threshold (an empty box overlaps nothing)
        order = rest[(inter <= threshold * denom) | (denom <= 0)]
    return np.asarray(keep, dtype=np.intp)


MATRIX_MAX = 512
"""Up to this many boxes, all overlaps are computed at once (n x n) and the greedy pass only
reads them: the same result, a few times faster for the tens of boxes MTCNN's stages give."""


def _greedy_matrix(x1: Floats, y1: Floats, x2: Floats, y2: Floats, area: Floats,
                   order: Indices, threshold: float, one: float, union: bool,
                   top_k: int | None) -> Indices:
    w = np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :]) + one
    h = np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :]) + one
    inter = np.maximum(w, 0.0) * np.maximum(h, 0.0)
    if union:
        denom = area[:, None] + area[None, :] - inter
    else:
        denom = np.minimum(area[:, None], area[None, :])
    over = (inter > threshold * denom) & (denom > 0)
    suppressed = np.zeros(len(order), dtype=bool)
    keep: list[int] = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        if top_k is not None and len(keep) >= top_k:
            break
        suppressed |= over[i]
    return np.asarray(keep, dtype=np.intp)
