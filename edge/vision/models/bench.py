"""`omo-edge bench vision`: milliseconds per 640 x 480 frame for each present model through
its detector (preprocessing, inference, decoding, NMS), beside the ceiling measured in the
same run: the bare `session.run` calls the detector made for the same frames, replayed with
the inputs it built. `ratio` = ceiling ms / detector ms (1.0: no overhead at all).

The frames are scenes with real faces (scikit-image's LFW faces and astronaut portrait at
40-160 px on a textured background) when scikit-image is installed, else textured frames.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.vision.detection import BgrImage

HELP = "ms per 640x480 frame through each model's detector, against bare session.run"
WIDTH, HEIGHT = 640, 480


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=40, help="frames per model (default 40)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument("--models", default="mtcnn,yunet,fastestdet",
                        help="comma-separated names; missing ones are skipped")
    parser.add_argument("--models-dir", type=Path, metavar="DIR",
                        help="where fetched models live (default as `omo-edge models`)")
    parser.add_argument("--config", "-c", metavar="PATH", help="store config (optional)")
    parser.add_argument("--seed", type=int, default=1, help="the scenes' seed (default 1)")


def scenes(n: int, seed: int) -> list[BgrImage]:
    """`n` distinct 640 x 480 frames, each with 1-4 real faces at 40-160 px when
    scikit-image is present."""
    rng = np.random.default_rng(seed)
    faces: list[BgrImage] = []
    try:
        from skimage import data

        lfw_subset: Callable[[], np.ndarray] = data.lfw_subset
        astronaut: Callable[[], np.ndarray] = data.astronaut
        lfw = (lfw_subset()[:100] * 255).astype(np.uint8)
        faces = [np.asarray(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR), dtype=np.uint8) for f in lfw]
        faces.append(np.asarray(cv2.cvtColor(astronaut()[0:250, 130:330], cv2.COLOR_RGB2BGR),
                                dtype=np.uint8))
    except ImportError:
        pass
    out = []
    for _ in range(n):
        base = rng.integers(40, 200, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
        frame = np.asarray(cv2.resize(base, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR),
                           dtype=np.uint8)
        for _ in range(int(rng.integers(1, 5)) if faces else 0):
            face = faces[int(rng.integers(len(faces)))]
            size = int(rng.integers(40, 161))
            x, y = int(rng.integers(0, WIDTH - size)), int(rng.integers(0, HEIGHT - size))
            frame[y:y + size, x:x + size] = cv2.resize(face, (size, size))
        out.append(np.ascontiguousarray(frame))
    return out


def measure(detector: Any, frames: list[BgrImage]) -> dict[str, Any]:
    """ms per frame through `detector.detect` and through its bare session.run calls."""
    calls = []
    found = 0
    for f in frames[:3]:
        detector.detect(f)  # warm up
    for f in frames:
        dets, trace = detector.trace(f)
        calls.append(trace)
        found += len(dets)
    t0 = time.perf_counter()
    for f in frames:
        detector.detect(f)
    full = (time.perf_counter() - t0) / len(frames)
    t0 = time.perf_counter()
    for trace in calls:
        for session, feeds in trace:
            session.run(None, feeds)
    bare = (time.perf_counter() - t0) / len(frames)
    return {"ms_per_frame": round(full * 1e3, 2), "ceiling_ms_per_frame": round(bare * 1e3, 2),
            "ratio": round(bare / full, 3), "frames_per_s": round(1 / full, 1),
            "detections_per_frame": round(found / len(frames), 2),
            "runs_per_frame": round(sum(len(t) for t in calls) / len(frames), 1)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from edge.bench_machine import machine_info
    from edge.vision.models.cli import models_dir
    from edge.vision.models.errors import ModelMissing
    from edge.vision.models.loader import load_detector

    where = models_dir(args)
    frames = scenes(max(1, args.frames), args.seed)
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in [n.strip() for n in args.models.split(",") if n.strip()]:
        try:
            det = load_detector(name, threads=args.threads, models_dir=where)
        except ModelMissing as exc:
            skipped[name] = str(exc)
            continue
        results[name] = measure(det, frames)
    head: dict[str, Any] = results.get("mtcnn") or next(iter(results.values()), {})
    return {"bench": "vision", "frame": f"{WIDTH}x{HEIGHT}", "frames": len(frames),
            "threads": args.threads, "ceiling": "bare session.run on the detector's own inputs",
            "ratio": head.get("ratio"), "models": results, "skipped": skipped,
            "machine": machine_info()}


def main(args: argparse.Namespace) -> int:
    result = run(args)
    if not args.json:
        print(f"{result['frames']} frames of {result['frame']}, {result['threads']} thread(s); "
              f"ceiling: {result['ceiling']}")
        print(f"{'model':<12} {'ms/frame':>9} {'ceiling ms':>11} {'ratio':>6} {'frames/s':>9}")
        for name, r in result["models"].items():
            print(f"{name:<12} {r['ms_per_frame']:>9.2f} {r['ceiling_ms_per_frame']:>11.2f} "
                  f"{r['ratio']:>6.2f} {r['frames_per_s']:>9.1f}")
        for name, why in result["skipped"].items():
            print(f"{name}: skipped ({why})")
    print(json.dumps(result, separators=(",", ":")))
    return 0
