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
CELL_M = 0.5


@dataclass(frozen=True)
class RadioModel:
    """The log-distance path-loss model: rssi = level_1m - 10 n log10(d) + noise."""

    level_1m: float = -59.0  # the beacon's RSSI at 1 m when its frame does not say
    path_loss_n: float = 2.3
    sigma_db: float = 5.0  # one filtered RSSI's spread around the model (shadowing, noise)
    level_sigma_db: float = 6.0  # the prior spread of a device's own level at 1 m
    walk_m_per_s: float = 1.4  # how fast a shopper moves (the motion model)
    jump: float = 0.002  # per update, the share of belief spread over the whole store


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
    """Zone probabilities for one beacon, updated from the receivers' filtered levels."""

    zones: tuple[str, ...]

    def new_belief(self) -> Array: ...

    def update(self, belief: Array, levels: dict[int, float], level_1m: float | None,
               dt: float) -> tuple[Array, Array]:
        """(new belief, probability per zone in `zones` order). `levels` maps a receiver's
        index to its filtered RSSI; `dt` is the time since the last update, in seconds."""
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
        nx = max(1, math.ceil((x1 - x0) / CELL_M))
        ny = max(1, math.ceil((y1 - y0) / CELL_M))
        xs = x0 + (np.arange(nx) + 0.5) * CELL_M
        ys = y0 + (np.arange(ny) + 0.5) * CELL_M
        cx, cy = np.meshgrid(xs, ys)  # (ny, nx)
        self.shape = (ny, nx)
        zone_of = np.full(self.shape, -1, dtype=np.int64)
        for k, a in reversed(list(enumerate(areas))):  # the first area listed wins overlaps
            inside = (cx >= a.x0) & (cx < a.x1) & (cy >= a.y0) & (cy < a.y1)
            zone_of[inside] = k
        self.inside = (zone_of >= 0).ravel()
        self.zone_of = zone_of.ravel()
        self.zone_masks = np.stack([(self.zone_of == k) for k in range(len(areas))]
                                   ).astype(np.float64)  # (zones, cells)
        d = np.stack([np.hypot(cx - r.x, cy - r.y).ravel() for r in receivers])  # (rx, cells)
        self.expected = -10.0 * model.path_loss_n * np.log10(np.maximum(d, 1.0))
        steps = model.walk_m_per_s / CELL_M  # cells per second
        self._blur_per_s = steps * steps  # the variance, in cells^2, one second adds
        uniform = self.inside.astype(np.float64)
        self._uniform: Array = uniform / uniform.sum()

    def new_belief(self) -> Array:
        return self._uniform.copy()

    def _spread(self, belief: Array, dt: float) -> Array:
        """The motion model: a binomial blur whose variance grows with dt, kept inside."""
        passes = max(1, min(12, round(2 * self._blur_per_s * dt)))
        b = belief.reshape(self.shape)
        for _ in range(passes):
            b = _blur(b)
        out = b.ravel() * self.inside
        total = out.sum()
        out = out / total if total > 0 else self._uniform.copy()
        j = self.model.jump
        spread: Array = (1 - j) * out + j * self._uniform
        return spread

    def update(self, belief: Array, levels: dict[int, float], level_1m: float | None,
               dt: float) -> tuple[Array, Array]:
        prior = self._spread(belief, dt)
        if levels:
            m = self.model
            idx = list(levels)
            obs = np.fromiter(levels.values(), dtype=np.float64, count=len(idx))
            base = m.level_1m if level_1m is None else float(level_1m)
            resid = (obs - base)[:, None] - self.expected[idx]  # (k, cells)
            k = len(idx)
            shrink = (m.sigma_db / m.level_sigma_db) ** 2
            offset = resid.sum(axis=0) / (k + shrink)
            err = ((resid - offset) ** 2).sum(axis=0)
            loglik = -err / (2 * m.sigma_db ** 2) - offset ** 2 / (2 * m.level_sigma_db ** 2)
            loglik -= loglik[self.inside].max()
            post = prior * np.exp(np.maximum(loglik, -60.0))
            total = post.sum()
            posterior: Array = post / total if total > 0 else prior
        else:
            posterior = prior
        return posterior, self.zone_masks @ posterior


def _blur(b: Array) -> Array:
    """One [1 2 1]/4 pass along both axes, edges reflected."""
    p = np.pad(b, 1, mode="edge")
    rows = 0.25 * p[:-2, 1:-1] + 0.5 * p[1:-1, 1:-1] + 0.25 * p[2:, 1:-1]
    p = np.pad(rows, ((0, 0), (1, 1)), mode="edge")
    out: Array = 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]
    return out


class StrongestLocator:
    """No floor plan: the strongest receiver's zone, softened by the level differences."""

    def __init__(self, receivers: list[ReceiverPlace], zones: list[str],
                 model: RadioModel) -> None:
        self.zones = tuple(zones)
        self.model = model
        self._zone_index = np.array([self.zones.index(r.zone) for r in receivers])

    def new_belief(self) -> Array:
        return np.full(len(self.zones), 1.0 / len(self.zones))

    def update(self, belief: Array, levels: dict[int, float], level_1m: float | None,
               dt: float) -> tuple[Array, Array]:
        if not levels:
            return belief, belief
        score = np.full(len(self.zones), -np.inf)
        for i, level in levels.items():
            z = self._zone_index[i]
            score[z] = max(score[z], level)
        w = np.exp((score - score.max()) / self.model.sigma_db)
        probs: Array = w / w.sum()
        return probs, probs
