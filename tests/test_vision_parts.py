"""The vision pipeline's parts one by one: attention, tracking, motion gate, budget,
audience windows, blurred debug frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision.attention import Gaze, GazeParams, yaw_ratio
from edge.vision.audience import Audience, Slice, histogram
from edge.vision.blur import DebugFrames, blur_faces
from edge.vision.budget import ComputeBudget
from edge.vision.detection import Box, Detection, DetectionKind, Landmarks, Point
from edge.vision.motion import MotionGate
from edge.vision.tracking import Tracker, TrackParams
from tests.vision_pipe_fixtures import scene


def _lm(nose_dx: float) -> Landmarks:
    """Eyes 40 px apart; the nose `nose_dx` px right of their midpoint."""
    return Landmarks(Point(100, 100), Point(140, 100), Point(120 + nose_dx, 120),
                     Point(105, 140), Point(135, 140))


def test_yaw_ratio_from_landmarks() -> None:
    assert yaw_ratio(_lm(0)) == pytest.approx(0.0)
    assert yaw_ratio(_lm(8)) == pytest.approx(0.2)
    assert yaw_ratio(_lm(-16)) == pytest.approx(-0.4)
    same = Point(1, 1)
    assert yaw_ratio(Landmarks(same, same, same, same, same)) is None
    # a tilted head: the ratio follows the eye axis, not the image's x
    tilted = Landmarks(Point(100, 100), Point(128.28, 128.28), Point(114.14, 114.14 + 10),
                       Point(0, 0), Point(0, 0))
    assert abs(yaw_ratio(tilted) or 1) < 0.2


def test_gaze_hysteresis_needs_the_change_to_hold_and_dates_it_back() -> None:
    g = Gaze(GazeParams(enter=0.2, leave=0.3, min_s=0.3))
    g.update(0.5, 0.0)
    g.update(0.1, 0.1)  # looking starts to be seen
    g.update(0.1, 0.2)
    assert not g.looking
    g.update(0.1, 0.4)  # held 0.3 s: looking, dated back to 0.1
    assert g.looking and g.attention_s == pytest.approx(0.3)
    g.update(0.25, 0.5)  # between enter and leave: still looking
    g.update(0.1, 0.6)
    g.update(0.5, 0.7)  # away for one frame only: a wobble
    g.update(0.1, 0.8)
    assert g.looking
    g.update(0.6, 1.0)
    g.update(0.6, 1.1)
    g.update(0.6, 1.3)  # away for 0.3 s: stopped, dated back to 1.0
    assert not g.looking and g.looked
    assert g.attention_s == pytest.approx(0.9)  # 0.1 ... 1.0
    g.update(None, 2.0)
    assert g.stop(2.5) == 0 and g.attention_s == pytest.approx(0.9)


def test_an_unknown_yaw_holds_the_looking_state() -> None:
    g = Gaze(GazeParams(enter=0.2, leave=0.3, min_s=0.3))
    g.update(0.5, 0.0, known=False)  # too small to tell: no look starts, none is guessed
    g.update(0.0, 0.1, known=False)
    g.update(0.0, 0.5, known=False)
    assert not g.looking and not g.looked and g.attention_s == 0
    g.update(0.0, 1.0)
    g.update(0.0, 1.3)  # known and frontal for 0.3 s: looking from 1.0
    assert g.looking
    g.update(0.6, 1.5, known=False)  # the face shrank: still looking, time goes on
    g.update(0.6, 2.0, known=False)
    assert g.looking and g.attention_s == pytest.approx(1.0)
    g.update(0.6, 2.1)
    g.update(0.6, 2.5)  # known and turned away for 0.4 s: stopped at 2.1
    assert not g.looking and g.attention_s == pytest.approx(1.1)


def _det(x: float, y: float = 50, s: float = 40) -> Detection:
    return Detection(DetectionKind.FACE, Box(x, y, x + s, y + s), 0.9)


def test_tracks_keep_their_ids_survive_misses_and_time_out() -> None:
    tr = Tracker(TrackParams(timeout_s=0.5))
    seen, _ = tr.update([_det(10), _det(200)], 0.0)
    ids = {round(t.box.x1): t.id for t in seen}
    for k in range(1, 6):  # both walk right 8 px a frame; the order of detections flips
        seen, ended = tr.update([_det(200 + 8 * k), _det(10 + 8 * k)], 0.1 * k)
        assert not ended
        assert {t.id for t in seen} == set(ids.values())
    seen, ended = tr.update([_det(260)], 0.6)  # the left one is missed for a while
    assert [t.id for t in seen] == [ids[200]] and not ended
    seen, ended = tr.update([_det(268), _det(10 + 8 * 7)], 0.7)  # back within the timeout
    assert {t.id for t in seen} == set(ids.values())
    seen, ended = tr.update([], 1.3)
    assert sorted(t.id for t in ended) == sorted(ids.values()) and not tr.tracks
    seen, _ = tr.update([_det(10)], 1.4)
    assert seen[0].id == 3  # a new person, a new id


def test_a_far_jump_is_a_new_track() -> None:
    tr = Tracker()
    a, _ = tr.update([_det(10)], 0.0)
    b, _ = tr.update([_det(300)], 0.1)
    assert a[0].id != b[0].id


def _lost_walker(params: TrackParams) -> set[int]:
    """A face walking right 80 px/s (2 box sizes a second), missed for 0.5 s: the ids."""
    tr = Tracker(params)
    ids = set()
    for k in [*range(6), *range(11, 15)]:
        seen, _ = tr.update([_det(10 + 8 * k)], 0.1 * k)
        ids |= {t.id for t in seen}
    return ids


def test_a_walker_lost_for_a_moment_keeps_its_track_when_looked_for_further_on() -> None:
    assert len(_lost_walker(TrackParams())) == 2  # 1.2 box sizes on, no overlap: split
    assert len(_lost_walker(TrackParams(velocity=True))) == 1
    assert len(_lost_walker(TrackParams(jump_per_s=1.0))) == 1


def _neighbour_steps_in(params: TrackParams) -> tuple[int, int]:
    """A face standing still (2 px of jitter) for a second; then, in the next frame, it is
    hidden and a neighbour's face shows 0.9 box sizes beside it. (the standing id, the id
    the neighbour's face gets)"""
    tr = Tracker(params)
    for k in range(10):
        (t,), _ = tr.update([_det(100 + 2 * (k % 2))], 0.1 * k)
    (n,), _ = tr.update([_det(136)], 1.0)
    return t.id, n.id


