"""Tune the vision pipeline's tracking and attention keys fast: detect once, replay often.

`tests.vision_sim_measure --keep DIR` keeps each seed's rendered videos and truth. This
runs the detector (with the zoomed band) once on every frame of those videos and caches the
detections (`DIR/seed-N/detections-<model>.pkl`), then replays them through the real
`VisionProcessor` (tracking, attention, audience windows; compute budget off, every frame
as in the simulator's lockstep; the motion gate sees the decoded frames) with the
`[vision]` keys given, and scores the windows against the truth. Frames are timed as the
simulator's clock delivers them (the run's start plus index / fps).

    .venv/bin/python -m tests.vision_sim_replay --dir /tmp/vw/tune --seeds 1,3 \
        --duration 300 --vision min_track_frames=5 --vision track_timeout_s=3

The second look at small faces (`attention_refine_px`, `edge.vision.refine`) runs the real
detector on the decoded frames' crops; its answers are cached too (`crops-<model>.pkl`, in
`--cache-dir`, by default `--dir`), so a grid over it pays each crop once.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from drivers.readings import Frame
from edge.events import format_time
from edge.processing.processor import Output
from edge.vision.detection import Detection, DetectionKind, Detector, ModelInfo
from edge.vision.detectors import DetectorSpec
from edge.vision.pipeline import CameraSpec, VisionProcessor, VisionSettings
from edge.vision.settings import vision_settings
from edge.vision.zoom import ZoomedDetector, ZoomParams
from sim.scoring import Truth, score
from sim.world import build_world, scenarios
from tests.vision_sim_measure import METRICS, _row, _summary, _value


class Cached:
    """A detector that answers from the cache, for the frame the replay hands over now; a
    smaller image (a second look's crop, `edge.vision.refine`) goes to `crops`, the real
    detector, once per distinct crop."""

    def __init__(self, dets: dict[str, list[list[Detection]]], info: ModelInfo,
                 crops: Any = None, memo: dict[bytes, list[Detection]] | None = None) -> None:
        self.dets, self.info, self.crops = dets, info, crops
        self.memo: dict[bytes, list[Detection]] = {} if memo is None else memo
        self.now: tuple[str, int] = ("", 0)
        self.full: tuple[int, ...] | None = None

    def detect(self, image: np.ndarray) -> list[Detection]:
        camera, i = self.now
        if self.full is None or image.shape == self.full:
            return self.dets[camera][i]
        key = hashlib.blake2b(repr(image.shape).encode() + image.tobytes(),
                              digest_size=16).digest()
        if key not in self.memo:
            if self.crops is None:
                self.crops = self.crops_factory()
            self.memo[key] = self.crops.detect(image)
        return self.memo[key]

    def crops_factory(self) -> Any:
        raise RuntimeError("no detector for the second looks")


def detections(video: Path, cache: Path, make: Any, zoom: ZoomParams) -> list[list[Detection]]:
    if cache.exists():
        out: list[list[Detection]] = pickle.loads(cache.read_bytes())
        return out
    det: Detector = ZoomedDetector(make(), zoom) if zoom.enabled else make()
    cap = cv2.VideoCapture(str(video))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(det.detect(np.asarray(img, np.uint8)))
    cap.release()
    cache.write_bytes(pickle.dumps(out))
    return out


def settings(world: Any, where: Path, vision: dict[str, Any]) -> VisionSettings:
    from sim.runner import sim_config

    v = dataclasses.replace(sim_config(world, where, None, "127.0.0.1", vision=True).vision,
                            **vision)
    # as the daemon builds them, but unbudgeted, unzoomed (the cache holds the zoomed
    # detector's output) and with the content-item window at its built-in length
    return dataclasses.replace(vision_settings(v), max_cpu_share=0, zoom=ZoomParams(1.0),
                               item_window_s=VisionSettings.item_window_s)


def replay(world: Any, where: Path, dets: dict[str, list[list[Detection]]],
           settings_: list[VisionSettings], fps: float,
           make: Callable[..., VisionProcessor] = VisionProcessor,
           cached: Cached | None = None) -> list[list[dict[str, Any]]]:
    """Every settings' events, from one pass over the videos (decoded once for all);
    `make` builds each processor (a recording subclass for `tests.vision_sim_tracks`)."""
    cams = [CameraSpec(c.id, c.zone, c.screen, fps) for c in world.layout.cameras]
    if cached is None:
        cached = Cached(dets, ModelInfo("cached", "0", DetectionKind.FACE))
    else:
        cached.dets = dets
    procs = [make(cams, DetectorSpec("cached"), s, loader=lambda _spec: cached)
             for s in settings_]
    gated = any(s.motion_threshold > 0 or s.refine.enabled for s in settings_)
    caps = {c.camera: cv2.VideoCapture(str(where / "video" / f"{c.camera}.avi")) for c in cams}
    blank = np.zeros((8, 8, 3), np.uint8)
    events: list[list[dict[str, Any]]] = [[] for _ in procs]

    def keep(k: int, out: Output) -> None:
        events[k].extend({"type": e.type, "time": format_time(e.at), "data": e.data}
                         for e in out)

    t0 = world.start_epoch
    # the videos run 5 s past the scenario (`sim.runner` renders them so); the daemon's run
    # ends with the scenario, so the replay stops feeding frames there too
    frames = min(max(len(v) for v in dets.values()), round(world.duration * fps))
    next_tick = t0 + 1.0
    for i in range(frames):
        t = t0 + i / fps
        while next_tick <= t:
            for k, p in enumerate(procs):
                out = Output(next_tick)
                p.on_tick(next_tick, out)
                keep(k, out)
            next_tick += 1.0
        for c in cams:
            if i < len(dets.get(c.camera, ())):
                image: Any = blank
                if gated:  # the gate needs the picture
                    ok, img = caps[c.camera].read()
                    image = img if ok else blank
                    cached.full = image.shape
                cached.now = (c.camera, i)
                for k, p in enumerate(procs):
                    out = Output(t)
                    p.on_reading(Frame(c.camera, t, i, image), out)
                    keep(k, out)
    for cap in caps.values():
        cap.release()
    end = t0 + frames / fps + 120
    while next_tick <= end:
        for k, p in enumerate(procs):
            out = Output(next_tick)
            p.on_tick(next_tick, out)
            keep(k, out)
        next_tick += 1.0
    return events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="what vision_sim_measure --keep wrote")
    ap.add_argument("--cache-dir", help="write new caches here (seed-N/ below it), not "
                                        "in --dir; cached detections are read from either")
    ap.add_argument("--seeds", default="1,3")
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--scenario", default="normal-day")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--model", default="cv2-yunet", help="cv2-yunet, mtcnn or yunet")
    ap.add_argument("--zoom", type=float, default=2.0)
    ap.add_argument("--threshold", type=float, default=0.6,
                    help="the cached detector's own score threshold (cv2-yunet): below "
                         "the lowest min_score replayed; min_score filters the cache")
    ap.add_argument("--vision", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="replay every combination (on top of --vision) in one pass; "
                         "prints mean and worst per combination")
    args = ap.parse_args()
    vision = {k: _value(v) for k, v in (a.split("=", 1) for a in args.vision)}
    axes = [(k, [_value(x) for x in v.split(",")])
            for k, v in (a.split("=", 1) for a in args.grid)]
    combos = [dict(zip([k for k, _ in axes], vals, strict=True))
              for vals in itertools.product(*[vs for _, vs in axes])]
    zoom = ZoomParams(args.zoom, (vision.get("zoom_band_top", 0.42),
                                  vision.get("zoom_band_bottom", 0.70)))
    if args.model == "cv2-yunet":
        from tests.vision_pipe_fixtures import CvYuNet, yunet_path

        def make() -> Detector:
            return CvYuNet(yunet_path(), args.threshold)
    else:
        from edge.vision.detectors import load
        from tests.vision_pipe_fixtures import yunet_path

        def make() -> Detector:
            return load(DetectorSpec(args.model, 1, str(yunet_path().parent)
                                     if args.model == "yunet" else None))
    rows: list[list[dict[str, Any]]] = [[] for _ in combos]
    for seed in (int(x) for x in args.seeds.split(",")):
        where = Path(args.dir) / f"seed-{seed}"
        mine = Path(args.cache_dir) / f"seed-{seed}" if args.cache_dir else where
        mine.mkdir(parents=True, exist_ok=True)
        world = build_world(scenarios()[args.scenario], seed, args.duration)
        tag = f"{args.model}-z{args.zoom:g}-{zoom.band[0]:g}-{zoom.band[1]:g}" + \
            (f"-t{args.threshold:g}" if args.threshold != 0.6 else "")

        def cache(name: str, where: Path = where, mine: Path = mine) -> Path:
            return where / name if (where / name).exists() else mine / name

        dets = {c.id: detections(where / "video" / f"{c.id}.avi",
                                 cache(f"detections-{c.id}-{tag}.pkl"), make, zoom)
                for c in world.layout.cameras}
        crops_file = cache(f"crops-{args.model}.pkl")
        memo: dict[bytes, list[Detection]] = pickle.loads(crops_file.read_bytes()) \
            if crops_file.exists() else {}
        known = len(memo)
        cached = Cached(dets, ModelInfo("cached", "0", DetectionKind.FACE), memo=memo)
        cached.crops_factory = make  # type: ignore[method-assign]
        runs = replay(world, where, dets,
                      [settings(world, where, vision | c) for c in combos], args.fps, cached=cached)
        if len(memo) > known:
            (mine / f"crops-{args.model}.pkl").write_bytes(pickle.dumps(memo))
        for k, (combo, events) in enumerate(zip(combos, runs, strict=True)):
            row = _row(score(Truth(world.truth), events), seed)
            rows[k].append(row)
            print({m: row[m] for m in METRICS}, seed, combo or "", flush=True)
            print("   events / truth:", {  # the sign of each error
                m: f"{d.get('events_total')} / {d.get('truth_total')}"
                for m in METRICS[:3] if isinstance(d := row["details"][m], dict)},
                flush=True)
            ots = row["details"].get("opportunities_to_see_error")
            if isinstance(ots, dict) and isinstance(old := ots.get("any_glimpse"), dict):
                print("   opportunities to see, every glimpse counted (before 2026-12):",
                      f"{old.get('value')} ({ots.get('events_total')} / "
                      f"{old.get('truth_total')})", flush=True)
    for combo, combo_rows in zip(combos, rows, strict=True):
        if combo:
            print("==", combo)
        _summary(combo_rows)


if __name__ == "__main__":
    main()
