"""`load_detector(name)`: a model from the manifest, checked, loaded and wrapped as a
`edge.vision.detection.Detector`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

from edge.vision.detection import Detector
from edge.vision.models.errors import ModelLoadError
from edge.vision.models.manifest import DetectorSpec, Format, Manifest, load_manifest
from edge.vision.models.mtcnn import MtcnnDetector
from edge.vision.models.onnx_dims import dynamic_spatial_dims
from edge.vision.models.person import FastestDetDetector, SsdDetector, YoloDetector
from edge.vision.models.runtime import open_session
from edge.vision.models.yunet import YunetDetector

Sessions = dict[str, ort.InferenceSession]
Builder = Callable[[Sessions, DetectorSpec, dict[str, Any]], Detector]

BUILDERS: dict[Format, Builder] = {
    Format.MTCNN: lambda s, spec, o: MtcnnDetector(s["pnet"], s["rnet"], s["onet"],
                                                   version=spec.version, **o),
    Format.YUNET: lambda s, spec, o: YunetDetector(s["model"], version=spec.version, **o),
    Format.FASTESTDET: lambda s, spec, o: FastestDetDetector(s["model"], version=spec.version,
                                                             name=spec.name, **o),
    Format.YOLO: lambda s, spec, o: YoloDetector(s["model"], version=spec.version,
                                                 name=spec.name, **o),
    Format.SSD: lambda s, spec, o: SsdDetector(s["model"], version=spec.version,
                                               name=spec.name, **o),
}
"""Format -> detector class; each takes its sessions by role and the spec's options."""

DEFAULT_MODEL = "mtcnn"


def _session(spec: DetectorSpec, data: bytes, threads: int, providers: Sequence[str] | None,
             label: str) -> ort.InferenceSession:
    """YuNet's fixed 640 x 640 input is made free first (a 640 x 480 frame then goes in
    unpadded); if that rewrite or its session fails, the file as it is (frames padded)."""
    if spec.format is Format.YUNET:
        try:
            return open_session(dynamic_spatial_dims(data, "input"), threads=threads,
                                providers=providers, label=label)
        except (ValueError, ModelLoadError):
            pass
    return open_session(data, threads=threads, providers=providers, label=label)


def load_detector(name: str = DEFAULT_MODEL, *, threads: int = 1,
                  providers: Sequence[str] | None = None, models_dir: Path | None = None,
                  options: Mapping[str, Any] | None = None,
                  manifest: Manifest | None = None) -> Detector:
    """The manifest's detector `name` ("mtcnn", shipped; "yunet", "fastestdet" once fetched),
    each file checked against its sha256 before onnxruntime sees it.

    `threads`: intra-op threads per session; `providers`: None for CPU, "auto" for the best
    present (TensorRT, CUDA, CPU) or names ("cuda", "CUDAExecutionProvider"); `models_dir`:
    where fetched models live (default $OMO_EDGE_MODELS_DIR or /var/lib/omo-edge/models);
    `options`: decoder keywords over the manifest's (such as min_face for MTCNN,
    score_threshold for all).

    Raises UnknownModel, ModelMissing, ChecksumMismatch, ModelLoadError, ProviderUnavailable
    (all ModelError), or ValueError for a bad option value."""
    man = manifest or load_manifest()
    spec = man.detector(name)
    sessions = {role: _session(spec, man.read(file, models_dir), threads, providers,
                               f"{name} ({file})")
                for role, file in spec.files.items()}
    opts = {**spec.options, **(options or {})}
    try:
        return BUILDERS[spec.format](sessions, spec, opts)
    except TypeError as exc:  # an option the decoder does not take
        raise ValueError(f"model {name}: {exc}") from None
