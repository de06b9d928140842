"""`omo-edge sim --seeds 1-10`: several seeds, each metric's mean, spread and worst case.

A metric whose value is a table of numbers (pick_return_precision_recall) is summarised per
number (`pick_return_precision_recall.pick_recall`). The worst case follows the metric's
direction (`better` in its result): the lowest value where higher is better, the highest
where lower is better. Seeds on which a metric was not scored, or gave no number (nothing to
divide by), are left out of its figures and counted.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from typing import Any

MAX_SEEDS = 1000


def parse_seeds(text: str) -> list[int]:
    """"1-10", "1,3,5" or mixed ("1-3,7"): the seeds in the order given, each once.
    ValueError says what is wrong."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if m is None:
            raise ValueError(f"{part!r} is not a seed or a range of seeds (such as 1-10 or "
                             "1,3,5)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ValueError(f"{part!r}: the range ends before it starts")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise ValueError(f"more than {MAX_SEEDS} seeds")
        seeds += [s for s in range(lo, hi + 1) if s not in seeds]
    return seeds


def _numbers(value: Any) -> dict[str, float | None]:
    """A metric value as {sub-name: number} ('' for a plain number)."""
    if isinstance(value, dict):
        return {f".{k}": _as_float(v) for k, v in sorted(value.items())}
    return {"": _as_float(value)}


def _as_float(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def aggregate(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per metric (and per number of a metric's table): seeds with a number, mean, sample
    standard deviation (null below two seeds), worst value and the seed that gave it."""
    metrics: dict[str, Any] = {}
    values: dict[str, list[tuple[int, float]]] = {}
    for report in reports:
        seed = int(report["seed"])
        for name, m in report["metrics"].items():
            if not m["scored"]:
                continue
            for sub, v in _numbers(m.get("value")).items():
                key = name + sub
                entry = metrics.setdefault(key, {"metric": name, "better": m["better"],
                                                 "unit": m.get("unit", "")})
                entry.setdefault("seeds_scored", 0)
                entry["seeds_scored"] += 1
                if v is not None:
                    values.setdefault(key, []).append((seed, v))
    for key, entry in metrics.items():
        got = values.get(key, [])
        nums = [v for _, v in got]
        entry["n"] = len(nums)
        entry["mean"] = statistics.fmean(nums) if nums else None
        entry["std"] = statistics.stdev(nums) if len(nums) >= 2 else None
        if got:
            pick = min if entry["better"] == "higher" else max
            worst_seed, worst = pick(got, key=lambda sv: sv[1])
            entry["worst"], entry["worst_seed"] = worst, worst_seed
        else:
            entry["worst"] = entry["worst_seed"] = None
    names = sorted({n for r in reports for n in r["metrics"]})
    not_scored = {n: next(r["metrics"][n]["reason"] for r in reports
                          if not r["metrics"][n]["scored"])
                  for n in names if not any(r["metrics"][n]["scored"] for r in reports)}
    return {"seeds": [int(r["seed"]) for r in reports],
            "metrics": dict(sorted(metrics.items())), "not_scored": not_scored}


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def table(summary: dict[str, Any]) -> str:
    """The aggregate as a text table."""
    n = len(summary["seeds"])
    lines = [f"{'metric':<40} {'better':<7} {'seeds':>5} {'mean':>10} {'std':>10} "
             f"{'worst':>10}  seed"]
    for key, m in summary["metrics"].items():
        lines.append(f"{key:<40} {m['better']:<7} {m['n']:>2}/{n:<2} {_fmt(m['mean']):>10} "
                     f"{_fmt(m['std']):>10} {_fmt(m['worst']):>10}  "
                     f"{'-' if m['worst_seed'] is None else m['worst_seed']}")
    for name, reason in summary["not_scored"].items():
        lines.append(f"{name:<40} not scored on any seed: {reason}")
    return "\n".join(lines)
