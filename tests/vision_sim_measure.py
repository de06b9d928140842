"""Measure the vision pipeline on the simulated store: `omo-edge sim` runs with a real face
model standing in for the configured one, then the vision scores of each seed.

    .venv/bin/python -m tests.vision_sim_measure --seeds 1,2,3 --duration 300

The figures in docs/vision.md (every [vision] key at its default, judged on 11-15; the
simulator's frame lockstep hands the processor every frame):

    .venv/bin/python -m tests.vision_sim_measure --seeds 11,12,13,14,15 --duration 600

By default OpenCV's YuNet on ../shared/models/ is registered under the name the sim's config
asks for (`vision.model`, "mtcnn"); its events say "yunet-cv2" (the figures in
docs/vision.md were taken so, before the shipped decoders landed). `--model mtcnn` or
`--model yunet` runs a shipped decoder instead.
Cameras render at 640x480 and 10 frames/s (`--set camera.*`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from edge.config import Config
from edge.vision import detectors
from sim.runner import Options, simulate
from tests.vision_pipe_fixtures import CvYuNet, yunet_path

METRICS = ("opportunities_to_see_error", "watchers_error", "attention_time_error",
           "track_fragmentation_error")


def _value(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--scenario", default="normal-day")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--vision", action="append", default=[], metavar="KEY=VALUE",
                    help="a [vision] config key for the run, for tuning")
    ap.add_argument("--model", default="cv2-yunet",
                    help="cv2-yunet (OpenCV's YuNet, the figures in docs/vision.md), or a "
                         "shipped model: mtcnn, yunet")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep each seed's run (events.db, truth.jsonl) in DIR/seed-N")
    ap.add_argument("--rescore", metavar="DIR",
                    help="no runs: score the events kept in DIR/seed-N by --keep against "
                         "the truth the simulator derives now (after a truth fix)")
    ap.add_argument("--render-only", action="store_true",
                    help="no daemon: only render each seed's videos and truth into "
                         "--keep DIR/seed-N, for tests.vision_sim_replay (minutes faster)")
    args = ap.parse_args()
    if args.render_only:
        render(Path(args.keep), args)
        return
    if args.rescore:
        rescore(Path(args.rescore), args)
        return
    vision: dict[str, Any] = {k: _value(v) for k, v in (a.split("=", 1) for a in args.vision)}
    if args.model != "cv2-yunet":  # a shipped model by name (yunet from ../shared/models)
        vision.setdefault("model", args.model)
        if args.model == "yunet":
            vision.setdefault("models_dir", str(yunet_path().parent))
    if vision:
        import dataclasses

        import sim.runner

        plain = sim.runner.sim_config

        def with_vision(*a: Any, **kw: Any) -> Config:
            config = plain(*a, **kw)
            return dataclasses.replace(
                config, vision=dataclasses.replace(config.vision, **vision))

        sim.runner.sim_config = with_vision
    path = yunet_path()
    if args.model == "cv2-yunet":
        detectors.register("mtcnn", lambda: CvYuNet(path))
    w, h = (int(v) for v in args.size.split("x"))
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.keep) / f"seed-{seed}" if args.keep else Path(tmp)
            res = asyncio.run(simulate(Options(
                scenario=args.scenario, seed=seed, duration=args.duration, out=out,
                report=out / "report.json", headless=True,
                snapshot_every_s=args.duration, progress=False, vision=True,
                overrides={"camera.fps": args.fps, "camera.width": w, "camera.height": h})))
            row = _row(res.report.get("metrics", {}), seed)
            row["wall_s"] = round(res.wall_s, 1)
            rows.append(row)
            print(json.dumps(row))
    _summary(rows)


def _row(metrics: dict[str, Any], seed: int) -> dict[str, Any]:
    row: dict[str, Any] = {m: (metrics.get(m) or {}).get("value") for m in METRICS}
    row["details"] = {m: (metrics.get(m) or {}).get("details") for m in METRICS}
    row["seed"] = seed
    return row


def render(where: Path, args: argparse.Namespace) -> None:
    """Only the simulator's videos (and truth): what the replay needs, without the daemon."""
    from dataclasses import replace

    from sim.camera import CameraRenderer
    from sim.overrides import apply
    from sim.world import build_world, scenarios

    w, h = (int(v) for v in args.size.split("x"))
    scenario = scenarios()[args.scenario]
    scenario = replace(scenario, params=apply(
        scenario.params, {"camera.fps": args.fps, "camera.width": w, "camera.height": h}))
    for seed in (int(s) for s in args.seeds.split(",")):
        world = build_world(scenario, seed, args.duration)
        if world.outages("camera"):
            raise SystemExit(f"{args.scenario} has a camera outage: use a full run")
        out = where / f"seed-{seed}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "truth.jsonl").write_bytes(world.truth_jsonl())
        for cam in world.layout.cameras:
            n = CameraRenderer(world, cam).write(out / "video" / f"{cam.id}.avi", 0.0,
                                                 world.duration + 5)
            print(json.dumps({"seed": seed, "camera": cam.id, "frames": n}), flush=True)


def rescore(where: Path, args: argparse.Namespace) -> None:
    from edge.eventlog import open_readonly
    from sim.scoring import Truth, score
    from sim.world import build_world, scenarios

    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        el = open_readonly(where / f"seed-{seed}" / "events.db")
        try:
            events = [s.event.to_dict() for s in el.query()]
        finally:
            el.close()
        world = build_world(scenarios()[args.scenario], seed, args.duration)
        rows.append(_row(score(Truth(world.truth), events), seed))
        print(json.dumps(rows[-1]))
    _summary(rows)


def _old_ots(row: dict[str, Any]) -> float | None:
    """The opportunities-to-see error under the definition before 2026-12 (every glimpse
    of a face counted), from the scorer's details."""
    d = row["details"].get("opportunities_to_see_error")
    old = d.get("any_glimpse") if isinstance(d, dict) else None
    v = old.get("value") if isinstance(old, dict) else None
    return float(v) if isinstance(v, (int, float)) else None


def _summary(rows: list[dict[str, Any]]) -> None:
    for m in METRICS:
        vals = [float(v) for r in rows if isinstance(v := r[m], (int, float))]
        if vals:
            print(f"{m}: mean {statistics.mean(vals):.3f} worst {max(vals):.3f} "
                  f"over {len(vals)} seeds")
    old = [v for r in rows if (v := _old_ots(r)) is not None]
    if old:
        print(f"opportunities_to_see_error, every glimpse counted (before 2026-12): mean "
              f"{statistics.mean(old):.3f} worst {max(old):.3f} over {len(old)} seeds")


if __name__ == "__main__":
    main()
