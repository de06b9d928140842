"""Attention from the five face landmarks: is the person looking at the camera's screen?

yaw_ratio = (nose - eye midpoint) . eye axis / inter-ocular distance (squared): 0 for a
frontal face, about +-0.5 near profile; yaw is about 47 degrees x ratio, and |ratio| < 0.2
agreed with |yaw| < 20 degrees on 97% of 152 real faces (../shared/models/README.md). The
camera is mounted on the screen, so facing the camera is looking at the screen.

`Gaze` adds hysteresis per track: it starts looking once |ratio| stayed below `enter` for
`min_s`, and stops once it stayed above `leave` (> enter) for `min_s`, so a face that
wobbles around the threshold does not flicker. The change is dated back to when the new
state was first seen, so the delay does not bias attention time.

A turned head also foreshortens: the distances across the face shrink by about cos(yaw)
while those down it do not. `width_ratio` (inter-ocular distance / eye-to-mouth distance) is
about 1 for a frontal face (0.87-1.0 for 90% of the 100 real LFW faces at 24-90 px) and
0.6-0.75 at 40 degrees. Small faces (20-35 px) turned 40 degrees whose nose the detector
puts on the eye midpoint (their yaw ratio reads frontal) still read 0.76-0.9 on it, so a
face needs both: |ratio| < `enter` and width ratio >= `min_width` (0: no such test); a
face narrower than that counts as turned away (it ends a look as |ratio| > `leave` does).

A face smaller than `min_face_px` (its box's larger side, in the frame's pixels) gives
landmarks too coarse to tell a 20 degree turn from a 40 degree one: its yaw is unknown, and
an unknown sample changes nothing (the track keeps looking, or not looking, as it was; a
pending change neither firms up nor ends).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.vision.detection import Landmarks


def width_ratio(lm: Landmarks) -> float | None:
    """Inter-ocular distance per distance from the eye midpoint to the mouth midpoint (about
    1 frontal, about cos(yaw) times that turned); None when the eyes and mouth coincide."""
    iod = math.hypot(lm.left_eye.x - lm.right_eye.x, lm.left_eye.y - lm.right_eye.y)
    down = math.hypot((lm.left_mouth.x + lm.right_mouth.x - lm.left_eye.x - lm.right_eye.x) / 2,
                      (lm.left_mouth.y + lm.right_mouth.y - lm.left_eye.y - lm.right_eye.y) / 2)
    return iod / down if down > 1e-9 else None


def yaw_ratio(lm: Landmarks) -> float | None:
    """The nose's offset from the eye midpoint along the eye axis, per inter-ocular
    distance; None when the eyes coincide."""
    ax, ay = lm.left_eye.x - lm.right_eye.x, lm.left_eye.y - lm.right_eye.y
    d2 = ax * ax + ay * ay
    if d2 <= 1e-9:
        return None
    mx, my = (lm.left_eye.x + lm.right_eye.x) / 2, (lm.left_eye.y + lm.right_eye.y) / 2
    return ((lm.nose.x - mx) * ax + (lm.nose.y - my) * ay) / d2


@dataclass(frozen=True)
class GazeParams:
    enter: float = 0.2
    leave: float = 0.25
    min_s: float = 0.2
    min_face_px: float = 20.0  # smaller faces: yaw unknown
    min_width: float = 0.85  # a narrower face (width_ratio) is turned away; 0: no such test
    min_score: float = 0.0  # a face the detector scores lower: yaw unknown (0: no such test)


@dataclass
class Gaze:
    """One track's looking state with hysteresis, and the seconds it spent looking."""

    params: GazeParams
    looking: bool = False
    looked: bool = False
    attention_s: float = 0.0
    _pending_since: float | None = None
    _last_t: float | None = None

    def update(self, ratio: float | None, t: float, *, known: bool = True,
               width: float | None = None) -> float:
        """Feed the ratio seen at `t` (None: no face or no landmarks, counts as not looking;
        `known` False: the face is too small to tell, the state holds; `width`: the face's
        width_ratio, below `min_width` it counts as not looking, None: not tested); returns
        the seconds of attention added since the last update (negative when a look is found
        to have ended earlier)."""
        added = 0.0
        if self._last_t is not None and self.looking:
            added = max(0.0, t - self._last_t)
            self.attention_s += added
        self._last_t = t
        if not known:
            return added
        p = self.params
        if width is not None and width < p.min_width:
            ratio = None  # foreshortened: turned away, whatever the nose says
        want = (ratio is not None and abs(ratio) < p.enter) if not self.looking \
            else not (ratio is None or abs(ratio) > p.leave)
        if want == self.looking:
            self._pending_since = None
        elif self._pending_since is None:
            self._pending_since = t
        if self._pending_since is not None and t - self._pending_since >= p.min_s:
            # the change began when the pending state was first seen: date it back
            held = t - self._pending_since
            added += held if want else -held
            self.attention_s = max(0.0, self.attention_s + (held if want else -held))
            self.looking, self._pending_since = want, None
            self.looked = self.looked or want
        return added

    def stop(self, t: float) -> float:
        """The track ended at `t`: close the current look; returns the seconds added."""
        added = 0.0
        if self.looking and self._last_t is not None:
            added = max(0.0, t - self._last_t)
            self.attention_s += added
        self.looking, self._last_t = False, t
        return added
