"""Two hands in one change, told apart by the shape of the weight.

One hand moves its items at a steady pace: its change of load is a ramp, flat before and
after, straight in between. Two hands whose changes overlap or follow each other without a
pause (two shoppers in one beam lane, or on a plate without beams) add up to a bent ramp:
the slope changes where one hand starts or stops. `split` fits the episode's samples with
one ramp and with two, each from its own start to its own end; when two ramps explain the
samples far better than one and each carries a whole number of units, the change is two
changes. A single hand taking two items at once is one straight ramp and stays one change.

Only episodes the beams cannot split call this (rare: a few a shelf an hour), so it may cost
a few milliseconds; the per-sample path never does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RampSettings:
    """When two ramps are taken for two hands."""

    noise_floor_g: float = 1.0  # the load cell's noise (sigma) is at least this
    # one ramp leaves at least this many noise variances a sample (not 12: the times of a
    # real reader's samples jitter, which bends a straight ramp a little)
    bent: float = 10.0
    better: float = 0.15  # and two ramps leave at most this share of one ramp's residual
    # a pick and a return at once (or a pick of n + 1 and a return of 1): the weight moved
    # against the net change by at least this share of a unit (less: a leaning hand)
    turn: float = 0.25
    # for no net change inside one hand's beam break (or on a plate without beams): the
    # other explanation, far more common, is one hand resting on the items, pressing or
    # lifting one partly; only an excursion of most of a unit is taken for two hands
    turn_one_lane: float = 0.75
    # down to this share, a pick and a return at once in one lane all the same when no
    # touch explains the samples to within `fit_within` noise variances a sample (in,
    # held, out: a hand at rest holds; two hands' overlapping ramps bend where one ends)
    # and the two unit ramps leave at most `shaped_better` of the best touch's residual
    turn_shaped: float = 0.25
    shaped_better: float = 0.25
    most: int = 4  # two hands move at most this many units together (more: staff)
    grid: int = 2  # coarse search points per sample period
    fine: int = 64  # refinement down to this fraction of a sample period
    min_moving: int = 5  # samples inside the move, at least, to tell two ramps from one
    # a pick and a return at once by two hands in two lanes (`cancel_by_hands`): the weight
    # moved this many noise sigmas away, and a single ramp of the net change leaves at
    # least this many noise variances a sample
    excursion: float = 8.0
    bent_cancel: float = 10.0
    # and a pick and a return at once inside one hand's break must explain the episode's
    # samples to within this many noise variances a sample (a hand resting on the items,
    # pressing or lifting one partly, is no pair of unit ramps: it holds at a fraction of
    # a unit)
    fit_within: float = 3.0
    hand_points: int = 32  # candidate ends per hand's break
    # a hand resting on the items in one lane while another hand moves in another
    # (`touch_by_hands`): it moves the weight by at most this share of a unit and back
    touch_max: float = 0.75
    touch_points: int = 12  # candidate ends per touching hand's break
    # the beam split gives a touching hand at most this many units, either way: one
    # against the net change, or the net change and one more (the other hand then the
    # unit against it), or two against it
    touch_counted: float = 2.5
    # the best touch is also sought from the pair's own shape (its starts as the touch's
    # way in, its ends as the way out): two unit ramps of the same pace overlapping are a
    # touch's trapezoid exactly, which a coarse grid of touches can miss
    touch_seeded: bool = True
    # two hands counted a pick and a return: their touch and pair (`touch_by_hands`) each
    # refined off its grid, too (`touch_by_hands_fine`; counts the same way always are).
    # Off: on fresh seeds it fixed a false return and cost a pick (docs/shelf.md, shelf11)
    touch_fine: bool = False
    # a touch the coarse grid of `touch_by_hands` fits only roughly: its ends and the other
    # hand's ramp refined, it is taken all the same when it explains the samples to within
    # `fit_within` noise variances a sample, leaves at most `better` of the refined pair's
    # residual, and holds still for at least this many sample periods (a resting hand
    # holds a fraction of a unit steady; the best touch through a real pick and return is
    # a peak, in and straight out again); 0: off
    touch_held: float = 3.0
    # two hands in two lanes and the weight came back (`cancel_by_hands`): before a pick
    # and a return at once is taken, a touch in each hand's break is refined and taken
    # instead when the two explain the samples to within `fit_within` noise variances a
    # sample, leave at most `better` of the refined pair's residual and each hold for
    # `touch_held` sample periods (`_two_touches_held`; docs/shelf.md, shelf13)
    touch_cancel: bool = True
    # three hands or more counted a pick and a return (`touch_among_hands`): when the
    # coarse fit (every other hand's ramp over its whole break) finds no touch, each hand
    # given at most `touch_counted` units is tried as a touch with its ends and the others'
    # ramps refined inside their breaks (`_touch_among_held`), taken as `_held_touch` takes
    # one: within `fit_within`, held `touch_held` sample periods, at most `better` of the
    # refined counted split's residual (docs/shelf.md, shelf16)
    touch_among_held: bool = True
    # a pick and a return at once inside one break (`turn_shaped`): a touch rules the pair
    # out only when it rests, explaining the samples to within `fit_within` noise variances
    # a sample and holding still for at least this many sample periods. The best touch
    # through a return inside another shopper's pick is a peak (in and straight out) or
    # fits no better than the noise allows; then the pair is taken when it leaves less
    # than that touch (docs/shelf.md, shelf15); 0: off (`shaped_better` alone)
    touch_rests: float = 1.0
    # two hands whose breaks nearly coincide: the beam split (ramps over whole breaks) can
    # give a hand resting on the items two units or more against the net change and the
    # other hand as many more (a pick of 3 and a return of 2 for one pick beside a lift),
    # and two big ramps, refined, nearly cancel to fit a fraction of a unit's hold. Such a
    # toucher's held touch (`_held_touch`: within `fit_within`, held `touch_held`) is taken
    # when it leaves at most this share of the counted pair's residual (not `better`);
    # 0: off (docs/shelf.md, shelf17)
    touch_against: float = 1.0
    # the beam split's counts in doubt (`counts_by_ramps`): a hand's fitted units within
    # this much of half way between two counts (-1.53 of a unit: 1 or 2?) is weighed again,
    # each whole split adding up to the total with every moving hand's ramp refined inside
    # its break, and the split leaving the least residual is taken. Ramps over whole
    # breaks put a unit in the wrong hand when one hand's move is short inside a long break
    # (docs/shelf.md, shelf18); 0: off
    counts_doubt: float = 0.0
    counts_hands: int = 3  # at most this many hands in doubt are weighed again
    counts_better: float = 0.5  # another split is taken when it leaves this share or less
    # two hands in two lanes whose breaks overlap, and the weight came back while moving
    # less than `excursion` noise sigmas away (or `cancel_by_hands`' coarse grid found no
    # pair): a pick and a return at once whose weights nearly cancel (`cancel_near`). Taken
    # when the weight moved at least this many noise sigmas away (held two samples), a
    # unit ramp each way with free ends inside its hand's break, refined, explains the
    # samples to within `fit_within` noise variances a sample, and leaves at most
    # `near_better` of what the best held touch (in either lane) or two (one in each)
    # leave, refined; 0: off (docs/shelf.md, shelf19: tuning and validation seeds only
    # lose lines)
    cancel_near: float = 4.0
    near_better: float = 0.5
    # one hand in the episode (one lane) and a brief plateau splitting it into a pick and
    # a return that cancel: when the plateau is less than this share of a unit away (and
    # `plateau_off` let it through as a level) and a resting touch explains the samples
    # (`touch_rests_in`: at most `touch_max` of a unit deep, within `fit_within`, held), it
    # is a touch, not two changes. A light item's press or partial lift (gum, 15 g: 0.7 of
    # a unit) reads 0.75-0.9 of a unit through the noise (docs/shelf.md, shelf20); 0: off
    touch_deep: float = 0.9
    # three hands or more in one episode: each two whose breaks overlap each other and
    # no other's are dated by their ramps' ends (`ends_by_hands`), as two hands alone
    # are, not by their clears (two picks ending 0.3 s apart, cleared in the other
    # order, had their quantities swapped: docs/shelf.md, shelf20); off: by the clears
    ends_among: bool = False


@dataclass(frozen=True)
class Ramp:
    """One hand's change: `grams` signed, moving from `start` to `end`."""

    grams: float
    start: float
    end: float


def _ramps(t: Array, a: Array, b: Array) -> Array:
    """Unit ramps (rows: candidates, columns: samples) from `a` to `b`."""
    width = np.maximum(b - a, 1e-6)[:, None]
    out: Array = np.clip((t[None, :] - a[:, None]) / width, 0.0, 1.0)
    return out


def _two(t: Array, y: Array, g1: float, g2: float, p: Array) -> Array:
    """Residuals of two ramps of `g1` and `g2` grams (rows of `p`: a1, b1, a2, b2)."""
    res = y[None, :] - g1 * _ramps(t, p[:, 0], p[:, 1]) - g2 * _ramps(t, p[:, 2], p[:, 3])
    out: Array = np.einsum("ij,ij->i", res, res)
    return out


