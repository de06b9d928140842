"""The decoders and the NMS helper on hand-made model outputs (the YOLO- and SSD-style
person detectors have no freely licensed file on this machine to run)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision.models.frames import check_frame, letterbox
from edge.vision.models.nms import Overlap, nms
from edge.vision.models.person import decode_fastestdet, decode_ssd, decode_yolo
from edge.vision.models.yunet import decode


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]],
                     np.float32)
    scores = np.array([0.5, 0.9, 0.7, 0.1], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 2, 0]  # identical boxes still merge
    assert nms(boxes, scores, 0.5, top_k=1).tolist() == [1]
    assert nms(np.empty((0, 4)), np.empty(0), 0.5).tolist() == []


def test_nms_by_the_smaller_box_drops_a_box_inside_another() -> None:
    boxes = np.array([[0, 0, 100, 100], [10, 10, 30, 30]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 0.7).tolist() == [0, 1]  # IoU 0.04: both kept
    assert nms(boxes, scores, 0.7, overlap=Overlap.MIN, inclusive=True).tolist() == [0]


def test_yolo_rows_are_decoded_either_way_round() -> None:
    # 1 x (4 + 2) x 10: a person, a non-person, a weak person, 7 empty anchors (real files
    # have thousands of anchors and fewer rows)
    out = np.zeros((1, 6, 10), np.float32)
    out[0, :, :3] = [[100, 200, 300], [50, 60, 70], [20, 40, 10], [40, 80, 10],
                     [0.9, 0.1, 0.2], [0.05, 0.95, 0.1]]
    d = decode_yolo(out, 0.3)
    assert d.boxes.tolist() == [[90.0, 30.0, 110.0, 70.0]] and d.scores.tolist() == \
        pytest.approx([0.9])
    t = decode_yolo(out.transpose(0, 2, 1).copy(), 0.3)
    assert t.boxes.tolist() == d.boxes.tolist()
    assert decode_yolo(out, 0.3, cls=1).boxes.tolist() == [[180.0, 20.0, 220.0, 100.0]]
    with pytest.raises(ValueError):
        decode_yolo(out, 0.3, cls=5)


def test_ssd_boxes_are_scaled_and_reordered() -> None:
    boxes = np.array([[[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.6]]], np.float32)
    scores = np.array([[[0.1, 0.8], [0.7, 0.2]]], np.float32)  # background, person
    d = decode_ssd(boxes, scores, 640, 480, 0.5)
    assert np.allclose(d.boxes, [[64, 96, 192, 192]])
    y = decode_ssd(boxes, scores, 640, 480, 0.5, box_order="yxyx")
    assert np.allclose(y.boxes, [[128, 48, 256, 144]])


def test_fastestdet_cells_become_boxes() -> None:
    out = np.zeros((1, 85, 22, 22), np.float32)
    out[0, 0, 11, 5] = 0.9  # obj
    out[0, 5, 11, 5] = 0.9  # person
    out[0, 3:5, 11, 5] = 0.0  # sigmoid(0) = half the frame
    out[0, 0, 2, 2] = 0.9
    out[0, 6, 2, 2] = 0.9  # a bicycle: not a person
    d = decode_fastestdet(out, 640, 480, 0.5)
    assert len(d.scores) == 1 and d.scores[0] == pytest.approx(0.81)
    cx, cy = (5 / 22) * 640, (11 / 22) * 480
    assert d.boxes[0].tolist() == pytest.approx([cx - 160, cy - 120, cx + 160, cy + 120])


def test_yunet_grid_decoding() -> None:
    w, h = 64, 32
    outs = {}
    for s in (8, 16, 32):
        n = (w // s) * (h // s)
        outs |= {f"cls_{s}": np.zeros((1, n, 1), np.float32),
                 f"obj_{s}": np.zeros((1, n, 1), np.float32),
                 f"bbox_{s}": np.zeros((1, n, 4), np.float32),
                 f"kps_{s}": np.zeros((1, n, 10), np.float32)}
    # stride 8, row 1, column 3 of an 8-column grid
    outs["cls_8"][0, 11, 0], outs["obj_8"][0, 11, 0] = 0.81, 1.0
    outs["bbox_8"][0, 11] = [0.5, 0.5, np.log(2), np.log(3)]
    outs["kps_8"][0, 11, :2] = [0.25, -0.25]
    boxes, scores, marks = decode(outs, w, h, 0.5)
    assert scores.tolist() == pytest.approx([0.9])
    assert boxes[0].tolist() == pytest.approx([28 - 8, 12 - 12, 28 + 8, 12 + 12])
    assert marks[0, 0].tolist() == pytest.approx([26, 6])


def test_letterbox_and_frame_checks() -> None:
    frame = np.full((480, 640, 3), 9, np.uint8)
    lb = letterbox(frame, 640, 640)
    assert lb.scale == 1 and lb.image.shape == (640, 640, 3)
    assert lb.image[:480].min() == 9 and lb.image[480:].max() == 0
    small = letterbox(np.zeros((240, 320, 3), np.uint8), 640, 640)
    assert small.scale == 2 and small.image.shape == (640, 640, 3)
    assert check_frame(frame) is frame
    for bad in (frame[:, :, 0], frame.astype(np.int16), [[1, 2, 3]]):
        with pytest.raises(ValueError):
            check_frame(bad)


@pytest.mark.parametrize("n", [3, 40, 300])
def test_nms_by_matrix_and_by_loop_agree(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge.vision.models import nms as module

    rng = np.random.default_rng(n)
    for trial in range(10):
        xy = rng.uniform(0, 300, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2))], axis=1)
        scores = rng.random(n)
        if trial % 2:
            scores[: n // 2] = 0.5  # ties keep their input order
        for kw in ({}, {"overlap": Overlap.MIN, "inclusive": True}, {"top_k": 2}):
            monkeypatch.setattr(module, "MATRIX_MAX", 10**9)
            by_matrix = nms(boxes, scores, 0.5, **kw)  # type: ignore[arg-type]
            monkeypatch.setattr(module, "MATRIX_MAX", 0)
            by_loop = nms(boxes, scores, 0.5, **kw)  # type: ignore[arg-type]
            assert by_matrix.tolist() == by_loop.tolist()
