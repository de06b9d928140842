"""Motion gating: skip inference while the scene does not change.

Each frame is reduced to a small grey thumbnail (64 x 48 cells, each the mean of a block of
pixels, which averages sensor noise away); the largest change of any cell since the last
frame that was analysed says whether anything moved. The largest, not the mean: a shopper
6 m away is a few cells of a 3,072-cell thumbnail, and the mean of the whole frame barely
moves when they walk (on the simulated store a mean threshold of 2 grey levels skipped 90%
of the frames while people walked, and the reused detections split their tracks). A static scene
(an empty aisle at night, people standing still) costs a resize instead of a model run; the
pipeline then reuses the last detections, so tracks and attention go on. A frame is
analysed at least every `max_skip_s` seconds of frame time all the same (lighting drift,
someone who walked in very slowly).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

THUMB_SIZE = (64, 48)


def thumbnail(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """A 64 x 48 grey thumbnail of a BGR frame, as float32."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, THUMB_SIZE, interpolation=cv2.INTER_AREA)
    return small.astype(np.float32)


@dataclass
class MotionGate:
    """`should_analyse(image, t)` is True when a cell of the frame's thumbnail differs from the
    last analysed one by more than `threshold` grey levels, or
    when `max_skip_s` seconds have passed since the last analysed frame. `threshold` 0
    analyses every frame."""

    threshold: float = 8.0
    max_skip_s: float = 2.0
    _last: npt.NDArray[np.float32] | None = None
    _last_t: float = float("-inf")
    skipped: int = 0

    def should_analyse(self, image: npt.NDArray[np.uint8], t: float) -> bool:
        if self.threshold <= 0:  # gating off: no thumbnail, no work per frame
            return True
        thumb = thumbnail(image)
        if (self.threshold > 0 and self._last is not None and thumb.shape == self._last.shape
                and t - self._last_t < self.max_skip_s
                and float(np.max(np.abs(thumb - self._last))) <= self.threshold):
            self.skipped += 1
            return False
        self._last, self._last_t = thumb, t
        return True
