"""The vision processor end to end on real faces (scikit-image's photos) found by a real
model (OpenCV's YuNet on the shared model file): tracks, attention, windows, events valid
against their schemas, k-anonymity, the motion gate and the compute budget."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from drivers.readings import Frame
from edge.config import parse
from edge.events import Event, format_time
from edge.processing.processor import Emission, Output
from edge.processing.registry import build_processors
from edge.vision.detection import Detection, Detector
from edge.vision.detectors import DetectorSpec, DetectorUnavailable
from edge.vision.pipeline import (
    AUDIENCE_ITEMS,
    AUDIENCE_WINDOW,
    PERSON_LEFT,
    CameraSpec,
    VisionProcessor,
    VisionSettings,
)
from tests.vision_pipe_fixtures import CvYuNet, scene, yunet_path

T0 = 1_000_000.0  # a multiple of the 10 s window


@pytest.fixture(scope="module")
def yunet() -> CvYuNet:
    return CvYuNet(yunet_path())


def _processor(yunet: Detector, **settings: Any) -> VisionProcessor:
    base: dict[str, Any] = {"window_s": 10.0, "k": 3, "grace_s": 2.0, "min_hits": 3,
                            "max_cpu_share": 0.0, "item_window_s": 10.0}
    base.update(settings)
    return VisionProcessor([CameraSpec("cam-1", "promo", "screen-1", fps=5.0)],
                           DetectorSpec("yunet-cv2"), VisionSettings(**base),
                           loader=lambda spec: yunet)


def _feed(p: VisionProcessor, frames: Iterator[tuple[float, np.ndarray]]) -> list[Emission]:
    out: list[Emission] = []
    next_tick = T0 + 1.0
    for i, (t, img) in enumerate(frames):
        while next_tick <= t:  # the host ticks before any later input
            o = Output(next_tick)
            p.on_tick(next_tick, o)
            out += o.emissions
            next_tick += 1.0
        o = Output(t)
        p.on_reading(Frame("cam-1", t, i, img), o)
        out += o.emissions
    for k in range(30):
        o = Output(next_tick + k)
        p.on_tick(next_tick + k, o)
        out += o.emissions
    return out


def _walkers(n: int, seconds: float, fps: float = 5.0, step: int = 2
             ) -> Iterator[tuple[float, np.ndarray]]:
    """`n` real faces 64 px wide walking right across a 320x240 frame, then an empty scene
    for 3 s."""
    frames = int(seconds * fps)
    for k in range(frames):
        faces = tuple((10 + step * k + 100 * i % 200, 20 + 100 * (i // 2), 64)
                      for i in range(n))
        yield T0 + k / fps, scene((320, 240), faces, seed=k)
    for k in range(frames, frames + int(3 * fps)):
        yield T0 + k / fps, scene((320, 240), seed=k)


def _valid(emissions: list[Emission]) -> None:
    for e in emissions:  # Event.new validates the data against the type's schema
        Event.new(e.type, e.data, source="omo-edge://s/d", bootid="b", epoch_s=e.at)


def test_real_faces_give_tracks_attention_and_windows(yunet: CvYuNet) -> None:
    p = _processor(yunet)
    played = Event.new("omo.signage.item.played",
                       {"screen": "screen-1", "item": "promo-a", "duration_s": 8.0},
                       source="omo-edge://s/d", bootid="b", epoch_s=T0 + 8.0)
    p.on_event(played, Output(T0 + 8.0))
    later = Event.new("omo.signage.item.played",  # logged late, with its own start and end
                      {"screen": "screen-1", "item": "promo-b", "duration_s": 3.0,
                       "start": format_time(T0 + 10.5), "end": format_time(T0 + 13.5)},
                      source="omo-edge://s/d", bootid="b", epoch_s=T0 + 40.0)
    p.on_event(later, Output(T0 + 8.0))
    emissions = _feed(p, _walkers(3, 14.0))
    _valid(emissions)
    left = [e for e in emissions if e.type == PERSON_LEFT]
    assert len(left) == 3 and len({e.data["track"] for e in left}) == 3  # no fragments
    for e in left:
        assert e.data["dwell_s"] == pytest.approx(13.8, abs=0.5)
        assert e.data["looked"] and e.data["attention_s"] == pytest.approx(13.8, abs=1.0)
        assert e.data["camera"] == "cam-1" and e.data["screen"] == "screen-1"
    windows = [e for e in emissions if e.type == AUDIENCE_WINDOW]
    assert [w.at for w in windows] == [T0 + 10, T0 + 20]
    first = windows[0].data
    assert first["passing"] == 3 and first["watchers"] == 3
    assert first["attention_s"] == pytest.approx(3 * 9.8, rel=0.1)
    assert first["model"] == {"name": "yunet-cv2", "version": "2023mar"}
    items = [e for e in emissions if e.type == AUDIENCE_ITEMS]
    assert [e.at for e in items] == [T0 + 10, T0 + 20]
    assert items[0].data["screen"] == "screen-1" and items[0].data["window_s"] == 10.0
    assert [i["item"] for i in items[0].data["items"]] == ["promo-a"]
    assert items[0].data["items"][0]["attention_s"] == pytest.approx(3 * 8.0, rel=0.1)
    assert [i["item"] for i in items[1].data["items"]] == ["promo-b"]
    assert items[1].data["items"][0]["attention_s"] == pytest.approx(3 * 3.0, rel=0.15)
    for e in emissions:  # nothing image-like ever leaves the processor
        assert not any(isinstance(v, (bytes, np.ndarray, list)) and k not in (
            "items", "dwell_histogram") for k, v in e.data.items())
    c = p.counters()
    assert c["analysed"] > 0 and c["people_left"] == 3


def test_fewer_than_k_people_are_not_reported(yunet: CvYuNet) -> None:
    p = _processor(yunet)
    emissions = _feed(p, _walkers(2, 6.0))
    assert not [e for e in emissions if e.type == AUDIENCE_WINDOW]
    assert p.counters()["suppressed_windows"] == 1
    assert len([e for e in emissions if e.type == PERSON_LEFT]) == 2


def test_a_static_scene_skips_inference_but_keeps_counting_attention(yunet: CvYuNet) -> None:
    p = _processor(yunet, motion_threshold=2.0, motion_max_skip_s=5.0)
    still = scene((320, 240), ((40, 40, 64), (140, 40, 64), (240, 40, 64)))
    emissions = _feed(p, ((T0 + k / 5, still) for k in range(50)))
    c = p.counters()
    assert c["analysed"] <= 3 and c["motion_skipped"] >= 47
    left = [e for e in emissions if e.type == PERSON_LEFT]
    assert len(left) == 3
    assert all(e.data["attention_s"] == pytest.approx(9.8, abs=0.5) for e in left)


def test_slow_inference_lowers_the_rate_not_a_backlog(yunet: CvYuNet) -> None:
    clock = iter(np.arange(0.0, 1000.0, 0.2))  # each model run "costs" 0.2 s
    p = VisionProcessor([CameraSpec("cam-1", "promo", None, fps=5.0)], DetectorSpec("y"),
                        VisionSettings(window_s=10, k=1, max_cpu_share=0.5,
                                       motion_threshold=0),
                        loader=lambda spec: yunet, cost_clock=lambda: float(next(clock)))
    _feed(p, _walkers(1, 6.0))
    c = p.counters()
    assert c["budget_skipped"] > 0
    # about 2.5 a second of 5: each run buys 0.4 s of frame time
    assert 0.35 * c["frames"] <= c["analysed"] <= 0.55 * c["frames"]


class _Slowed:
    """YuNet, then 50 ms more per frame: waiting (a loaded machine: the thread is off the
    core) or computing (a slow model)."""

    def __init__(self, inner: CvYuNet, busy: bool) -> None:
        self.inner, self.busy = inner, busy
        self.info = inner.info

    def detect(self, frame: np.ndarray) -> list[Detection]:
        found = self.inner.detect(frame)
        if self.busy:
            end = time.thread_time() + 0.05
            while time.thread_time() < end:
                pass
        else:
            time.sleep(0.05)  # stands in for being preempted, not for synchronisation
        return found


@pytest.mark.parametrize(("busy", "clock", "starved"), [
    (False, None, False),  # the default clock: waiting for a core costs nothing
    (False, time.perf_counter, True),  # the wall clock would skip frames for it
    (True, None, True),  # real compute over the share is still limited
])
def test_the_budget_counts_compute_not_waiting(yunet: CvYuNet, busy: bool,
                                               clock: Callable[[], float] | None,
                                               starved: bool) -> None:
    # 5 frames/s at a 0.15 share earns 30 ms a frame: less than the 50 ms added
    kw: dict[str, Any] = {} if clock is None else {"cost_clock": clock}
    p = VisionProcessor([CameraSpec("cam-1", "promo", None, fps=5.0)], DetectorSpec("y"),
                        VisionSettings(window_s=10, k=1, max_cpu_share=0.15,
                                       motion_threshold=0),
                        loader=lambda spec: _Slowed(yunet, busy), **kw)
    _feed(p, _walkers(1, 1.0))
    c = p.counters()
    skipped = c.get("budget_skipped", 0)
    assert (skipped > 0) is starved
    assert c["analysed"] + skipped == c["frames"]


def test_no_model_is_counted_not_a_crash() -> None:
    def fail(spec: DetectorSpec) -> Detector:
        raise DetectorUnavailable("no such model")

    p = VisionProcessor([CameraSpec("cam-1", "promo")], DetectorSpec("nope"), loader=fail)
    emissions = _feed(p, _walkers(3, 2.0))
    assert emissions == []
    c = p.counters()
    assert c["model_load_failed"] == 1 and c["no_model"] > 0
    bad = Output(T0)
    p.on_reading(Frame("cam-1", T0 + 100, 0, np.zeros((4, 4), np.uint8)), bad)
    p.on_reading(Frame("cam-9", T0 + 100, 0, np.zeros((4, 4, 3), np.uint8)), bad)
    assert p.counters()["bad_frames"] == 1 and p.counters()["unknown_camera"] == 1


def test_the_builder_makes_the_processor_from_the_config() -> None:
    config = parse(tomllib.loads("""
