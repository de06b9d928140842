"""Where the opportunities-to-see error comes from, window by window.

Replays a kept run's cached detections (`tests.vision_sim_replay` first, so the caches
exist) through the real `VisionProcessor` as `tests.vision_sim_tracks` does, gives each
track's boxes to the person whose drawn head holds them, and for every scored audience
window compares the people the truth counts with the counted tracks that had a slice in
it. Each true person the window lacks gets one cause:

- `brief-pass`: the whole pass showed a face for under `MIN_FACE_S` (no tracker is asked
  to find it; the fragmentation scorer ignores it too);
- `brief-window`: the pass is long enough, but its face was in this window for under
  `MIN_FACE_S` and the person's counted track has no frame in this window (a pass that
  crosses the window's edge by a moment);
- `edge`: the person has a counted track in the pass, but none of its frames fall in this
  window although the face was there for `MIN_FACE_S` or more;
- `missed`: no counted track of the person in the pass (the detector's or the tracker's
  miss of a real pass).

Each extra (a counted track in the window whose person the truth does not count there, or
a second track of the same person) is `split` (the person already counted in the window),
`false` (no head under the boxes) or `outside` (a person the truth does not count in the
window: the face's truth interval ends before the track's frames, e.g. a detection of a
face turned more than the truth's 50 degrees).

    .venv/bin/python -m tests.vision_sim_windows --dir /work/vw/tune --seeds 1,2 \
        --cache cv2-yunet-z2-0.42-0.7-t0.3

Prints the opportunities to see against both truths: every glimpse (`truth`, the scorer's
definition before 2026-12) and passes with at least `MIN_FACE_S` of face (`truth_pass`, the
scorer's now), and against a stricter one for comparison (`truth_strict`: at least
`MIN_FACE_S` of face within the window itself). Tuning seeds only (1-10).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from edge.events import parse_time
from edge.vision.pipeline import AUDIENCE_WINDOW
from sim.camera import CameraRenderer
from sim.scoring import Truth
from sim.scoring.vision import MIN_FACE_S, _face_spans, _overlap
from tests.vision_sim_tracks import Recording, heads, owner_of, replay_args, replay_seed


def windows(world: Any, proc: Recording, events: list[dict[str, Any]],
            fps: float) -> Counter[str]:
    t0 = world.start_epoch
    rends = {c.id: CameraRenderer(world, c) for c in world.layout.cameras}
    for tl in proc.log.values():
        for t, box in tl.frames:
            i = round((t - t0) * fps)
            tl.people[owner_of(box, heads(rends[tl.camera], i / fps))] += 1
    counted = {(e["data"]["camera"], e["data"]["track"]) for e in events
               if e["type"] == "omo.vision.person.left"}
    truth = Truth(world.truth)
    passes = defaultdict(list)
    for p in truth.of("camera.pass"):
        passes[p["camera"]].append(p)
    n: Counter[str] = Counter()
    for e in events:
        if e["type"] != AUDIENCE_WINDOW:
            continue
        cam = e["data"]["camera"]
        w1 = parse_time(e["time"]) - t0
        w0 = w1 - float(e["data"]["window_s"])
        tracks = [tl for (c, tid), tl in proc.log.items() if c == cam and (c, tid) in counted
                  and any(w0 <= t - t0 < w1 for t, _ in tl.frames)]
        n["found"] += int(e["data"]["passing"])
        n["tracks_in_window"] += len(tracks)
        true: dict[str, dict[str, Any]] = {}
        for p in passes[cam]:
            spans = _face_spans(p)
            inw = sum(_overlap(a, b, w0, w1) for a, b in spans)
            if any(_overlap(a, b, w0, w1) > 0 for a, b in spans):
                true[p["person"]] = {"p": p, "inw": inw,
                                     "face": sum(b - a for a, b in spans)}
        n["truth"] += len(true)
        n["truth_strict"] += sum(1 for v in true.values() if v["inw"] >= MIN_FACE_S)
        n["truth_pass"] += sum(1 for v in true.values() if v["face"] >= MIN_FACE_S)
        owners = Counter(tl.owner for tl in tracks)
        for who, v in true.items():
            if owners[who]:
                n["hit"] += 1
                continue
            p = v["p"]
            a, b = p["t"] + t0, p["t_end"] + t0 + 3.0
            mine = [tl for (c, tid), tl in proc.log.items() if c == cam
                    and (c, tid) in counted and tl.owner == who
                    and tl.frames[0][0] <= b and tl.frames[-1][0] >= a]
            if v["face"] < MIN_FACE_S:
                kind = "brief-pass"
            elif v["inw"] < MIN_FACE_S:
                kind = "brief-window"
            elif mine:
                kind = "edge"
            else:
                kind = "missed"
            n["lack:" + kind] += 1
        for who, k in owners.items():
            extra = k - (1 if who in true else 0)
            if extra <= 0:
                continue
            kind = "false" if who is None else "split" if who in true else "outside"
            n["extra:" + kind] += extra
    return n


def main() -> None:
    args = replay_args("cv2-yunet-z2-0.42-0.7-t0.3")
    total: Counter[str] = Counter()
    for seed in (int(x) for x in args.seeds.split(",")):
        r = replay_seed(args, seed)
        n = windows(r.world, r.proc, r.events, args.fps)
        print(f"== seed {seed}", dict(sorted(n.items())), flush=True)
        total.update(n)
    print("== all", dict(sorted(total.items())))
    found = total["found"]
    for key in ("truth", "truth_pass", "truth_strict"):
        if total[key]:
            print(f"opportunities to see: found {found}, {key} {total[key]} "
                  f"({(found - total[key]) / total[key]:+.1%})")


if __name__ == "__main__":
    main()
