"""Build-time check: facenet-pytorch's own torch cascade on the astronaut, to compare with the
ONNX cascade (tests/test_vision_models.py::test_mtcnn_boxes_equal_facenet_pytorch holds the
numbers this printed). Needs the build venv of models/build_mtcnn.py plus scikit-image.

torchvision does not import beside torch 2.13, and detect_face needs only its batched_nms:
this stubs that (IoU NMS, torchvision's semantics) and loads facenet-pytorch's modules by file.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import types
from typing import Any

import numpy as np
import torch


def batched_nms(boxes: Any, scores: Any, idxs: Any, thr: float) -> Any:
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64)
    b = (boxes + (idxs.to(boxes) * (boxes.max() + 1))[:, None]).double()
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    order = torch.argsort(scores, descending=True)
    keep = []
    while order.numel():
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = (torch.minimum(b[i, 2], b[rest, 2]) - torch.maximum(b[i, 0], b[rest, 0])).clamp(min=0)
        h = (torch.minimum(b[i, 3], b[rest, 3]) - torch.maximum(b[i, 1], b[rest, 1])).clamp(min=0)
        inter = w * h
        order = rest[inter / (area[i] + area[rest] - inter) <= thr]
    return torch.tensor(keep, dtype=torch.int64)


def _stub_torchvision() -> None:
    boxes = types.ModuleType("torchvision.ops.boxes")
    boxes.batched_nms = batched_nms  # type: ignore[attr-defined]
    for name in ("torchvision", "torchvision.ops", "torchvision.transforms",
                 "torchvision.transforms.functional"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["torchvision.ops.boxes"] = boxes


def _load(name: str, path: pathlib.Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    from skimage import data

    _stub_torchvision()
    found = importlib.util.find_spec("facenet_pytorch")
    assert found is not None and found.submodule_search_locations
    root = pathlib.Path(next(iter(found.submodule_search_locations)))
    for name, sub in (("facenet_pytorch", ""), ("facenet_pytorch.models", "models"),
                      ("facenet_pytorch.models.utils", "models/utils")):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(root / sub)]
        sys.modules[name] = pkg
    df = _load("facenet_pytorch.models.utils.detect_face", root / "models/utils/detect_face.py")
    mt = _load("facenet_pytorch.models.mtcnn", root / "models/mtcnn.py")
    torch.set_grad_enabled(False)
    img = data.astronaut()  # RGB, as facenet-pytorch takes it
    for min_face in (20, 40):
        boxes, points = df.detect_face(img, min_face, mt.PNet(), mt.RNet(), mt.ONet(),
                                       [0.6, 0.7, 0.7], 0.709, "cpu")
        print(f"min_face {min_face}: boxes {np.asarray(boxes[0]).tolist()}")
        print(f"  points {np.asarray(points[0]).tolist()}")


if __name__ == "__main__":
    main()