def test_a_standing_track_does_not_jump_to_a_neighbour_with_standing_jump() -> None:
    mine, theirs = _neighbour_steps_in(TrackParams())
    assert mine == theirs  # by default the neighbour takes the hidden person's track
    mine, theirs = _neighbour_steps_in(TrackParams(standing_jump=0.4))
    assert mine != theirs
    # a walker (2 box sizes a second, 0.2 a frame) is not standing: the gate leaves it be
    ids = set()
    tr = Tracker(TrackParams(standing_jump=0.1))
    for k in range(10):
        seen, _ = tr.update([_det(10 + 8 * k)], 0.1 * k)
        ids |= {t.id for t in seen}
    assert len(ids) == 1


def _weak(x: float, y: float = 50, s: float = 40) -> Detection:
    return Detection(DetectionKind.FACE, Box(x, y, x + s, y + s), 0.4)


def test_a_weak_face_continues_a_track_but_never_starts_one_or_counts_a_hit() -> None:
    tr = Tracker()
    (t,), _ = tr.update([_det(100)], 0.0)
    for k in range(1, 4):  # the head turns: the detector scores it low for three frames
        seen, _ = tr.update([], 0.1 * k, weak=[_weak(100 + 4 * k)])
        assert [s.id for s in seen] == [t.id] and t.last_t == 0.1 * k
    assert t.hits == 1  # weak matches keep the track alive, never make it a person
    seen, _ = tr.update([_det(116)], 0.4)
    assert [s.id for s in seen] == [t.id] and t.hits == 2
    # alone, a weak face starts nothing; one beside a track (no overlap) does not take it
    seen, _ = tr.update([], 0.5, weak=[_weak(400), _weak(160)])
    assert seen == [] and list(tr.tracks) == [t.id] and t.last_t == 0.4
    # a strong face takes its track first; the weak one left over is dropped
    seen, _ = tr.update([_det(118)], 0.6, weak=[_weak(117)])
    assert [s.id for s in seen] == [t.id] and len(tr.tracks) == 1


def test_the_predicted_box_never_outruns_max_speed() -> None:
    tr = Tracker(TrackParams(velocity=True, max_speed=1.0))
    tr.update([_det(10)], 0.0)
    (t,), _ = tr.update([_det(50)], 0.1)  # a jump of 400 px/s
    assert t.predicted(1.1, tr.params).x1 == 50 + 40 * 1.0  # capped at 1 box size a second


def test_motion_gate_skips_a_static_scene_and_wakes_on_motion() -> None:
    gate = MotionGate(threshold=2.0, max_skip_s=2.0)
    still = scene((320, 240), ((100, 80, 60),))
    assert gate.should_analyse(still, 0.0)
    noisy = scene((320, 240), ((100, 80, 60),), seed=1)  # the same scene, new sensor noise
    assert not gate.should_analyse(noisy, 0.1)
    assert not gate.should_analyse(still, 0.2)
    moved = scene((320, 240), ((140, 80, 60),))
    assert gate.should_analyse(moved, 0.3)
    assert not gate.should_analyse(moved, 1.0)
    assert gate.should_analyse(moved, 2.5)  # at least every max_skip_s
    assert gate.skipped == 3
    assert MotionGate(threshold=0).should_analyse(still, 0.0)


def test_budget_lowers_the_rate_when_inference_is_slow() -> None:
    b = ComputeBudget(max_share=0.5)
    analysed = 0
    for k in range(50):  # 10 frames/s for 5 s, each model run costs 0.2 s
        t = k * 0.1
        if b.allows(t):
            analysed += 1
            b.spent(t, 0.2)
    assert 11 <= analysed <= 14  # about 2.5 a second: 0.2 s / 0.5 share
    assert b.skipped == 50 - analysed
    free = ComputeBudget(max_share=0)
    assert all(free.allows(k * 0.1) for k in range(10))


