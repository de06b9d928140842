"""What the attention test sees on the simulated store: the yaw ratio of each face the
detector finds, beside the head yaw the simulator drew, by face size and by what the person
was doing.

Renders every `--step`-th frame of each camera (no video file, no daemon), runs the zoomed
detector on it (as the pipeline does), and gives each detection to the person whose drawn
head contains its centre (the nearest one when heads overlap). Prints, per |yaw| bin of 10
degrees and face-box size bin, the share of faces with |yaw ratio| < `--enter` (a look
starts there), then the faces turned 20 degrees or more that still passed, by activity.

    .venv/bin/python -m tests.vision_sim_yaw --seeds 2 --step 10

Tuning seeds only (1-10).
"""

from __future__ import annotations

import argparse
import math
from collections import Counter, defaultdict
from dataclasses import replace

from edge.vision.attention import yaw_ratio
from edge.vision.refine import RefineParams, refine_face
from edge.vision.zoom import ZoomedDetector, ZoomParams
from sim.camera import CameraRenderer
from sim.overrides import apply
from sim.world import CAMERA_HEIGHT_M, HEAD_HEIGHT_M, HEAD_M, build_world, scenarios
from tests.vision_pipe_fixtures import CvYuNet, yunet_path

SIZES = (30, 50, 80)  # face box (larger side, px) bin bounds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="2")
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--scenario", default="normal-day")
    ap.add_argument("--step", type=int, default=10, help="every n-th frame (10 frames/s)")
    ap.add_argument("--enter", type=float, default=0.2)
    ap.add_argument("--min-score", type=float, default=0.6)
    ap.add_argument("--refine", type=float, default=0.0,
                    help="faces under this many px: landmarks from a second look "
                         "(edge.vision.refine), a second table beside the first")
    ap.add_argument("--refine-zoom", type=float, default=4.0)
    args = ap.parse_args()
    sc = scenarios()[args.scenario]
    sc = replace(sc, params=apply(sc.params, {"camera.fps": 10.0, "camera.width": 640,
                                              "camera.height": 480}))
    crop_det = CvYuNet(yunet_path())
    det = ZoomedDetector(CvYuNet(yunet_path()), ZoomParams(2.0))
    rp = RefineParams(args.refine, args.refine_zoom)
    table: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    refined: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    turned: Counter[tuple[str, str, bool]] = Counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        world = build_world(sc, seed, args.duration)
        for cam in world.layout.cameras:
            r = CameraRenderer(world, cam)
            for i in range(0, int(args.duration * r.fps), args.step):
                t = i / r.fps
                people = r.people(t)
                if not people:
                    continue
                heads = []
                for d, agent, rel, yaw in people:
                    u = r.w / 2 + r.focal * math.tan(rel)
                    scale = r.focal / max(d, 0.5)
                    head = max(8, int(HEAD_M * scale))
                    hy = r.h / 2 + (CAMERA_HEIGHT_M - HEAD_HEIGHT_M) * scale
                    heads.append((d, agent, yaw, u - head / 2, hy - head / 2, u + head / 2,
                                  hy + head / 2))
                frame = r.frame(t)
                for f in det.detect(frame):
                    if f.score < args.min_score or f.landmarks is None:
                        continue
                    ratio = yaw_ratio(f.landmarks)
                    cx, cy = (f.box.x1 + f.box.x2) / 2, (f.box.y1 + f.box.y2) / 2
                    inside = [h for h in heads if h[3] <= cx <= h[5] and h[4] <= cy <= h[6]]
                    if ratio is None or not inside:
                        continue
                    d, agent, yaw, *_ = min(inside, key=lambda h: h[0])
                    size = max(f.box.width, f.box.height)
                    yb = min(int(abs(math.degrees(yaw)) // 10), 5)
                    sb = sum(size >= s for s in SIZES)
                    low = abs(ratio) < args.enter
                    table[(yb, sb)][0] += 1
                    table[(yb, sb)][1] += low
                    if rp.enabled and size < rp.below_px:
                        g = refine_face(crop_det, frame, f, rp)
                        r2 = yaw_ratio(g.landmarks) if g is not None and g.landmarks else None
                        refined[(yb, sb)][0] += 1
                        refined[(yb, sb)][1] += abs(r2 if r2 is not None else ratio) < args.enter
                        refined[(yb, sb)][2] += r2 is None
                    if abs(math.degrees(yaw)) >= 20:
                        st = agent.state(t)
                        act = st[3].split(":")[0] if st is not None else "?"
                        turned[(cam.id, act, low)] += 1
    print(f"share of faces with |yaw ratio| < {args.enter} (faces), by drawn |yaw| and face "
          f"size (px, bins {SIZES})")
    for yb in range(6):
        print(f"{yb * 10:>2}-{yb * 10 + 10:<3} deg  " + "  ".join(
            f"{table[(yb, sb)][1] / max(1, table[(yb, sb)][0]):.2f} ({table[(yb, sb)][0]:>4})"
            for sb in range(len(SIZES) + 1)))
    if rp.enabled:
        print(f"the faces under {rp.below_px:g} px after a second look at {rp.zoom:g}x: share "
              "under the threshold (faces, not found again: first look's kept)")
        for yb in range(6):
            print(f"{yb * 10:>2}-{yb * 10 + 10:<3} deg  " + "  ".join(
                f"{refined[(yb, sb)][1] / max(1, refined[(yb, sb)][0]):.2f} "
                f"({refined[(yb, sb)][0]:>4}, {refined[(yb, sb)][2]:>3})"
                for sb in range(len(SIZES) + 1)))
    print("faces turned 20 degrees or more: camera, activity, passed the look test -> faces")
    for key, n in sorted(turned.items()):
        print(" ", key, n)


if __name__ == "__main__":
    main()
