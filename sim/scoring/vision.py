"""Scorers for the vision part: audience counts in front of each camera's screen, and how
well tracks follow people.

Truth (sim/world.py): `camera.pass` records each person's time in a camera's field of view
with the intervals their face was visible to it (`faces`: turned within 50 degrees, and not
hidden behind nearer people as the camera draws them), and `look` records who looked at
which screen and when."""

from __future__ import annotations

from typing import Any

from sim.scoring import EventView, Truth, ratio, scorer

WINDOW = "omo.vision.audience.window"
LEFT = "omo.vision.person.left"
NEEDS = (WINDOW,)
MIN_FACE_S = 0.5  # a face shown for less than this is not a pass a tracker must find


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _face_spans(p: dict[str, Any]) -> list[tuple[float, float]]:
    """The intervals the pass showed its face; older truth without them: the whole pass."""
    spans = p.get("faces")
    if spans is None:
        return [(float(p["t"]), float(p["t_end"]))]
    return [(float(a), float(b)) for a, b in spans]


def _face_s(p: dict[str, Any]) -> float:
    """Seconds the pass showed its face, over all its spans."""
    return sum(b - a for a, b in _face_spans(p))


def _windows(truth: Truth, events: list[EventView]) -> list[tuple[EventView, dict[str, float]]]:
    """Each audience window event with the truth for the same camera and window
    (the event's time is the end of its window)."""
    out = []
    for e in events:
        if e.type != WINDOW:
            continue
        cam = e.data.get("camera")
        t1 = e.t
        t0 = t1 - float(e.data.get("window_s", 0.0))
        screen = truth.cameras.get(str(cam))
        glimpsed = [p for p in truth.of("camera.pass") if p["camera"] == cam
                    and any(_overlap(a, b, t0, t1) > 0 for a, b in _face_spans(p))]
        seen = {p["person"] for p in glimpsed if _face_s(p) >= MIN_FACE_S}
        looks = [lk for lk in truth.of("look")
                 if lk["target_kind"] == "screen" and lk["target"] == screen
                 and _overlap(lk["t"], lk["t_end"], t0, t1) > 0]
        out.append((e, {"passing": float(len(seen)),
                        "passing_any_glimpse": float(len({p["person"] for p in glimpsed})),
                        "watchers": float(len({lk["visitor"] for lk in looks})),
                        "attention_s": sum(_overlap(lk["t"], lk["t_end"], t0, t1)
                                           for lk in looks)}))
    return out


def _error(truth: Truth, events: list[EventView], key: str,
           truth_key: str | None = None) -> dict[str, Any]:
    pairs = _windows(truth, events)
    found = [float(e.data.get(key, 0.0)) for e, _ in pairs]
    true = [t[truth_key or key] for _, t in pairs]
    mae = sum(abs(f - t) for f, t in zip(found, true, strict=True)) / len(pairs) if pairs \
        else None
    return {"value": ratio(abs(sum(found) - sum(true)), sum(true)), "unit": "relative error",
            "details": {"windows": len(pairs), "events_total": round(sum(found), 2),
                        "truth_total": round(sum(true), 2),
                        "mae_per_window": None if mae is None else round(mae, 3)}}


HOW = ("for each audience window event (camera, window ending at the event's time), the "
       "truth for that camera and window: {what}; value = |sum over windows of the events - "
       "sum of the truth| / sum of the truth, details give the per-window mean absolute error "
       "(windows suppressed for k-anonymity have no event and are not scored)")


@scorer("opportunities_to_see_error", part="vision", better="lower", needs=NEEDS,
        how=HOW.format(what="people (shoppers and staff) in the field of view whose face was "
                            "turned to the camera (within 50 degrees) and not hidden behind "
                            "nearer people at some moment of the window, in a pass that "
                            f"showed the camera a face for at least {MIN_FACE_S} s in total "
                            "(a glimpse shorter than that is no opportunity to see the "
                            "screen; the same passes the fragmentation scorer asks for)")
        + "; details.any_glimpse gives the same with every glimpse counted, the definition "
          "before 2026-12")
def opportunities_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    out = _error(truth, events, "passing")
    old = _error(truth, events, "passing", "passing_any_glimpse")
    out["details"]["any_glimpse"] = {"value": old["value"],
                                     "truth_total": old["details"]["truth_total"]}
    return out


@scorer("watchers_error", part="vision", better="lower", needs=NEEDS,
        how=HOW.format(what="people who looked at the camera's screen during the window"))
def watchers_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    return _error(truth, events, "watchers")


@scorer("attention_time_error", part="vision", better="lower", needs=NEEDS,
        how=HOW.format(what="seconds spent looking at the camera's screen within the window"))
def attention_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    return _error(truth, events, "attention_s")


@scorer("track_fragmentation_error", part="vision", better="lower", needs=(LEFT,),
        how="person.left events per camera against the true passes that showed the camera a "
            f"face for at least {MIN_FACE_S} s in total; value = |events / true passes - 1| "
            "over every camera; details give it signed (above 0: passes split into several "
            "tracks, or false tracks; below 0: passes missed)")
def fragmentation(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    cams = sorted(truth.cameras)
    found = {c: sum(1 for e in events if e.type == LEFT and e.data.get("camera") == c)
             for c in cams}
    true = {c: sum(1 for p in truth.of("camera.pass") if p["camera"] == c
                   and _face_s(p) >= MIN_FACE_S) for c in cams}
    total_t = sum(true.values())
    signed = None if not total_t else round(sum(found.values()) / total_t - 1.0, 4)
    return {"value": None if signed is None else abs(signed), "unit": "|tracks per pass - 1|",
            "details": {"tracks": found, "passes": true, "signed": signed}}