def _one(t: Array, y: Array, total: float, p: Array) -> Array:
    """Residuals of one ramp of `total` grams (rows of `p`: a, b)."""
    res = y[None, :] - total * _ramps(t, p[:, 0], p[:, 1])
    out: Array = np.einsum("ij,ij->i", res, res)
    return out


def _refine(best: Array, lo: float, hi: float, step: float, last: float,
            cost: Callable[[Array], Array]) -> Array:
    """A pattern search from `best`: every move of the ends by -step, 0 or +step at once
    (diagonals too: a steep ramp's ends must move together), kept in order and inside
    [lo, hi]; the step halves when no move helps, down to `last`."""
    k = best.size
    moves = np.array(np.meshgrid(*([[-1.0, 0.0, 1.0]] * k), indexing="ij")).reshape(k, -1).T
    here = float(cost(best[None, :])[0])
    for _ in range(400):
        cand = np.clip(best[None, :] + step * moves, lo, hi)
        cand = cand[np.all(cand[:, 1::2] >= cand[:, 0::2], axis=1)]
        rss = cost(cand)
        i = int(np.argmin(rss))
        if rss[i] < here - 1e-9:
            best, here = cand[i], float(rss[i])
        elif step > last:
            step /= 2
        else:
            break
    return best


class _Cost:
    """The residuals of candidate ends: one ramp of `grams[0]`, or two of `grams`."""

    def __init__(self, t: Array, y: Array, grams: tuple[float, ...]) -> None:
        self.t, self.y, self.grams = t, y, grams

    def __call__(self, p: Array) -> Array:
        if len(self.grams) == 1:
            return _one(self.t, self.y, self.grams[0], p)
        return _two(self.t, self.y, self.grams[0], self.grams[1], p)


@dataclass(frozen=True)
class Fit:
    """One ramp's and the best two ramps' residuals (grams squared) over `samples` samples
    around the move, the noise (`sigma`) and the two ramps (None: one ramp fits within
    the noise, or the count is under two or over `most`)."""

    one: float
    two: float
    samples: int
    sigma: float
    ramps: tuple[Ramp, Ramp] | None
    slope: float = 0.0  # the one ramp's grams a second


def _turn(y: Array, total: float) -> float:
    """How far the weight moved against the net change `total` (a rise during a net
    decrease; for no net change, the excursion from the start), held for two samples in a
    row: a hand moves an item over several samples, a knock on the shelf lasts one."""
    if y.size < 2:
        return 0.0
    if abs(total) < 1e-9:
        return float(np.max(np.minimum(np.abs(y[:-1]), np.abs(y[1:]))))
    if total < 0:
        return float(np.max(np.minimum(y[:-1], y[1:]) - np.minimum.accumulate(y)[:-1]))
    return float(np.max(np.maximum.accumulate(y)[:-1] - np.maximum(y[:-1], y[1:])))


