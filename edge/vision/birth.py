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
detector again on its crop, the box grown by `margin` box sizes a side and at least
`min_crop` px, enlarged so a face of the box's size is about `face_px` px; at most
`max_looks` a camera frame, the least looked-at candidates first): a face found there
whose box holds the candidate's centre confirms it (a tiny weak box is often part of a
face the second look finds whole); once `confirms` of its last `confirm_window` second
looks (in a row when 0) reach `min_score`, it starts a track
(`edge.vision.tracking.Tracker.birth`). With `adopt` on, a weak face at the place of a
live track no face continued now (overlapping its last box by `min_iou`, near no other
track) is a candidate too, and once confirmed it continues that track instead (a shopper
tracked, then turned 40 degrees to a shelf for longer than the track's timeout: one
person, not a new track).

A weakly-born track's frames have an unknown yaw (the first look's score is under
`min_score`; the second look is not asked for landmarks): it counts as a person but never
makes a watcher or attention time unless later strong faces with landmarks continue it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.vision.detection import BgrImage, Box, Detection, Detector
from edge.vision.zoom import unzoomed


@dataclass(frozen=True)
class BirthParams:
    score: float = 0.0  # a weak face scored at least this may become a candidate (0: off)
    frames: int = 10  # frames a candidate persists before its second looks
    min_iou: float = 0.3  # frame-to-frame overlap that continues a candidate
    face_px: float = 160.0  # the second look enlarges the crop so the face is this big
    max_zoom: float = 8.0  # ... but never more than this
    margin: float = 1.0  # the crop: the box grown by this many box sizes a side
    min_crop: float = 48.0  # ... and at least this many frame px square (a tiny weak box
    # is often part of a face: the second look finds the whole face around it)
    max_looks: int = 2  # second looks a camera frame at most
    confirms: int = 2  # second looks at min_score that start the track ...
    confirm_window: int = 4  # ... among its last this many looks (0: in a row)
    clear: float = 1.0  # box sizes: a weak face this near a live track is no candidate
    gap_s: float = 1.0  # a candidate unseen longer is dropped
    drift: float = 1.0  # box sizes: a candidate whose centre left its first place by more
    # starts over there (a walker gets a strong track soon; a weak one before it splits it;
    # 0: no limit)
    adopt: bool = True  # a candidate where an unseen live track is continues that track

    @property
    def enabled(self) -> bool:
        return self.score > 0 and self.frames > 0 and self.max_looks > 0

    def crop(self, face: Box) -> tuple[float, float]:
        """The second look's crop side (frame px, centred on `face`) and enlargement: a
        face filling a third of the crop (`margin` 1) becomes `face_px`."""
        size = max(face.width, face.height, 1.0)
        side = max((1 + 2 * self.margin) * size, self.min_crop)
        return side, min(self.max_zoom, max(1.0, self.face_px * (1 + 2 * self.margin) / side))


@dataclass
class Candidate:
    box: Box
    first_t: float
    last_t: float
    detection: Detection
    frames: int = 1
    looks: int = 0
    results: list[bool] = field(default_factory=list)  # its last looks: min_score reached
    origin: Box | None = None  # where it began (`drift`)
    adopt: int | None = None  # the unseen live track at its place (`adopt` on)


def near(a: Box, b: Box, clear: float) -> bool:
    """`a` overlaps `b` or their centres are at most `clear` box sizes apart."""
    if a.iou(b) > 0:
        return True
    size = max(a.width, a.height, b.width, b.height, 1.0)
    return math.hypot((a.x1 + a.x2 - b.x1 - b.x2) / 2,
                      (a.y1 + a.y2 - b.y1 - b.y2) / 2) <= clear * size


def second_look(detector: Detector, frame: BgrImage, face: Box, p: BirthParams) -> float:
    """The best score the detector gives, on `face`'s crop enlarged (`BirthParams.crop`), to
    a face whose box holds `face`'s centre (0: none found)."""
    h, w = frame.shape[:2]
    side, zoom = p.crop(face)
    cx, cy = (face.x1 + face.x2) / 2, (face.y1 + face.y2) / 2
    x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    x1, y1 = min(w, math.ceil(cx + side / 2)), min(h, math.ceil(cy + side / 2))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    crop = cv2.resize(frame[y0:y1, x0:x1], None, fx=zoom, fy=zoom,
                      interpolation=cv2.INTER_LINEAR)
    best = 0.0
    for found in detector.detect(np.ascontiguousarray(crop)):
        b = unzoomed(found, zoom, float(x0), float(y0)).box
        if b.x1 <= cx <= b.x2 and b.y1 <= cy <= b.y2:
            best = max(best, found.score)
    return best


class Births:
    """One camera's candidates."""

    def __init__(self, params: BirthParams) -> None:
        self.params = params
        self.candidates: list[Candidate] = []

    def update(self, weak: list[Detection], tracks: list[Box], t: float,
               unseen: dict[int, Box] | None = None) -> list[Candidate]:
        """Feed the weak faces left over at `t` (`tracks`: the boxes of the live tracks
        seen now, or all live tracks' boxes; `unseen`: with `adopt` on, the live tracks not
        seen now, by id: a face overlapping one by `min_iou` is a candidate to continue it);
        returns the candidates due a second look now (at most `max_looks`)."""
        p = self.params
        others = list(tracks)
        if unseen and not p.adopt:
            others += unseen.values()
        spots = unseen if unseen and p.adopt else {}

        def place(b: Box) -> int | bool | None:
            """The unseen track `b` would continue, None if clear of all, False if not a
            candidate (near a track and not at an unseen one's place)."""
            if any(near(b, o, p.clear) for o in others):
                return False
            at = [(b.iou(o), i) for i, o in spots.items() if near(b, o, p.clear)]
            if not at:
                return None
            iou, i = max(at)
            return i if iou >= p.min_iou and len(at) == 1 else False

        free = [d for d in weak if d.score >= p.score and place(d.box) is not False]
        live = []
        for c in self.candidates:
            where = place(c.box)
            if t - c.last_t <= p.gap_s and where is not False:
                c.adopt = where if isinstance(where, int) else None
                live.append(c)
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
            o = c.origin or c.box
            if p.drift > 0 and math.hypot((o.x1 + o.x2 - d.box.x1 - d.box.x2) / 2,
                                          (o.y1 + o.y2 - d.box.y1 - d.box.y2) / 2) > \
                    p.drift * max(o.width, o.height, d.box.width, d.box.height, 1.0):
                c.origin, c.first_t, c.frames, c.results = d.box, t, 1, []
        for j, d in enumerate(free):
            if j not in taken_d:
                where = place(d.box)
                live.append(Candidate(d.box, t, t, d, origin=d.box,
                                      adopt=where if isinstance(where, int) else None))
        self.candidates = live
        due = [c for c in live if c.last_t == t and c.frames >= p.frames]
        due.sort(key=lambda c: (c.looks, -c.frames))  # the least looked at first
        return due[:p.max_looks]

    def looked(self, c: Candidate, score: float, min_score: float) -> bool:
        """Record a second look's score for `c`; True (and `c` is dropped) once `confirms`
        of its last `confirm_window` looks (`confirms` in a row when 0) reached `min_score`."""
        p = self.params
        c.looks += 1
        c.results = [*c.results, score >= min_score][-max(p.confirms, p.confirm_window):]
        if sum(c.results) >= p.confirms:
            self.candidates.remove(c)
            return True
        return False
