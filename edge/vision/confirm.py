"""A second look to confirm faces the detector is unsure of.

A face turned about 40 degrees 3-4 m from the camera is scored 0.45-0.58 by YuNet in every
frame, just under `vision.min_score` (0.6), and a shopper standing there is never counted
(docs/vision.md, "Measured"). Lowering `min_score` lets in more false and fragmentary faces
with it. `ConfirmingDetector` wraps a detector: each detection scoring from `low` up to `min_score`
(a candidate) gets a second look, the detector again on the candidate's own neighbourhood
(`edge.vision.refine.second_look`: the box grown by `margin` box sizes a side) enlarged so
that the face is `face_px` pixels (at most `max_zoom` times; at least 1). If the second look
finds the face (the crop detection overlapping the candidate's box most, at least
`refine.MATCH_IOU`) scoring `min_score` or more, the candidate is kept with that score and
marked `confirmed` (its box and landmarks stay the first look's); otherwise it stays under
`min_score` and the pipeline drops it as before. A confirmed face counts for tracking
(opportunities to see) but its yaw is unknown to the attention test (it neither starts nor
ends a look): the faces a detector is unsure of are mostly turned or tiny, and their
landmarks made false looks (docs/vision.md, "Measured").

The cost is one inference per candidate on a small image ((1 + 2 x margin) x face_px square:
300 x 300 px with the defaults), at most `max_faces` a frame (the best-scoring candidates
first). `low` = 0 turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge.vision.detection import BgrImage, Detection, Detector, ModelInfo
from edge.vision.refine import second_look


@dataclass(frozen=True)
class ConfirmParams:
    low: float = 0.0  # detections scoring from this to min_score get a second look; 0: off
    face_px: float = 150.0  # the crop is enlarged so that the face is this large
    max_zoom: float = 8.0
    margin: float = 0.5  # the crop: the box grown by this many box sizes on each side
    max_faces: int = 4  # second looks per frame at most (the best-scoring candidates first)

    def enabled(self, min_score: float) -> bool:
        return 0.0 < self.low < min_score and self.face_px > 0 and self.max_faces > 0


class ConfirmingDetector:
    """`inner`'s detections, its unsure ones re-scored by a second look; the Detector
    protocol. `crop_detector` runs the second looks (usually the model behind `inner`)."""

    def __init__(self, inner: Detector, crop_detector: Detector, params: ConfirmParams,
                 min_score: float) -> None:
        self.inner, self.crop_detector, self.params = inner, crop_detector, params
        self.min_score = min_score
        self.looks = 0  # second looks run
        self.confirmed = 0  # ... that reached min_score

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    def detect(self, frame: BgrImage) -> list[Detection]:
        found = self.inner.detect(frame)
        p = self.params
        if not p.enabled(self.min_score):
            return found
        unsure = sorted((i for i, d in enumerate(found)
                         if p.low <= d.score < self.min_score),
                        key=lambda i: -found[i].score)[:p.max_faces]
        out = list(found)
        for i in unsure:
            self.looks += 1
            size = max(found[i].box.width, found[i].box.height, 1.0)
            zoom = min(p.max_zoom, max(1.0, p.face_px / size))
            again = second_look(self.crop_detector, frame, found[i], zoom, p.margin)
            if again is not None and again.score >= self.min_score:
                self.confirmed += 1
                out[i] = replace(found[i], score=again.score, confirmed=True)
        return out
