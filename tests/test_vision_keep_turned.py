"""A face that turns 40 degrees away from the screen scores under `min_score` (the simulated
store's shoppers turned to a shelf): with `vision.track_keep_score` its weak faces continue
its track. `vision.track_keep_turned` makes those weak frames "not looking" (a frontal face
scores higher) instead of an unknown yaw that held the look on; `vision.track_keep_counts`
lets a track whose face hovers about `min_score` (strong in a few frames, weak between)
count once its frames of any score reach `min_track_frames`. Real YuNet over a real LFW
photo turned by the simulator's head model, through the vision processor."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from drivers.readings import Frame
from edge.processing.processor import Output
from edge.vision.attention import width_ratio, yaw_ratio
from edge.vision.detectors import DetectorSpec
from edge.vision.pipeline import PERSON_LEFT, CameraSpec, VisionProcessor, VisionSettings
from edge.vision.zoom import ZoomedDetector, ZoomParams
from sim.faces import face_photos, turn
from tests.vision_pipe_fixtures import CvYuNet, yunet_path

T0 = 1_000_000.0
SIZE = 30  # px: a far shopper's face
AT = (140, 100)
HAIR = (30, 30, 35)


def _frame(face: np.ndarray | None, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(150, 3, (240, 320, 3)), 0, 255).astype(np.uint8)
    if face is not None:
        x, y = AT
        img[y:y + SIZE, x:x + SIZE] = cv2.resize(face, (SIZE, SIZE),
                                                 interpolation=cv2.INTER_AREA)
    return img


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray]:
    """The first LFW photo that YuNet (enlarged twice, as the pipeline's band) finds at
    0.6 or more looking at the camera (|yaw ratio| < 0.2, wide) when frontal, and at
    0.3-0.6 turned 40 degrees, in each of 4 noisy frames: (frontal, turned)."""
    det = ZoomedDetector(CvYuNet(yunet_path(), 0.3), ZoomParams(2.0, (0.0, 1.0)))
    for photo in face_photos():
        front, away = turn(photo, 0, HAIR), turn(photo, 40, HAIR)
        ok = True
        for seed in range(4):
            f, a = det.detect(_frame(front, seed)), det.detect(_frame(away, seed))
            lm = f[0].landmarks if len(f) == 1 else None
            if lm is None or f[0].score < 0.6 or abs(yaw_ratio(lm)) >= 0.15 \
                    or width_ratio(lm) < 0.9 or len(a) != 1 or not 0.35 <= a[0].score < 0.6:
                ok = False
                break
        if ok:
            return front, away
    raise AssertionError("no LFW photo is strong frontal and weak turned at 30 px")


def _run(frames: list[np.ndarray | None], **settings: Any) -> tuple[list[Any], VisionProcessor]:
    model = CvYuNet(yunet_path(), 0.3)
    p = VisionProcessor([CameraSpec("cam-1", "promo", "screen-1", fps=10.0)],
                        DetectorSpec("yunet-cv2"),
                        VisionSettings(window_s=10.0, k=1, grace_s=2.0, min_hits=8,
                                       max_cpu_share=0.0, motion_threshold=0.0,
                                       zoom=ZoomParams(2.0, (0.0, 1.0)), **settings),
                        loader=lambda spec: model)
    out: list[Any] = []
    for i, face in enumerate(frames):
        t = T0 + i / 10.0
        o = Output(t)
        p.on_reading(Frame("cam-1", t, i, _frame(face, i)), o)
        out += o.emissions
    for k in range(1, 30):
        o = Output(T0 + len(frames) / 10.0 + k)
        p.on_tick(T0 + len(frames) / 10.0 + k, o)
        out += o.emissions
    return [e.data for e in out if e.type == PERSON_LEFT], p


def test_a_weak_turned_face_continuing_a_track_ends_its_look(
        faces: tuple[np.ndarray, np.ndarray]) -> None:
    front, away = faces
    frames: list[np.ndarray | None] = [front] * 15 + [away] * 30  # looks 1.5 s, turns 3 s
    on, _ = _run(frames, keep_score=0.3, keep_turned=True)
    assert len(on) == 1 and on[0]["looked"] is True
    assert on[0]["dwell_s"] >= 4.0  # the weak turned frames continue the track
    assert 1.0 <= on[0]["attention_s"] <= 1.8  # the look ends as the face turns
    off, _ = _run(frames, keep_score=0.3)  # off: the weak frames' yaw is unknown
    assert len(off) == 1 and off[0]["dwell_s"] >= 4.0
    assert off[0]["attention_s"] >= 4.0  # the look held on through the turned frames


def test_a_face_about_min_score_counts_once_its_frames_of_any_score_reach_min_track_frames(
        faces: tuple[np.ndarray, np.ndarray]) -> None:
    front, away = faces
    # strong in every third frame: 4 strong of 12, min_track_frames 8
    frames: list[np.ndarray | None] = [front if i % 3 == 0 else away for i in range(12)]
    on, p = _run(frames, keep_score=0.3, keep_counts=3, keep_turned=True)
    assert len(on) == 1 and p.counts["people_left"] == 1
    assert on[0]["dwell_s"] >= 1.0
    off, p_off = _run(frames, keep_score=0.3, keep_turned=True)  # off: 4 strong frames of 8
    assert off == [] and p_off.counts["short_tracks"] == 1
    few, _ = _run(frames, keep_score=0.3, keep_counts=5, keep_turned=True)  # 4 < 5 strong
    assert few == []
