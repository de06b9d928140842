"""Tracking: stable, ephemeral track ids for the faces a camera sees, frame after frame.

Detections are matched to live tracks by an optimal assignment
(`scipy.optimize.linear_sum_assignment`, the Hungarian method) on a cost of 1 - IoU; a pair
that does not overlap may still match when its centres are closer than `max_jump` box
sizes (a person walking past a camera at a low frame rate), at a cost above every
overlapping pair. A track survives short misses (a detector that blinks for a frame or two)
and ends once unseen for `timeout_s` seconds of frame time. Ids are a per-camera counter:
they mean nothing outside the run and are never tied to a face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.vision.detection import Box, Detection

INFEASIBLE = 1e6


@dataclass(frozen=True)
class TrackParams:
    min_iou: float = 0.1
    max_jump: float = 1.0  # centre distance in box sizes for a match without overlap
    timeout_s: float = 3.0


@dataclass
class Track:
    id: int
    box: Box
    first_t: float
    last_t: float
    hits: int = 1
    detection: Detection | None = None  # the detection matched at the last update, if any
    extra: dict[str, object] = field(default_factory=dict)


def _cost(track: Box, det: Box, p: TrackParams) -> float:
    iou = track.iou(det)
    if iou >= p.min_iou:
        return 1.0 - iou
    size = max(track.width, track.height, det.width, det.height, 1.0)
    dist = math.hypot((track.x1 + track.x2 - det.x1 - det.x2) / 2,
                      (track.y1 + track.y2 - det.y1 - det.y2) / 2) / size
    return 1.0 + dist if dist <= p.max_jump else INFEASIBLE


class Tracker:
    def __init__(self, params: TrackParams | None = None) -> None:
        self.params = params or TrackParams()
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, detections: list[Detection], t: float) -> tuple[list[Track], list[Track]]:
        """Match `detections` seen at `t`; returns (tracks seen now, tracks that ended)."""
        live = list(self.tracks.values())
        matched: list[Track] = []
        used: set[int] = set()
        for tr in live:
            tr.detection = None
        if live and detections:
            cost = np.array([[_cost(tr.box, d.box, self.params) for d in detections]
                             for tr in live])
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if cost[r, c] >= INFEASIBLE:
                    continue
                tr, d = live[r], detections[c]
                tr.box, tr.last_t, tr.detection = d.box, t, d
                tr.hits += 1
                matched.append(tr)
                used.add(c)
        for i, d in enumerate(detections):
            if i not in used:
                tr = Track(self._next_id, d.box, t, t, detection=d)
                self._next_id += 1
                self.tracks[tr.id] = tr
                matched.append(tr)
        return matched, self.expire(t)

    def expire(self, t: float) -> list[Track]:
        """End the tracks unseen for longer than the timeout at `t`."""
        ended = [tr for tr in self.tracks.values() if t - tr.last_t > self.params.timeout_s]
        for tr in ended:
            del self.tracks[tr.id]
        return ended

    def end_all(self) -> list[Track]:
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended
