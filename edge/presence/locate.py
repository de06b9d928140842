"""Where a beacon is: zone probabilities from what every receiver hears of it.

Two locators share one interface (`Locator.update`):

- `GridLocator`, when the config gives the receivers' positions and the zones' areas (a floor
  plan, as ESPresense's companion uses): a Bayes filter over a grid of 0.5 m cells. Each
  update spreads the belief by how far a shopper can walk (the motion model), then weighs
  every cell by how well a log-distance path-loss model explains the filtered RSSI of every
  receiver that hears the beacon. The beacon's own level at 1 m is unknown for most devices,
  so it is estimated per cell with a Gaussian prior around the configured value (a profile
  likelihood), which makes the filter depend on the differences between receivers more than
  on absolute levels. The zone probability is the belief summed over the zone's cells.
- `StrongestLocator`, without a floor plan: the receiver with the strongest filtered RSSI
  votes for its zone, softened into probabilities by the level differences.

Both are pure numpy over the numbers they are given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RadioModel:
    """The log-distance path-loss model: rssi = level_1m - 10 n log10(d) + noise."""

    level_1m: float = -59.0  # the beacon's RSSI at 1 m when its frame does not say
    path_loss_n: float = 2.5
    sigma_db: float = 5.0  # one filtered RSSI's spread around the model (shadowing, noise)
    level_sigma_db: float = 6.0  # the prior spread of a device's own level at 1 m ...
    stated_level_sigma_db: float = 3.0  # ... and of a beacon's that states it in its frame
    walk_m_per_s: float = 1.0  # how fast a shopper moves (the motion model)
    jump: float = 0.002  # per update, the share of belief spread over the whole store
    cell_m: float = 1.0  # the grid's cell size; a cell across a zone edge is shared by area


@dataclass(frozen=True)
class ReceiverPlace:
    id: str
    zone: str
    x: float
    y: float


@dataclass(frozen=True)
class ZoneArea:
    id: str
    x0: float
    y0: float
    x1: float
    y1: float


class Locator(Protocol):
    """Zone probabilities for many beacons at once, updated from the receivers' filtered
    levels. Beliefs are rows of a matrix, one per beacon: a tick updates every beacon heard
    in one batch of array operations."""

    zones: tuple[str, ...]

    def new_belief(self) -> Array:
        """The belief of a beacon just heard (one row)."""
        ...

    def update(self, beliefs: Array, levels: Array, level_1m: Array, dt: Array
               ) -> tuple[Array, Array]:
        """(new beliefs, zone probabilities): `beliefs` (beacons x states); `levels`
        (beacons x receivers) the filtered RSSI, NaN where a receiver did not hear the
        beacon; `level_1m` each beacon's RSSI at 1 m (NaN: unknown); `dt` the seconds since
        each beacon's last update. Probabilities are (beacons x zones), in `zones` order."""
        ...


class GridLocator:
    """A grid Bayes filter over the floor plan (see the module's docstring)."""

    def __init__(self, receivers: list[ReceiverPlace], areas: list[ZoneArea],
                 model: RadioModel) -> None:
        if not receivers or not areas:
            raise ValueError("a grid locator needs receivers and zone areas")
        self.model = model
        self.zones = tuple(a.id for a in areas)
        x0 = min(a.x0 for a in areas)
        y0 = min(a.y0 for a in areas)
        x1 = max(a.x1 for a in areas)
        y1 = max(a.y1 for a in areas)
        c = model.cell_m
        nx = max(1, math.ceil((x1 - x0) / c))
        ny = max(1, math.ceil((y1 - y0) / c))
        xs = x0 + (np.arange(nx) + 0.5) * c
        ys = y0 + (np.arange(ny) + 0.5) * c
        cx, cy = np.meshgrid(xs, ys)  # (ny, nx)
        self.shape = (ny, nx)
        # each zone's share of each cell (the first area listed wins where areas overlap)
        shares = np.zeros((len(areas), ny * nx))
        taken = np.zeros(ny * nx)
        for k, a in enumerate(areas):
            wx = np.clip(np.minimum(cx + c / 2, a.x1) - np.maximum(cx - c / 2, a.x0), 0, c)
            wy = np.clip(np.minimum(cy + c / 2, a.y1) - np.maximum(cy - c / 2, a.y0), 0, c)
            share = np.minimum((wx * wy).ravel() / (c * c), 1.0 - taken)
            shares[k] = share
            taken += share
        self.zone_masks_t: Array = shares.T.copy()  # (cells, zones)
        self.inside = taken > 1e-9
        d = np.stack([np.hypot(cx - r.x, cy - r.y).ravel() for r in receivers])  # (rx, cells)
        self.expected: Array = -10.0 * model.path_loss_n * np.log10(np.maximum(d, 1.0))
        self._expected_sq: Array = self.expected ** 2
        steps = model.walk_m_per_s / c  # cells per second
        self._blur_per_s = steps * steps  # the variance, in cells^2, one second adds
        uniform = self.inside.astype(np.float64)
        self._uniform: Array = uniform / uniform.sum()
        self._blurs: dict[int, tuple[Array, Array]] = {}

    def new_belief(self) -> Array:
        return self._uniform.copy()

    def _blur_matrices(self, passes: int) -> tuple[Array, Array]:
        """`passes` [1 2 1]/4 blurs along each axis (edges replicated), as one matrix per
        axis: the motion model is two small matrix products."""
        cached = self._blurs.get(passes)
        if cached is None:
            ny, nx = self.shape
            cached = (np.linalg.matrix_power(_blur_matrix(ny), passes),
                      np.linalg.matrix_power(_blur_matrix(nx), passes).T.copy())
            self._blurs[passes] = cached
        return cached

    def _spread(self, beliefs: Array, dt: Array) -> Array:
        """The motion model: a binomial blur whose variance grows with dt, kept inside the
        store, with a little belief spread everywhere (for a beacon that jumps)."""
        passes = np.clip(np.rint(2 * self._blur_per_s * dt), 1, 12).astype(np.int64)
        ny, nx = self.shape
        out = np.empty_like(beliefs)
        for p in np.unique(passes):
            rows = passes == p
            along_y, along_x = self._blur_matrices(int(p))
            grid = beliefs[rows].reshape(-1, ny, nx)
            out[rows] = (along_y @ grid @ along_x).reshape(-1, ny * nx)
        out *= self.inside
        total = out.sum(axis=1, keepdims=True)
        out = np.divide(out, total, out=np.tile(self._uniform, (len(out), 1)),
                        where=total > 0)
        j = self.model.jump
        spread: Array = (1 - j) * out + j * self._uniform
        return spread

    def update(self, beliefs: Array, levels: Array, level_1m: Array, dt: Array
               ) -> tuple[Array, Array]:
        m = self.model
        prior = self._spread(beliefs, dt)
        heard = ~np.isnan(levels)
        h = heard.astype(np.float64)
        stated = ~np.isnan(level_1m)
        base = np.where(stated, level_1m, m.level_1m)
        # the prior spread of the device's level: tight when its frame states it
        level_var = np.where(stated, m.stated_level_sigma_db, m.level_sigma_db)[:, None] ** 2
        obs = np.where(heard, levels - base[:, None], 0.0)  # (beacons, receivers)
        # residual r = obs - expected over the heard receivers, in matrix products:
        # sum r = sum obs - h @ E; sum r^2 = sum obs^2 - 2 obs @ E + h @ E^2
        k = h.sum(axis=1)[:, None]
        s1 = obs.sum(axis=1)[:, None] - h @ self.expected
        s2 = (obs ** 2).sum(axis=1)[:, None] - 2 * (obs @ self.expected) \
            + h @ self._expected_sq
        # the device's own level is unknown: the best offset per cell, with a Gaussian prior
        shrink = m.sigma_db ** 2 / level_var
        offset = s1 / (k + shrink)
        err = s2 - 2 * offset * s1 + k * offset ** 2
        loglik = -err / (2 * m.sigma_db ** 2) - offset ** 2 / (2 * level_var)
        loglik = np.where(self.inside, loglik, -np.inf)
        loglik -= loglik.max(axis=1, keepdims=True)
        post = prior * np.exp(np.maximum(loglik, -60.0))
        total = post.sum(axis=1, keepdims=True)
        posterior: Array = np.divide(post, total, out=prior.copy(), where=total > 0)
        probs: Array = posterior @ self.zone_masks_t
        return posterior, probs


def _blur_matrix(n: int) -> Array:
    """One [1 2 1]/4 pass over n cells as a matrix, the edge cell replicated."""
    m = np.zeros((n, n))
    for i in range(n):
        for j, w in ((i - 1, 0.25), (i, 0.5), (i + 1, 0.25)):
            m[i, min(max(j, 0), n - 1)] += w
    return m


class StrongestLocator:
    """No floor plan: the strongest receiver's zone, softened by the level differences."""

    def __init__(self, receivers: list[ReceiverPlace], zones: list[str],
                 model: RadioModel) -> None:
        self.zones = tuple(zones)
        self.model = model
        self._of_zone = np.array([[r.zone == z for z in self.zones] for r in receivers])

    def new_belief(self) -> Array:
        return np.full(len(self.zones), 1.0 / len(self.zones))

    def update(self, beliefs: Array, levels: Array, level_1m: Array, dt: Array
               ) -> tuple[Array, Array]:
        filled = np.where(np.isnan(levels), -np.inf, levels)  # (beacons, receivers)
        score = np.stack([np.where(self._of_zone[:, z], filled, -np.inf).max(axis=1)
                          for z in range(len(self.zones))], axis=1)  # (beacons, zones)
        heard = np.isfinite(score).any(axis=1)
        best = np.where(heard, score.max(axis=1), 0.0)[:, None]
        w = np.where(np.isfinite(score), np.exp((score - best) / self.model.sigma_db), 0.0)
        total = w.sum(axis=1, keepdims=True)
        probs: Array = np.divide(w, total, out=beliefs.copy(), where=total > 0)
        return probs, probs
