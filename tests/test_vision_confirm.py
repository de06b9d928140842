"""The confirming second look at faces the detector is unsure of (edge.vision.confirm), on
real YuNet over a real face (scikit-image's astronaut)."""

from __future__ import annotations

import tomllib

import cv2
import numpy as np
import pytest

from drivers.readings import Frame
from edge.config import parse
from edge.processing.processor import Output
from edge.processing.registry import build_processors
from edge.vision.confirm import ConfirmingDetector, ConfirmParams
from edge.vision.detection import BgrImage, Box, Detection, DetectionKind, ModelInfo
from edge.vision.detectors import DetectorSpec
from edge.vision.pipeline import CameraSpec, VisionProcessor, VisionSettings
from edge.vision.zoom import ZoomParams
from tests.vision_pipe_fixtures import CvYuNet, astronaut_face, yunet_path

T0 = 1_000_000.0


@pytest.fixture(scope="module")
def yunet() -> CvYuNet:
    return CvYuNet(yunet_path(), 0.3)  # its own threshold under min_score: candidates show


def _frame(size: int | None) -> BgrImage:
    """The astronaut's face `size` px wide at (60, 50) on a grey 160 x 160 frame (None: no
    face)."""
    img = np.full((160, 160, 3), 150, np.uint8)
    if size is not None:
        img[50:50 + size, 60:60 + size] = cv2.resize(astronaut_face(), (size, size),
                                                     interpolation=cv2.INTER_AREA)
    return img


def test_an_unsure_small_face_is_confirmed_by_a_second_look(yunet: CvYuNet) -> None:
    img = _frame(22)
    [plain] = yunet.detect(img)
    assert 0.4 <= plain.score < 0.6  # a real 22 px face: the first look is unsure
    det = ConfirmingDetector(yunet, yunet, ConfirmParams(low=0.4, face_px=66.0), min_score=0.6)
    [got] = det.detect(img)
    assert det.looks == 1 and det.confirmed == 1
    assert got.score >= 0.6 and got.box == plain.box and got.landmarks == plain.landmarks
    off = ConfirmingDetector(yunet, yunet, ConfirmParams(low=0.0), min_score=0.6)
    assert off.detect(img) == [plain] and off.looks == 0


def test_a_sure_face_gets_no_second_look(yunet: CvYuNet) -> None:
    img = _frame(48)
    [plain] = yunet.detect(img)
    assert plain.score >= 0.6
    det = ConfirmingDetector(yunet, yunet, ConfirmParams(low=0.4), min_score=0.6)
    assert det.detect(img) == [plain] and det.looks == 0


class _Candidates:
    """A first look that returns the given candidates (as a detector's false, unsure
    detections would be); the second look is the real model."""

    info = ModelInfo("fixed", "0", DetectionKind.FACE)

    def __init__(self, found: list[Detection]) -> None:
        self.found = found

    def detect(self, frame: BgrImage) -> list[Detection]:
        return list(self.found)


def test_a_candidate_the_second_look_does_not_find_stays_unsure(yunet: CvYuNet) -> None:
    img = _frame(None)  # grey: no face anywhere
    fake = Detection(DetectionKind.FACE, Box(60, 50, 82, 72), 0.5)
    det = ConfirmingDetector(_Candidates([fake]), yunet, ConfirmParams(low=0.4),
                             min_score=0.6)
    assert det.detect(img) == [fake] and det.looks == 1 and det.confirmed == 0


def test_second_looks_are_capped_per_frame_best_first(yunet: CvYuNet) -> None:
    img = _frame(None)
    fakes = [Detection(DetectionKind.FACE, Box(5 + 25 * k, 50, 25 + 25 * k, 70),
                       0.4 + 0.03 * k) for k in range(6)]
    det = ConfirmingDetector(_Candidates(fakes), yunet, ConfirmParams(low=0.4, max_faces=4),
                             min_score=0.6)
    seen: list[tuple[int, ...]] = []
    inner = det.crop_detector

    class Spy:
        info = inner.info

        def detect(self, frame: BgrImage) -> list[Detection]:
            seen.append(frame.shape)
            return inner.detect(frame)

    det.crop_detector = Spy()
    assert det.detect(img) == fakes and det.looks == 4 and len(seen) == 4


def _count(yunet: CvYuNet, confirm: ConfirmParams) -> int:
    p = VisionProcessor([CameraSpec("cam-1", "promo", "screen-1", fps=5.0)],
                        DetectorSpec("yunet-cv2"),
                        VisionSettings(window_s=10.0, k=1, grace_s=2.0, min_hits=3,
                                       max_cpu_share=0.0, motion_threshold=0.0,
                                       zoom=ZoomParams(1.0), confirm=confirm),
                        loader=lambda spec: yunet)
    img = _frame(22)
    for i in range(10):  # a shopper whose small face stands 2 s before the camera
        p.on_reading(Frame("cam-1", T0 + i / 5.0, i, img), Output(T0 + i / 5.0))
    for k in range(1, 30):
        p.on_tick(T0 + 2.0 + k, Output(T0 + 2.0 + k))
    return p.counters().get("people_left", 0)


def test_the_pipeline_counts_a_person_only_a_second_look_is_sure_of(yunet: CvYuNet) -> None:
    assert _count(yunet, ConfirmParams()) == 0  # off: the face is under min_score
    assert _count(yunet, ConfirmParams(low=0.4)) == 1


def test_the_builder_passes_the_confirm_keys() -> None:
    config = parse(tomllib.loads("""
[store]
id = "s"
device = "d"
[[zones]]
id = "promo"
[[cameras]]
id = "cam-1"
source = "0"
zone = "promo"
[vision]
confirm_score = 0.45
confirm_face_px = 120
"""))
    [p] = [x for x in build_processors(config) if x.name == "vision"]
    assert isinstance(p, VisionProcessor)
    assert p.settings.confirm == ConfirmParams(low=0.45, face_px=120.0)
    assert p.settings.confirm.enabled(p.settings.min_score)
