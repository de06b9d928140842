"""The appearance cue (`edge.vision.appearance`) and its use by the tracker: the next
shopper in a queue stepping into the spot of the one who just left is a new person; the
same person re-found after a gap, or followed frame to frame, keeps the track."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from drivers.readings import Frame
from edge.processing.processor import Emission, Output
from edge.vision.appearance import describe, distance, region
from edge.vision.detection import Box, Detection, DetectionKind
from edge.vision.detectors import DetectorSpec
from edge.vision.pipeline import PERSON_LEFT, CameraSpec, VisionProcessor, VisionSettings
from edge.vision.tracking import Tracker, TrackParams
from tests.vision_pipe_fixtures import CvYuNet, scene, yunet_path

RED, BLUE, DARK_RED = (30, 30, 200), (200, 60, 30), (20, 20, 160)  # BGR
T0 = 1_000_000.0


def _person(img: np.ndarray, face: Box, bgr: tuple[int, int, int]) -> None:
    """Clothes of colour `bgr` under the face box, two face widths wide, to the bottom."""
    w = face.width
    x0, x1 = int(face.x1 - w / 2), int(face.x2 + w / 2)
    img[int(face.y2 + 0.2 * face.height):, max(0, x0):x1] = bgr


def _frame(*people: tuple[Box, tuple[int, int, int]]) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(150, 3, (480, 640, 3)), 0, 255).astype(np.uint8)
    for face, bgr in people:
        _person(img, face, bgr)
    return img


def _det(box: Box) -> Detection:
    return Detection(DetectionKind.FACE, box, 0.9)


FACE = Box(100, 100, 140, 140)


def test_clothes_alike_are_near_and_unlike_far() -> None:
    there = Box(400, 100, 440, 140)
    img = _frame((FACE, RED), (there, BLUE))
    red, blue = describe(img, FACE), describe(img, there)
    assert red is not None and blue is not None
    assert red.sum() == pytest.approx(1.0)
    assert distance(red, red) == pytest.approx(0.0, abs=1e-6)
    assert distance(red, blue) > 0.9
    darker = describe(_frame((FACE, DARK_RED)), FACE)  # the same hue in other light
    assert darker is not None and distance(red, darker) < 0.5


def test_no_region_below_a_face_at_the_frame_bottom() -> None:
    assert region(Box(100, 470, 140, 480), 640, 480) is None
    assert describe(_frame(), Box(100, 470, 140, 480)) is None
    assert region(FACE, 640, 480) is not None


def _track_ids(params: TrackParams, steps: list[tuple[float, tuple[int, int, int] | None]]
               ) -> list[int]:
    """One face at FACE's place over time; None: not detected at that time. The ids of the
    track holding it at each detection."""
    tr = Tracker(params)
    ids: list[int] = []
    for t, bgr in steps:
        if bgr is None:
            tr.update([], t)
            continue
        seen, _ = tr.update([_det(FACE)], t, [describe(_frame((FACE, bgr)), FACE)])
        ids.append(seen[0].id)
    return ids


QUEUE = [(0.1 * k, RED) for k in range(10)] + [(1.0 + 0.1 * k, None) for k in range(10)] \
    + [(2.0 + 0.1 * k, BLUE) for k in range(10)]


def test_the_next_shopper_in_the_same_spot_is_a_new_track() -> None:
    ids = _track_ids(TrackParams(appearance=0.5), QUEUE)
    assert ids[:10] == [1] * 10 and ids[10:] == [2] * 10
    merged = _track_ids(TrackParams(appearance=0.0), QUEUE)  # without the cue: one person
    assert set(merged) == {1}


def test_the_same_person_after_a_gap_keeps_the_track() -> None:
    back = [(t, RED if bgr is not None else None) for t, bgr in QUEUE]
    assert set(_track_ids(TrackParams(appearance=0.5), back)) == {1}


def test_followed_frame_to_frame_the_look_is_not_checked() -> None:
    """A face seen in consecutive frames keeps its track even if what is under it changes
    (another shopper passing in front of the clothes)."""
    steps = [(0.1 * k, RED if k < 10 else BLUE) for k in range(20)]
    assert set(_track_ids(TrackParams(appearance=0.5), steps)) == {1}


def _lost_walker(bgr_after: tuple[int, int, int]) -> list[int]:
    """A walker in red going right 0.5 box sizes a frame, missed for a frame (0.2 s unseen,
    under `appearance_after_s`), then a face 1.3 box sizes on in `bgr_after` clothes: beyond
    `max_jump` 1, within it plus `jump_per_s` 2 x 0.2 s. The ids of the track holding each
    detection."""
    tr = Tracker(TrackParams(appearance=0.5, jump_per_s=2.0))
    ids: list[int] = []
    for k in range(12):
        if k == 6:
            tr.update([], 0.1 * k)
            continue
        x = 100 + 20 * k if k < 6 else 200 + 52 + 20 * (k - 7)
        box = Box(x, 100, x + 40, 140)
        look = describe(_frame((box, RED if k < 6 else bgr_after)), box)
        seen, _ = tr.update([_det(box)], 0.1 * k, [look])
        ids.append(seen[0].id)
    return ids


def test_a_jump_grown_by_the_time_unseen_needs_the_clothes_to_agree() -> None:
    """`jump_per_s` lets a walker lost for a frame or two keep its track further on; a face
    there in other clothes (a neighbour) is not them, however short the gap (the clothes
    are otherwise checked only after `appearance_after_s`)."""
    assert set(_lost_walker(RED)) == {1}
    ids = _lost_walker(BLUE)
    assert ids[:6] == [1] * 6 and set(ids[6:]) == {2}


def test_appearances_must_match_the_detections() -> None:
    with pytest.raises(ValueError, match="one appearance per detection"):
        Tracker(TrackParams(appearance=0.5)).update([_det(FACE)], 0.0, [])


@pytest.fixture(scope="module")
def yunet() -> CvYuNet:
    return CvYuNet(yunet_path())


def _queue(fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """A real face at one spot in red clothes for 2 s, nobody for 1 s, then a real face at
    the same spot in blue clothes for 2 s, then nobody."""
    s = 64
    for k in range(int(6 * fps)):
        t = k / fps
        if t < 2.0 or 3.0 <= t < 5.0:
            img = scene((320, 240), ((120, 40, s),), seed=k)
            _person(img, Box(120, 40, 120 + s, 40 + s), RED if t < 2.0 else BLUE)
        else:
            img = scene((320, 240), seed=k)
        yield T0 + t, img


@pytest.mark.parametrize(("appearance", "people"), [(0.0, 1), (0.5, 2)])
def test_the_processor_counts_a_queue_of_two_as_two(yunet: CvYuNet, appearance: float,
                                                    people: int) -> None:
    settings: dict[str, Any] = {"window_s": 10.0, "k": 1, "grace_s": 2.0, "min_hits": 3,
                                "max_cpu_share": 0.0,
                                "track": TrackParams(timeout_s=3.0, appearance=appearance)}
    p = VisionProcessor([CameraSpec("cam-1", "promo", "screen-1", fps=5.0)],
                        DetectorSpec("yunet-cv2"), VisionSettings(**settings),
                        loader=lambda spec: yunet)
    out: list[Emission] = []
    for i, (t, img) in enumerate(_queue(5.0)):
        o = Output(t)
        p.on_reading(Frame("cam-1", t, i, img), o)
        out += o.emissions
    for k in range(10):
        o = Output(T0 + 7.0 + k)
        p.on_tick(T0 + 7.0 + k, o)
        out += o.emissions
    left = [e for e in out if e.type == PERSON_LEFT]
    assert len(left) == people
    for e in left:  # counts and seconds only: nothing of the histogram leaves
        assert set(e.data) == {"camera", "zone", "screen", "track", "dwell_s",
                               "attention_s", "looked"}
