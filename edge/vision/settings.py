"""The pipeline's settings from the `[vision]` config section: one place that maps every
key, used by the daemon's processor builder and by the replay tools that re-run the
pipeline over cached detections."""

from __future__ import annotations

from edge.config.model import Vision
from edge.vision.attention import GazeParams
from edge.vision.birth import BirthParams
from edge.vision.pipeline import VisionSettings
from edge.vision.refine import RefineParams
from edge.vision.tracking import TrackParams
from edge.vision.zoom import ZoomParams


def vision_settings(v: Vision) -> VisionSettings:
    """Every `[vision]` key that shapes the pipeline, as its `VisionSettings`."""
    return VisionSettings(
        window_s=v.window_s, k=v.min_people, item_window_s=v.item_window_s,
        min_hits=v.min_track_frames,
        min_score=v.min_score, keep_score=v.track_keep_score,
        keep_counts=v.track_keep_counts, keep_turned=v.track_keep_turned,
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
                          born_timeout_s=v.track_birth_timeout_s,
                          weak_yield_s=v.track_birth_yield_s),
        zoom=ZoomParams(v.zoom, (v.zoom_band_top, v.zoom_band_bottom)),
        refine=RefineParams(v.attention_refine_px, v.attention_refine_zoom),
        birth=BirthParams(v.track_birth_score, v.track_birth_frames,
                          face_px=v.track_birth_face_px, max_looks=v.track_birth_looks,
                          confirms=v.track_birth_confirms, adopt=v.track_birth_adopt,
                          gap_s=v.track_birth_gap_s,
                          confirm_window=v.track_birth_confirm_window,
                          min_crop=v.track_birth_min_crop, drift=v.track_birth_drift,
                          max_zoom=v.track_birth_max_zoom))
