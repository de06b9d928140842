"""Small far faces: the detector run again on an enlarged band of the frame (edge.vision.zoom),
with OpenCV's YuNet on the real model file and real faces (scikit-image's LFW photos)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision.detection import Box, Detection, DetectionKind
from edge.vision.detectors import DetectorSpec
from edge.vision.pipeline import CameraSpec, VisionProcessor, VisionSettings
from edge.vision.zoom import ZoomedDetector, ZoomParams, merge
from sim.faces import face_photos, turn
from tests.vision_pipe_fixtures import CvYuNet, scene, yunet_path

SMALL = 24  # px: a head about 6 m from a 640x480 camera with an 80 degree lens
PLACES = ((100, 250), (300, 240), (500, 260))  # top left corners, inside the default band


@pytest.fixture(scope="module")
def yunet() -> CvYuNet:
    return CvYuNet(yunet_path())


def _small_faces(i: int) -> np.ndarray:
    face = turn(face_photos()[i], 0.0, (40, 40, 40))
    return scene(faces=tuple((x, y, SMALL) for x, y in PLACES), face=face, seed=i)


def test_the_enlarged_band_finds_small_faces_the_frame_misses(yunet: CvYuNet) -> None:
    zoomed = ZoomedDetector(yunet)
    plain = found = 0
    for i in range(1, 21):
        img = _small_faces(i)
        plain += len(yunet.detect(img))
        dets = zoomed.detect(img)
        found += len(dets)
        for d in dets:  # mapped back to the frame's pixels, on a pasted face
            cx, cy = (d.box.x1 + d.box.x2) / 2, (d.box.y1 + d.box.y2) / 2
            assert any(abs(cx - (x + SMALL / 2)) < SMALL / 2 and abs(cy - (y + SMALL / 2))
                       < SMALL / 2 for x, y in PLACES)
            assert d.landmarks is not None
            assert d.box.x1 - 2 <= d.landmarks.nose.x <= d.box.x2 + 2
            assert d.box.y1 - 2 <= d.landmarks.nose.y <= d.box.y2 + 2
    assert plain <= 0.1 * 60  # the whole frame at its own scale finds hardly any
    assert found >= 0.7 * 60


def test_a_face_in_the_frame_and_the_band_is_one_detection(yunet: CvYuNet) -> None:
    img = scene(faces=((280, 215, 80),), face=turn(face_photos()[3], 0.0, (40, 40, 40)))
    assert len(yunet.detect(img)) == 1
    assert len(ZoomedDetector(yunet).detect(img)) == 1


def test_a_face_cut_by_the_band_edge_is_left_to_the_whole_frame(yunet: CvYuNet) -> None:
    # 120 px face from row 120 to 240: the band (rows 202-336) holds only its lower part
    img = scene(faces=((260, 120, 120),), face=turn(face_photos()[3], 0.0, (40, 40, 40)))
    whole = yunet.detect(img)
    assert len(whole) == 1
    assert ZoomedDetector(yunet).detect(img) == whole


def test_zoom_one_is_the_plain_detector(yunet: CvYuNet) -> None:
    img = _small_faces(2)
    off = ZoomedDetector(yunet, ZoomParams(zoom=1.0))
    assert not off.params.enabled
    assert off.detect(img) == yunet.detect(img)


def test_merge_keeps_the_best_of_overlapping_detections() -> None:
    def d(x: float, score: float) -> Detection:
        return Detection(DetectionKind.FACE, Box(x, 0, x + 20, 20), score)

    assert merge([d(0, 0.7), d(2, 0.9), d(100, 0.6)]) == [d(2, 0.9), d(100, 0.6)]


def test_the_pipeline_zooms_by_default_and_not_when_told(yunet: CvYuNet) -> None:
    def proc(settings: VisionSettings) -> VisionProcessor:
        return VisionProcessor([CameraSpec("cam-1", "promo", "screen-1")],
                               DetectorSpec("yunet-cv2"), settings, loader=lambda _: yunet)

    on, off = proc(VisionSettings()), proc(VisionSettings(zoom=ZoomParams(zoom=1.0)))
    img = _small_faces(5)
    assert on._detect(img, 0.0) and not off._detect(img, 0.0)
    assert isinstance(on.detector, ZoomedDetector) and off.detector is yunet
