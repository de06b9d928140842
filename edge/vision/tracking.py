"""Tracking: stable, ephemeral track ids for the faces a camera sees, frame after frame.

Detections are matched to live tracks by an optimal assignment
(`scipy.optimize.linear_sum_assignment`, the Hungarian method) on a cost of 1 - IoU; a pair
that does not overlap may still match when its centres are closer than `max_jump` box
sizes (a person walking past a camera at a low frame rate), at a cost above every
overlapping pair. A track survives short misses (a detector that blinks for a frame or two)
and ends once unseen for `timeout_s` seconds of frame time. Ids are a per-camera counter:
they mean nothing outside the run and are never tied to a face.

A track unseen for a while is looked for where it was going: its box is moved on by its
velocity (`velocity` on: the centre's speed, smoothed over its matches, at most
`max_speed` box sizes a second) for the time it has been unseen, and the distance it may
have jumped grows by `jump_per_s` box sizes a second unseen (a walker the detector loses
for half a second is further on than one frame's jump, and without this came back as a
new track: one person counted twice). With `appearance` on, a pair only that growth makes
feasible (further than `max_jump`) needs the clothes cue's agreement even after a gap too
short for the usual check: a neighbour's face there is not the walker.

With `appearance` on, a track unseen for more than `appearance_after_s` (re-found after a
gap, not followed frame to frame) is continued only by a detection whose clothes look
alike (`edge.vision.appearance`: the colour histogram below the face within `appearance`
Bhattacharyya distance of the track's running one): in a queue the next shopper stepping
into the spot of the one who just left starts a track of their own.

With `standing_jump` on, a standing track (its centre's smoothed speed under
`standing_speed` box sizes a second) followed frame to frame is continued only by a face at
most `standing_jump` box sizes from it: when a standing person's face is hidden for a frame
(someone walking in front), a neighbour's face beside it otherwise takes the track (the
clothes cue is no help there: it is checked only after a gap, and neighbours often look
alike to it). The velocity is measured when either needs it; only `velocity` predicts with it.

Weak detections (`update(weak=...)`: scored below the pipeline's `min_score` but at least its
`keep_score`) are matched second, as ByteTrack does, to the tracks no detection continued,
and only to one whose box they overlap by `weak_min_iou`: they keep a track alive (a head
turned away scores lower for a few frames) but never start one and do not count as hits.
With `weak_only_born`, they are matched only to weakly-born tracks (`birth`: a track a
persistent weak face started once a second look confirmed it, `edge.vision.birth`).

With `weak_yield_s` on, a weakly-born (or adopted) track that only weak faces have
continued for longer than that (since its last strong face, or ever) gives way to a strong
face that is not plainly its own: the strong face continues it only if its box holds the
track's centre (a weak box is often a part of the face a strong detection finds whole;
a neighbour's face beside it does not hold it) and, when both are known, its clothes agree
(`appearance`). Otherwise the strong face starts a track of its own: without this a track
kept alive by a standing shopper's weak turned face took the strong face of the neighbour
or of the next shopper stepping into the place (docs/vision.md, vis11's merges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from edge.vision.appearance import Histogram, blend, distance
from edge.vision.detection import Box, Detection

INFEASIBLE = 1e6


@dataclass(frozen=True)
class TrackParams:
    min_iou: float = 0.1
    max_jump: float = 1.0  # centre distance in box sizes for a match without overlap
    timeout_s: float = 3.0
    jump_per_s: float = 0.0  # more jump allowed per second a track has been unseen
    velocity: bool = False  # predict an unseen track's box from its smoothed velocity
    max_speed: float = 3.0  # box sizes a second: a prediction is never faster than this
    smoothing: float = 0.5  # weight of the newest velocity measurement
    appearance: float = 0.6  # max clothes-colour distance to re-find a track (0: not used)
    appearance_after_s: float = 0.3  # ... once unseen this long (followed: not checked)
    appearance_weight: float = 0.2  # weight of the newest histogram in the track's
    standing_jump: float = 0.0  # a standing track followed frame to frame moves at most this
    standing_speed: float = 0.5  # box sizes a second: a track slower than this is standing
    weak_min_iou: float = 0.3  # a weak detection continues only a track it overlaps this much
    born_timeout_s: float = 0.0  # a weakly-born track's timeout (0: timeout_s)
    weak_yield_s: float = 0.0  # a weakly-born track weak-only this long gives way (0: off)

    @property
    def uses_appearance(self) -> bool:
        return self.appearance > 0


@dataclass
class Track:
    id: int
    box: Box
    first_t: float
    last_t: float
    hits: int = 1
    frames: int = 1  # matches of any score (weak ones too; `hits` counts the strong ones)
    detection: Detection | None = None  # the detection matched at the last update, if any
    extra: dict[str, object] = field(default_factory=dict)
    vx: float = 0.0  # the centre's smoothed velocity, pixels a second
    vy: float = 0.0
    look: Histogram | None = None  # running clothes-colour histogram (appearance on)
    born_weak: bool = False  # started by a confirmed weak face (edge.vision.birth)
    strong_t: float | None = None  # when a strong face last continued it (None: never)

    def predicted(self, t: float, p: TrackParams) -> Box:
        """Where the box is expected at `t`: moved on by the velocity for the time unseen."""
        dt = t - self.last_t
        if not p.velocity or dt <= 0 or (self.vx == 0 and self.vy == 0):
            return self.box
        b = self.box
        cap = p.max_speed * max(b.width, b.height, 1.0)
        speed = math.hypot(self.vx, self.vy)
        k = dt * min(1.0, cap / speed)
        return Box(b.x1 + self.vx * k, b.y1 + self.vy * k, b.x2 + self.vx * k,
                   b.y2 + self.vy * k)

    def moved(self, box: Box, t: float, p: TrackParams, hit: bool = True) -> None:
        """Matched to `box` at `t`: update the velocity, the box and the times; `hit`: the
        match counts towards `hits` (a weak detection's does not)."""
        dt = t - self.last_t
        if (p.velocity or p.standing_jump > 0) and dt > 0:
            a = p.smoothing if self.hits > 1 else 1.0
            vx = (box.x1 + box.x2 - self.box.x1 - self.box.x2) / 2 / dt
            vy = (box.y1 + box.y2 - self.box.y1 - self.box.y2) / 2 / dt
            self.vx, self.vy = a * vx + (1 - a) * self.vx, a * vy + (1 - a) * self.vy
        self.box, self.last_t = box, t
        self.hits += hit
        self.frames += 1
        if hit:
            self.strong_t = t


def _costs(tracks: list[Box], dets: list[Box], p: TrackParams,
           unseen: npt.NDArray[np.float64] | None = None,
           standing: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.float64]:
    """`_cost` for every (track, detection) pair at once (one numpy pass, no per-pair Python
    calls): a tracks x detections matrix. `unseen`: seconds since each track was last
    matched (the jump allowed grows by `jump_per_s` a second); `standing`: the tracks held
    to `standing_jump`."""
    a = np.array([(b.x1, b.y1, b.x2, b.y2) for b in tracks], dtype=np.float64)
    b = np.array([(d.x1, d.y1, d.x2, d.y2) for d in dets], dtype=np.float64)
    aw, ah = np.maximum(0.0, a[:, 2] - a[:, 0]), np.maximum(0.0, a[:, 3] - a[:, 1])
    bw, bh = np.maximum(0.0, b[:, 2] - b[:, 0]), np.maximum(0.0, b[:, 3] - b[:, 1])
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(0.0, w) * np.maximum(0.0, h)
    union = (aw * ah)[:, None] + (bw * bh)[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    size = np.maximum(np.maximum(np.maximum(aw, ah)[:, None], np.maximum(bw, bh)[None, :]), 1.0)
    dist = np.hypot((a[:, None, 0] + a[:, None, 2] - b[None, :, 0] - b[None, :, 2]) / 2,
                    (a[:, None, 1] + a[:, None, 3] - b[None, :, 1] - b[None, :, 3]) / 2) / size
    jump = p.max_jump if unseen is None else (p.max_jump + p.jump_per_s * unseen)[:, None]
    far = np.where(dist <= jump, 1.0 + dist, INFEASIBLE)
    cost = np.where(iou >= p.min_iou, 1.0 - iou, far)
    if standing is not None:
        cost[standing[:, None] & (dist > p.standing_jump)] = INFEASIBLE
    return cost


def _cost(track: Box, det: Box, p: TrackParams) -> float:
    iou = track.iou(det)
    if iou >= p.min_iou:
        return 1.0 - iou
    size = max(track.width, track.height, det.width, det.height, 1.0)
    dist = math.hypot((track.x1 + track.x2 - det.x1 - det.x2) / 2,
                      (track.y1 + track.y2 - det.y1 - det.y2) / 2) / size
    return 1.0 + dist if dist <= p.max_jump else INFEASIBLE


def _unlike(cost: npt.NDArray[np.float64], live: list[Track], looks: list[Histogram | None],
            check: npt.NDArray[np.bool_], limit: float) -> None:
    """Make infeasible, in place, the pairs of a checked track and a detection whose
    appearances (both known) are further apart than `limit`."""
    for r in np.flatnonzero(check).tolist():
        mine = live[r].look
        if mine is None:
            continue
        for c, look in enumerate(looks):
            if look is not None and cost[r, c] < INFEASIBLE and distance(mine, look) > limit:
                cost[r, c] = INFEASIBLE


def _yield(cost: npt.NDArray[np.float64], live: list[Track], dets: list[Detection],
           looks: list[Histogram | None] | None, t: float, p: TrackParams) -> None:
    """Make infeasible, in place, the pairs of a weakly-born track weak-only for longer than
    `weak_yield_s` and a strong detection not plainly its own: whose box does not hold the
    track's centre, or whose clothes (both known) are further apart than `appearance`."""
    for r, tr in enumerate(live):
        if not tr.born_weak or (tr.strong_t is not None and t - tr.strong_t <= p.weak_yield_s):
            continue
        cx, cy = (tr.box.x1 + tr.box.x2) / 2, (tr.box.y1 + tr.box.y2) / 2
        for c, d in enumerate(dets):
            if cost[r, c] >= INFEASIBLE:
                continue
            b = d.box
            holds = b.x1 <= cx <= b.x2 and b.y1 <= cy <= b.y2
            look = looks[c] if looks is not None and p.uses_appearance else None
            unlike = look is not None and tr.look is not None and \
                distance(tr.look, look) > p.appearance
            if not holds or unlike:
                cost[r, c] = INFEASIBLE


def _unlike_grown(cost: npt.NDArray[np.float64], live: list[Track],
                  looks: list[Histogram | None], detections: list[Detection],
                  p: TrackParams) -> None:
    """Make infeasible, in place, the pairs only `jump_per_s` made feasible (further than
    `max_jump` box sizes) whose appearances (both known) are further apart than
    `appearance`: a longer jump needs the clothes cue's agreement, however short the gap
    (a walker lost for a frame or two is further on; a neighbour's face there is not them)."""
    base = _costs([tr.box for tr in live], [d.box for d in detections], p)
    grown = np.argwhere((base >= INFEASIBLE) & (cost < INFEASIBLE))
    for r, c in grown.tolist():
        mine, look = live[r].look, looks[c]
        if mine is not None and look is not None and distance(mine, look) > p.appearance:
            cost[r, c] = INFEASIBLE


class Tracker:
    def __init__(self, params: TrackParams | None = None) -> None:
        self.params = params or TrackParams()
        self.tracks: dict[int, Track] = {}
        self._next_id = 1
        self.weak_used: set[int] = set()  # the weak detections the last update used

    def update(self, detections: list[Detection], t: float,
               looks: list[Histogram | None] | None = None,
               weak: list[Detection] | None = None,
               weak_looks: list[Histogram | None] | None = None,
               weak_only_born: bool = False,
               ) -> tuple[list[Track], list[Track]]:
        """Match `detections` seen at `t`; returns (tracks seen now, tracks that ended).
        `looks`: each detection's appearance (`edge.vision.appearance.describe`), used when
        the params' `appearance` is on. `weak`: detections scored too low to start a track,
        matched second, to the tracks no detection continued (they may only continue one;
        an unmatched one is dropped); `weak_looks`: their appearances; `weak_only_born`: they
        may continue only weakly-born tracks. `weak_used` holds the weak ones used."""
        p = self.params
        if looks is not None and len(looks) != len(detections):
            raise ValueError("one appearance per detection")
        weak = weak or []
        if weak_looks is not None and len(weak_looks) != len(weak):
            raise ValueError("one appearance per weak detection")
        if not p.uses_appearance:
            looks = weak_looks = None
        live = list(self.tracks.values())
        for tr in live:
            tr.detection = None
        matched, used = self._match(live, detections, looks, t)
        self.weak_used = set()
        if weak:
            rest = [tr for tr in live if tr.detection is None
                    and (tr.born_weak or not weak_only_born)]
            more, self.weak_used = self._match(rest, weak, weak_looks, t, hit=False,
                                               min_iou=p.weak_min_iou)
            matched += more
        for i, d in enumerate(detections):
            if i not in used:
                tr = Track(self._next_id, d.box, t, t, detection=d,
                           look=looks[i] if looks is not None else None, strong_t=t)
                self._next_id += 1
                self.tracks[tr.id] = tr
                matched.append(tr)
        return matched, self.expire(t)

    def birth(self, d: Detection, t: float, first_t: float, hits: int,
              look: Histogram | None = None) -> Track:
        """Start a track from a confirmed weak face `d` seen at `t` (its candidate since
        `first_t`), with `hits` already (it counts as a person at once)."""
        tr = Track(self._next_id, d.box, first_t, t, hits=hits, frames=hits, detection=d,
                   look=look, born_weak=True)
        self._next_id += 1
        self.tracks[tr.id] = tr
        return tr

    def _match(self, live: list[Track], detections: list[Detection],
               looks: list[Histogram | None] | None, t: float, hit: bool = True,
               min_iou: float = 0.0) -> tuple[list[Track], set[int]]:
        """Continue `live` tracks with `detections` by the optimal assignment; returns the
        tracks continued and the indices of the detections used; `hit`: the matches count
        towards the tracks' `hits`; `min_iou`: a pair overlapping less is not matched (no
        jump without overlap)."""
        p = self.params
        matched: list[Track] = []
        used: set[int] = set()
        if not live or not detections:
            return matched, used
        unseen = np.array([max(0.0, t - tr.last_t) for tr in live])
        # standing tracks followed frame to frame (standing_jump; velocity in px/s)
        standing = np.array([
            tr.hits >= 3 and t - tr.last_t <= p.appearance_after_s
            and math.hypot(tr.vx, tr.vy) < p.standing_speed * max(tr.box.width,
                                                                  tr.box.height, 1.0)
            for tr in live]) if p.standing_jump > 0 else None
        cost = _costs([tr.predicted(t, p) for tr in live], [d.box for d in detections], p,
                      unseen, standing)
        if min_iou > 0:
            cost[cost > 1.0 - min_iou] = INFEASIBLE
        if hit and p.weak_yield_s > 0:
            _yield(cost, live, detections, looks, t, p)
        if looks is not None:
            _unlike(cost, live, looks, unseen > p.appearance_after_s, p.appearance)
            if p.jump_per_s > 0:
                _unlike_grown(cost, live, looks, detections, p)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if cost[r, c] >= INFEASIBLE:
                continue
            tr, d = live[r], detections[c]
            tr.moved(d.box, t, p, hit)
            tr.detection = d
            if looks is not None and (hit or not tr.born_weak):
                # a weakly-born track's clothes are learnt from strong faces only (a weak box
                # is often a part of the face: what is below it is the face, not clothes)
                tr.look = blend(tr.look, looks[c], p.appearance_weight)
            matched.append(tr)
            used.add(c)
        return matched, used

    def expire(self, t: float) -> list[Track]:
        """End the tracks unseen for longer than the timeout at `t`."""
        p = self.params
        ended = [tr for tr in self.tracks.values() if t - tr.last_t > (
            p.born_timeout_s if tr.born_weak and p.born_timeout_s > 0 else p.timeout_s)]
        for tr in ended:
            del self.tracks[tr.id]
        return ended

    def end_all(self) -> list[Track]:
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended
