"""The simulated cameras: faces in perspective, turned by head yaw so that a real detector's
landmarks follow, the back of the head when turned away, lighting drift; and the truth the
scorers use agrees with what is drawn."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision.attention import yaw_ratio
from sim.camera import CameraRenderer, lighting
from sim.faces import face_photos, turn
from sim.overrides import apply
from sim.world import FACE_TURN_DEG, CameraDef, World, build_world, occluded, scenarios
from tests.vision_pipe_fixtures import CvYuNet, yunet_path


def _world(seed: int = 3, duration: float = 300.0) -> World:
    sc = scenarios()["normal-day"]
    sc = replace(sc, params=apply(sc.params, {"camera.width": 640, "camera.height": 480,
                                              "camera.fps": 10.0}))
    return build_world(sc, seed, duration)


def test_frames_are_640x480_and_draw_people_far_to_near() -> None:
    w = _world()
    r = CameraRenderer(w, w.layout.cameras[0])
    busy = next(t / 10 for t in range(3000) if len(r.people(t / 10)) >= 2)
    people = r.people(busy)
    assert [p[0] for p in people] == sorted((p[0] for p in people), reverse=True)
    img = r.frame(busy)
    assert img.shape == (480, 640, 3) and img.dtype == np.uint8
    empty = next(t / 10 for t in range(3000) if not r.people(t / 10))
    # someone drawn: the frame differs from an empty one far beyond the noise
    assert np.abs(img.astype(int) - r.frame(empty).astype(int)).mean() > 3


def test_truth_face_spans_follow_the_rendered_head_yaw() -> None:
    w = _world()
    cam = w.layout.cameras[0]
    r = CameraRenderer(w, cam)
    passes = {p["person"]: p for p in w.truth if p["type"] == "camera.pass"
              and p["camera"] == cam.id}
    checked = 0
    for k in range(0, 3000, 3):
        t = k / 10
        people = r.people(t)
        for i, (_, agent, _, yaw) in enumerate(people):
            p = passes.get(agent.id)
            if p is None or not p["t"] + 0.5 < t < p["t_end"] - 0.5:
                continue
            margin = math.radians(5)  # the truth ticks: a turn may fall between two ticks
            inside = any(a - 0.3 <= t <= b + 0.3 for a, b in p["faces"])
            st = agent.state(t)
            assert st is not None
            nearer = [(s[0], s[1]) for _, o, _, _ in people[i + 1:]
                      if (s := o.state(t)) is not None]
            if occluded(cam, (st[0], st[1]), nearer):
                continue  # hidden behind nearer people: tested below
            if abs(yaw) < math.radians(FACE_TURN_DEG) - margin:
                assert inside
                checked += 1
            elif abs(yaw) > math.radians(FACE_TURN_DEG) + margin:
                assert not any(a + 0.3 <= t <= b - 0.3 for a, b in p["faces"])
    assert checked > 50


def test_a_face_behind_a_nearer_person_is_not_visible() -> None:
    cam = CameraDef("cam", "z", "screen", (0.0, 0.0), 0.0, 80.0, 7.0)  # looking along +x
    far = (5.0, 0.0)
    assert occluded(cam, far, [(4.0, 0.0)])  # right in front: the head hides the face
    assert not occluded(cam, far, [(1.0, 0.0)])  # the camera looks down: drawn lower
    assert not occluded(cam, far, [(4.0, 1.0)])  # beside the line of sight
    assert not occluded(cam, far, [(6.0, 0.0)])  # behind: drawn first, under the face
    assert not occluded(cam, (2.0, 0.0), [far])
    assert not occluded(cam, far, [])


def test_a_face_hidden_in_the_drawn_scene_is_not_in_the_truth() -> None:
    """A face turned to the camera but hidden behind the nearer people the camera draws
    (the renderer's own list, far to near) is not a face span of its pass."""
    w = _world(seed=3, duration=600.0)
    cam = w.layout.cameras[0]
    r = CameraRenderer(w, cam)
    for k in range(6000):
        t = k / 10
        people = r.people(t)
        for i, (_, agent, _, yaw) in enumerate(people[:-1]):
            st = agent.state(t)
            nearer = [(s[0], s[1]) for _, o, _, _ in people[i + 1:]
                      if (s := o.state(t)) is not None]
            if st is None or abs(yaw) > math.radians(FACE_TURN_DEG) - 0.1 \
                    or not occluded(cam, (st[0], st[1]), nearer):
                continue
            p = next(p for p in w.truth if p["type"] == "camera.pass"
                     and p["camera"] == cam.id and p["person"] == agent.id
                     and p["t"] <= t <= p["t_end"])
            assert not any(a + 0.15 <= t <= b - 0.15 for a, b in p["faces"])
            return
    pytest.fail("no occluded face in 600 s of seed 3")


def test_lighting_drifts() -> None:
    gains = [lighting(t, 3)[0] for t in range(0, 600, 10)]
    assert max(gains) - min(gains) > 0.2


def test_a_turned_face_moves_its_features_and_a_frontal_one_is_the_photo() -> None:
    face = face_photos()[5]
    left, right = turn(face, -30, (30, 30, 30)), turn(face, 30, (30, 30, 30))
    assert left.shape == face.shape
    assert np.abs(left.astype(int) - right.astype(int)).mean() > 10


def test_yunet_yaw_ratio_tracks_the_rendered_yaw() -> None:
    """|yaw ratio| < 0.2 agrees with |yaw| < 20 degrees on most turned faces, and the ratio
    grows with the turn (real YuNet from ../shared/models/)."""
    det = CvYuNet(yunet_path(), threshold=0.5)
    faces = face_photos()
    size = 90
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (size // 2, size // 2), (size * 2 // 5, size // 2), 0, 0, 360, 255, -1)
    agree = total = 0
    by_yaw: dict[int, list[float]] = {}
    for i in range(0, 100, 10):
        for yaw in range(-40, 41, 10):
            img = np.full((480, 640, 3), 180, np.uint8)
            patch = cv2.resize(turn(faces[i], yaw, (30, 30, 35)), (size, size))
            region = img[200:200 + size, 300:300 + size]
            region[mask > 0] = patch[mask > 0]
            found = det.detect(img)
            if not found or found[0].landmarks is None:
                continue
            ratio = yaw_ratio(found[0].landmarks)
            if ratio is None:
                continue
            total += 1
            agree += (abs(ratio) < 0.2) == (abs(yaw) < 20)
            by_yaw.setdefault(yaw, []).append(ratio)
    assert total >= 60
    assert agree / total >= 0.75
    med = {y: float(np.median(v)) for y, v in by_yaw.items()}
    assert med[-40] < med[-20] < med[0] < med[20] < med[40]
    assert abs(med[0]) < 0.1


@pytest.mark.parametrize("yaw", [0.0, 40.0])
def test_sprites_are_cached_per_bucket(yaw: float) -> None:
    from sim.faces import HeadSprites

    s = HeadSprites(1)
    a = s.face(3, yaw, (30, 30, 30))
    assert s.face(3, yaw + 1.0, (30, 30, 30)) is a


def test_render_only_writes_the_videos_and_truth_the_replay_reads(tmp_path: Path) -> None:
    """`tests.vision_sim_measure --render-only` renders each camera's video (the frames the
    simulator's run would play, at 640x480 and 10 frames/s, 5 s past the end) and the truth,
    without a daemon."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "tests.vision_sim_measure", "--render-only",
                    "--seeds", "3", "--duration", "1", "--keep", str(tmp_path)],
                   check=True, capture_output=True)
    out = tmp_path / "seed-3"
    world = _world(seed=3, duration=1.0)
    assert (out / "truth.jsonl").read_bytes() == world.truth_jsonl()
    for cam in world.layout.cameras:
        cap = cv2.VideoCapture(str(out / "video" / f"{cam.id}.avi"))
        n, size = 0, None
        while True:
            ok, img = cap.read()
            if not ok:
                break
            n, size = n + 1, img.shape
        cap.release()
        assert n == 60 and size == (480, 640, 3)
