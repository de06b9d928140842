"""Scorers for the vision part: audience counts in front of each camera's screen."""

from __future__ import annotations

from typing import Any

from sim.scoring import EventView, Truth, ratio, scorer

NEEDS = ("omo.vision.audience.window",)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _windows(truth: Truth, events: list[EventView]) -> list[tuple[EventView, dict[str, float]]]:
    """Each audience window event with the truth for the same camera and window
    (the event's time is the end of its window)."""
    out = []
    for e in events:
        if e.type != NEEDS[0]:
            continue
        cam = e.data.get("camera")
        t1 = e.t
        t0 = t1 - float(e.data.get("window_s", 0.0))
        screen = truth.cameras.get(str(cam))
        passing = {p["person"] for p in truth.of("camera.pass")
                   if p["camera"] == cam and _overlap(p["t"], p["t_end"], t0, t1) > 0}
        looks = [lk for lk in truth.of("look")
                 if lk["target_kind"] == "screen" and lk["target"] == screen
                 and _overlap(lk["t"], lk["t_end"], t0, t1) > 0]
        out.append((e, {"passing": float(len(passing)),
                        "watchers": float(len({lk["visitor"] for lk in looks})),
                        "attention_s": sum(_overlap(lk["t"], lk["t_end"], t0, t1)
                                           for lk in looks)}))
    return out


def _error(truth: Truth, events: list[EventView], key: str) -> dict[str, Any]:
    pairs = _windows(truth, events)
    found = [float(e.data.get(key, 0.0)) for e, _ in pairs]
    true = [t[key] for _, t in pairs]
    mae = sum(abs(f - t) for f, t in zip(found, true, strict=True)) / len(pairs) if pairs \
        else None
    return {"value": ratio(abs(sum(found) - sum(true)), sum(true)), "unit": "relative error",
            "details": {"windows": len(pairs), "events_total": round(sum(found), 2),
                        "truth_total": round(sum(true), 2),
                        "mae_per_window": None if mae is None else round(mae, 3)}}


HOW = ("for each audience window event (camera, window ending at the event's time), the "
       "truth for that camera and window: {what}; value = |sum over windows of the events - "
       "sum of the truth| / sum of the truth, details give the per-window mean absolute error")


@scorer("people_passing_error", part="vision", better="lower", needs=NEEDS,
        how=HOW.format(what="people (shoppers and staff) inside the field of view at any "
                            "moment of the window"))
def passing_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    return _error(truth, events, "passing")


@scorer("watchers_error", part="vision", better="lower", needs=NEEDS,
        how=HOW.format(what="people who looked at the camera's screen during the window"))
def watchers_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    return _error(truth, events, "watchers")


@scorer("attention_time_error", part="vision", better="lower", needs=NEEDS,
        how=HOW.format(what="seconds spent looking at the camera's screen within the window"))
def attention_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    return _error(truth, events, "attention_s")
