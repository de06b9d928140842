"""The simulated shoppers' intent and the simulated cloud: popularity, what each shopper comes
for, the interest lists pushed as `journey.interests`, and the true offer opportunities."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from drivers.app_beacon import customer_id
from edge.events import parse_time
from edge.sync.commands import Command
from sim.runner import Options, simulate
from sim.scoring import spearman
from sim.world import OFFER_MIN_STAY_S, build_world, scenarios


def test_shoppers_come_for_popular_products_and_pick_what_they_came_for() -> None:
    w = build_world(scenarios()["normal-day"], 3, 1800)
    popularity = w.truth[0]["popularity"]
    skus = sorted(popularity)
    assert skus == sorted(p.sku for s in w.layout.shelves for p in s.plates)
    assert abs(sum(popularity.values()) - 1.0) < 1e-4 and max(popularity.values()) > 0.2
    visits = {r["visitor"] for r in w.truth if r["type"] == "visit.started"}
    intents = [r for r in w.truth if r["type"] == "intent"]
    assert {r["visitor"] for r in intents} == visits  # one per shopper, at their arrival
    wanted = Counter(s for r in intents for s in r["skus"])
    picked = Counter(r["sku"] for r in w.truth if r["type"] == "pick")
    rho_pop = spearman([popularity[s] for s in skus], [wanted[s] for s in skus])
    rho_pick = spearman([wanted[s] for s in skus], [picked[s] for s in skus])
    assert rho_pop is not None and rho_pop > 0.8
    assert rho_pick is not None and rho_pick > 0.85
    # a product a shopper came for is picked far more often than one they browse past
    own = {(r["visitor"], s) for r in intents for s in r["skus"]}
    picks = [r for r in w.truth if r["type"] == "pick"]
    assert sum((r["visitor"], r["sku"]) in own for r in picks) > 0.75 * len(picks)
    # the shelves' stock never goes below zero, restocks included
    assert min(r["stock"] for r in w.truth if "stock" in r) >= 0
    # another seed ranks the products differently
    other = build_world(scenarios()["normal-day"], 4, 60).truth[0]["popularity"]
    assert sorted(skus, key=popularity.get) != sorted(skus, key=other.get)


def test_the_cloud_pushes_lists_before_arrival_and_opportunities_follow_them() -> None:
    w = build_world(scenarios()["normal-day"], 5, 1800)
    started = {r["visitor"]: r for r in w.truth if r["type"] == "visit.started"}
    lists = [r for r in w.truth if r["type"] == "interests"]
    assert lists
    for r in lists:
        visit = started[r["visitor"]]
        assert visit["opted_in"] and r["customer"] == customer_id(visit["app_user"])
        assert r["t"] <= visit["t"]
        for p in r["products"]:
            assert parse_time(p["expires"]) - w.start_epoch == p["expires_t"]
    assert any(p["expires_t"] < r["t"] for r in lists for p in r["products"])  # stale ones
    listed = {(r["visitor"], p["sku"]): p["expires_t"] for r in lists for p in r["products"]}
    zone_of = {p.sku: s.zone for s in w.layout.shelves for p in s.plates}
    chances = [r for r in w.truth if r["type"] == "offer.opportunity"]
    assert chances and len({(r["visitor"], r["sku"]) for r in chances}) == len(chances)
    stays = {(r["visitor"], r["zone"], round(r["t"] - r["dwell_s"], 2)) for r in w.truth
             if r["type"] == "zone.exited" and r["dwell_s"] >= OFFER_MIN_STAY_S}
    for r in chances:
        assert listed[(r["visitor"], r["sku"])] > r["t"] and r["zone"] == zone_of[r["sku"]]
        assert (r["visitor"], r["zone"], round(r["t"], 2)) in stays
    # shoppers go for what they browsed online: listed products are in most intents
    intents = {r["visitor"]: set(r["skus"]) for r in w.truth if r["type"] == "intent"}
    fresh = [(v, s) for (v, s), exp in listed.items() if exp > started[v]["t"]]
    assert sum(s in intents[v] for v, s in fresh) > 0.5 * len(fresh)
    # nobody browses online when the share is 0
    none = dataclasses.replace(scenarios()["normal-day"], params=dataclasses.replace(
        scenarios()["normal-day"].params, online_share=0.0))
    quiet = build_world(none, 5, 600).truth
    assert not any(r["type"] in ("interests", "offer.opportunity") for r in quiet)


def test_the_runner_pushes_journey_interests_to_a_handler_and_to_the_daemon(
        tmp_path: Path) -> None:
    overrides = {"world.app_share": 1.0, "world.online_share": 1.0,
                 "world.interest_lead_s": (0.0, 20.0)}
    received: list[tuple[str, dict[str, Any]]] = []

    async def interests(cmd: Command) -> dict[str, Any]:
        received.append((cmd.id, cmd.args))
        return {"customer": cmd.args["customer"]}

    def opts(out: Path, **kw: Any) -> Options:
        return Options(seed=2, duration=60.0, out=out, headless=True, snapshot_every_s=60.0,
                       progress=False, overrides=overrides, **kw)

    result = asyncio.run(simulate(opts(tmp_path / "a", command_handlers={
        "journey.interests": interests})))
    lists = [r for r in result.world.truth if r["type"] == "interests"]
    assert lists and result.report["run"]["sent"]["journey_interests"] == {"ok": len(lists)}
    assert [args for _, args in received] == [
        {"customer": r["customer"],
         "products": [{"sku": p["sku"], "expires": p["expires"]} for p in r["products"]]}
        for r in lists]
    # the daemon's own journey processor takes the same lists
    own = asyncio.run(simulate(opts(tmp_path / "b")))
    assert own.report["run"]["sent"]["journey_interests"] == {"ok": len(lists)}
