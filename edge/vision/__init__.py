"""Cameras and on-device inference: audience, attention and dwell (frames never leave the
device). `detection` is the contract between the models (edge/vision/models/) and the
pipeline (`pipeline`) that tracks people and measures attention; `build` is the part's
processor builder (see `edge.processing.registry`). See docs/vision.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import Config
    from edge.processing.processor import Processor


def build(config: Config) -> list[Processor]:
    """The vision processor for `config`, or nothing without cameras. No I/O: the model is
    loaded by name on the processor's own thread when the first frame needs it."""
    if not config.cameras or not config.vision.enabled:
        return []  # before the imports: the pipeline pulls in OpenCV (~20 MB resident)

    from pathlib import Path

    from edge.vision.blur import DebugFrames
    from edge.vision.detectors import DetectorSpec
    from edge.vision.pipeline import CameraSpec, VisionProcessor
    from edge.vision.settings import vision_settings

    v = config.vision
    settings = vision_settings(v)
    debug = DebugFrames(Path(v.debug_dir)) if v.debug_dir and config.privacy.store_frames \
        else None
    return [VisionProcessor(
        [CameraSpec(c.id, c.zone, c.screen, c.fps) for c in config.cameras],
        DetectorSpec(v.model, v.threads, v.models_dir, v.providers), settings, debug=debug)]
