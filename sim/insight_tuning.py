"""Tune the insight processor's interest weights on simulated runs already made.

`omo-edge sim --seeds 1-10 --out DIR` leaves each run's event log and truth in DIR/seed-N;
this recomputes the interest windows from each stored log with other weights
(`edge.insight.recompute`: the same processor, the same events, so the same output a live run
with those weights gives) and scores them with `product_interest_rho`:

    .venv/bin/python -m sim.insight_tuning DIR 1-10

prints the weight sets on a grid, best mean rho first, with the worst seed. Tune on seeds
1-10 only; report on held-out seeds.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from edge.config import Config
from edge.eventlog import open_readonly
from edge.events import Event
from edge.insight.processor import INTEREST, from_config
from edge.insight.recompute import recompute
from edge.insight.window import Weights
from sim.runner import sim_config
from sim.scoring import EventView, Truth
from sim.scoring.insight import product_interest_rho
from sim.seeds import parse_seeds
from sim.world import build_world, scenarios

GRID = {"zone_min": (0.0, 0.05, 0.1), "attention_min": (2.0,),
        "pick": (1.0,), "ret": (0.0, 0.25), "offer": (1.0, 2.0, 3.0),
        "paired": (0.0, 0.25, 0.5, 0.75, 1.0), "pair_split": (0.0, 1.0)}


@dataclass
class Run:
    seed: int
    truth: Truth
    events: list[Event]
    scenario: str


def load(root: Path, seed: int) -> Run:
    d = root / f"seed-{seed}"
    truth = Truth(json.loads(line) for line in (d / "truth.jsonl").read_text().splitlines())
    log = open_readonly(d / "events.db")
    try:
        events = [s.event for s in log.query()]
    finally:
        log.close()
    return Run(seed, truth, events, str(truth.of("run")[0]["scenario"]))


_CONFIGS: dict[tuple[str, int, float], Config] = {}


def _config(run: Run) -> Config:
    """The run's daemon config (built once per run: building the world is the slow part)."""
    key = (run.scenario, run.seed, run.truth.duration)
    if key not in _CONFIGS:
        world = build_world(scenarios()[run.scenario], run.seed, run.truth.duration)
        _CONFIGS[key] = sim_config(world, Path("."), None)
    return _CONFIGS[key]


def rho(run: Run, weights: Weights) -> float | None:
    proc = from_config(_config(run))
    proc.weights = weights
    views = [EventView(e.type, e.at - run.truth.start_epoch, e.data)
             for e in recompute(proc, run.events) if e.type == INTEREST]
    value = product_interest_rho(run.truth, views)["value"]
    return None if value is None else float(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="the --out directory of `omo-edge sim --seeds`")
    ap.add_argument("seeds", help="seeds to tune on, e.g. 1-10")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args(argv)
    runs = [load(args.root, s) for s in parse_seeds(args.seeds)]
    rows = []
    for values in itertools.product(*GRID.values()):
        w = Weights(*values)
        rhos = [r for r in (rho(run, w) for run in runs) if r is not None]
        if rhos:
            rows.append((sum(rhos) / len(rhos), min(rhos), values, rhos))
    rows.sort(key=lambda r: (-r[0], -r[1]))
    print("mean   worst  zone_min attention_min pick return offer paired pair_split  per seed")
    for mean, worst, values, rhos in rows[:args.top]:
        print(f"{mean:.3f}  {worst:.3f}  " + " ".join(f"{v:g}" for v in values)
              + "  " + " ".join(f"{r:.3f}" for r in rhos))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
