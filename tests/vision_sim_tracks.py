"""Which people the tracker misses, splits or merges on the simulated store, and why.

Replays a kept run's cached detections (`tests.vision_sim_replay`: run it once first so
the cache exists) through the real `VisionProcessor`, records every track's box frame by
frame, and gives each box to the person whose drawn head holds its centre (the nearest
when heads overlap; the head's place is the renderer's own geometry, `sim.camera`). Then,
per camera, against the truth's passes that showed a face for at least
`sim.scoring.vision.MIN_FACE_S`:

- missed: no counted track (one that reached `min_track_frames`) belongs to the pass; said
  with the frames the person was detected in, the longest track they had and the face
  size, so "never detected", "seen too briefly" and "fragments each too short" differ;
- split: the pass has two or more counted tracks (they count twice in opportunities to
  see, and twice in watchers when both looked);
- merged: a counted track that held two people for at least `min_track_frames` frames
  each (a queue's next shopper taking over the track: two people counted once);
- false: a counted track whose boxes mostly hold no head;
- watchers: a track that looked whose person never looked at the screen in that pass,
  people who looked but none of whose tracks did, and looks split over two tracks.

    .venv/bin/python -m tests.vision_sim_tracks --dir /work/vw/tune --seeds 1,2 \
        --duration 300 --vision min_track_frames=8

Tuning seeds only (1-10).
"""

from __future__ import annotations

import argparse
import math
import pickle
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.processing.processor import Output
from edge.vision.detection import Box, Detection, DetectionKind, ModelInfo
from edge.vision.pipeline import PERSON_LEFT, VisionProcessor, _Camera
from sim.camera import CameraRenderer
from sim.overrides import apply
from sim.scoring import Truth
from sim.scoring.vision import MIN_FACE_S, _face_spans
from sim.world import CAMERA_HEIGHT_M, HEAD_HEIGHT_M, HEAD_M, build_world, scenarios
from tests.vision_sim_measure import _value
from tests.vision_sim_replay import Cached, replay, settings


@dataclass
class TrackLog:
    camera: str
    id: int
    frames: list[tuple[float, Box]] = field(default_factory=list)
    people: Counter[str | None] = field(default_factory=Counter)
    counted: bool = False
    looked: bool = False

    @property
    def owner(self) -> str | None:
        return self.people.most_common(1)[0][0] if self.people else None


