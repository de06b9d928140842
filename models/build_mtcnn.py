"""Export MTCNN's P-, R- and O-nets from the facenet-pytorch wheel to ONNX (build time only).

The weights are the state dicts that ship inside the `facenet-pytorch` wheel (MIT licence,
Tim Esler; the networks are Zhang et al.'s MTCNN, weights converted from David Sandberg's
facenet). Torch is needed here and nowhere else: the runtime runs the .onnx files with
onnxruntime, numpy and OpenCV.

    python -m venv /tmp/mtcnn-build
    /tmp/mtcnn-build/bin/pip install torch==2.13.0 onnx numpy
    /tmp/mtcnn-build/bin/pip install --no-deps facenet-pytorch
    /tmp/mtcnn-build/bin/python models/build_mtcnn.py          # writes models/mtcnn_*.onnx
    .venv/bin/python -m edge.vision.models.manifest --update    # refreshes sha256 and sizes

`facenet_pytorch` itself is never imported (its package imports torchvision, which does not
load beside this torch): the three network definitions are repeated below, layer for layer
as in `facenet_pytorch/models/mtcnn.py`, and the state dicts are read from the wheel's
`data/` folder with `torch.load`.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn

OPSET = 17
HERE = Path(__file__).resolve().parent


class PNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))


class RNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))


def wheel_data_dir() -> Path:
    """facenet-pytorch's `data/` folder, found without importing the package."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("facenet-pytorch is not installed: "
                         "pip install --no-deps facenet-pytorch")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def export(net: nn.Module, weights: Path, sample: torch.Tensor, out: Path,
           outputs: list[str], dynamic: dict[str, dict[int, str]]) -> None:
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net.eval()
    kwargs: dict[str, Any] = {"external_data": False}
    with torch.no_grad():
        torch.onnx.export(net, (sample,), str(out), input_names=["input"],
                          output_names=outputs, dynamic_axes=dynamic, opset_version=OPSET,
                          dynamo=False, **kwargs)
    print(f"{out.name}: {out.stat().st_size} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (models/)")
    args = parser.parse_args()
    data = wheel_data_dir()
    batch = {0: "n"}
    export(PNet(), data / "pnet.pt", torch.zeros(1, 3, 120, 160), args.out / "mtcnn_pnet.onnx",
           ["reg", "prob"], {"input": {0: "n", 2: "h", 3: "w"}, "reg": {0: "n", 2: "oh", 3: "ow"},
                             "prob": {0: "n", 2: "oh", 3: "ow"}})
    export(RNet(), data / "rnet.pt", torch.zeros(2, 3, 24, 24), args.out / "mtcnn_rnet.onnx",
           ["reg", "prob"], {"input": batch, "reg": batch, "prob": batch})
    export(ONet(), data / "onet.pt", torch.zeros(2, 3, 48, 48), args.out / "mtcnn_onet.onnx",
           ["reg", "landmarks", "prob"],
           {"input": batch, "reg": batch, "landmarks": batch, "prob": batch})


if __name__ == "__main__":
    main()
