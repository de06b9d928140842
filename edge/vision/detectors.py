"""The one place the pipeline gets a detector by name.

The models (`edge.vision.models`) are imported lazily, on the processing thread, the first
time a frame needs a model: the builders stay free of I/O and of onnxruntime. Tests and
tools may `register` a factory under a name of their own (a stand-in model, an OpenCV
detector); a registered name wins over the shipped models.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.vision.detection import Detector

log = logging.getLogger(__name__)

DetectorFactory = Callable[[], Detector]
CPU = "CPUExecutionProvider"

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
    providers: tuple[str, ...] = (CPU,)  # onnxruntime's execution providers, best first


def load(spec: DetectorSpec) -> Detector:
    """Load the detector `spec` names. Blocking (reads and checks the model file): call it
    once, on the thread that will run it. Execution providers that onnxruntime does not know
    or this build lacks are logged as a warning and left out (CPU is always the fallback).
    Raises DetectorUnavailable."""
    if spec.model in _REGISTERED:
        return _REGISTERED[spec.model]()
    try:
        models = importlib.import_module("edge.vision.models")
    except ImportError as exc:
        raise DetectorUnavailable(f"no shipped models in this build: {exc}") from None
    loader: Callable[..., Detector] = models.load_detector
    model_error: type[Exception] = models.ModelError
    usable: Callable[[tuple[str, ...]], tuple[list[str], list[str]]] = models.usable_providers
    providers, problems = usable(spec.providers)
    for problem in problems:  # unknown or absent: CPU stands in (`omo-edge doctor` says so)
        log.warning("vision: %s; falling back to %s", problem, ", ".join(providers))
    try:
        return loader(spec.model, threads=spec.threads, providers=providers,
                      models_dir=Path(spec.models_dir) if spec.models_dir else None)
    except (model_error, OSError, ValueError, KeyError, RuntimeError) as exc:
        raise DetectorUnavailable(f"model {spec.model!r}: {exc}") from exc