class Recording(VisionProcessor):
    """The real processor, keeping each track's matched boxes and how it ended."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: dict[tuple[str, int], TrackLog] = {}

    def _observe(self, cam: _Camera, faces: list[Detection], t: float, out: Output,
                 image: np.ndarray | None = None) -> None:
        super()._observe(cam, faces, t, out, image)
        c = cam.spec.camera
        for tr in cam.tracker.tracks.values():
            if tr.last_t == t and tr.detection is not None:
                self.log.setdefault((c, tr.id), TrackLog(c, tr.id)).frames.append(
                    (t, tr.detection.box))


def heads(r: CameraRenderer, t: float) -> list[tuple[float, str, Box]]:
    """(distance, person, head box) of each person in view at t, as the renderer draws."""
    out = []
    for d, agent, rel, _yaw in r.people(t):
        u = r.w / 2 + r.focal * math.tan(rel)
        scale = r.focal / max(d, 0.5)
        head = max(8, int(HEAD_M * scale))
        hy = r.h / 2 + (CAMERA_HEIGHT_M - HEAD_HEIGHT_M) * scale
        out.append((d, agent.id, Box(u - head / 2, hy - head / 2, u + head / 2, hy + head / 2)))
    return out


def owner_of(box: Box, hs: list[tuple[float, str, Box]]) -> str | None:
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    inside = [h for h in hs if h[2].x1 <= cx <= h[2].x2 and h[2].y1 <= cy <= h[2].y2]
    return min(inside, key=lambda h: h[0])[1] if inside else None


def diagnose(world: Any, proc: Recording, events: list[dict[str, Any]], min_hits: int,
             fps: float, cameras: set[str]) -> dict[str, int]:
    t0 = world.start_epoch
    rends = {c.id: CameraRenderer(world, c) for c in world.layout.cameras}
    head_cache: dict[tuple[str, int], list[tuple[float, str, Box]]] = {}
    for tl in proc.log.values():
        for t, box in tl.frames:
            i = round((t - t0) * fps)
            hs = head_cache.get((tl.camera, i))
            if hs is None:
                hs = head_cache[(tl.camera, i)] = heads(rends[tl.camera], i / fps)
            tl.people[owner_of(box, hs)] += 1
    for e in events:
        if e["type"] == PERSON_LEFT:
            tl = proc.log.get((e["data"]["camera"], e["data"]["track"]))
            if tl is not None:
                tl.counted, tl.looked = True, bool(e["data"]["looked"])
    truth = Truth(world.truth)
    looks = defaultdict(list)
    for lk in truth.of("look"):
        if lk["target_kind"] == "screen":
            looks[(lk["target"], lk["visitor"])].append((lk["t"], lk["t_end"]))
    by_owner: dict[tuple[str, str | None], list[TrackLog]] = defaultdict(list)
    for tl in proc.log.values():
        by_owner[(tl.camera, tl.owner)].append(tl)
    n: Counter[str] = Counter()
    print(f"{'camera':6} {'person':6} {'kind':14} details")
    for p in sorted(truth.of("camera.pass"), key=lambda p: (p["camera"], p["t"])):
        spans = _face_spans(p)
        if sum(b - a for a, b in spans) < MIN_FACE_S or p["camera"] not in cameras:
            continue
        cam, who = p["camera"], p["person"]
        a, b = p["t"] + t0, p["t_end"] + t0 + 3.0
        mine = [tl for tl in by_owner[(cam, who)] if tl.frames[0][0] <= b
                and tl.frames[-1][0] >= a]
        counted = [tl for tl in mine if tl.counted]
        seen = sum(tl.people[who] for tl in proc.log.values() if tl.camera == cam
                   and tl.frames[0][0] <= b and tl.frames[-1][0] >= a)
        boxes = [max(bx.width, bx.height) for tl in mine for _, bx in tl.frames]
        px = f"{min(boxes):.0f}-{max(boxes):.0f}px" if boxes else "-"
        face_s = sum(y - x for x, y in spans)
        n["passes"] += 1
        screen = world.layout.cameras[[c.id for c in world.layout.cameras].index(cam)].screen
        watched = any(x < p["t_end"] and y > p["t"] for x, y in looks[(screen, who)])
        n["watched"] += watched
        if not counted:
            kind = "missed"
            if seen == 0:
                kind = "missed:never"
            elif len(mine) > 1 and seen >= min_hits:
                kind = "missed:frags"
            else:
                kind = "missed:brief"
            n[kind] += 1
            print(f"{cam:6} {who:6} {kind:14} face {face_s:.1f}s in {len(spans)} spans, "
                  f"pass {p['t']:.0f}-{p['t_end']:.0f}s, detected {seen} frames, tracks "
                  f"{[len(tl.frames) for tl in mine]} {px} staff={p['staff']}")
        elif len(counted) > 1:
            n["split"] += len(counted) - 1
            print(f"{cam:6} {who:6} {'split':14} {len(counted)} tracks "
                  f"{[(tl.id, len(tl.frames), round(tl.frames[0][0] - t0, 1), round(tl.frames[-1][0] - t0, 1)) for tl in counted]} "  # noqa: E501
                  f"face {face_s:.1f}s pass {p['t']:.0f}-{p['t_end']:.0f}s {px}")
        lookers = [tl for tl in counted if tl.looked]
        if watched and not lookers:
            n["watcher:missed"] += 1
            print(f"{cam:6} {who:6} {'watcher:missed':14} tracks {[tl.id for tl in counted]}")
        if len(lookers) > 1:
            n["watcher:split"] += len(lookers) - 1
            print(f"{cam:6} {who:6} {'watcher:split':14} tracks {[tl.id for tl in lookers]}")
        if lookers and not watched:
            n["watcher:false"] += 1
            print(f"{cam:6} {who:6} {'watcher:false':14} tracks {[tl.id for tl in lookers]} "
                  f"{px}")
    for tl in proc.log.values():
        if not tl.counted:
            continue
        n["tracks"] += 1
        if tl.owner is None:
            n["false"] += 1
            print(f"{tl.camera:6} {'-':6} {'false':14} track {tl.id} {dict(tl.people)}")
        elif sum(1 for who, k in tl.people.items() if who is not None and k >= min_hits) > 1:
            n["merged"] += 1
            print(f"{tl.camera:6} {tl.owner:6} {'merged':14} track {tl.id} {dict(tl.people)}")
    return dict(n)


def _into(procs: list[Recording]) -> Callable[..., VisionProcessor]:
    def make(*a: Any, **k: Any) -> VisionProcessor:
        procs.append(Recording(*a, **k))
        return procs[-1]
    return make


@dataclass
class SeedReplay:
    """One seed's cached detections replayed through a recording processor."""

    world: Any
    proc: Recording
    events: list[dict[str, Any]]
    settings: Any
    cameras: set[str]