def test_audience_windows_items_and_k_anonymity() -> None:
    a = Audience("cam-1", "screen-1", window_s=60, k=3, grace_s=10, item_window_s=120)
    for person, (start, look) in enumerate([(0, 5), (10, 0), (20, 8), (50, 0)], start=1):
        for s in range(10):
            t = 1200 + start + s
            a.add(Slice(person, t, 1.0 if s else 0.0, 1.0 if s and s <= look else 0.0))
    a.played("screen-1", "promo-a", 1200, 1230)
    a.played("screen-2", "elsewhere", 1200, 1260)
    assert a.due(1265) == []  # the window [1200, 1260) waits out its grace
    [(t_end, w)] = a.due(1270)
    assert t_end == 1260
    assert w["passing"] == 4 and w["watchers"] == 2 and w["attention_s"] == 13
    assert w["dwell_s_mean"] == 9.0
    assert w["dwell_histogram"]["counts"] == histogram([9, 9, 9, 9])
    assert "items" not in w
    assert a.due_items(1270) == []  # the item window [1200, 1320) is not over
    [(t_end, it)] = a.due_items(1330)
    assert t_end == 1320 and it == {"window_s": 120, "items": [
        {"item": "promo-a", "passing": 3, "watchers": 2, "attention_s": 13.0,
         "dwell_s_mean": 9.0}]}
    a.add(Slice(9, 1300, 0.0, 0.0))
    a.add(Slice(10, 1301, 1.0, 0.0))
    assert a.flush() == [] and a.suppressed_windows == 1  # 2 people < k


def test_an_item_seen_by_k_people_only_over_the_item_window_is_reported() -> None:
    """A poster on screen ten seconds at a time meets one person a minute: each minute is
    below k, the quarter of an hour is not."""
    a = Audience("cam-1", "screen-1", window_s=60, k=3, grace_s=10, item_window_s=900)
    for minute in range(3):
        t0 = 1800 + 60 * minute
        a.played("screen-1", "poster", t0, t0 + 10)
        a.played("screen-1", "other", t0 + 10, t0 + 60)
        for s in range(5):
            a.add(Slice(minute + 1, t0 + 2 + s, 1.0, 1.0))
    assert a.due(1800 + 180 + 10) == [] and a.suppressed_windows == 3
    [(t_end, it)] = a.due_items(2700 + 10)
    assert t_end == 2700
    assert [(i["item"], i["passing"], i["watchers"]) for i in it["items"]] == [
        ("poster", 3, 3)]
    assert a.suppressed_items == 0
    b = Audience("cam-1", "screen-1", window_s=60, k=4, grace_s=10, item_window_s=900)
    b.played("screen-1", "poster", 1800, 1810)
    for person in range(3):
        b.add(Slice(person, 1801 + person, 1.0, 0.0))
    assert b.due_items(2710) == [] and b.suppressed_items == 1  # 3 people < k


def test_debug_frames_blur_every_face(tmp_path: Path) -> None:
    img = scene((320, 240), ((40, 40, 80), (200, 100, 90)))
    boxes = [Box(40, 40, 120, 120), Box(200, 100, 290, 190)]
    out = blur_faces(img, boxes)
    for b in boxes:
        before = img[int(b.y1):int(b.y2), int(b.x1):int(b.x2)].astype(float)
        after = out[int(b.y1):int(b.y2), int(b.x1):int(b.x2)].astype(float)
        lap_before = cv2.Laplacian(before, cv2.CV_64F).var()
        lap_after = cv2.Laplacian(after, cv2.CV_64F).var()
        assert lap_after < 0.05 * lap_before  # the detail is gone
        assert after.var() < 0.5 * before.var()
    assert np.array_equal(out[200:, :30], img[200:, :30])  # away from faces: untouched
    sink = DebugFrames(tmp_path / "debug", every_n=2)
    for i in range(4):
        sink("cam-1", i, img, boxes)
    files = sorted((tmp_path / "debug").iterdir())
    assert [f.name for f in files] == ["cam-1-00000000.jpg", "cam-1-00000002.jpg"]
    written = cv2.imread(str(files[0]))
    face = written[40:120, 40:120].astype(float)
    assert cv2.Laplacian(face, cv2.CV_64F).var() < 0.1 * cv2.Laplacian(
        img[40:120, 40:120].astype(float), cv2.CV_64F).var()


def test_a_store_without_cameras_does_not_load_opencv() -> None:
    """The vision builder returns before importing its pipeline: OpenCV costs the daemon
    ~20 MB resident (the command-flood test's memory goal caught it)."""
    code = ("import sys\n"
            "from edge.config.loading import parse\n"
            "from edge.vision import build\n"
            "config = parse({'store': {'id': 's1', 'device': 'd1'}})\n"
            "assert build(config) == []\n"
            "print('cv2' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False", out.stderr
