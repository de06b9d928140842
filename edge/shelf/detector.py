"""One plate's weight stream in, weight changes out: a variance trigger, wait to settle, and
the stable-to-stable difference.

The detector sees net grams (calibrated: `(reading - tare) * scale`). It keeps a short window
of the newest samples. The plate is *stable* when the window spans at most `band_g` and its
two halves agree within `trend_g` (a slow ramp is never stable). While stable and idle, the
baseline follows the window's mean: that is the auto-zero that tracks slow drift. A sample
further than `trigger_g` from the baseline, or an unstable window, starts an episode; the
episode ends at the next stable window, and its change is the new level minus the baseline
before it. A bump or a leaning hand comes back to the old level: a change smaller than half
a unit is no change. So a slow pick (a ramp over seconds) is one change, measured once the
weight stops moving.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise

from edge.shelf.ramps import (
    Ramp,
    RampSettings,
    cancel_by_hands,
    cancel_near,
    counts_by_ramps,
    ends_by_hands,
    mixed_by_hands,
    touch_among_hands,
    touch_by_hands,
    touch_by_hands_fine,
    touch_rests_in,
    touches_by_hands,
)
from edge.shelf.ramps import split as split_ramps


@dataclass(frozen=True)
class DetectorSettings:
    """Tuning shared by every plate (grams and samples)."""

    window: int = 6  # samples in the stability window (1.5 s at 4 Hz)
    band_g: float = 8.0  # a stable window spans at most this
    trend_g: float = 3.5  # and its halves' means differ by at most this
    trigger_g: float = 6.0  # a sample this far from the baseline starts an episode
    short: int = 3  # samples of a brief plateau inside an episode (0.75 s at 4 Hz)
    whole: float = 0.15  # a step within this many units of a whole count is a whole step
    # a brief plateau this many units or more off a whole count from the episode's start
    # is a hand resting on the items (pressing, lifting one partly), not a level between
    # two changes: the plate holds whole items whenever no hand is on them
    plateau_off: float = 0.25
    hand_max_s: float = 20.0  # a beam broken longer than this is not a hand (blocked, dirty)
    hand_margin_s: float = 0.5  # a hand this close before an episode's start belongs to it
    hand_still_s: float = 6.0  # settled this long with a lane still broken: its clear was lost
    hand_prior: float = 2.0  # weight (in samples) of the even split between hands
    hands_apart: float = 0.15  # ramps differing by less (in samples): split evenly
    pause_flat_g: float = 8.0  # two samples this close inside a ramp: a pause
    pause_jump_g: float = 40.0  # between moves this large (over two samples) the same way
    pause_ratio: float = 0.4  # or flat within this share of the slower move's step
    # two hands the beam split gave changes the same way: try one of them as a hand resting
    # on the items too (`edge.shelf.ramps.touch_by_hands`), not only a pick and a return
    touch_same_way: bool = True
    # two hands one after the other (no hand in the shelf between their breaks) and a
    # brief plateau between them a unit from the levels before and after:
    # each hand's change is its step to or from that plateau (`Detector._by_gap`), not the
    # beam split's ramps over whole breaks (a hand pressing before its own pick bends them).
    # Off: on rush-hour seed 5 it took a pick of 2 and a return in one lane, before the
    # gap, for a pick of 1 (docs/shelf.md, shelf16)
    split_at_gap: bool = False
    # a pick and a return at once whose two ramps end on the same sample are still two
    # changes (no one hand's ramp, bent by the reader's timing, goes both ways); off: one
    # change, as for two ramps the same way (docs/shelf.md, shelf15)
    opposite_same_end: bool = True
    ramps: RampSettings = field(default_factory=RampSettings)  # two hands by the shape


@dataclass(frozen=True)
class Change:
    """A settled weight change: `grams` signed (negative: load went down), from `t_start`
    (the first unsettled sample) to `t` (the first sample of the new stable window)."""

    grams: float
    t_start: float
    t: float
    level: float  # the new stable level


class Phase(StrEnum):
    LEARNING = "learning"  # no stable level yet
    IDLE = "idle"
    ACTIVE = "active"


# module constants: a global is read far faster than an enum member (on 3.11 `Phase.IDLE`
# goes through the enum class's __getattr__ hook), and `add` compares the phase every sample
_IDLE, _ACTIVE = Phase.IDLE, Phase.ACTIVE


class PlateDetector:
    """The change detector of one plate. `add(t, grams)` returns the Changes when an episode
    settles with a change of at least `min_change_g`, else None."""

    def __init__(self, unit_grams: float, settings: DetectorSettings | None = None) -> None:
        self.s = settings or DetectorSettings()
        self.unit = unit_grams
        self.min_change_g = unit_grams / 2
        self.plateaus: list[tuple[float, float]] = []  # (level, t) brief plateaus this episode
        self.window: deque[tuple[float, float]] = deque(maxlen=self.s.window)
        self.values: deque[float] = deque(maxlen=self.s.window)  # the window's grams
        self.phase = Phase.LEARNING
        self.baseline = 0.0
        self.before = 0.0
        self.t_start = 0.0
        self.drift_g = 0.0  # how far auto-zero has moved the baseline (for the drift fault)
        # IR beams (supporting evidence; a plate without beams never sees any)
        self.has_beams = False
        self.open_lanes: dict[int, float] = {}  # lane -> when it broke
        self.hands: list[tuple[float, float]] = []  # (broke, cleared) of recent hands
        self.trace: list[tuple[float, float]] = []  # this episode's samples (with beams)
        self.still_since: float | None = None  # when the weight settled this episode
        self.quick = False  # learning after a gap: a brief plateau is enough
        self.idle_hands: list[tuple[float, float]] = []  # hands `_by_hand` gave nothing
        self.touched = False  # `_by_hand` took one of two hands for a hand resting on items

    def stable_level(self, n: int | None = None) -> float | None:
        """The mean of the newest `n` samples (the window) if there are that many and they
        are stable, else None."""
        n = n or self.s.window
        if len(self.values) < n:
            return None
        w = tuple(self.values)
        if n != len(w):
            w = w[-n:]
        if max(w) - min(w) > self.s.band_g:
            return None
        half = n // 2
        first = sum(w[:half])
        total = sum(w)
        last = total - first - (w[half] if n % 2 else 0.0)
        if abs(first / half - last / half) > self.s.trend_g:
            return None
        return total / n

    def rebase(self, level: float, quick: bool = False) -> None:
        """Take `level` as the settled level (after a calibration) and weigh the plate
        afresh. `quick` (back after a gap in the samples): weighed at the first brief
        plateau (`short` samples) rather than a whole window, so that a hand that reaches in
        soon after is a change of its own, not part of the re-weighing."""
        self.baseline = level
        self.window.clear()
        self.values.clear()
        self.phase = Phase.LEARNING
        self.still_since = None
        self.quick = quick

    def shift(self, grams: float) -> None:
        """Move the zero by `grams` (the tare was learnt): every level drops by it."""
        self.baseline -= grams
        self.before -= grams
        self.window = deque(((t, g - grams) for t, g in self.window), maxlen=self.s.window)
        self.values = deque((g for _, g in self.window), maxlen=self.s.window)

    def beam(self, lane: int, broken: bool, t: float) -> None:
        """A beam edge on this plate: a hand reached in (broken) or left (cleared)."""
        self.has_beams = True
        if broken:
            since = self.open_lanes.get(lane)
            if since is None or t - since > self.s.hand_max_s:
                self.open_lanes[lane] = t  # a break after a lost clear is a new hand
            return
        since = self.open_lanes.pop(lane, None)
        if since is not None and t - since <= self.s.hand_max_s:
            self.hands.append((since, t))
            if len(self.hands) > 32:
                del self.hands[:16]

    def _hand_in(self, t: float) -> bool:
        """A hand is in the shelf now (a lane broken, and not for too long to be a hand)."""
        return any(t - since <= self.s.hand_max_s for since in self.open_lanes.values())

    def add(self, t: float, grams: float) -> list[Change] | None:
        self.window.append((t, grams))
        self.values.append(grams)
        # `level = self.stable_level()`, written out for the default window: this runs on
        # every sample, and max(), min(), sum() and slices cost more than the arithmetic
        s = self.s
        level = None
        values = self.values
        if s.window != 6:
            level = self.stable_level()
        elif len(values) == 6:
            spread = sorted(values)  # the extremes in one call (max() and min() parse kwargs)
            if not spread[-1] - spread[0] > s.band_g:
                a, b, c, d, e, f = values
                first = 0.0 + a + b + c  # as sum() adds: from 0, in order
                total = first + d + e + f
                if not abs(first / 3 - (total - first) / 3) > s.trend_g:
                    level = total / 6
        if self.phase is _IDLE:  # the common phase first, compared with a module constant
            baseline = self.baseline
            if level is not None and abs(grams - baseline) <= s.trigger_g:
                self.drift_g += level - baseline  # auto-zero
                self.baseline = level
            elif abs(grams - baseline) > s.trigger_g or level is None:
                self.phase = _ACTIVE
                self.before = baseline
                self.t_start = t
                self.plateaus = []
                self.trace = list(self.window)
            return None
        if self.phase is Phase.LEARNING:
            if level is None and self.quick:
                level = self.stable_level(self.s.short)
            if level is not None:
                self.baseline = level
                self.phase = Phase.IDLE
                self.quick = False
            return None
        if level is None:
            self.still_since = None
        elif self.still_since is None:
            self.still_since = max(self.window[0][0], self.t_start)
        self.trace.append((t, grams))
        if self.has_beams and level is not None and self.open_lanes and self._hand_in(t):
            assert self.still_since is not None
            if t - self.still_since < self.s.hand_still_s:
                level = None  # a hand still in the shelf: not settled yet
            else:
                self._lost_clears(self.still_since)
        if level is None:
            brief = self.stable_level(self.s.short)
            if brief is not None:
                last = self.plateaus[-1][0] if self.plateaus else self.before
                units = abs(brief - self.before) / self.unit
                if abs(units - round(units)) >= self.s.plateau_off:
                    pass  # a hand resting on the items: no level of its own
                elif abs(brief - last) >= self.min_change_g:
                    self.plateaus.append((brief, self.window[-self.s.short][0]))
                elif self.plateaus:
                    self.plateaus[-1] = (brief, self.plateaus[-1][1])
            elif len(self.values) >= 6:
                self._pause()
            return None
        self.phase = _IDLE
        self.baseline = level
        t_end, self.still_since = self.still_since or self.window[0][0], None
        return self._steps(level, t_end)

    def _lost_clears(self, t: float) -> None:
        """The weight has been still for `hand_still_s` with lanes broken: their hands left
        when it settled (at `t`) and the clears were lost (line noise). A hand left in the
        shelf that long without moving anything is weighed like the rest."""
        for lane, since in list(self.open_lanes.items()):
            if t - since <= self.s.hand_max_s:
                self.hands.append((max(since, self.t_start - self.s.hand_margin_s), t))
            del self.open_lanes[lane]

    def _pause(self) -> None:
        """A pause inside a ramp: two samples that agree within `pause_flat_g`, after a move
        and before a move of at least `pause_jump_g` the same way (each over two sample
        periods), a whole count of units from the last level. That is one hand's change
        ending and the next one's beginning, too soon after it for a brief plateau (two
        hands in the same beam lane, one after the other); kept as a plateau so that the
        episode is split there. A turn back (a bump's peak) is never a pause."""
        v = self.values
        z, b, c, e = v[-6], v[-4], v[-3], v[-1]
        jump = self.s.pause_jump_g
        if not ((b - z >= jump and e - c >= jump) or (z - b >= jump and c - e >= jump)):
            return
        flat = max(self.s.pause_flat_g,
                   self.s.pause_ratio * min(abs(b - z), abs(e - c)) / 2)
        if abs(c - b) > flat:
            return
        level = (b + c) / 2
        last = self.plateaus[-1][0] if self.plateaus else self.before
        if self._whole(level - last):
            self.plateaus.append((level, self.window[-4][0]))

    def _one(self, grams: float) -> bool:
        """A step of one unit, within `whole` of a unit."""
        return abs(abs(grams) / self.unit - 1) <= self.s.whole

    def _whole(self, grams: float) -> bool:
        units = abs(grams) / self.unit
        return round(units) >= 1 and abs(units - round(units)) <= self.s.whole

    def _steps(self, level: float, t_end: float) -> list[Change] | None:
        """The episode's changes: one, or one per brief plateau where the weight turned
        back (a pick then a return) or where every step is a whole count of units. With
        beams, two hands or more in the episode split it by hand (`_by_hand`)."""
        trace, self.trace = self.trace, []
        hands: list[tuple[float, float]] = []
        if self.has_beams:
            hands = sorted(h for h in self.hands
                           if h[1] >= self.t_start - self.s.hand_margin_s and h[0] <= t_end)
            self.hands = [h for h in self.hands if h[1] > t_end]
            hands = self._split_hands(hands, level)
            gap = self._by_gap(hands, trace, level, t_end) if len(hands) == 2 else None
            if gap is not None:
                self.plateaus = []
                return gap
            if len(hands) >= 2:
                split = self._by_hand(hands, trace, level, t_end)
                if split is not None:
                    self.plateaus = []
                    # a touch beside the other hand's change: no pick and return to seek
                    mixed = None if self.touched \
                        else self._mixed(hands, split, trace, level, t_end)
                    if mixed is not None:
                        return mixed
                    if split and len(self.idle_hands) == 2:
                        split = sorted(split + (self._cancel_after(split, trace, level, t_end)
                                                or []), key=lambda c: c.t)
                    return split or self._by_shape(trace, level, t_end, cancel=True) \
                        or self._cancel(hands, trace, level, t_end)
        points = [(self.before, self.t_start), *self.plateaus, (level, t_end)]
        self.plateaus = []
        steps: list[tuple[float, float, float]] = []  # (grams, t, level)
        for (a, _), (b, tb) in pairwise(points):
            g = b - a
            if steps and (steps[-1][0] > 0) == (g > 0) and not (
                    self._whole(steps[-1][0]) and self._whole(g)):
                steps[-1] = (steps[-1][0] + g, tb, b)
            else:
                steps.append((g, tb, b))
        out = [Change(g, self.t_start, t, lv) for g, t, lv in steps
               if abs(g) >= self.min_change_g]
        if len(hands) == 1 and self._touch_plateau(out, trace):
            return None  # a hand resting on the items, its hold taken for a level
        if len(out) == 1:
            return self._one_move(trace, level, t_end, bool(hands)) or out
        if not out and hands:  # a hand was in, and the weight came back: a pick and a return?
            return self._by_shape(trace, level, t_end, cancel=True) \
                or self._cancel(hands, trace, level, t_end)
        return out or None

    def _touch_plateau(self, out: list[Change], trace: list[tuple[float, float]]) -> bool:
        """A pick and a return (either way round) that cancel, split at a brief plateau
        less than `touch_deep` of a unit away inside one hand's break: a resting hand
        (`touch_rests_in`) whose hold the noise put within `plateau_off` of a whole unit
        (a light item's press or partial lift, 0.7 of a unit, read 0.76), not a level."""
        deep = self.s.ramps.touch_deep
        if deep <= 0 or len(out) != 2 or (out[0].grams > 0) == (out[1].grams > 0):
            return False
        if abs(out[0].grams + out[1].grams) >= self.unit / 2 \
                or abs(out[0].grams) >= deep * self.unit:
            return False
        return touch_rests_in(trace, self.before, self.unit, self.s.ramps)

    def _by_gap(self, hands: list[tuple[float, float]], trace: list[tuple[float, float]],
                level: float, t_end: float) -> list[Change] | None:
        """Two hands one after the other (the first's break ends before the second's
        starts) and a brief plateau after the first reached in and before the second did, a
        single unit from the episode's start and from its end, that the samples between the
        breaks hold (within `band_g`): the plate holds whole items whenever no hand is on
        them, so the first hand's change is the step to the plateau and the second's the
        step from it (`split_at_gap`). None otherwise, and for a step of more units: it may
        be two hands in one lane, which the split by hand and shape tells apart."""
        (a1, b1), (a2, _) = hands
        if not self.s.split_at_gap or b1 > a2:
            return None
        between = [(g, tp) for g, tp in self.plateaus if a1 < tp < a2]
        if not between:
            return None
        g, tp = between[-1]
        if not (self._one(g - self.before) and self._one(level - g)):
            return None
        gap = [w for t, w in trace if b1 <= t <= a2]
        if not gap or max(abs(w - g) for w in gap) > self.s.band_g:
            return None
        return [Change(g - self.before, self.t_start, tp, g),
                Change(level - g, max(a2, tp), t_end, level)]

    def _cancel_after(self, split: list[Change], trace: list[tuple[float, float]],
                      level: float, t_end: float) -> list[Change] | None:
        """Two hands the beam split gave nothing, after the hands it counted (whose changes
        ended before they reached in): a pick and a return at once (`_cancel`), weighed
        from the level between."""
        a = min(h[0] for h in self.idle_hands)
        if any(c.t > a for c in split):
            return None
        lo = max([a - 1.0, *(c.t for c in split)])
        sub = [(tp, g) for tp, g in trace if tp >= lo]
        pre = [g for tp, g in sub if tp < a]
        if not pre:
            return None
        return self._cancel(self.idle_hands, sub, level, t_end, sum(pre) / len(pre))

    def _mixed(self, hands: list[tuple[float, float]], split: list[Change],
               trace: list[tuple[float, float]], level: float, t_end: float
               ) -> list[Change] | None:
        """Two hands in the shelf at once, in two lanes, that the beam split gave changes
        the same way (or one of them nothing): a pick and a return at once that leave a
        net change, each a ramp of whole units inside its own hand's beam break
        (`edge.shelf.ramps.mixed_by_hands`)?"""
        if len(hands) != 2 or not split:
            return None
        (a1, b1), (a2, b2) = hands
        if not (a1 < b2 and a2 < b1):
            return None  # one after the other: the beam split weighed each on its own
        if any(c.grams > 0 for c in split) and any(c.grams < 0 for c in split):
            return None  # a pick and a return already
        pair = mixed_by_hands(trace, self.before, level, self.unit, hands, self.s.ramps)
        if pair is None:
            return None
        grams = dict((i, r.grams) for i, r in pair)
        if self._toucher(trace, (grams[0], grams[1]), hands) is not None:
            return None  # a hand resting on the items beside the other hand's change
        return self._pair_changes(pair, trace, level, t_end)

    def _toucher(self, trace: list[tuple[float, float]], counted: tuple[float, float],
                 hands: list[tuple[float, float]]) -> int | None:
        """Which of two hands given `counted` grams rests on the items instead
        (`edge.shelf.ramps.touch_by_hands`, then refined off its grids: `touch_fine`).
        Counts the same way are weighed refined only: on the grids a steep pair of ramps
        is misplaced by a fraction of a sample, which a touch beside one ramp of the
        whole change absorbs (two picks at once taken for a pick of 2)."""
        same_way = counted[0] * counted[1] > 0
        toucher = None if same_way else touch_by_hands(trace, self.before, counted, hands,
                                                       self.unit, self.s.ramps)
        if toucher is None and (self.s.ramps.touch_fine or same_way):
            toucher = touch_by_hands_fine(trace, self.before, counted, hands, self.unit,
                                          self.s.ramps)
        return toucher

    def _cancel(self, hands: list[tuple[float, float]], trace: list[tuple[float, float]],
                level: float, t_end: float, before: float | None = None
                ) -> list[Change] | None:
        """Two hands in two lanes, and the weight came back: a pick and a return at once,
        each a unit's ramp inside its own hand's beam break (`edge.shelf.ramps`)?"""
        start = self.before if before is None else before
        pair = cancel_by_hands(trace, start, level, self.unit, hands, self.s.ramps)
        if pair is None and self.s.ramps.cancel_near > 0:
            # the weights nearly cancel: too little excursion for the coarse pair
            pair = cancel_near(trace, start, level, self.unit, hands, self.s.ramps)
        return None if pair is None else self._pair_changes(pair, trace, level, t_end)

    def _pair_changes(self, pair: list[tuple[int, Ramp]],
                      trace: list[tuple[float, float]], level: float, t_end: float
                      ) -> list[Change]:
        """Each hand's fitted ramp as a change, dated at the first sample after its end."""
        out = []
        for _, r in pair:
            t = next((tp for tp, _ in trace if tp >= r.end), t_end)
            out.append(Change(r.grams, max(self.t_start, r.start), min(t, t_end), level))
        return out

    def _by_shape(self, trace: list[tuple[float, float]], after: float, t_end: float,
                  cancel: bool = False, before: float | None = None,
                  level: float | None = None, mixed: bool = False) -> list[Change] | None:
        """One move of two units or more, with no plateau inside: two hands whose ramps
        overlap or follow each other without a pause bend the ramp (`edge.shelf.ramps`).
        `cancel`: hands were in and the weight came back, a pick and a return at once?
        The move goes from `before` (the episode's start) to `after`; the changes carry
        the episode's new `level` (`after`)."""
        start = self.before if before is None else before
        ramps = split_ramps(trace, start, after, self.unit, self.s.ramps, cancel, mixed)
        if ramps is None:
            return None
        out = []
        for r in ramps:
            # dated like any change: the first sample after the ramp ended
            t = next((tp for tp, _ in trace if tp >= r.end), t_end)
            out.append(Change(r.grams, max(self.t_start, r.start), min(t, t_end),
                              after if level is None else level))
        if len({c.t for c in out}) < len(out) and not self._opposite(out):
            # hands that end on the same sample cannot be told apart from one hand whose
            # ramp the reader's sample timing bent (a pick of 2 split in two on the full
            # path): one change
            return None
        return out

    def _opposite(self, changes: list[Change]) -> bool:
        """Changes both ways (a pick and a return at once), which no one hand's ramp bent
        by the reader's timing makes, when `opposite_same_end` is on."""
        return self.s.opposite_same_end and min(c.grams for c in changes) < 0 \
            < max(c.grams for c in changes)

    def _split_hands(self, hands: list[tuple[float, float]], level: float
                     ) -> list[tuple[float, float]]:
        """Hands split at the plateaus inside them: a plateau (a pause of the weight) a
        whole count of units from the levels before and after it, while only one hand was
        in the shelf, is that lane's hand finishing one change and starting the next (two
        hands one after the other in one lane, whose breaks merged)."""
        m = self.s.hand_margin_s
        levels = [self.before, *(g for g, _ in self.plateaus), level]
        cuts = [tp for i, (g, tp) in enumerate(self.plateaus, 1)
                if self._whole(g - levels[i - 1]) and self._whole(levels[i + 1] - g)]
        out: list[tuple[float, float]] = []
        for i, (a, b) in enumerate(hands):
            inside = [tp for tp in cuts if a + m < tp < b - m and not any(
                a2 - m <= tp <= b2 + m for j, (a2, b2) in enumerate(hands) if j != i)]
            for tp in inside:
                out.append((a, tp))
                a = tp
            out.append((a, b))
        return sorted(out)

    def _by_hand(self, hands: list[tuple[float, float]], trace: list[tuple[float, float]],
                 level: float, t_end: float) -> list[Change] | None:
        """Split an episode among the hands that were in the shelf during it: each hand's
        change is a ramp over its beam break, and the least-squares fit of the samples to
        those ramps gives each hand's grams; the counts are then the whole numbers nearest
        the fit that add up to the episode's total. None when the ramps cannot be told
        apart (two hands in and out together): the weight alone decides then."""
        k = len(hands)
        basis = [[min(1.0, max(0.0, (t - a) / max(b - a, 1e-3))) for a, b in hands]
                 for t, _ in trace]
        ys = [g - self.before for _, g in trace]
        total = (level - self.before) / self.unit
        # a weak pull towards an even split: hands the ramps cannot tell apart share the
        # total (most hands move one unit), hands they can are fitted by the weight alone
        prior = total * self.unit / k
        ata = [[sum(r[i] * r[j] for r in basis) for j in range(k)] for i in range(k)]
        # how far apart two hands' ramps are: the samples' worth where they differ
        apart = min(ata[i][i] + ata[j][j] - 2 * ata[i][j]
                    for i in range(k) for j in range(i + 1, k))
        lam = self.s.hand_prior if apart < self.s.hands_apart else 0.0
        for i in range(k):
            ata[i][i] += lam
        aty = [sum(r[i] * y for r, y in zip(basis, ys, strict=True)) + lam * prior
               for i in range(k)]
        fit = _solve(ata, aty)
        if fit is None:
            return None
        n_total = round(total)
        units = [g / self.unit for g in fit]
        counts = [round(u) for u in units]
        while sum(counts) != n_total:  # nudge the count furthest from its fit
            step = 1 if sum(counts) < n_total else -1
            i = max(range(k), key=lambda j: step * (units[j] - counts[j]))
            counts[i] += step
        if self.s.ramps.counts_doubt > 0:
            again = counts_by_ramps(trace, self.before, level, self.unit, hands, units,
                                    counts, self.s.ramps)
            counts = again or counts
        self.touched = False
        half = (total - n_total) * self.unit / 2  # the grams the counts leave, a hand each
        if k == 2 and n_total and counts[0] * counts[1] != 0 and (
                counts[0] * counts[1] < 0 or self.s.touch_same_way):
            # a pick and a return, or a hand resting on the items while the other moved
            # the net change (the beam split fits a touch of 0.6 of a unit as one)? Two
            # changes the same way, too: a hand lifting an item partly during the other's
            # pick (pressing during a return) weighs like part of that pick
            toucher = self._toucher(trace, (counts[0] * self.unit + half,
                                            counts[1] * self.unit + half), hands)
            if toucher is not None:
                counts[toucher], counts[1 - toucher] = 0, n_total
                self.touched = True
        if k == 2 and not n_total and counts[0] * counts[1] < 0 and touches_by_hands(
                trace, self.before, (counts[0] * self.unit + half, counts[1] * self.unit + half),
                hands, self.unit, self.s.ramps):
            # the weight came back: a pick and a return, or a hand resting on the items in
            # each lane (two touches overlapping look like an excursion up and back)?
            counts = [0, 0]
            self.touched = True
        if k >= 3 and max(counts) > 0 > min(counts):
            # three hands or more, a pick and a return: or a hand resting on the items?
            among = touch_among_hands(trace, self.before, level, self.unit, hands, counts,
                                      self.s.ramps)
            if among is not None:
                counts = among[1]
                self.touched = True
        self.idle_hands = [h for c, h in zip(counts, hands, strict=True) if not c]
        spare = (total - n_total) * self.unit / max(1, sum(1 for c in counts if c))
        ends = {h: min(b, t_end) for h in hands for _, b in [h]}  # dated when it left
        if k == 2 and all(counts):  # or, better, when its ramp ended
            fitted = ends_by_hands(trace, self.before,
                                   (counts[0] * self.unit + spare, counts[1] * self.unit + spare),
                                   hands, self.s.ramps)
            for h, r in zip(hands, fitted or (), strict=False):
                ends[h] = min(max(r.end, self.t_start, h[0]), ends[h])
        if k >= 3 and self.s.ramps.ends_among:
            self._ends_among(hands, counts, spare, trace, ends)
        out: list[Change] = []
        done = self.before  # the level once every hand that left before this one moved
        for c, (a, b) in sorted(zip(counts, hands, strict=True), key=lambda x: x[1][1]):
            grams = c * self.unit + spare if c else 0.0
            alone = self._alone((a, b), hands, trace, done, grams, level, t_end)
            if alone and not c:  # a pick and a return at once by this hand: not idle
                self.idle_hands.remove((a, b))
            if alone or c:
                out += alone or [Change(grams, max(self.t_start, a), ends[(a, b)], level)]
            done += sum(ch.grams for ch in alone) if alone else grams
        return sorted(out, key=lambda ch: ch.t)

    def _ends_among(self, hands: list[tuple[float, float]], counts: list[int], spare: float,
                    trace: list[tuple[float, float]],
                    ends: dict[tuple[float, float], float]) -> None:
        """Three hands or more: each two whose breaks overlap each other and no other
        hand's, both counted, dated by their ramps' ends (`ends_by_hands`) as two hands
        alone are, on the samples from the hands before them leaving to the hands after
        them reaching in, from the level the hands before them left (`ends_among`)."""
        order = sorted(range(len(hands)), key=lambda i: hands[i])
        groups: list[list[int]] = []
        for i in order:
            if groups and hands[i][0] < max(hands[j][1] for j in groups[-1]):
                groups[-1].append(i)
            else:
                groups.append([i])
        for n, group in enumerate(groups):
            if len(group) != 2 or not all(counts[i] for i in group):
                continue
            lo = max(hands[j][1] for j in groups[n - 1]) if n else -math.inf
            hi = min(hands[j][0] for j in groups[n + 1]) if n + 1 < len(groups) else math.inf
            before = self.before + sum(counts[j] * self.unit + spare for g in groups[:n]
                                       for j in g if counts[j])
            pair = [hands[i] for i in group]
            fitted = ends_by_hands([(t, g) for t, g in trace if lo <= t <= hi], before,
                                   (counts[group[0]] * self.unit + spare,
                                    counts[group[1]] * self.unit + spare), pair, self.s.ramps)
            for h, r in zip(pair, fitted or (), strict=False):
                ends[h] = min(max(r.end, self.t_start, h[0]), ends[h])

    def _alone(self, hand: tuple[float, float], hands: list[tuple[float, float]],
               trace: list[tuple[float, float]], before: float, grams: float, level: float,
               t_end: float) -> list[Change] | None:
        """A hand the beam split gave `grams`, while no other hand was in: two shoppers
        one after the other (or overlapping) through that one lane, told apart by the shape
        of its move (`_one_move` on the samples while only it was in, from the level
        `before` it reached in); for a hand given nothing, a pick and a return at once in
        that lane (`_by_shape`, `cancel`)."""
        a, b = hand
        others = [h for h in hands if h != hand]
        if any(a2 < b and b2 > a for a2, b2 in others):
            return None  # another hand was in meanwhile: the weight is not this hand's only
        lo = max([b2 for _, b2 in others if b2 <= a], default=-math.inf)
        hi = min([a2 for a2, _ in others if a2 >= b], default=math.inf)
        sub = [(tp, g) for tp, g in trace if lo <= tp <= hi]
        if not grams:
            return self._by_shape(sub, before, t_end, cancel=True, before=before, level=level)
        return self._one_move(sub, before + grams, t_end, True, before, level)

    def _one_move(self, trace: list[tuple[float, float]], after: float, t_end: float,
                  hand: bool, before: float | None = None, level: float | None = None
                  ) -> list[Change] | None:
        """Two hands in what looks like one change (`_by_shape`): two picks (or returns)
        bending one move of two units or more; or, with a hand seen in the shelf, a pick
        and a return at once that leave a net change (the weight turned back meanwhile)."""
        grams = after - (self.before if before is None else before)
        if abs(grams) >= 1.5 * self.unit:
            two = self._by_shape(trace, after, t_end, before=before, level=level)
            if two is not None:
                return two
        if not hand:
            return None
        return self._by_shape(trace, after, t_end, before=before, level=level, mixed=True)


def _solve(a: list[list[float]], y: list[float]) -> list[float] | None:
    """Solve a small linear system by Gaussian elimination; None when it is (nearly)
    singular."""
    n = len(y)
    m = [[*row, v] for row, v in zip(a, y, strict=True)]
    scale = max((abs(v) for row in a for v in row), default=0.0)
    if scale == 0:
        return None
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[piv][col]) < 1e-3 * scale:
            return None
        m[col], m[piv] = m[piv], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    return [m[i][n] / m[i][i] for i in range(n)]