def replay_args(default_cache: str) -> argparse.Namespace:
    """The command line the per-person tools share."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="what vision_sim_measure --keep wrote")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--scenario", default="normal-day")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--cache", default=default_cache,
                    help="the detection cache's tag (detections-<camera>-<tag>.pkl)")
    ap.add_argument("--vision", action="append", default=[], metavar="KEY=VALUE")
    return ap.parse_args()


def replay_seed(args: argparse.Namespace, seed: int) -> SeedReplay:
    """Rebuild the world `tests.vision_sim_measure` rendered for `seed` and replay its
    cached detections with the `--vision` keys."""
    vision = {k: _value(v) for k, v in (a.split("=", 1) for a in args.vision)}
    where = Path(args.dir) / f"seed-{seed}"
    sc = scenarios()[args.scenario]  # as tests.vision_sim_measure rendered it
    sc = replace(sc, params=apply(sc.params, {
        "camera.fps": args.fps, "camera.width": 640, "camera.height": 480}))
    world = build_world(sc, seed, args.duration)
    caches = {c.id: where / f"detections-{c.id}-{args.cache}.pkl"
              for c in world.layout.cameras}
    dets = {c: pickle.loads(f.read_bytes()) for c, f in caches.items() if f.exists()}
    s = settings(world, where, vision)
    procs: list[Recording] = []
    # second looks (edge.vision.refine, .confirm) on the decoded frames' crops: the real
    # detector at the cache's own threshold, answers memoised as tests.vision_sim_replay does
    crops = where / "crops-cv2-yunet.pkl"
    cached = Cached(dets, ModelInfo("cached", "0", DetectionKind.FACE),
                    memo=pickle.loads(crops.read_bytes()) if crops.exists() else None)
    threshold = float(args.cache.rsplit("-t", 1)[1]) if "-t" in args.cache else 0.6

    def crop_detector() -> Any:
        from tests.vision_pipe_fixtures import CvYuNet, yunet_path
        return CvYuNet(yunet_path(), threshold)

    cached.crops_factory = crop_detector  # type: ignore[method-assign]
    (events,) = replay(world, where, dets, [s], args.fps, make=_into(procs), cached=cached)
    return SeedReplay(world, procs[0], events, s, set(dets))


def main() -> None:
    args = replay_args("cv2-yunet-z2-0.42-0.7")
    total: Counter[str] = Counter()
    for seed in (int(x) for x in args.seeds.split(",")):
        r = replay_seed(args, seed)
        print(f"== seed {seed}")
        n = diagnose(r.world, r.proc, r.events, r.settings.min_hits, args.fps, r.cameras)
        print(f"== seed {seed}", n)
        total.update(n)
    print("== all", dict(total))


if __name__ == "__main__":
    main()
