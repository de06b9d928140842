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

    from edge.vision.attention import GazeParams
    from edge.vision.birth import BirthParams
    from edge.vision.blur import DebugFrames
    from edge.vision.detectors import DetectorSpec
    from edge.vision.pipeline import CameraSpec, VisionProcessor, VisionSettings
    from edge.vision.refine import RefineParams
    from edge.vision.tracking import TrackParams
    from edge.vision.zoom import ZoomParams

    v = config.vision
    settings = VisionSettings(
        window_s=v.window_s, k=v.min_people, item_window_s=v.item_window_s,
        min_hits=v.min_track_frames,
        min_score=v.min_score, keep_score=v.track_keep_score,
        motion_threshold=v.motion_threshold,
        max_cpu_share=v.max_cpu_share,
        gaze=GazeParams(v.attention_enter, v.attention_leave, v.attention_min_s,
                       v.attention_min_face_px, v.attention_min_width,
                       min_score=v.attention_min_score),
        track=TrackParams(v.track_min_iou, v.track_max_jump, v.track_timeout_s,
                          v.track_jump_per_s, v.track_velocity,
                          appearance=v.track_appearance,
                          standing_jump=v.track_standing_jump,
                          weak_min_iou=v.track_keep_iou,
                          born_timeout_s=v.track_birth_timeout_s),
        zoom=ZoomParams(v.zoom, (v.zoom_band_top, v.zoom_band_bottom)),
        refine=RefineParams(v.attention_refine_px, v.attention_refine_zoom),
        birth=BirthParams(v.track_birth_score, v.track_birth_frames,
                          face_px=v.track_birth_face_px, max_looks=v.track_birth_looks,
                          confirms=v.track_birth_confirms, adopt=v.track_birth_adopt,
                          gap_s=v.track_birth_gap_s,
                          confirm_window=v.track_birth_confirm_window,
                          min_crop=v.track_birth_min_crop, drift=v.track_birth_drift))
    debug = DebugFrames(Path(v.debug_dir)) if v.debug_dir and config.privacy.store_frames \
        else None
    return [VisionProcessor(
        [CameraSpec(c.id, c.zone, c.screen, c.fps) for c in config.cameras],
        DetectorSpec(v.model, v.threads, v.models_dir, v.providers), settings, debug=debug)]
