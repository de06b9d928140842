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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.vision.detection import BgrImage

HELP = "ms per 640x480 frame through each model's detector, against bare session.run"
WIDTH, HEIGHT = 640, 480


def add_model_choice_arguments(parser: argparse.ArgumentParser) -> None:
    """`--models`, `--models-dir` and `--config`: which models a vision bench runs, shared by
    `bench vision` and `bench camera`."""
    parser.add_argument("--models", default="mtcnn,yunet,fastestdet",
                        help="comma-separated names; missing ones are skipped")
    parser.add_argument("--models-dir", type=Path, metavar="DIR",
                        help="where fetched models live (default as `omo-edge models`)")
    parser.add_argument("--config", "-c", metavar="PATH", help="store config (optional)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=40, help="frames per model (default 40)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    add_model_choice_arguments(parser)
    parser.add_argument("--seed", type=int, default=1, help="the scenes' seed (default 1)")
    parser.add_argument("--min-face", type=int, default=None, metavar="PX",
                        help="MTCNN's minimum face (default the decoder's, 40)")
    parser.add_argument("--quality", action="store_true",
                        help="also precision and recall per face size (30-150 px) on "
                             "scikit-image's 100 LFW faces and 100 non-faces (needs "
                             "scikit-image)")


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


QUALITY_SIZES = (30, 40, 60, 100, 150)
MATCH_IOU = 0.3  # LFW crops are tight: a detector's box reaches beyond them


def _grid(patches: list[BgrImage], size: int, rng: np.random.Generator
          ) -> Iterator[tuple[BgrImage, list[tuple[int, int, int, int]]]]:
    """Frames of 640 x 480 with `patches` at size x size on a jittered grid (at least half a
    face apart), on a blurred-noise background."""
    gap = size // 2 + 12
    cols = max(1, (WIDTH - gap) // (size + gap))
    rows = max(1, (HEIGHT - gap) // (size + gap))
    per = cols * rows
    for start in range(0, len(patches), per):
        base = rng.integers(40, 200, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
        frame = np.asarray(cv2.resize(base, (WIDTH, HEIGHT)), dtype=np.uint8)
        placed = []
        for k, patch in enumerate(patches[start:start + per]):
            r, c = divmod(k, cols)
            x = gap // 2 + c * (size + gap) + int(rng.integers(0, gap // 2))
            y = gap // 2 + r * (size + gap) + int(rng.integers(0, gap // 2))
            interp = cv2.INTER_AREA if size < patch.shape[0] else cv2.INTER_LINEAR
            frame[y:y + size, x:x + size] = cv2.resize(patch, (size, size), interpolation=interp)
            placed.append((x, y, x + size, y + size))
        yield frame, placed


def quality(detector: Any, seed: int) -> dict[str, dict[str, float]]:
    """Per face size: recall on the 100 LFW faces, and precision over every detection on
    frames holding those faces and, separately, the 100 LFW non-face patches."""
    from skimage import data

    from edge.vision.detection import Box

    lfw_subset: Callable[[], np.ndarray] = data.lfw_subset
    imgs = (lfw_subset() * 255).astype(np.uint8)
    bgr = [np.asarray(cv2.cvtColor(i, cv2.COLOR_GRAY2BGR), dtype=np.uint8) for i in imgs]
    faces, non_faces = bgr[:100], bgr[100:]
    out: dict[str, dict[str, float]] = {}
    for size in QUALITY_SIZES:
        rng = np.random.default_rng(seed * 1000 + size)
        hits = true_dets = dets = 0
        for frame, placed in _grid(faces, size, rng):
            found = detector.detect(frame)
            boxes = [Box(*map(float, p)) for p in placed]
            hits += sum(1 for b in boxes if any(d.box.iou(b) >= MATCH_IOU for d in found))
            true_dets += sum(1 for d in found if any(d.box.iou(b) >= MATCH_IOU for b in boxes))
            dets += len(found)
        false_on_non_faces = sum(len(detector.detect(frame))
                                 for frame, _ in _grid(non_faces, size, rng))
        dets += false_on_non_faces
        out[str(size)] = {"recall": round(hits / len(faces), 3),
                          "precision": round(true_dets / dets, 3) if dets else 1.0,
                          "false_on_non_faces": false_on_non_faces}
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
            opts = ({"min_face": args.min_face}
                    if name == "mtcnn" and args.min_face is not None else None)
            det = load_detector(name, threads=args.threads, models_dir=where, options=opts)
        except ModelMissing as exc:
            skipped[name] = str(exc)
            continue
        results[name] = measure(det, frames)
        if args.quality and det.info.kind.value == "face":
            results[name]["quality"] = quality(det, args.seed)
    head: dict[str, Any] = results.get("mtcnn") or next(iter(results.values()), {})
    return {"bench": "vision", "frame": f"{WIDTH}x{HEIGHT}", "frames": len(frames),
            "mtcnn_min_face": args.min_face,
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
        for name, r in result["models"].items():
            for size, q in r.get("quality", {}).items():
                print(f"{name:<12} {size:>4} px: recall {q['recall']:.2f}, precision "
                      f"{q['precision']:.2f}, {q['false_on_non_faces']} on non-faces")
        for name, why in result["skipped"].items():
            print(f"{name}: skipped ({why})")
    print(json.dumps(result, separators=(",", ":")))
    return 0
