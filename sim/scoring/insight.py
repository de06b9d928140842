"""Scorers for the insight part: which products draw interest."""

from __future__ import annotations

from typing import Any

from sim.scoring import EventView, Truth, scorer, spearman


@scorer("product_interest_rho", part="insight", better="higher",
        needs=("omo.shelf.item.picked", "omo.shelf.item.returned"),
        how="Spearman's rho (ties averaged) between products ranked by true interest (looks "
            "at the product + picks + returns) and by the log's interactions (picked + "
            "returned events per SKU, the SKU from the event or the plate's configuration), "
            "over every product on the shelves")
def product_interest_rho(truth: Truth, events: list[EventView]) -> dict[str, Any]:
    skus = sorted(set(truth.plates.values()))
    true = dict.fromkeys(skus, 0.0)
    for r in truth.of("look"):
        for sku in r.get("skus", ()):
            true[sku] = true.get(sku, 0.0) + 1
    for kind in ("pick", "return"):
        for r in truth.of(kind):
            true[r["sku"]] = true.get(r["sku"], 0.0) + 1
    found = dict.fromkeys(skus, 0.0)
    for e in events:
        if e.type in ("omo.shelf.item.picked", "omo.shelf.item.returned"):
            sku = e.data.get("sku") or truth.plates.get(
                (str(e.data.get("shelf")), str(e.data.get("plate"))))
            if sku in found:
                found[sku] += 1
    rho = spearman([true[s] for s in skus], [found[s] for s in skus])
    return {"value": None if rho is None else round(rho, 4), "unit": "rho",
            "details": {"truth": true, "events": found}}
