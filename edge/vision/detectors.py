"""The one place the pipeline gets a detector by name.

The models (`edge.vision.models`) are imported lazily, on the processing thread, the first
time a frame needs a model: the builders stay free of I/O and of onnxruntime. Tests and
tools may `register` a factory under a name of their own (a stand-in model, an OpenCV
detector); a registered name wins over the shipped models.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.vision.detection import Detector

DetectorFactory = Callable[[], Detector]

_REGISTERED: dict[str, DetectorFactory] = {}


class DetectorUnavailable(RuntimeError):
    """The named model cannot be loaded (unknown name, missing file, bad checksum)."""


def register(name: str, factory: DetectorFactory) -> None:
    _REGISTERED[name] = factory


def unregister(name: str) -> None:
    _REGISTERED.pop(name, None)


@dataclass(frozen=True)
class DetectorSpec:
    """What to load: a model name and its runtime options (from the config)."""

    model: str
    threads: int = 1
    models_dir: str | None = None


def load(spec: DetectorSpec) -> Detector:
    """Load the detector `spec` names. Blocking (reads and checks the model file): call it
    once, on the thread that will run it. Raises DetectorUnavailable."""
    if spec.model in _REGISTERED:
        return _REGISTERED[spec.model]()
    try:
        models = importlib.import_module("edge.vision.models")
    except ImportError as exc:
        raise DetectorUnavailable(f"no shipped models in this build: {exc}") from None
    loader: Callable[..., Detector] = models.load_detector
    model_error: type[Exception] = models.ModelError
    try:
        return loader(spec.model, threads=spec.threads,
                      models_dir=Path(spec.models_dir) if spec.models_dir else None)
    except (model_error, OSError, ValueError, KeyError, RuntimeError) as exc:
        raise DetectorUnavailable(f"model {spec.model!r}: {exc}") from exc
