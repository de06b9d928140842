"""The shipped MTCNN and the fetched YuNet and FastestDet, run by onnxruntime on real images
(scikit-image's photos), through `load_detector` as the pipeline uses them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.vision.detection import Box, Detection, DetectionKind, Detector
from edge.vision.models import (
    ChecksumMismatch,
    ModelLoadError,
    ModelMissing,
    ProviderUnavailable,
    UnknownModel,
    load_detector,
)
from edge.vision.models.manifest import MANIFEST, SHIPPED_DIR, load_manifest
from edge.vision.models.runtime import resolve_providers, session_options
from tests.vision_fixtures import SHARED_MODELS, astronaut, lfw, needs_shared, paste_scene, textured

# the astronaut's face (scikit-image data.astronaut, 512 x 512), by eye
ASTRO_FACE = Box(175, 55, 275, 180)


@pytest.fixture(scope="module")
def mtcnn() -> Detector:
    return load_detector("mtcnn")


@pytest.fixture(scope="module")
def yunet() -> Detector:
    if not (SHARED_MODELS / "face_detection_yunet_2023mar.onnx").is_file():
        pytest.skip(f"YuNet's file is not in {SHARED_MODELS} (never committed)")
    return load_detector("yunet", models_dir=SHARED_MODELS)


@pytest.fixture(scope="module")
def fastestdet() -> Detector:
    if not (SHARED_MODELS / "FastestDet.onnx").is_file():
        pytest.skip(f"FastestDet's file is not in {SHARED_MODELS} (never committed)")
    return load_detector("fastestdet", models_dir=SHARED_MODELS)


@pytest.fixture(params=["mtcnn", "yunet"])
def face_model(request: pytest.FixtureRequest) -> Iterator[Detector]:
    yield request.getfixturevalue(request.param)


def _matches(found: list[Detection], truth: list[tuple[int, int, int, int]],
             iou: float = 0.3) -> int:
    boxes = [Box(*map(float, t)) for t in truth]
    return sum(1 for b in boxes if any(d.box.iou(b) >= iou for d in found))


def test_the_shipped_files_are_small_and_match_the_manifest() -> None:
    man = load_manifest()
    shipped = [f for f in man.files.values() if f.shipped]
    assert {f.file for f in shipped} == {"mtcnn_pnet.onnx", "mtcnn_rnet.onnx", "mtcnn_onet.onnx"}
    for f in shipped:
        path = SHIPPED_DIR / f.file
        assert path.stat().st_size == f.size < 5_000_000
        assert man.status(f, None).value == "shipped"
    doc = json.loads(MANIFEST.read_text())
    for entry in doc["models"]:
        assert entry["licence"] and entry["source"] and entry["inputs"] and entry["outputs"]
        assert len(entry["sha256"]) == 64
        assert (entry["url"] is None) == entry["file"].startswith("mtcnn_")


def test_face_models_find_the_astronaut_with_landmarks_in_place(face_model: Detector) -> None:
    found = face_model.detect(astronaut())
    assert len(found) == 1, found
    [face] = found
    assert face.kind is DetectionKind.FACE and face.score > 0.8
    assert face.box.iou(ASTRO_FACE) > 0.6
    lm = face.landmarks
    assert lm is not None
    # the subject's right eye and mouth corner are on the image's left
    assert lm.right_eye.x < lm.nose.x < lm.left_eye.x
    assert lm.right_mouth.x < lm.left_mouth.x
    eyes_y = max(lm.right_eye.y, lm.left_eye.y)
    assert eyes_y < lm.nose.y < min(lm.right_mouth.y, lm.left_mouth.y)
    for p in (lm.right_eye, lm.left_eye, lm.nose, lm.right_mouth, lm.left_mouth):
        assert face.box.x1 <= p.x <= face.box.x2 and face.box.y1 <= p.y <= face.box.y2
    assert face_model.info.kind is DetectionKind.FACE
    # views as a capture thread may hand them over: mirrored, cropped, subsampled
    a = astronaut()
    for view in (a[:, ::-1], a[20:420, 100:460], a[::2, ::2]):
        assert len(face_model.detect(view)) == 1


@pytest.mark.parametrize("size", [40, 60, 100])
def test_face_models_find_lfw_faces_in_a_640x480_scene(face_model: Detector, size: int) -> None:
    faces, hits, total, extra = lfw(), 0, 0, 0
    while faces and total < 20:
        frame, truth = paste_scene(faces, size, seed=size + total)
        faces = faces[len(truth):]
        found = face_model.detect(frame)
        hits += _matches(found, truth)
        total += len(truth)
        extra += max(0, len(found) - len(truth))
    assert hits >= 0.8 * total, (hits, total)
    assert extra <= 1  # at most one false alarm on the textured ground


@pytest.mark.parametrize("seed", [1, 2])
def test_face_models_find_nothing_on_blank_or_textured_frames(face_model: Detector,
                                                              seed: int) -> None:
    assert face_model.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert face_model.detect(np.full((480, 640, 3), 200, np.uint8)) == []
    assert face_model.detect(textured(seed)) == []


def test_face_models_mostly_reject_lfw_non_faces(face_model: Detector) -> None:
    frame, truth = paste_scene(lfw(faces=False)[:24], 60, seed=7)
    assert len(truth) >= 12
    assert len(face_model.detect(frame)) <= 2


# facenet-pytorch's own torch cascade on the astronaut (models/mtcnn_torch_reference.py):
# min_face -> (box x1, y1, x2, y2, score), landmarks in MTCNN's order
TORCH_REFERENCE = {
    40: ((180.32172, 60.712833, 268.3952, 172.16666, 0.9999957),
         ((205.36934, 101.48482), (246.85818, 103.10532), (225.05841, 129.244),
          (201.15428, 139.57558), (245.14453, 141.09204))),
    20: ((181.05141, 62.156132, 267.74731, 172.05017, 0.9999977),
         ((205.01091, 101.72746), (246.76257, 103.71408), (224.67136, 128.965),
          (201.71611, 139.24619), (245.26549, 141.85703))),
}


@pytest.mark.parametrize("min_face", [40, 20])
def test_mtcnn_boxes_and_landmarks_equal_facenet_pytorch(min_face: int) -> None:
    det = load_detector("mtcnn", options={"min_face": min_face})
    [face] = det.detect(astronaut())
    box, points = TORCH_REFERENCE[min_face]
    got = (face.box.x1, face.box.y1, face.box.x2, face.box.y2)
    assert np.allclose(got, box[:4], atol=1e-3)
    assert face.score == pytest.approx(box[4], abs=1e-5)
    lm = face.landmarks
    assert lm is not None
    mine = [(p.x, p.y) for p in (lm.right_eye, lm.left_eye, lm.nose, lm.right_mouth,
                                 lm.left_mouth)]
    assert np.allclose(mine, points, atol=1e-3)


def test_mtcnn_handles_small_odd_and_huge_frames(mtcnn: Detector) -> None:
    assert mtcnn.detect(np.zeros((11, 7, 3), np.uint8)) == []  # under one P-net cell
    assert mtcnn.detect(np.zeros((1, 1, 3), np.uint8)) == []
    face = astronaut()[40:200, 150:300]
    assert len(mtcnn.detect(np.ascontiguousarray(face))) == 1
    # past 2^23 pixels the integral image cannot be int32: a 4096 x 2160 frame still works
    big = np.full((2160, 4096, 3), 255, np.uint8)
    big[1000:1512, 2000:2512] = astronaut()
    [found] = load_detector("mtcnn", options={"min_face": 80}).detect(big)
    assert found.box.iou(Box(ASTRO_FACE.x1 + 2000, ASTRO_FACE.y1 + 1000,
                             ASTRO_FACE.x2 + 2000, ASTRO_FACE.y2 + 1000)) > 0.6


def test_fastestdet_finds_the_astronaut_and_no_one_on_textures(fastestdet: Detector) -> None:
    found = fastestdet.detect(astronaut())
    assert found and all(d.kind is DetectionKind.PERSON for d in found)
    best = max(found, key=lambda d: d.score)
    assert best.score > 0.5
    # the person's box holds the face
    assert best.box.iou(ASTRO_FACE) > 0 and best.box.x1 <= ASTRO_FACE.x1 + 10
    assert best.box.y1 <= ASTRO_FACE.y1 + 10 and best.box.area > ASTRO_FACE.area
    assert fastestdet.detect(textured(3)) == []
    assert fastestdet.detect(np.zeros((480, 640, 3), np.uint8)) == []


@pytest.mark.parametrize("bad", [
    np.zeros((480, 640), np.uint8), np.zeros((480, 640, 4), np.uint8),
    np.zeros((480, 640, 3), np.float32), np.zeros((0, 640, 3), np.uint8), "frame", None,
])
def test_a_wrong_frame_is_a_value_error(mtcnn: Detector, bad: object) -> None:
    with pytest.raises(ValueError):
        mtcnn.detect(bad)  # type: ignore[arg-type]


@needs_shared
def test_yunet_rejects_a_wrong_frame_too(yunet: Detector) -> None:
    with pytest.raises(ValueError):
        yunet.detect(np.zeros((480, 640, 1), np.uint8))


@needs_shared
def test_a_corrupt_model_file_is_refused_before_onnxruntime(tmp_path: Path) -> None:
    data = bytearray((SHARED_MODELS / "FastestDet.onnx").read_bytes())
    data[5000] ^= 0xFF
    (tmp_path / "FastestDet.onnx").write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch, match="sha256"):
        load_detector("fastestdet", models_dir=tmp_path)
    (tmp_path / "FastestDet.onnx").write_bytes(bytes(data[:1000]))
    with pytest.raises(ChecksumMismatch, match="1000 bytes"):
        load_detector("fastestdet", models_dir=tmp_path)


def test_a_damaged_shipped_file_is_refused(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from edge.vision.models import manifest as m

    for f in SHIPPED_DIR.glob("mtcnn_*.onnx"):
        shutil.copy(f, tmp_path / f.name)
    onet = tmp_path / "mtcnn_onet.onnx"
    data = bytearray(onet.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit in the weights: onnxruntime would load it silently
    onet.write_bytes(bytes(data))
    monkeypatch.setattr(m, "SHIPPED_DIR", tmp_path)
    with pytest.raises(ChecksumMismatch, match="reinstall omo-edge"):
        load_detector("mtcnn")
    onet.unlink()
    with pytest.raises(ModelMissing, match="reinstall"):
        load_detector("mtcnn")


def test_a_missing_or_unknown_model_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match="omo-edge models fetch"):
        load_detector("yunet", models_dir=tmp_path)
    with pytest.raises(UnknownModel, match="mtcnn"):
        load_detector("nosuch")


def test_a_file_with_the_right_hash_but_not_a_model_is_a_load_error(tmp_path: Path) -> None:
    import hashlib

    from edge.vision.models.manifest import DetectorSpec, Format, Manifest, ModelFile

    junk = b"this is not an onnx file"
    (tmp_path / "junk.onnx").write_bytes(junk)
    mf = ModelFile("junk", "junk.onnx", hashlib.sha256(junk).hexdigest(), len(junk), "MIT",
                   "test", "http://example.invalid/junk.onnx", {}, {})
    spec = DetectorSpec("junk", DetectionKind.FACE, Format.YUNET, "0", "MIT",
                        {"model": "junk.onnx"}, {})
    with pytest.raises(ModelLoadError, match="onnxruntime cannot load"):
        load_detector("junk", models_dir=tmp_path,
                      manifest=Manifest({"junk.onnx": mf}, {"junk": spec}))


def test_providers_and_threads() -> None:
    assert resolve_providers(None) == ["CPUExecutionProvider"]
    assert resolve_providers(["auto"])[-1] == "CPUExecutionProvider"
    assert resolve_providers(["cpu"]) == ["CPUExecutionProvider"]
    with pytest.raises(ProviderUnavailable, match="onnxruntime-gpu"):
        resolve_providers(["NoSuchExecutionProvider"])
    assert session_options(2).get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options(2).intra_op_num_threads == 2
    with pytest.raises(ValueError):
        session_options(0)
    two = load_detector("mtcnn", threads=2, providers=["cpu"])
    assert len(two.detect(astronaut())) == 1


def test_options_reach_the_decoder() -> None:
    strict = load_detector("mtcnn", options={"min_face": 600})
    assert strict.detect(astronaut()) == []  # a minimum face larger than the frame
    with pytest.raises(ValueError, match="nosuch"):
        load_detector("mtcnn", options={"nosuch": 1})


@needs_shared
def test_yunet_runs_unpadded_with_free_dims_and_agrees_with_the_padded_file(
        yunet: Detector) -> None:
    import onnxruntime as ort

    from edge.vision.models.onnx_dims import dynamic_spatial_dims
    from edge.vision.models.yunet import YunetDetector

    data = (SHARED_MODELS / "face_detection_yunet_2023mar.onnx").read_bytes()
    free = ort.InferenceSession(dynamic_spatial_dims(data, "input"),
                                providers=["CPUExecutionProvider"])
    assert free.get_inputs()[0].shape[2:] == ["height", "width"]
    frame, truth = paste_scene(lfw()[:12], 60, seed=3)
    assert free.run(None, {"input": frame.transpose(2, 0, 1)[None].astype(np.float32)})[0] \
        .shape == (1, 60 * 80, 1)  # stride 8 cells of a 480 x 640 input
    padded = YunetDetector(ort.InferenceSession(data, providers=["CPUExecutionProvider"]),
                           version="2023mar")
    a, b = yunet.detect(frame), padded.detect(frame)
    assert _matches(a, truth) == _matches(b, truth) == len(truth)
    for d in a:
        assert max(d.box.iou(e.box) for e in b) > 0.9
    with pytest.raises(ValueError):
        dynamic_spatial_dims(b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "input")
    with pytest.raises(ValueError, match="no input"):
        dynamic_spatial_dims(data, "nosuch")
