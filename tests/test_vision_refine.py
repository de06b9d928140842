"""The second look at small faces (edge.vision.refine), on real YuNet over a real face."""

from __future__ import annotations

import cv2
import numpy as np

from edge.vision.refine import RefineParams, RefiningDetector
from edge.vision.zoom import ZoomedDetector, ZoomParams
from tests.vision_pipe_fixtures import CvYuNet, astronaut_face, yunet_path


def _frame(size: int) -> np.ndarray:
    img = np.full((160, 160, 3), 150, np.uint8)
    img[50:50 + size, 60:60 + size] = cv2.resize(astronaut_face(), (size, size),
                                                 interpolation=cv2.INTER_AREA)
    return img


def test_a_small_face_gets_its_landmarks_from_a_second_look_and_a_large_one_does_not() -> None:
    model = CvYuNet(yunet_path())
    first = ZoomedDetector(model, ZoomParams(2.0, (0.0, 1.0)))
    small = _frame(30)
    plain = first.detect(small)
    assert len(plain) == 1 and plain[0].landmarks is not None
    det = RefiningDetector(first, model, RefineParams(below_px=40))
    got = det.detect(small)
    assert det.looks == 1 and det.found == 1
    assert got[0].box == plain[0].box and got[0].score == plain[0].score
    lm = got[0].landmarks
    assert lm is not None and lm != plain[0].landmarks
    b = got[0].box
    for p in (lm.right_eye, lm.left_eye, lm.nose, lm.right_mouth, lm.left_mouth):
        assert b.x1 <= p.x <= b.x2 and b.y1 <= p.y <= b.y2  # mapped back to the frame
    assert lm.right_eye.x < lm.left_eye.x and lm.nose.y > lm.right_eye.y
    size = max(plain[0].box.width, plain[0].box.height)
    assert size < 40
    large = RefiningDetector(first, model, RefineParams(below_px=size))
    assert large.detect(small) == plain and large.looks == 0  # not smaller than below_px
    off = RefiningDetector(first, model, RefineParams(below_px=0))
    assert off.detect(small) == plain and off.looks == 0