[store]
id = "s"
device = "d"
[[zones]]
id = "promo"
[[screens]]
id = "screen-1"
zone = "promo"
[[cameras]]
id = "cam-1"
source = "0"
zone = "promo"
screen = "screen-1"
[vision]
model = "yunet"
min_people = 5
track_min_iou = 0.2
track_max_jump = 1.5
track_jump_per_s = 0.5
track_velocity = true
track_appearance = 0.4
"""))
    [p] = [x for x in build_processors(config) if x.name == "vision"]
    assert isinstance(p, VisionProcessor)
    assert p.settings.k == 5 and p.detector_spec.model == "yunet"
    tp = p.settings.track
    assert (tp.min_iou, tp.max_jump, tp.jump_per_s, tp.velocity) == (0.2, 1.5, 0.5, True)
    assert tp.appearance == 0.4 and tp.uses_appearance
    assert p.cams["cam-1"].spec.screen == "screen-1" and p.debug is None
    assert p.subscriptions.own_thread
    assert format_time(T0)  # the window times are epoch seconds


def test_the_shipped_model_is_found_by_name_and_tracks_real_faces() -> None:
    from edge.vision.detectors import load

    p = VisionProcessor([CameraSpec("cam-1", "promo", "screen-1", fps=5.0)],
                        DetectorSpec("mtcnn"),
                        VisionSettings(window_s=10.0, k=3, grace_s=2.0, max_cpu_share=0.0),
                        loader=load)
    emissions = _feed(p, _walkers(3, 4.0))
    _valid(emissions)
    assert p.info is not None and p.info.name == "mtcnn"
    left = [e for e in emissions if e.type == PERSON_LEFT]
    assert len(left) == 3 and all(e.data["looked"] for e in left)