def retime(t: Array) -> Array:
    """The samples' times on the controller's clock: it weighs at a steady rate, but a
    sample's time is when the reader read it, which jitters and lags (a reader's tick; a
    busy machine stalls, then reads several samples at once with one time). Each sample is
    one period after the one before, unless a line was lost (line noise): the samples
    from there on stay behind the steady pace by a whole period, for good, where a stall
    only delays a few. The period is the median pace over a few samples (a lump or a lost
    line moves few of those), then the least-squares line through the steps. A steep ramp
    dated by the reader is bent by that jitter; dated steadily it is straight again."""
    n = t.size
    if n < 3 or float(t[-1] - t[0]) <= 0:
        return t
    m = max(1, min(8, n // 3))
    period = float(np.median((t[m:] - t[:-m]) / m))
    if period <= 0:
        period = float(t[-1] - t[0]) / (n - 1)
    i = np.arange(n, dtype=np.float64)
    k = i
    for _ in range(2):
        behind = (t - t[0]) / period - i  # periods behind the steady pace
        # behind for good: the least of what follows (a stall's delay does not last)
        lasting = np.minimum.accumulate(behind[::-1])[::-1]
        k = i + np.floor(lasting - lasting[0] + 0.25)  # a lost line: most of a period
        km, tm = float(np.mean(k)), float(np.mean(t))
        var = float(np.sum((k - km) ** 2))
        slope = float(np.sum((k - km) * (t - tm))) / var if var > 0 else 0.0
        if slope <= 0:
            return t
        period = slope
    steady: Array = tm + (k - km) * period
    return steady


def fit(trace: list[tuple[float, float]], before: float, after: float, unit: float,
        settings: RampSettings | None = None, cancel: bool = False,
        mixed: bool = False) -> Fit | None:
    """One ramp and two fitted to the samples `trace` (time, grams) of an episode from the
    settled level `before` to `after`, the two carrying whole counts of `unit` grams (the
    best of every way to split the count); None when there is no move to fit. `cancel`:
    the weight came back to where it was (within half a unit), and the two ramps are one
    unit either way (a pick and a return at once); `mixed`: the two ramps go opposite
    ways, one of them a single unit against the net change (a pick of n + 1 and a return
    of 1, or the reverse). Either needs the weight to have moved against the net change by
    `turn` of a unit and `excursion` noise sigmas (less is a leaning hand or the noise)."""
    s = settings or RampSettings()
    if len(trace) < 8 or unit <= 0:
        return None
    t = retime(np.array([p[0] for p in trace], dtype=np.float64))
    y = np.array([p[1] for p in trace], dtype=np.float64) - before
    total = after - before
    period = float(np.median(np.diff(t)))
    if period <= 0:
        return None
    margin = 3 * s.noise_floor_g
    count = round(total / unit)
    turned = cancel or mixed
    shaped = False  # `turn_shaped`: no touch may explain the samples
    if turned:
        if mixed and not count:
            return None
        turn = _turn(y, 0.0 if cancel else total)
        least = s.turn_one_lane if cancel else s.turn
        shaped = cancel and min(s.turn_shaped, least) * unit <= turn < least * unit
        if turn < max(least * unit, s.excursion * margin / 3) and not shaped:
            return None  # short of a quarter unit: a leaning hand, or the noise
        moving = np.nonzero((np.abs(y) > margin) & (np.abs(y - total) > margin))[0]
    else:
        moving = np.nonzero(np.abs(y - total / 2) < abs(total) / 2 - margin)[0]
    if moving.size < s.min_moving:
        # a step between two samples: nothing to tell apart; and two ramps (four ends) fit
        # any few samples, bent by the reader's timing or not
        return None
    lo, hi = float(t[max(0, moving[0] - 2)]), float(t[min(t.size - 1, moving[-1] + 2)])
    # the noise: the samples outside the move, around their settled levels
    flat = np.concatenate([y[:max(0, moving[0] - 1)], y[moving[-1] + 2:] - total])
    sigma = max(s.noise_floor_g, float(np.std(flat)) if flat.size >= 4 else 0.0)
    n = int(np.count_nonzero((t >= lo) & (t <= hi)))
    grid = np.arange(lo, hi + period / s.grid / 2, period / s.grid)
    ga, gb = np.meshgrid(grid, grid, indexing="ij")
    pairs = np.stack([ga.ravel(), gb.ravel()], axis=1)
    pairs = pairs[pairs[:, 1] > pairs[:, 0]]
    one = _Cost(t, y, (total,))
    single = _refine(pairs[int(np.argmin(one(pairs)))], lo, hi, period / s.grid,
                     period / s.fine, one)
    rss1 = float(one(single[None, :])[0])
    slope = abs(total) / max(float(single[1] - single[0]), period / s.fine)
    if cancel:
        splits = [] if count else [(unit + total / 2, total / 2 - unit),
                                   (total / 2 - unit, unit + total / 2)]
    elif mixed:
        against = -unit if total > 0 else unit  # one unit the other way
        splits = [(total - against, against), (against, total - against)] \
            if abs(count) + 1 <= s.most else []
    else:
        splits = [(total * k / abs(count), total * (abs(count) - k) / abs(count))
                  for k in range(1, abs(count))] if 2 <= abs(count) <= s.most else []
    if turned and turn < s.excursion * sigma:
        return None  # within the noise
    if rss1 < bent(s, turned) * n * sigma ** 2 or not splits:
        return Fit(rss1, rss1, n, sigma, None, slope)  # one straight ramp, within the noise
    # two ramps: the first starts the move or the second ends it (or both), about half a
    # period before the first sample that moved and after the last; a coarse grid places
    # the other two ends, then the best of each shape is refined
    a = float(t[moving[0]]) - period / 2
    b = float(t[moving[-1]]) + period / 2
    m = pairs.shape[0]
    shapes = [  # one after the other (or overlapping), one inside the other, either way
        np.column_stack([np.full(m, a), pairs[:, 1], pairs[:, 0], np.full(m, b)]),
        np.column_stack([np.full(m, a), np.full(m, b), pairs[:, 0], pairs[:, 1]]),
        np.column_stack([pairs[:, 0], pairs[:, 1], np.full(m, a), np.full(m, b)])]
    shapes = [c[np.all(c[:, 1::2] > c[:, 0::2], axis=1)] for c in shapes]
    best: tuple[float, Ramp, Ramp] | None = None
    for grams in splits:  # every split of the count in two whole counts
        two = _Cost(t, y, grams)
        for cand in shapes:
            if not cand.size:
                continue
            ends = _refine(cand[int(np.argmin(two(cand)))], lo, hi, period / s.grid,
                           period / s.fine, two)
            rss2 = float(two(ends[None, :])[0])
            if best is None or rss2 < best[0]:
                best = (rss2, Ramp(grams[0], float(ends[0]), float(ends[1])),
                        Ramp(grams[1], float(ends[2]), float(ends[3])))
    if best is None or (shaped and not _no_touch(best[0], _touch_fit_near(
            t, y, lo, hi, period, s.touch_max * unit, s, best[1:]), period,
            y.size * sigma ** 2, s)):
        return Fit(rss1, rss1, n, sigma, None, slope)
    return Fit(rss1, best[0], n, sigma, (best[1], best[2]), slope)


def _no_touch(two: float, touch: tuple[float, Array], period: float, noise: float,
              s: RampSettings) -> bool:
    """Two unit ramps leaving `two`, the best touch `touch` (its residual in grams
    squared, and its ends): no touch explains the samples (it leaves more than
    `fit_within` times the `noise`) and the two ramps do far better (at most
    `shaped_better` of the touch's residual); or (`touch_rests`) the touch does not rest
    and the two ramps do better."""
    rss, _ = touch
    if rss > s.fit_within * noise and two <= s.shaped_better * rss:
        return True
    return s.touch_rests > 0 and not _rests(touch, period, noise, s) and two < rss


def touch_rests_in(trace: list[tuple[float, float]], before: float, unit: float,
                   settings: RampSettings | None = None) -> bool:
    """Whether a hand resting on the items (a touch at most `touch_max` of a unit deep,
    `_touch_fit`) explains the samples `trace` of an episode that came back to the level
    `before`, and rests (`_rests`: within `fit_within` noise variances a sample, held
    still for `touch_rests` sample periods; at least one when that is off)."""
    s = settings or RampSettings()
    if len(trace) < 8 or unit <= 0:
        return False
    t = retime(np.array([p[0] for p in trace], dtype=np.float64))
    y = np.array([p[1] for p in trace], dtype=np.float64) - before
    period = float(np.median(np.diff(t)))
    margin = 3 * s.noise_floor_g
    moving = np.nonzero(np.abs(y) > margin)[0]
    if period <= 0 or moving.size < 2:
        return False
    lo, hi = float(t[max(0, moving[0] - 2)]), float(t[min(t.size - 1, moving[-1] + 2)])
    flat = np.concatenate([y[:max(0, moving[0] - 1)], y[moving[-1] + 2:]])
    sigma = max(s.noise_floor_g, float(np.std(flat)) if flat.size >= 4 else 0.0)
    touch = _touch_fit(t, y, lo, hi, period, s.touch_max * unit, s)
    held = replace(s, touch_rests=max(s.touch_rests, 1.0))
    return _rests(touch, period, y.size * sigma ** 2, held)


def _rests(touch: tuple[float, Array], period: float, noise: float, s: RampSettings) -> bool:
    """Whether a touch (its residual and ends) is a hand resting on the items: it explains
    the samples to within `fit_within` times the `noise` and holds still, between its way
    in and its way out, for at least `touch_rests` sample periods."""
    rss, ends = touch
    return rss <= s.fit_within * noise and float(ends[2] - ends[1]) >= s.touch_rests * period


class _TouchCost:
    """The residuals of candidate touches (rows: in a, in b, out c, out d; `b <= c`), each
    at its best depth, at most `deepest` grams either way."""

    def __init__(self, t: Array, y: Array, deepest: float) -> None:
        self.t, self.y, self.deepest = t, y, deepest

    def __call__(self, p: Array) -> Array:
        shapes = _ramps(self.t, p[:, 0], p[:, 1]) - _ramps(self.t, p[:, 2], p[:, 3])
        ss = np.maximum(np.einsum("ij,ij->i", shapes, shapes), 1e-9)
        dot = shapes @ self.y
        depth = np.clip(dot / ss, -self.deepest, self.deepest)
        out: Array = float(self.y @ self.y) - 2 * depth * dot + depth * depth * ss
        return np.where(p[:, 1] <= p[:, 2], out, np.inf)


def _touch_fit(t: Array, y: Array, lo: float, hi: float, period: float, deepest: float,
               s: RampSettings) -> tuple[float, Array]:
    """The best touch of the samples `y` inside [lo, hi] (its residual and its ends: in
    from, in to, out from, out to): the weight moved away by at most `deepest` grams,
    held, and back (a hand resting on the items), on a coarse grid of `touch_points` ends,
    then refined."""
    ends, _ = _hand_ramps(t, lo, hi, period, s.touch_points)
    i, j = np.nonzero(ends[:, 1][:, None] <= ends[:, 0][None, :])  # in ends, then out
    if not i.size:
        return float(y @ y), np.array([lo, lo, hi, hi], dtype=np.float64)
    cand = np.column_stack([ends[i], ends[j]])
    cost = _TouchCost(t, y, deepest)
    best = _refine(cand[int(np.argmin(cost(cand)))], lo, hi, period / s.grid,
                   period / s.fine, cost)
    return float(cost(best[None, :])[0]), best


def _touch_fit_near(t: Array, y: Array, lo: float, hi: float, period: float,
                    deepest: float, s: RampSettings, pair: tuple[Ramp, Ramp]
                    ) -> tuple[float, Array]:
    """`_touch_fit`, and (`touch_seeded`) the best touch refined from the shape of the
    `pair` of opposite ramps: in from the earlier start to the later, out from the earlier
    end to the later. Two unit ramps of one pace that overlap make a touch's trapezoid
    (in, held a fraction of a unit away, out), so a touch fits the samples at least as
    well as such a pair; the grid alone can settle in a worse corner. The better of the
    two (residual, ends)."""
    found = _touch_fit(t, y, lo, hi, period, deepest, s)
    if not s.touch_seeded:
        return found
    a, b = sorted(r.start for r in pair)
    c, d = sorted(r.end for r in pair)
    if b > c:  # the ramps do not overlap: no hold, in and out meet between them
        b = c = (b + c) / 2
    seed = np.clip(np.array([a, b, c, d], dtype=np.float64), lo, hi)
    cost = _TouchCost(t, y, deepest)
    best = _refine(seed, lo, hi, period / s.grid, period / s.fine, cost)
    rss = float(cost(best[None, :])[0])
    return (rss, best) if rss < found[0] else found


def bent(s: RampSettings, turned: bool) -> float:
    """How many noise variances a sample one ramp must leave to try two: `bent`, or
    `bent_cancel` when the weight turned back (a turn is no straight ramp, bent by the
    reader's timing or not)."""
    return s.bent_cancel if turned else s.bent


def split(trace: list[tuple[float, float]], before: float, after: float, unit: float,
          settings: RampSettings | None = None, cancel: bool = False,
          mixed: bool = False) -> list[Ramp] | None:
    """Two hands' changes in the samples `trace` (time, grams) of an episode from the
    settled level `before` to `after`, in the order they ended; None when one ramp explains
    the samples (or two do not, with whole counts). `unit`: one item's grams. `cancel`,
    `mixed`: a pick and a return at once (`fit`)."""
    s = settings or RampSettings()
    if unit <= 0:
        return None
    f = fit(trace, before, after, unit, s, cancel, mixed)
    if f is None or f.ramps is None \
            or f.one < bent(s, cancel or mixed) * f.samples * f.sigma ** 2 \
            or not f.two <= s.better * f.one:
        return None
    if (cancel or mixed) and f.two > s.fit_within * len(trace) * f.sigma ** 2:
        return None  # not two hands' ramps: a hand resting on the items
    return sorted(f.ramps, key=lambda r: r.end)


def _hands_ramps(t: Array, hands: list[tuple[float, float]], period: float, points: int
                 ) -> list[tuple[Array, Array]] | None:
    """`_hand_ramps` of each hand, its break clipped to the samples; None when a clipped
    break is shorter than a sample period."""
    lo, hi = float(t[0]), float(t[-1])
    out = []
    for a, b in hands:
        a, b = max(a, lo), min(b, hi)
        if b - a < period:
            return None
        out.append(_hand_ramps(t, a, b, period, points))
    return out


def _two_hands(trace: list[tuple[float, float]], before: float,
               hands: list[tuple[float, float]], points: int
               ) -> tuple[Array, Array, float, list[tuple[Array, Array]]] | None:
    """An episode's samples ready for fitting two hands' ramps: the retimed times, the
    weights less `before`, the sample period and each hand's `_hand_ramps`; None when the
    period is not positive or a hand's break is shorter than it."""
    t = retime(np.array([p[0] for p in trace], dtype=np.float64))
    y = np.array([p[1] for p in trace], dtype=np.float64) - before
    period = float(np.median(np.diff(t)))
    if period <= 0:
        return None
    cands = _hands_ramps(t, hands, period, points)
    return None if cands is None else (t, y, period, cands)


def _two_hands_of_units(trace: list[tuple[float, float]], before: float,
                        hands: list[tuple[float, float]], unit: float, s: RampSettings
                        ) -> tuple[Array, Array, float, list[tuple[Array, Array]]] | None:
    """`_two_hands` for a touch test: None unless there are exactly two hands, enough
    samples to fit them and a positive unit weight."""
    if len(hands) != 2 or len(trace) < 8 or unit <= 0:
        return None
    return _two_hands(trace, before, hands, s.hand_points)


def _hand_ramps(t: Array, a: float, b: float, period: float, points: int
                ) -> tuple[Array, Array]:
    """Candidate ramps of one hand (rows: unit ramps over the samples `t`) with both ends
    inside its beam break [a, b]: ends on a grid of about half a sample period (at most
    `points` of them), each start before its end. Returns (ends, ramps)."""
    step = max(period / 2, (b - a) / max(points - 1, 1))
    grid = np.arange(a, b + step / 2, step)
    s, e = np.meshgrid(grid, grid, indexing="ij")
    ends = np.stack([s.ravel(), e.ravel()], axis=1)
    ends = ends[ends[:, 1] > ends[:, 0]]
    return ends, _ramps(t, ends[:, 0], ends[:, 1])


def _best_pair(y: Array, r1: Array, r2: Array, g1: float, g2: float
               ) -> tuple[float, int, int]:
    """The residual of the best pair of ramps (rows of `r1` carrying `g1` grams, of `r2`
    carrying `g2`) for the samples `y`, and the rows: (rss, i, j)."""
    rss = (float(y @ y) - 2 * g1 * (r1 @ y)[:, None] - 2 * g2 * (r2 @ y)[None, :]
           + g1 * g1 * np.einsum("ij,ij->i", r1, r1)[:, None]
           + g2 * g2 * np.einsum("ij,ij->i", r2, r2)[None, :] + 2 * g1 * g2 * (r1 @ r2.T))
    i, j = divmod(int(np.argmin(rss)), rss.shape[1])
    return float(rss[i, j]), i, j


def cancel_by_hands(trace: list[tuple[float, float]], before: float, after: float,
                    unit: float, hands: list[tuple[float, float]],
                    settings: RampSettings | None = None) -> list[tuple[int, Ramp]] | None:
    """A pick and a return at once by two hands in two beam lanes, whose weights (nearly)
    cancel: the weight came back to where it was, but moved meanwhile. Each hand's change
    is a ramp of one unit, either way, with free ends inside its own beam break (the weight
    can only move while the hand is in); the pair that explains the samples far better
    than a single ramp of the (small) net change over either break is taken, as
    (hand index, ramp) in the order the ramps ended. None when it does not, or when there
    are not exactly two hands, or when the excursion is within the noise."""
    s = settings or RampSettings()
    if len(hands) != 2 or len(trace) < 8 or unit <= 0:
        return None
    t = np.array([p[0] for p in trace], dtype=np.float64)
    y = np.array([p[1] for p in trace], dtype=np.float64) - before
    total = after - before
    period = float(np.median(np.diff(t)))
    if period <= 0 or abs(total) >= unit / 2:
        return None
    sigma = max(s.noise_floor_g, float(np.std(y[-5:])))  # the settled samples' noise
    if float(np.max(np.abs(y - total * (t >= t[-1])))) < s.excursion * sigma:
        return None  # nothing moved beyond the noise
    cands = _hands_ramps(t, hands, period, s.hand_points)
    if cands is None:
        return None
    (e1, r1), (e2, r2) = cands
    # one ramp of the net change over either hand's break: what a leaning hand would leave
    plain = min(float(np.min(np.einsum("ij,ij->i", d, d)))
                for d in (y[None, :] - total * r1, y[None, :] - total * r2))
    best: tuple[float, int, int, int] | None = None
    for c1 in (1, -1):  # hand 1's units (hand 2 moves the other way)
        rss, i, j = _best_pair(y, r1, r2, c1 * unit, -c1 * unit)
        if best is None or rss < best[0]:
            best = (rss, c1, i, j)
    assert best is not None
    rss2, c1, i, j = best
    n = len(trace)
    if plain < s.bent_cancel * n * sigma ** 2 or rss2 > s.better * plain:
        return None
    if s.touch_cancel and s.touch_held > 0 and _two_touches_held(
            t, y, period, hands, (c1 * unit, -c1 * unit),
            np.concatenate([e1[i], e2[j]]), unit, s):
        return None  # two hands resting on the items, one in each lane
    out = [(0, Ramp(c1 * unit, float(e1[i, 0]), float(e1[i, 1]))),
           (1, Ramp(-c1 * unit, float(e2[j, 0]), float(e2[j, 1])))]
    return sorted(out, key=lambda h: h[1].end)


def ends_by_hands(trace: list[tuple[float, float]], before: float, grams: tuple[float, float],
                  hands: list[tuple[float, float]], settings: RampSettings | None = None
                  ) -> tuple[Ramp, Ramp] | None:
    """When each of two hands' changes (`grams`, already counted from the beam split)
    moved: each a ramp with free ends inside its own beam break, the pair that explains
    the samples best. A hand's break lasts from its reach in to its leaving, and the weight
    settles at some moment inside it: a change is better dated by its ramp's end than by
    its hand's leaving (two hands' picks ending close together are otherwise told apart by
    their clears, which may come in the other order). None when there are not two hands
    or the samples are too few."""
    s = settings or RampSettings()
    if len(hands) != 2 or len(trace) < 8:
        return None
    fitted = _two_hands(trace, before, hands, s.hand_points)
    if fitted is None:
        return None
    _, y, _, ((e1, r1), (e2, r2)) = fitted
    g1, g2 = grams
    _, i, j = _best_pair(y, r1, r2, g1, g2)
    return (Ramp(g1, float(e1[i, 0]), float(e1[i, 1])),
            Ramp(g2, float(e2[j, 0]), float(e2[j, 1])))


def mixed_by_hands(trace: list[tuple[float, float]], before: float, after: float,
                   unit: float, hands: list[tuple[float, float]],
                   settings: RampSettings | None = None) -> list[tuple[int, Ramp]] | None:
    """A pick and a return at once by two hands in two beam lanes that leave a net change
    (a pick of 2 and a return of 1, a return of 2 and a pick of 1, ...): each hand's
    change is a ramp of whole units with free ends inside its own beam break, one hand
    moving a single unit against the net change. Taken, as (hand index, ramp) in the order
    the ramps ended, when the weight turned against the net change (by `turn` of a unit
    and `excursion` noise sigmas, held two samples), the best split with both hands moving
    the same way (or one not at all) leaves more than `bent_cancel` noise variances a
    sample, and the best opposite pair at most `better` of that. None otherwise, or when
    there are not exactly two hands or no net change."""
    s = settings or RampSettings()
    if len(hands) != 2 or len(trace) < 8 or unit <= 0:
        return None
    t = retime(np.array([p[0] for p in trace], dtype=np.float64))
    y = np.array([p[1] for p in trace], dtype=np.float64) - before
    total = after - before
    net = round(total / unit)
    period = float(np.median(np.diff(t)))
    if period <= 0 or not net or abs(net) + 1 > s.most:
        return None
    sigma = max(s.noise_floor_g, float(np.std(y[-5:])))  # the settled samples' noise
    if _turn(y, total) < max(s.turn * unit, s.excursion * sigma):
        return None  # the weight never went against the net change: nothing to split
    cands = _hands_ramps(t, hands, period, s.hand_points)
    if cands is None:
        return None
    (e1, r1), (e2, r2) = cands
    spare = total - net * unit
    sign = 1 if net > 0 else -1
    same = [(c, net - c) for c in range(0, net + sign, sign)]  # both the net's way
    against = [(-sign, net + sign), (net + sign, -sign)]  # one unit the other way
    plain = min(_best_pair(y, r1, r2, c1 * unit + spare / 2, c2 * unit + spare / 2)[0]
                for c1, c2 in same)
    best: tuple[float, int, int, int, int] | None = None
    for c1, c2 in against:
        rss, i, j = _best_pair(y, r1, r2, c1 * unit + spare / 2, c2 * unit + spare / 2)
        if best is None or rss < best[0]:
            best = (rss, c1, c2, i, j)
    assert best is not None
    rss2, c1, c2, i, j = best
    n = len(trace)
    if plain < s.bent_cancel * n * sigma ** 2 or rss2 > s.better * plain:
        return None
    out = [(0, Ramp(c1 * unit + spare / 2, float(e1[i, 0]), float(e1[i, 1]))),
           (1, Ramp(c2 * unit + spare / 2, float(e2[j, 0]), float(e2[j, 1])))]
    return sorted(out, key=lambda h: h[1].end)


def touch_by_hands(trace: list[tuple[float, float]], before: float,
                   counted: tuple[float, float], hands: list[tuple[float, float]],
                   unit: float, settings: RampSettings | None = None) -> int | None:
    """Two hands in two lanes whose beam split gave them whole counts the opposite way
    (`counted` grams, a pick and a return): or one of them a hand resting on the items
    (pressing, lifting one partly) while the other moved the episode's whole net change?
    A touch moves the weight by a fraction of a unit (at most `touch_max` of one) and
    back, inside its own hand's break; the other hand's change is a ramp inside its
    break. Either hand may be the touch (one the split gave at most `touch_counted`
    units): the split gives a touch one unit against the net change, or, when the
    touch's break ends last or starts first, the net change and one more (the picker
    then the unit against it). Returns the index of the touching hand when a touch and
    the net change explain the samples far better than the counted pair (the best of
    each: at most `better` of the pair's residual; a real pair the touch fits nearly as
    well stays a pair), else None. The touches are fitted on a coarse grid of ends; when
    that best touch is not enough, it is refined and taken if it holds (`_held_touch`)."""
    s = settings or RampSettings()
    fitted = _two_hands_of_units(trace, before, hands, unit, s)
    if fitted is None:
        return None
    t, y, period, ((e1, r1), (e2, r2)) = fitted
    pair, pi, pj = _best_pair(y, r1, r2, counted[0], counted[1])
    net = counted[0] + counted[1]
    best: tuple[float, int, Array] | None = None  # rss, toucher, start of the refined fit
    for toucher, (eo, other) in ((0, (e2, r2)), (1, (e1, r1))):
        if abs(counted[toucher]) > s.touch_counted * unit:
            continue  # a hand given three units or more moved items
        a, b = hands[toucher]
        a, b = max(a, float(t[0])), min(b, float(t[-1]))
        ends, shapes = _touch_ends(t, a, b, period, s.touch_points)
        if not shapes.size:
            continue
        rest = y[None, :] - net * other  # rows: the other hand's ramps
        ss = np.einsum("ij,ij->i", shapes, shapes)
        ok = ss > 1e-9
        shapes, ss, ends = shapes[ok], ss[ok], ends[ok]
        if not ss.size:
            continue
        dot = shapes @ rest.T  # (touches, other ramps)
        depth = np.clip(dot / ss[:, None], -s.touch_max * unit, s.touch_max * unit)
        rss = (np.einsum("ij,ij->i", rest, rest)[None, :] - 2 * depth * dot
               + depth * depth * ss[:, None])
        ti, oj = divmod(int(np.argmin(rss)), rss.shape[1])
        r = float(rss[ti, oj])
        if best is None or r < best[0]:
            best = (r, toucher, np.concatenate([ends[ti], eo[oj]]))
    if best is None:
        return None
    if best[0] <= s.better * pair:
        return best[1]
    if s.touch_held <= 0:
        return None
    start = np.concatenate([e1[pi], e2[pj]])
    return best[1] if _held_touch(t, y, period, hands, counted, unit, best[1], best[2],
                                  start, s) else None


def _touch_ends(t: Array, a: float, b: float, period: float, points: int
                ) -> tuple[Array, Array]:
    """Candidate touches of one hand (rows: shapes over the samples `t`, one unit deep): a
    hand resting on the items inside its beam break [a, b] moves the weight away and
    back, a unit ramp in minus a later unit ramp out, all four ends inside the break on a
    grid of about half a sample period (at most `points` of them). Returns (ends, shapes),
    the ends' rows: in from, in to, out from, out to."""
    ends, ramps = _hand_ramps(t, a, b, period, points)
    i, j = np.nonzero(ends[:, 1][:, None] <= ends[:, 0][None, :])  # in ends, then out
    out: Array = ramps[i] - ramps[j]
    return np.column_stack([ends[i], ends[j]]), out


def _held_touch(t: Array, y: Array, period: float, hands: list[tuple[float, float]],
                counted: tuple[float, float], unit: float, toucher: int, touch: Array,
                pair: Array, s: RampSettings) -> bool:
    """A touch by hand `toucher` beside the other hand's net change, and the counted pair,
    each refined from the coarse grid's best (`touch`: the touch's four ends and the other
    ramp's two; `pair`: the pair's four ends), every end inside its own hand's break. A
    touch when it explains the samples to within `fit_within` noise variances a sample,
    leaves at most `better` of the pair's residual (`_touch_ratio`: `touch_against` for
    a toucher counted two units against the net change), and holds still (between its
    ramp in and its ramp out) for at least `touch_held` sample periods: a hand resting on the
    items holds its fraction of a unit; the best touch through a real pick and return
    (two ramps the other way) is a peak, not a hold."""
    lo, hi = float(t[0]), float(t[-1])
    (a1, b1), (a2, b2) = [(max(a, lo), min(b, hi)) for a, b in hands]
    g1, g2 = counted
    sigma = max(s.noise_floor_g, float(np.std(y[-5:])))  # the settled samples' noise

    def pair_cost(p: Array) -> Array:
        out = _two(t, y, g1, g2, p)
        inside = (p[:, 0] >= a1) & (p[:, 1] <= b1) & (p[:, 2] >= a2) & (p[:, 3] <= b2)
        return np.where(inside, out, np.inf)

    (ta, tb), (oa, ob) = ((a1, b1), (a2, b2)) if toucher == 0 else ((a2, b2), (a1, b1))
    deepest, net = s.touch_max * unit, g1 + g2

    def touch_cost(p: Array) -> Array:
        out = _touch_beside_rss(t, y, net, deepest, p)
        inside = ((p[:, 0] >= ta) & (p[:, 3] <= tb) & (p[:, 1] <= p[:, 2])
                  & (p[:, 4] >= oa) & (p[:, 5] <= ob))
        return np.where(inside, out, np.inf)

    step, last = period / s.grid, period / s.fine
    best = _refine(touch, lo, hi, step, last, touch_cost)
    rss = float(touch_cost(best[None, :])[0])
    if rss > s.fit_within * y.size * sigma ** 2 or best[2] - best[1] < s.touch_held * period:
        return False
    counted_rss = float(pair_cost(_refine(pair, lo, hi, step, last, pair_cost)[None, :])[0])
    return rss <= _touch_ratio(counted, toucher, unit, s) * counted_rss


def _touch_ratio(counted: tuple[float, float], toucher: int, unit: float,
                 s: RampSettings) -> float:
    """The share of the counted pair's residual a held touch may leave: `better`, or
    `touch_against` when the split gave the toucher two units or more against the net
    change (a pick of n + 2 and a return of 2 at once is far rarer than a touch)."""
    net = counted[0] + counted[1]
    mine = counted[toucher]
    if s.touch_against > 0 and mine * net < 0 and abs(mine) >= 1.5 * unit:
        return max(s.better, s.touch_against)
    return s.better


def touches_by_hands(trace: list[tuple[float, float]], before: float,
                     counted: tuple[float, float], hands: list[tuple[float, float]],
                     unit: float, settings: RampSettings | None = None) -> bool:
    """Two hands in two lanes whose beam split gave them a unit each way (`counted` grams)
    while the weight came back: or two hands resting on the items, a touch in each lane
    (`_two_touches_held`, with the counted pair's best ramps off the grid)? False unless
    `touch_cancel` and `touch_held` are on."""
    s = settings or RampSettings()
    if not s.touch_cancel or s.touch_held <= 0:
        return False
    fitted = _two_hands_of_units(trace, before, hands, unit, s)
    if fitted is None:
        return False
    t, y, period, ((e1, r1), (e2, r2)) = fitted
    _, i, j = _best_pair(y, r1, r2, counted[0], counted[1])
    return _two_touches_held(t, y, period, hands, counted, np.concatenate([e1[i], e2[j]]),
                             unit, s)


def _two_depths_rss(yy: float, uy: Array, vy: Array, uu: Array, vv: Array, uv: Array,
                    deepest: float) -> Array:
    """The residual of samples (`yy` their sum of squares) less two shapes `u` and `v` at
    their depths fitted together (least squares, then each clipped to at most `deepest`
    grams either way), from the dot products (arrays that broadcast together)."""
    det = np.maximum(uu * vv - uv * uv, 1e-9)
    du = np.clip((vv * uy - uv * vy) / det, -deepest, deepest)
    dv = np.clip((uu * vy - uv * uy) / det, -deepest, deepest)
    out: Array = (yy - 2 * du * uy - 2 * dv * vy + du * du * uu + dv * dv * vv
                  + 2 * du * dv * uv)
    return out


def _two_touches_rss(t: Array, y: Array, deepest: float, p: Array) -> Array:
    """Each row of `p`'s residual for two touches (ends `p[:, 0:4]` and `p[:, 4:8]`),
    their depths fitted together (`_two_depths_rss`)."""
    u = _ramps(t, p[:, 0], p[:, 1]) - _ramps(t, p[:, 2], p[:, 3])
    v = _ramps(t, p[:, 4], p[:, 5]) - _ramps(t, p[:, 6], p[:, 7])
    return _two_depths_rss(float(y @ y), u @ y, v @ y, np.einsum("ij,ij->i", u, u),
                           np.einsum("ij,ij->i", v, v), np.einsum("ij,ij->i", u, v), deepest)


def _refine_by_twos(ends: Array, lo: float, hi: float, step: float, last: float,
                    cost: Callable[[Array], Array], rounds: int = 2) -> Array:
    """`_refine` of many ramps' ends (`ends`: start, end of each ramp in turn), two ramps'
    ends at a time (every move of all of them at once is too many moves), each two in
    turn, `rounds` times round (one ramp's best place moves with another's)."""
    for _ in range(rounds):
        for r1, r2 in itertools.combinations(range(ends.size // 2), 2):
            cols = np.array([2 * r1, 2 * r1 + 1, 2 * r2, 2 * r2 + 1])

            def cost4(q: Array, cols: Array = cols, base: Array = ends) -> Array:
                p = np.repeat(base[None, :], q.shape[0], axis=0)
                p[:, cols] = q
                return cost(p)

            ends = ends.copy()
            ends[cols] = _refine(ends[cols], lo, hi, step, last, cost4)
    return ends


def _two_touches_held(t: Array, y: Array, period: float, hands: list[tuple[float, float]],
                      counted: tuple[float, float], pair: Array, unit: float,
                      s: RampSettings) -> bool:
    """Two hands counted a pick and a return at once (`counted` grams, the pair's ends
    `pair` off the grid): or a touch in each hand's break (overlapping touches in two lanes
    look like an excursion and back)? Each touch is sought on the coarse grid of
    `_touch_ends` (every pair of the two grids' touches), then all eight ends are refined
    together (`_refine` over each two of the four ramps in turn, twice round: one touch's
    way out and the other's way in may overlap). Two touches when they explain the samples
    to within `fit_within` noise variances a sample, each holds for at least `touch_held`
    sample periods and together they leave at most `better` of the refined pair's residual
    (as `_held_touch` for one touch)."""
    lo, hi = float(t[0]), float(t[-1])
    brk = [(max(a, lo), min(b, hi)) for a, b in hands]
    step, last = period / s.grid, period / s.fine
    sigma = max(s.noise_floor_g, float(np.std(y[-5:])))  # the settled samples' noise
    rss, held = _two_touches_refined(t, y, period, brk, unit, s)
    if rss > s.fit_within * y.size * sigma ** 2 or held < s.touch_held:
        return False
    bounds = np.array([brk[0], brk[0], brk[1], brk[1]])

    def pair_cost(p: Array) -> Array:
        return _inside(p, bounds, _two(t, y, counted[0], counted[1], p))

    counted_rss = float(pair_cost(_refine(pair, lo, hi, step, last, pair_cost)[None, :])[0])
    return rss <= s.better * counted_rss


def _touch_beside_rss(t: Array, y: Array, net: float, deepest: float, p: Array) -> Array:
    """Each row of `p`'s residual sum of squares for a touch (a rise over `p[:, 0:2]`, a
    fall over `p[:, 2:4]`, its depth fitted, at most `deepest`) beside another hand's ramp
    of the whole `net` change over `p[:, 4:6]`."""
    return _touch_among_rss(t, y, (net,), deepest, p)


def _left(t: Array, y: Array, grams: tuple[float, ...], p: Array) -> Array:
    """The samples less ramps of `grams` (rows: candidates; ramp h from `p[:, 2h]` to
    `p[:, 2h + 1]`)."""
    left = np.repeat(y[None, :], p.shape[0], axis=0)
    for h, g in enumerate(grams):
        left -= g * _ramps(t, p[:, 2 * h], p[:, 2 * h + 1])
    return left


def _ramps_rss(t: Array, y: Array, grams: tuple[float, ...], p: Array) -> Array:
    """Each row of `p`'s residual sum of squares for ramps of `grams` (`_left`)."""
    left = _left(t, y, grams, p)
    out: Array = np.einsum("ij,ij->i", left, left)
    return out


def _touch_among_rss(t: Array, y: Array, grams: tuple[float, ...], deepest: float,
                     p: Array) -> Array:
    """Each row of `p`'s residual sum of squares for a touch (a rise over `p[:, 0:2]`, a
    fall over `p[:, 2:4]`, its depth fitted, at most `deepest`) beside other hands' ramps
    of `grams` over `p[:, 4:]` (two ends each)."""
    shape = _ramps(t, p[:, 0], p[:, 1]) - _ramps(t, p[:, 2], p[:, 3])
    left = _left(t, y, grams, p[:, 4:])
    sq = np.maximum(np.einsum("ij,ij->i", shape, shape), 1e-9)
    dot = np.einsum("ij,ij->i", shape, left)
    depth = np.clip(dot / sq, -deepest, deepest)
    out: Array = np.einsum("ij,ij->i", left, left) - 2 * depth * dot + depth * depth * sq
    return out


def _inside(p: Array, bounds: Array, cost: Array) -> Array:
    """`cost`, or infinity for the rows of `p` with an end outside its `bounds` (rows:
    each parameter's lowest and highest value)."""
    ok = np.all((p >= bounds[:, 0] - 1e-9) & (p <= bounds[:, 1] + 1e-9), axis=1)
    out: Array = np.where(ok, cost, np.inf)
    return out


def touch_by_hands_fine(trace: list[tuple[float, float]], before: float,
                        counted: tuple[float, float], hands: list[tuple[float, float]],
                        unit: float, settings: RampSettings | None = None) -> int | None:
    """`touch_by_hands` with both explanations refined off their grids: the counted pair
    (each hand's ramp, ends inside its own break) and each touch beside the other hand's
    ramp of the whole net change (the touch's four ends and the ramp's two at once), each
    from its grid's best by the pattern search `split` uses. A touch rises and falls in
    0.2-0.6 s, about two samples: the touch grid (`touch_points` ends over a break of a
    few seconds) is coarser than that, so a touch the grid misses by a fraction of a
    sample leaves tens of noise variances, and the counted pair looked better. Returns the
    touching hand's index when the best touch leaves at most `better` of the pair's
    residual, else None."""
    s = settings or RampSettings()
    fitted = _two_hands_of_units(trace, before, hands, unit, s)
    if fitted is None:
        return None
    t, y, period, ((e1, r1), (e2, r2)) = fitted
    lo, hi = float(t[0]), float(t[-1])
    brk = [(max(a, lo), min(b, hi)) for a, b in hands]
    g1, g2 = counted
    net = g1 + g2
    splits = [(g1, g2)]
    if g1 * g2 > 0:  # the same way: two changes at their best split of the whole count
        n = round(net / unit)  # (the beam split may have given the larger to either)
        half = (net - n * unit) / 2
        step = 1 if n > 0 else -1
        splits += [(k * unit + half, (n - k) * unit + half) for k in range(step, n, step)
                   if (k * unit + half, (n - k) * unit + half) != (g1, g2)]
    bounds = np.array([brk[0], brk[0], brk[1], brk[1]])
    pair = math.inf
    for h1, h2 in splits:
        _, i, j = _best_pair(y, r1, r2, h1, h2)

        def pair_cost(p: Array, h1: float = h1, h2: float = h2) -> Array:
            return _inside(p, bounds, _two(t, y, h1, h2, p))

        seed = np.array([e1[i, 0], e1[i, 1], e2[j, 0], e2[j, 1]])
        ends = _refine(seed, lo, hi, period / s.grid, period / s.fine, pair_cost)
        pair = min(pair, float(pair_cost(ends[None, :])[0]))
    deepest = s.touch_max * unit
    best: tuple[float, int] | None = None
    for toucher, (eo, ro) in ((0, (e2, r2)), (1, (e1, r1))):
        if abs(counted[toucher]) > s.touch_counted * unit:
            continue  # a hand given three units or more moved items
        a, b = brk[toucher]
        ins, _ = _hand_ramps(t, a, b, period, s.touch_points)
        k, m = np.nonzero(ins[:, 1][:, None] <= ins[:, 0][None, :])  # in ends, then out
        if not k.size:
            continue
        quads = np.column_stack([ins[k], ins[m]])
        shapes = _ramps(t, quads[:, 0], quads[:, 1]) - _ramps(t, quads[:, 2], quads[:, 3])
        ss = np.maximum(np.einsum("ij,ij->i", shapes, shapes), 1e-9)
        rest = y[None, :] - net * ro  # rows: the other hand's ramps
        dot = shapes @ rest.T
        depth = np.clip(dot / ss[:, None], -deepest, deepest)
        rss = (np.einsum("ij,ij->i", rest, rest)[None, :] - 2 * depth * dot
               + depth * depth * ss[:, None])
        q, o = divmod(int(np.argmin(rss)), rss.shape[1])
        box = np.array([brk[toucher]] * 4 + [brk[1 - toucher]] * 2)

        def touch_cost(p: Array, box: Array = box) -> Array:
            out = _touch_beside_rss(t, y, net, deepest, p)
            return _inside(p, box, np.where(p[:, 1] <= p[:, 2], out, np.inf))

        seed = np.concatenate([quads[q], eo[o]])
        got = _refine(seed, lo, hi, period / s.grid, period / s.fine, touch_cost)
        r = float(touch_cost(got[None, :])[0])
        if best is None or r < best[0]:
            best = (r, toucher)
    if best is None or best[0] > s.better * pair:
        return None
    return best[1]


def _break_ramps(t: Array, hands: list[tuple[float, float]]) -> Array:
    """Each hand's change as a unit ramp over its whole beam break (rows: hands)."""
    return _ramps(t, np.array([a for a, _ in hands]), np.array([b for _, b in hands]))


def _whole_counts(fit: Array, unit: float, n_total: int) -> Array:
    """The whole counts nearest the fitted grams that add up to `n_total` (the count
    furthest from its fit nudged first, as the beam split does)."""
    units = fit / unit
    counts = np.round(units)
    while int(counts.sum()) != n_total:
        step = 1 if counts.sum() < n_total else -1
        i = int(np.argmax(step * (units - counts)))
        counts[i] += step
    return counts


@dataclass(frozen=True)
class _AmongTouch:
    """One hand of several taken for a touch by the coarse fit of `touch_among_hands`:
    its residual there, the hand, every hand's new count (the toucher's 0) and the
    touch's four ends on the grid (in from, in to, out from, out to)."""

    rss: float
    toucher: int
    counts: list[int]
    ends: Array


def _counts_grams(counts: Array, total: float, unit: float) -> Array:
    """Each hand's grams for whole `counts` adding up to the episode's `total` grams: the
    grams the counts leave are shared among the hands that moved items."""
    moved = max(1, int(np.count_nonzero(counts)))
    spare = (total - float(np.sum(counts)) * unit) / moved
    out: Array = counts * unit + np.where(counts != 0, spare, 0.0)
    return out


def touch_among_hands(trace: list[tuple[float, float]], before: float, after: float,
                      unit: float, hands: list[tuple[float, float]], counts: list[int],
                      settings: RampSettings | None = None) -> tuple[int, list[int]] | None:
    """Three hands or more in one episode whose beam split gave them counts both ways (a
    pick and a return): or one of them a hand resting on the items (pressing, lifting one
    partly) while the others moved the whole change? As `touch_by_hands` for two, with
    each other hand's change a ramp over its whole break: the toucher (given at most
    `touch_counted` units) moves the weight away by at most `touch_max` of a unit and
    back inside its break, the others' counts are refitted without it. Returns the
    touching hand's index and the new counts when that explains the samples far better
    than the counted split (at most `better` of its residual); when it does not, each
    such touch is refined and taken if it holds (`touch_among_held`,
    `_touch_among_held`); else None."""
    s = settings or RampSettings()
    k = len(hands)
    if k < 3 or len(trace) < 8 or unit <= 0:
        return None
    t = retime(np.array([p[0] for p in trace], dtype=np.float64))
    y = np.array([p[1] for p in trace], dtype=np.float64) - before
    period = float(np.median(np.diff(t)))
    if period <= 0:
        return None
    basis = _break_ramps(t, hands)  # (hands, samples)
    total = after - before
    n_total = round(total / unit)
    c = np.array(counts, dtype=np.float64)
    counted_grams = _counts_grams(c, total, unit)
    counted = y - counted_grams @ basis
    rss_counted = float(counted @ counted)
    tries: list[_AmongTouch] = []
    for i in range(k):
        if not counts[i] or abs(counts[i]) > s.touch_counted:
            continue
        a, b = max(hands[i][0], float(t[0])), min(hands[i][1], float(t[-1]))
        if b - a < period:
            continue
        ends, shapes = _touch_ends(t, a, b, period, s.touch_points)
        ss = np.einsum("ij,ij->i", shapes, shapes) if shapes.size else np.zeros(0)
        ends, shapes, ss = ends[ss > 1e-9], shapes[ss > 1e-9], ss[ss > 1e-9]
        if not ss.size:
            continue
        others = np.delete(basis, i, axis=0)
        grams = np.asarray(np.linalg.lstsq(others.T, y, rcond=None)[0], dtype=np.float64)
        for _ in range(2):  # the others' counts, then the touch on what they leave
            new = _whole_counts(grams, unit, n_total)
            rest = y - _counts_grams(new, total, unit) @ others
            dot = shapes @ rest
            depth = np.clip(dot / ss, -s.touch_max * unit, s.touch_max * unit)
            rss = float(rest @ rest) - 2 * depth * dot + depth * depth * ss
            j = int(np.argmin(rss))
            touch = depth[j] * shapes[j]
            grams = np.asarray(np.linalg.lstsq(others.T, y - touch, rcond=None)[0],
                               dtype=np.float64)
        tries.append(_AmongTouch(float(rss[j]), i, [int(v) for v in np.insert(new, i, 0.0)],
                                 ends[j]))
    if not tries:
        return None
    best = min(tries, key=lambda m: m.rss)
    if best.rss <= s.better * rss_counted:
        return best.toucher, best.counts
    if not s.touch_among_held or s.touch_held <= 0:
        return None
    held = _touch_among_held(t, y, period, hands, counted_grams, total, unit, best, s)
    return None if held is None else (best.toucher, held)


def _touch_among_held(t: Array, y: Array, period: float, hands: list[tuple[float, float]],
                      counted: Array, total: float, unit: float, touch: _AmongTouch,
                      s: RampSettings) -> list[int] | None:
    """Several hands, one of which the coarse fit took for a `touch` that explained the
    samples only roughly: the touch with the other moving hands' ramps, and the counted
    split (`counted` grams a hand) with every moving hand's ramp, each refined inside the
    hands' breaks (`_refine_by_twos`). The others' counts are weighed again on the refined
    ramps (ramps over whole breaks can put a unit in the wrong hand) and, if they change,
    refined with those. A touch when it explains the samples to within `fit_within` noise
    variances a sample, holds still for `touch_held` sample periods and leaves at most
    `better` of the counted split's residual (as `_held_touch` for two): every hand's new
    count (the toucher's 0), else None."""
    lo, hi = float(t[0]), float(t[-1])
    brk = [(max(a, lo), min(b, hi)) for a, b in hands]
    sigma = max(s.noise_floor_g, float(np.std(y[-5:])))  # the settled samples' noise
    counts = np.array(touch.counts, dtype=np.float64)
    rss, ends = _touch_among_refined(t, y, period, brk, counts, total, unit, touch.toucher,
                                     touch.ends, s)
    again = _among_counts(t, y, ends, counts, round(total / unit), unit)
    if not np.array_equal(again, counts):
        rss2, ends2 = _touch_among_refined(t, y, period, brk, again, total, unit,
                                           touch.toucher, ends[:4], s)
        if rss2 < rss:
            rss, ends, counts = rss2, ends2, again
    if rss > s.fit_within * y.size * sigma ** 2 or ends[2] - ends[1] < s.touch_held * period:
        return None
    if rss > s.better * _counted_refined(t, y, period, brk, counted, s):
        return None
    return [int(v) for v in counts]


def _touch_among_refined(t: Array, y: Array, period: float, brk: list[tuple[float, float]],
                         counts: Array, total: float, unit: float, toucher: int,
                         touch: Array, s: RampSettings) -> tuple[float, Array]:
    """A touch by hand `toucher` (from the ends `touch`) beside the other hands' ramps of
    whole `counts` (from their whole breaks `brk`), refined inside the breaks: the
    residual and the ends (the touch's four, then two for each hand that moved items)."""
    grams = _counts_grams(counts, total, unit)
    movers = [h for h in range(len(brk)) if grams[h] != 0]
    box = np.array([brk[toucher]] * 4 + [brk[h] for h in movers for _ in range(2)])
    moved = tuple(float(grams[h]) for h in movers)

    def cost(p: Array) -> Array:
        out = _touch_among_rss(t, y, moved, s.touch_max * unit, p)
        return _inside(p, box, np.where(p[:, 1] <= p[:, 2], out, np.inf))

    start = np.concatenate([touch, np.array([e for h in movers for e in brk[h]])])
    ends = _refine_by_twos(start, float(t[0]), float(t[-1]), period / s.grid,
                           period / s.fine, cost)
    return float(cost(ends[None, :])[0]), ends


def _among_counts(t: Array, y: Array, ends: Array, counts: Array, n_total: int,
                  unit: float) -> Array:
    """The moving hands' whole counts (adding up to `n_total`) weighed again by least
    squares on their refined ramps and the touch's shape (`ends`: as
    `_touch_among_refined` returns them, for the hands with `counts`)."""
    movers = np.nonzero(counts)[0]
    cols = [_ramps(t, ends[0:1], ends[1:2])[0] - _ramps(t, ends[2:3], ends[3:4])[0]]
    cols += [_ramps(t, ends[4 + 2 * k:5 + 2 * k], ends[5 + 2 * k:6 + 2 * k])[0]
             for k in range(movers.size)]
    fitted = np.linalg.lstsq(np.array(cols).T, y, rcond=None)[0][1:]
    out = np.zeros_like(counts)
    out[movers] = _whole_counts(np.asarray(fitted, dtype=np.float64), unit, n_total)
    return out


def _counted_refined(t: Array, y: Array, period: float, brk: list[tuple[float, float]],
                     counted: Array, s: RampSettings) -> float:
    """The residual of the counted split (`counted` grams a hand), every moving hand's
    ramp refined inside its break from the whole break."""
    movers = [h for h in range(len(brk)) if counted[h] != 0]
    bounds = np.array([brk[h] for h in movers for _ in range(2)])
    moved = tuple(float(counted[h]) for h in movers)

    def cost(p: Array) -> Array:
        return _inside(p, bounds, _ramps_rss(t, y, moved, p))

    start = np.array([e for h in movers for e in brk[h]])
    fitted = _refine_by_twos(start, float(t[0]), float(t[-1]), period / s.grid,
                             period / s.fine, cost)
    return float(cost(fitted[None, :])[0])


def counts_by_ramps(trace: list[tuple[float, float]], before: float, after: float,
                    unit: float, hands: list[tuple[float, float]], units: list[float],
                    counts: list[int], settings: RampSettings | None = None
                    ) -> list[int] | None:
    """The beam split's whole `counts` (from its fitted `units`, a hand each) weighed
    again where they are in doubt: each hand whose fitted units lie within `counts_doubt`
    of half way between two counts may have either (the others keep theirs); every such
    split adding up to the episode's total is fitted with each moving hand's ramp refined
    inside its beam break (from the whole break), and the best is returned when it leaves
    at most `counts_better` of the residual `counts` leave. None when nothing is in doubt
    (or more than `counts_hands` hands are), when a break is shorter than a sample
    period, or when the counts stand. Raises nothing; bad input gives None."""
    s = settings or RampSettings()
    k = len(hands)
    if s.counts_doubt <= 0 or k < 2 or len(units) != k or len(counts) != k \
            or len(trace) < 8 or unit <= 0:
        return None
    n_total = round((after - before) / unit)
    options: list[list[int]] = []
    for u, c in zip(units, counts, strict=True):
        low = math.floor(u)
        doubt = abs(u - low - 0.5) < s.counts_doubt
        # never a count against the net change the beam split did not give (a pick and
        # a return fit any samples better than one ramp: two more ramps' freedom)
        either = [v for v in (low, low + 1) if v * n_total >= 0 or v == c]
        options.append(sorted({*either, c}) if doubt else [c])
    if not 1 <= sum(len(o) > 1 for o in options) <= s.counts_hands:
        return None
    cands = [list(c) for c in itertools.product(*options) if sum(c) == n_total]
    if len(cands) < 2 or counts not in cands:
        return None
    t = retime(np.array([p[0] for p in trace], dtype=np.float64))
    y = np.array([p[1] for p in trace], dtype=np.float64) - before
    period = float(np.median(np.diff(t)))
    lo, hi = float(t[0]), float(t[-1])
    brk = [(max(a, lo), min(b, hi)) for a, b in hands]
    if period <= 0 or any(b - a < period for a, b in brk):
        return None
    total = after - before
    scored = [(_counts_refined(t, y, period, brk, _counts_grams(
        np.array(c, dtype=np.float64), total, unit), s), c) for c in cands]
    rss, best = min(scored, key=lambda x: x[0])
    here = next(r for r, c in scored if c == counts)
    return best if best != counts and rss < s.counts_better * here else None


def _counts_refined(t: Array, y: Array, period: float, brk: list[tuple[float, float]],
                    counted: Array, s: RampSettings) -> float:
    """`_counted_refined`, also for one moving hand (its ramp refined alone) or none."""
    movers = [h for h in range(len(brk)) if counted[h] != 0]
    if len(movers) >= 2:
        return _counted_refined(t, y, period, brk, counted, s)
    if not movers:
        return float(y @ y)
    h = movers[0]
    bounds = np.array([brk[h], brk[h]])
    grams = (float(counted[h]),)

    def cost(p: Array) -> Array:
        return _inside(p, bounds, _ramps_rss(t, y, grams, p))

    fitted = _refine(np.array(brk[h], dtype=np.float64), brk[h][0], brk[h][1],
                     period / s.grid, period / s.fine, cost)
    return float(cost(fitted[None, :])[0])


def cancel_near(trace: list[tuple[float, float]], before: float, after: float, unit: float,
                hands: list[tuple[float, float]], settings: RampSettings | None = None
                ) -> list[tuple[int, Ramp]] | None:
    """A pick and a return at once by two hands in two lanes whose breaks overlap, their
    weights nearly cancelling (the ramps start and end close together, so the weight
    barely moves): a unit ramp each way, with free ends inside its own hand's break,
    refined off the coarse grid (`cancel_by_hands`' pair). Taken, as (hand index, ramp) in
    the order the ramps ended, when the weight moved at least `cancel_near` noise sigmas
    away (held two samples), the pair explains the samples to within `fit_within` noise
    variances a sample and leaves at most `near_better` of the best of a touch in either
    hand's break and a touch in each (refined; held or not: a pair of hands resting on
    the items is the likelier story whenever it fits about as well). None otherwise, or
    when `cancel_near` is off, there are not exactly two hands, their breaks do not
    overlap or the weight did not come back."""
    s = settings or RampSettings()
    if s.cancel_near <= 0 or len(hands) != 2 or len(trace) < 8 or unit <= 0:
        return None
    (a1, b1), (a2, b2) = hands
    if not (a1 < b2 and a2 < b1):
        return None
    total = after - before
    if abs(total) >= unit / 2:
        return None
    fitted = _two_hands(trace, before, hands, s.hand_points)
    if fitted is None:
        return None
    t, y, period, ((e1, r1), (e2, r2)) = fitted
    sigma = max(s.noise_floor_g, float(np.std(y[-5:])))  # the settled samples' noise
    if _turn(y - total * (t >= t[-1]), 0.0) < s.cancel_near * sigma:
        return None
    lo, hi = float(t[0]), float(t[-1])
    brk = [(max(a, lo), min(b, hi)) for a, b in hands]
    step, last = period / s.grid, period / s.fine
    bounds = np.array([brk[0], brk[0], brk[1], brk[1]])
    best: tuple[float, int, Array] | None = None
    for c1 in (1, -1):  # hand 1's units (hand 2 moves the other way)
        g = (c1 * unit + total / 2, -c1 * unit + total / 2)
        _, i, j = _best_pair(y, r1, r2, g[0], g[1])

        def pair_cost(p: Array, g: tuple[float, float] = g) -> Array:
            return _inside(p, bounds, _two(t, y, g[0], g[1], p))

        ends = _refine(np.concatenate([e1[i], e2[j]]), lo, hi, step, last, pair_cost)
        rss = float(pair_cost(ends[None, :])[0])
        if best is None or rss < best[0]:
            best = (rss, c1, ends)
    assert best is not None
    rss2, c1, ends = best
    if rss2 > s.fit_within * y.size * sigma ** 2:
        return None
    deepest = s.touch_max * unit
    # the touches that explain the samples: each holds still for `touch_held` periods (a
    # hand resting on the items holds; the best touches through two nearly cancelling
    # ramps are peaks, in and straight out)
    touches = [_touch_fit(t, y, a, b, period, deepest, s) for a, b in brk]
    held = [rss for rss, e in touches if e[2] - e[1] >= s.touch_held * period]
    two, two_held = _two_touches_refined(t, y, period, brk, unit, s)
    if two_held >= s.touch_held:
        held.append(two)
    if held and rss2 > s.near_better * min(held):
        return None
    out = [(0, Ramp(c1 * unit + total / 2, float(ends[0]), float(ends[1]))),
           (1, Ramp(-c1 * unit + total / 2, float(ends[2]), float(ends[3])))]
    return sorted(out, key=lambda h: h[1].end)


def _two_touches_refined(t: Array, y: Array, period: float, brk: list[tuple[float, float]],
                         unit: float, s: RampSettings) -> tuple[float, float]:
    """The residual of the best two touches, one inside each break of `brk` (clipped to
    the samples): each touch sought on the coarse grid of `_touch_ends` (every pair of the
    two grids' touches, depths fitted together), then all eight ends refined together
    (`_refine_by_twos`: one touch's way out and the other's way in may overlap); and the
    shorter of their holds in sample periods. (infinity, 0) when a break is too short for
    a touch."""
    if any(b - a < period for a, b in brk):
        return math.inf, 0.0
    deepest = s.touch_max * unit
    (q1, u), (q2, v) = [_touch_ends(t, a, b, period, s.touch_points) for a, b in brk]
    if not (q1.size and q2.size):
        return math.inf, 0.0
    grid = _two_depths_rss(float(y @ y), (u @ y)[:, None], (v @ y)[None, :],
                           np.einsum("ij,ij->i", u, u)[:, None],
                           np.einsum("ij,ij->i", v, v)[None, :], u @ v.T, deepest)
    i, j = divmod(int(np.argmin(grid)), grid.shape[1])
    box = np.array([brk[0]] * 4 + [brk[1]] * 4)

    def cost8(p: Array) -> Array:
        ok = (p[:, 1] <= p[:, 2]) & (p[:, 5] <= p[:, 6])
        return _inside(p, box, np.where(ok, _two_touches_rss(t, y, deepest, p), np.inf))

    ends = _refine_by_twos(np.concatenate([q1[i], q2[j]]), float(t[0]), float(t[-1]),
                           period / s.grid, period / s.fine, cost8)
    held = min(ends[2] - ends[1], ends[6] - ends[5]) / period
    return float(cost8(ends[None, :])[0]), float(held)
