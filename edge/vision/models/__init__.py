"""Models behind `edge.vision.detection.Detector`: the manifest with checksums, onnxruntime
sessions, the decoders (MTCNN shipped; YuNet, FastestDet, YOLO- and SSD-style person
detectors), fetching, `omo-edge models` and `omo-edge bench vision`.

The pipeline needs only `load_detector` and the errors (all subclasses of ModelError)."""

from edge.vision.models.errors import (
    ChecksumMismatch,
    FetchError,
    ModelError,
    ModelLoadError,
    ModelMissing,
    ProviderUnavailable,
    UnknownModel,
)
from edge.vision.models.loader import DEFAULT_MODEL, load_detector
from edge.vision.models.runtime import usable_providers

__all__ = ["DEFAULT_MODEL", "ChecksumMismatch", "FetchError", "ModelError", "ModelLoadError",
           "ModelMissing", "ProviderUnavailable", "UnknownModel", "load_detector",
           "usable_providers"]
