"""`omo-edge sim --seeds`: several seeds, each metric's mean, spread and worst case."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main as cli_main
from sim.seeds import aggregate, parse_seeds, table


@pytest.mark.parametrize(("text", "seeds"), [
    ("1-4", [1, 2, 3, 4]), ("1,3,5", [1, 3, 5]), ("7, 1-3 ,2", [7, 1, 2, 3]), ("0", [0]),
])
def test_parse_seeds(text: str, seeds: list[int]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "says"), [
    ("3-1", "ends before it starts"), ("a", "not a seed"), ("1,,2", "not a seed"),
    ("-1", "not a seed"), ("1-2000", "more than 1000 seeds"),
])
def test_bad_seeds_say_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_seeds(text)


def metric(better: str, value: Any, scored: bool = True) -> dict[str, Any]:
    if not scored:
        return {"scored": False, "better": better, "reason": "no events"}
    return {"scored": True, "better": better, "value": value, "unit": "u"}


def report(seed: int, err: float | None, pick: dict[str, float | None],
           scored: bool = True) -> dict[str, Any]:
    return {"seed": seed, "metrics": {
        "count_error": metric("lower", err, scored),
        "pr": metric("higher", pick),
        "never": metric("lower", None, scored=False)}}


def test_aggregate_mean_std_and_worst_follow_each_metrics_direction() -> None:
    agg = aggregate([
        report(1, 0.1, {"precision": 0.9, "recall": 0.5}),
        report(2, 0.4, {"precision": 0.7, "recall": None}),  # nothing to divide by
        report(3, 0.2, {"precision": 0.8, "recall": 0.6}),
        report(4, None, {"precision": 0.95, "recall": 0.4}, scored=False),
    ])
    assert agg["seeds"] == [1, 2, 3, 4]
    err = agg["metrics"]["count_error"]
    assert (err["seeds_scored"], err["n"]) == (3, 3)
    assert err["mean"] == pytest.approx(statistics.fmean([0.1, 0.4, 0.2]))
    assert err["std"] == pytest.approx(statistics.stdev([0.1, 0.4, 0.2]))
    assert (err["worst"], err["worst_seed"]) == (0.4, 2)  # lower is better: the highest
    prec = agg["metrics"]["pr.precision"]
    assert (prec["worst"], prec["worst_seed"], prec["n"]) == (0.7, 2, 4)  # the lowest
    rec = agg["metrics"]["pr.recall"]
    assert (rec["seeds_scored"], rec["n"], rec["worst"], rec["worst_seed"]) == (4, 3, 0.4, 4)
    assert agg["not_scored"] == {"never": "no events"}
    shown = table(agg)
    assert "pr.precision" in shown and "never" in shown and "no events" in shown
    one = aggregate([report(5, 0.3, {"precision": 1.0, "recall": 1.0})])
    assert one["metrics"]["count_error"]["std"] is None  # no spread from one seed
    assert one["metrics"]["count_error"]["mean"] == 0.3


def test_cli_runs_each_seed_with_overrides_and_writes_the_aggregate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    code = cli_main(["sim", "--seeds", "3,1", "--duration", "20", "--headless",
                     "--set", "camera.fps=1", "--out", str(out),
                     "--report", str(tmp_path / "seeds.json")])
    assert code == 0
    shown = capsys.readouterr()
    assert "[sim] seed 3 (1/2)" in shown.err and "[sim] seed 1 (2/2) done" in shown.err
    assert "scenario normal-day, 2 seeds (3, 1)" in shown.out
    agg = json.loads((tmp_path / "seeds.json").read_text())
    assert agg["seeds"] == [3, 1] and agg["overrides"] == {"camera.fps": 1.0}
    assert set(agg["metrics"]) | set(agg["not_scored"]) >= {"visit_precision_recall",
                                                            "zone_accuracy"}
    for run in agg["runs"]:
        per_seed = json.loads((out / f"seed-{run['seed']}" / "report.json").read_text())
        assert per_seed["seed"] == run["seed"]
        assert per_seed["truth_sha256"] == run["truth_sha256"]
        assert per_seed["overrides"] == {"camera.fps": 1.0}
        # the override reached the rendered videos and the daemon: 1 frame/s for 20 s
        assert per_seed["run"]["readings"]["camera:cam-1"] == 21
    assert agg["runs"][0]["truth_sha256"] != agg["runs"][1]["truth_sha256"]


def test_cli_seed_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["sim", "--seeds", "5-2"]) == 2
    assert "--seeds: '5-2': the range ends before it starts" in capsys.readouterr().err
    assert cli_main(["sim", "--seed", "2", "--seeds", "1-3"]) == 2
    assert "not both" in capsys.readouterr().err
