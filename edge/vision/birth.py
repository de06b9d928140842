"""Weak births: a face the detector scores under `min_score` may start a track, once its
evidence taken together is strong.

A head turned about 40 degrees from a far camera (25-56 px) scores 0.3-0.55 in YuNet in
every frame: it never starts a track, and a shopper standing turned to a shelf beside the
screen for half a minute is never counted (docs/vision.md, "Measured", vis9). One weak
frame is no evidence (a poster, a patch of shelf), but the same weak face at one place for
many frames, which a second, enlarged look confirms, is. A weak face (scored at least
`score`) left over after tracking, and not near a live track (farther than `clear` box
sizes from every live track's box: a turned face beside a tracked one is that person, not
a new one), becomes a candidate; a candidate is continued by the next frame's weak face
overlapping it by `min_iou` (a standing or slowly walking person) and dropped once unseen
for `gap_s` or once a track comes near. After `frames` frames it gets second looks (the
detector again on its crop, enlarged so the face is about `face_px` px; at most `max_looks`
a camera frame, the longest-standing candidates first); once `confirms` second looks in a
row reach `min_score`, it starts a track (`edge.vision.tracking.Tracker.birth`).

A weakly-born track's frames have an unknown yaw (the first look's score is under
`min_score`; the second look is not asked for landmarks): it counts as a person but never
makes a watcher or attention time unless later strong faces with landmarks continue it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.vision.detection import Box, Detection


@dataclass(frozen=True)
class BirthParams:
    score: float = 0.0  # a weak face scored at least this may become a candidate (0: off)
    frames: int = 20  # frames a candidate persists before its second looks
    min_iou: float = 0.3  # frame-to-frame overlap that continues a candidate
    face_px: float = 160.0  # the second look enlarges the crop so the face is this big
    max_zoom: float = 8.0  # ... but never more than this
    max_looks: int = 2  # second looks a camera frame at most
    confirms: int = 2  # second looks in a row at min_score that start the track
    clear: float = 1.0  # box sizes: a weak face this near a live track is no candidate
    gap_s: float = 0.5  # a candidate unseen longer is dropped

    @property
    def enabled(self) -> bool:
        return self.score > 0 and self.frames > 0 and self.max_looks > 0

    def zoom(self, face: Box) -> float:
        """How much the second look enlarges `face`'s crop."""
        return min(self.max_zoom, max(1.0, self.face_px / max(face.width, face.height, 1.0)))


@dataclass
class Candidate:
    box: Box
    first_t: float
    last_t: float
    detection: Detection
    frames: int = 1
    looks: int = 0
    confirmed: int = 0  # second looks in a row at min_score


def near(a: Box, b: Box, clear: float) -> bool:
    """`a` overlaps `b` or their centres are at most `clear` box sizes apart."""
    if a.iou(b) > 0:
        return True
    size = max(a.width, a.height, b.width, b.height, 1.0)
    return math.hypot((a.x1 + a.x2 - b.x1 - b.x2) / 2,
                      (a.y1 + a.y2 - b.y1 - b.y2) / 2) <= clear * size


class Births:
    """One camera's candidates."""

    def __init__(self, params: BirthParams) -> None:
        self.params = params
        self.candidates: list[Candidate] = []

    def update(self, weak: list[Detection], tracks: list[Box], t: float) -> list[Candidate]:
        """Feed the weak faces left over at `t` (`tracks`: every live track's box); returns
        the candidates due a second look now (at most `max_looks`)."""
        p = self.params
        free = [d for d in weak if d.score >= p.score
                and not any(near(d.box, b, p.clear) for b in tracks)]
        live = [c for c in self.candidates if t - c.last_t <= p.gap_s
                and not any(near(c.box, b, p.clear) for b in tracks)]
        pairs = sorted(((c.box.iou(d.box), i, j) for i, c in enumerate(live)
                        for j, d in enumerate(free)), reverse=True)
        taken_c: set[int] = set()
        taken_d: set[int] = set()
        for iou, i, j in pairs:
            if iou < p.min_iou:
                break
            if i in taken_c or j in taken_d:
                continue
            taken_c.add(i)
            taken_d.add(j)
            c, d = live[i], free[j]
            c.box, c.last_t, c.detection = d.box, t, d
            c.frames += 1
        for j, d in enumerate(free):
            if j not in taken_d:
                live.append(Candidate(d.box, t, t, d))
        self.candidates = live
        due = [c for c in live if c.last_t == t and c.frames >= p.frames]
        due.sort(key=lambda c: (c.looks, -c.frames))  # the least looked at first
        return due[:p.max_looks]

    def looked(self, c: Candidate, score: float, min_score: float) -> bool:
        """Record a second look's score for `c`; True (and `c` is dropped) once it has
        `confirms` in a row at `min_score`."""
        c.looks += 1
        c.confirmed = c.confirmed + 1 if score >= min_score else 0
        if c.confirmed >= self.params.confirms:
            self.candidates.remove(c)
            return True
        return False
