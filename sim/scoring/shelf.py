"""Scorers for the shelf part: picks and returns, their quantities, the stock count, and
bumps or restocks taken for picks."""

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


CHANGES = ("pick", "return", "restock")


@scorer("stock_level_error", part="shelf", better="lower",
        needs=("omo.shelf.stock.changed",),
        how="after each true pick, return and restock, the plate's count in the latest "
            "omo.shelf.stock.changed against the true count; latest as of the end of the "
            f"weight change plus {TOLERANCE_S:g} s, or the end of the plate's next true "
            "change if sooner; mean absolute error in items (details: share exact, worst)")
def stock_level_error(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    changed = sorted((e.t, e.data.get("shelf"), e.data.get("plate"), e.data.get("count"))
                     for e in events if e.type == "omo.shelf.stock.changed")
    true = sorted((float(r["t_end"]), r["shelf"], r["plate"], int(r["stock"]))
                  for kind in CHANGES for r in truth.of(kind) if "stock" in r)
    errors: list[int] = []
    for i, (t_end, shelf, plate, count) in enumerate(true):
        later = [t for t, s, p, _ in true[i + 1:] if s == shelf and p == plate]
        when = min([t_end + TOLERANCE_S, *later[:1]])
        latest = [c for t, s, p, c in changed if t <= when and s == shelf and p == plate]
        if latest and isinstance(latest[-1], int):
            errors.append(abs(latest[-1] - count))
    return {"value": ratio(sum(errors), len(errors)), "unit": "items",
            "details": {"checked": len(errors), "exact": sum(1 for e in errors if e == 0),
                        "worst": max(errors, default=0)}}


@scorer("false_from_bumps_restocks", part="shelf", better="lower",
        needs=("omo.shelf.item.picked", "omo.shelf.item.returned"),
        how=f"picks and returns reported within {TOLERANCE_S:g} s of a bump (its time), a "
            "restock or a touch (a hand that took nothing: the end of its weight change) on "
            "the same shelf and plate, matched one-to-one; a count (0 is right)")
def false_from_bumps_restocks(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    found = [e for e in events if e.type in KINDS.values()]
    decoys = [(float(r["t"]), r) for r in truth.of("bump")] + [
        (float(r["t_end"]), r) for kind in ("restock", "touch") for r in truth.of(kind)]
    pairs = match_by_time(decoys, [(e.t, e) for e in found], TOLERANCE_S,
                          lambda r, e: r["shelf"] == e.data.get("shelf")
                          and r["plate"] == e.data.get("plate"))
    real = [(float(r["t_end"]), r) for k in KINDS for r in truth.of(k)]
    # an event that also matches a true pick or return near the decoy is not the decoy's
    taken = {j for _, j in match_by_time(real, [(e.t, e) for e in found], TOLERANCE_S,
                                         lambda r, e: r["shelf"] == e.data.get("shelf")
                                         and r["plate"] == e.data.get("plate"))}
    bad = [(i, j) for i, j in pairs if j not in taken]
    by_kind = {"bump": 0, "restock": 0, "touch": 0}
    for i, _ in bad:
        by_kind[decoys[i][1]["type"]] += 1
    return {"value": len(bad), "unit": "events",
            "details": {"bumps": len(truth.of("bump")), "restocks": len(truth.of("restock")),
                        "touches": len(truth.of("touch")),
                        **{f"from_{k}": v for k, v in by_kind.items()}}}
