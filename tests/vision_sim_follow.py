"""Follow each missed person frame by frame: was the face detected, how well, and which
track took it?

Replays a kept run's cached detections (`tests.vision_sim_replay` first, so the caches
exist) as `tests.vision_sim_tracks` does, and for every pass with at least `MIN_FACE_S` of
face that no counted track holds (or the people named with `--who camera:person`), prints
each frame of its face spans: the person's distance, drawn head size and yaw (the
renderer's own geometry), and the best cached detection (at the cache's threshold, e.g.
0.3) whose centre the person's head holds: its score, box size and the track that took it
(id, counted, frames), or none. The tally per pass (`strong` at `min_score` 0.6, `weak`
under it, `none`) tells a detector-limited miss (no or one strong frame) from a track too
short for `min_track_frames` (strong frames with weak ones between) or a merge.

    .venv/bin/python -m tests.vision_sim_follow --dir /work/scratch-vis13/r --seeds 12 \
        --cache cv2-yunet-z2-0.42-0.7-t0.3 [--who cam-2:v0008] [--vision KEY=VALUE]

Tuning and diagnosis seeds only.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from collections import Counter
from pathlib import Path

from edge.vision.detection import Detection
from sim.camera import CameraRenderer
from sim.scoring import Truth
from sim.scoring.vision import MIN_FACE_S, _face_spans
from tests.vision_sim_tracks import heads, owner_of, replay_args, replay_seed

STRONG = 0.6


def follow(args: argparse.Namespace, seed: int, who: set[str]) -> Counter[str]:
    r = replay_seed(args, seed)
    world, proc, fps = r.world, r.proc, args.fps
    t0 = world.start_epoch
    rends = {c.id: CameraRenderer(world, c) for c in world.layout.cameras}
    where = Path(args.dir) / f"seed-{seed}"
    dets: dict[str, list[list[Detection]]] = {
        c: pickle.loads((where / f"detections-{c}-{args.cache}.pkl").read_bytes())
        for c in rends}
    counted = {(e["data"]["camera"], e["data"]["track"]) for e in r.events
               if e["type"] == "omo.vision.person.left"}
    took: dict[tuple[str, int, int, int], tuple[int, bool, int]] = {}
    for (c, tid), tl in proc.log.items():
        for t, b in tl.frames:
            i = round((t - t0) * fps)
            took[(c, i, round(b.x1), round(b.y1))] = (tid, (c, tid) in counted, len(tl.frames))
            tl.people[owner_of(b, heads(rends[c], i / fps))] += 1
    total: Counter[str] = Counter()
    for p in sorted(Truth(world.truth).of("camera.pass"), key=lambda p: (p["camera"], p["t"])):
        spans = _face_spans(p)
        face = sum(b - a for a, b in spans)
        cam, person = p["camera"], p["person"]
        if face < MIN_FACE_S or cam not in r.cameras:
            continue
        mine = [tl.id for tl in proc.log.values() if tl.camera == cam and tl.owner == person
                and (cam, tl.id) in counted and tl.frames[0][0] <= p["t_end"] + t0 + 3
                and tl.frames[-1][0] >= p["t"] + t0]
        if who and f"{cam}:{person}" not in who and person not in who:
            continue
        if not who and mine:
            continue
        print(f"=== seed {seed} {cam} {person} pass {p['t']:.1f}-{p['t_end']:.1f} s, face "
              f"{face:.1f} s in {[(round(a, 1), round(b, 1)) for a, b in spans]}, counted "
              f"tracks {mine}")
        tally: Counter[str] = Counter()
        for a, b in spans:
            for i in range(math.ceil(a * fps), min(math.floor(b * fps) + 1, len(dets[cam]))):
                t = i / fps
                hs = heads(rends[cam], t)
                me = [h for h in hs if h[1] == person]
                if not me:
                    continue
                yaw = next(y for _, ag, _, y in rends[cam].people(t) if ag.id == person)
                best: Detection | None = None
                for d in dets[cam][i]:
                    if owner_of(d.box, hs) == person and (best is None or d.score > best.score):
                        best = d
                if best is None:
                    tally["none"] += 1
                    what = "-"
                else:
                    tally["strong" if best.score >= STRONG else "weak"] += 1
                    k = took.get((cam, i, round(best.box.x1), round(best.box.y1)))
                    what = (f"{best.score:.2f} {max(best.box.width, best.box.height):.0f}px "
                            f"track {k}")
                print(f"  t={t:6.1f} d={me[0][0]:4.1f}m head={me[0][2].width:.0f}px "
                      f"yaw={math.degrees(yaw):+4.0f} {what}")
        print("  ", dict(tally))
        total["passes"] += 1
        total.update(tally)
    return total


def main() -> None:
    who: set[str] = set()
    argv = sys.argv[1:]
    while "--who" in argv:  # ours, not the shared replay arguments
        k = argv.index("--who")
        who |= set(argv[k + 1].split(","))
        del argv[k:k + 2]
    sys.argv[1:] = argv
    args = replay_args("cv2-yunet-z2-0.42-0.7-t0.3")
    total: Counter[str] = Counter()
    for seed in (int(x) for x in args.seeds.split(",")):
        total.update(follow(args, seed, who))
    print("== all", dict(total))


if __name__ == "__main__":
    main()
