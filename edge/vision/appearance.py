"""Appearance: what tells two people in the same spot apart, without any face embedding.

A track the detector lost for a moment (a head turned away, a face hidden behind another
shopper) is looked for where it was; in a queue the next shopper steps into that very spot
and, matched by place alone, continues the track: two people counted once. The cue here
is the colour of the clothes under the face: a hue-saturation histogram of the region below
the face box (about the chest), compared with the track's. It is computed in memory per
frame from the face box, kept only as a 52-bin histogram on the live track and never
emitted or stored; it identifies nobody (many people wear the same colours), it only
separates the people present at the same moment in the same place.

`describe` gives the histogram (None when the region is off the frame or too small),
`distance` the Bhattacharyya distance between two (0 the same, 1 nothing in common),
`blend` the track's running histogram.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.detection import BgrImage, Box

Histogram = npt.NDArray[np.float32]

HUE_BINS = 12
SAT_BINS = 4
MIN_PIXELS = 16  # a region with fewer pixels on the frame says nothing
BELOW = (0.4, 1.6)  # the region's top and bottom, in face heights below the face box
ACROSS = 0.6  # its half width, in face widths from the face's centre
NEUTRAL_SAT = 40  # pixels less saturated than this (grey, black, white) ...
NEUTRAL_BINS = 4  # ... go into this many bins by brightness instead of hue


def region(box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The pixels (x0, y0, x1, y1) below the face `box`, clipped to the frame; None when
    fewer than MIN_PIXELS remain."""
    w, h = box.width, box.height
    cx = (box.x1 + box.x2) / 2
    x0, x1 = max(0, int(cx - ACROSS * w)), min(width, int(np.ceil(cx + ACROSS * w)))
    y0 = max(0, int(box.y2 + BELOW[0] * h))
    y1 = min(height, int(np.ceil(box.y2 + BELOW[1] * h)))
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) < MIN_PIXELS:
        return None
    return x0, y0, x1, y1


def describe(image: BgrImage, box: Box) -> Histogram | None:
    """The colour histogram of the region below the face `box` in `image` (normalised to
    sum 1): hue x saturation for coloured pixels, brightness for grey ones."""
    r = region(box, image.shape[1], image.shape[0])
    if r is None:
        return None
    x0, y0, x1, y1 = r
    hsv = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_BGR2HSV)
    hue = hsv[..., 0].astype(np.int32)
    sat = hsv[..., 1].astype(np.int32)
    val = hsv[..., 2].astype(np.int32)
    coloured = sat >= NEUTRAL_SAT
    bins = np.where(coloured,
                    (hue * HUE_BINS // 180) * SAT_BINS
                    + np.minimum((sat - NEUTRAL_SAT) * SAT_BINS // (256 - NEUTRAL_SAT),
                                 SAT_BINS - 1),
                    HUE_BINS * SAT_BINS + val * NEUTRAL_BINS // 256)
    hist = np.bincount(bins.ravel(), minlength=HUE_BINS * SAT_BINS + NEUTRAL_BINS)
    return (hist / max(1, int(hist.sum()))).astype(np.float32)


def distance(a: Histogram, b: Histogram) -> float:
    """Bhattacharyya distance between two normalised histograms: 0 the same, 1 disjoint."""
    bc = float(np.sum(np.sqrt(a.astype(np.float64) * b.astype(np.float64))))
    return float(np.sqrt(max(0.0, 1.0 - min(1.0, bc))))


def blend(old: Histogram | None, new: Histogram | None, weight: float) -> Histogram | None:
    """The track's histogram after a new observation weighted `weight` (0-1)."""
    if new is None:
        return old
    if old is None:
        return new
    out = (1.0 - weight) * old + weight * new
    return (out / max(float(out.sum()), 1e-9)).astype(np.float32)
