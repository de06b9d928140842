"""Scorers for the shelf part: picks and returns, and their quantities."""

from __future__ import annotations

from typing import Any

from sim.scoring import EventView, Truth, match_by_time, ratio, scorer

TOLERANCE_S = 5.0
KINDS = {"pick": "omo.shelf.item.picked", "return": "omo.shelf.item.returned"}


def _matches(truth: Truth, events: list[EventView], kind: str
             ) -> tuple[list[dict[str, Any]], list[EventView], list[tuple[int, int]]]:
    true = truth.of(kind)
    found = [e for e in events if e.type == KINDS[kind]]
    pairs = match_by_time(
        [(float(r["t_end"]), r) for r in true], [(e.t, e) for e in found], TOLERANCE_S,
        lambda r, e: r["shelf"] == e.data.get("shelf") and r["plate"] == e.data.get("plate"))
    return true, found, pairs


@scorer("pick_return_precision_recall", part="shelf", better="higher",
        needs=("omo.shelf.item.picked", "omo.shelf.item.returned"),
        how=f"events matched one-to-one to true picks (returns) on the same shelf and plate, "
            f"within {TOLERANCE_S:g} s of the end of the true weight change, closest first; "
            "precision = matched / events, recall = matched / true; bumps must not match")
def pick_return_pr(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    value: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for kind in KINDS:
        true, found, pairs = _matches(truth, events, kind)
        value[f"{kind}_precision"] = ratio(len(pairs), len(found))
        value[f"{kind}_recall"] = ratio(len(pairs), len(true))
        details[kind] = {"events": len(found), "truth": len(true), "matched": len(pairs)}
    return {"value": value, "unit": "fraction", "details": details}


@scorer("quantity_accuracy", part="shelf", better="higher",
        needs=("omo.shelf.item.picked", "omo.shelf.item.returned"),
        how="of the picks and returns matched as in pick_return_precision_recall, the share "
            "whose quantity equals the true quantity")
def quantity_accuracy(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    right = total = 0
    for kind in KINDS:
        true, found, pairs = _matches(truth, events, kind)
        for i, j in pairs:
            total += 1
            right += int(found[j].data.get("quantity", 0) == true[i]["quantity"])
    return {"value": ratio(right, total), "unit": "fraction",
            "details": {"matched": total, "right": right}}
