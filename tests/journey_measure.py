"""Measure the journey processor on stored simulator runs, without running the simulator
again: each run's event log (the journey's own events left out, the simulated cloud's
interest lists put back from the truth when the log lacks them) goes through a fresh journey
processor with the host's one-second ticks, and every attributed pick is compared with the
true picker, every offer with the truth's opportunities (docs/journey.md, Measured).

    .venv/bin/python -m tests.journey_measure RUN_DIR [RUN_DIR ...] \
        [--set attribution_window_s=10 --set attribution_threshold=0.5]

RUN_DIR is an `omo-edge sim --out` folder (events.db, truth.jsonl), e.g. the seed-N
folders of `omo-edge sim --seeds 1-8 --out DIR`. It prints one line per run and the pooled
figures; use tuning seeds (1-10) to choose settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from drivers.app_beacon import customer_id
from edge.events import Event, parse_time
from edge.journey.processor import ATTRIBUTED, INTERESTS, OFFER, JourneyProcessor, from_config
from edge.processing.processor import Emission, Output
from sim.runner import sim_config
from sim.world import build_world, scenarios

MATCH_S = 6.0  # a true pick on the same plate within this of the attributed one


def _inputs(run: Path, truth: list[dict[str, Any]]) -> list[Event]:
    start = float(truth[0]["start_epoch"])
    db = sqlite3.connect(f"file:{run / 'events.db'}?mode=ro", uri=True)
    rows = db.execute("SELECT type, time, data FROM events WHERE (type NOT LIKE 'omo.journey%' "
                      "OR type = ?) AND type NOT LIKE 'omo.signage%' ORDER BY seq",
                      (INTERESTS,)).fetchall()
    had = db.execute("SELECT count(*) FROM events WHERE type = ?", (INTERESTS,)).fetchone()[0]
    db.close()
    lists = [] if had else sorted(((start + float(r["t"]), r) for r in truth
                                   if r["type"] == "interests"), key=lambda x: x[0])
    events: list[Event] = []
    k = 0
    for event_type, time, data in rows:
        while k < len(lists) and lists[k][0] <= parse_time(time):
            at, r = lists[k]
            k += 1
            events.append(Event.new(INTERESTS, {"customer": r["customer"], "products": [
                {"sku": p["sku"], "expires": p["expires"]} for p in r["products"]]},
                source="omo-edge://m/m", bootid="0" * 32, epoch_s=at))
        events.append(Event(id="0", type=event_type, source="omo-edge://m/m", time=time,
                            data=json.loads(data), bootid="0" * 32))
    return events


def replay(processor: JourneyProcessor, events: list[Event]) -> list[Emission]:
    """The events in log order, with a tick every second before any later input."""
    out: list[Emission] = []
    tick: float | None = None
    for event in events:
        t = parse_time(event.time)
        tick = float(int(t)) + 1.0 if tick is None else tick
        while tick <= t:
            o = Output(tick)
            processor.on_tick(tick, o)
            out += o.emissions
            tick += 1.0
        o = Output(t)
        processor.on_event(event, o)
        out += o.emissions
    for _ in range(180):
        if tick is None:
            break
        o = Output(tick)
        processor.on_tick(tick, o)
        out += o.emissions
        tick += 1.0
    return out


def measure(run: Path, settings: dict[str, Any]) -> dict[str, Any]:
    truth = [json.loads(line) for line in (run / "truth.jsonl").open()]
    head = truth[0]
    world = build_world(scenarios()[head["scenario"]], int(head["seed"]),
                        float(head["duration_s"]))
    processor = from_config(sim_config(world, run, None))
    processor.s = dataclasses.replace(processor.s, **settings)
    emitted = replay(processor, _inputs(run, truth))
    start = float(head["start_epoch"])
    member = {r["visitor"]: customer_id(int(r["app_user"])) for r in truth
              if r["type"] == "visit.started" and r.get("app_user") is not None}
    picks = [r for r in truth if r["type"] == "pick"]
    right = wrong = 0
    for m in emitted:
        if m.type != ATTRIBUTED:
            continue
        d, t = m.data, m.at - start
        near = [p for p in picks if p["shelf"] == d["shelf"] and p["plate"] == d["plate"]
                and abs(p["t"] - t) < MATCH_S]
        ok = bool(near) and member.get(
            min(near, key=lambda p: abs(p["t"] - t))["visitor"]) == d["customer"]
        right, wrong = right + ok, wrong + (not ok)
    chances = {(r["customer"], r["sku"]) for r in truth if r["type"] == "offer.opportunity"}
    listed = {(r["customer"], p["sku"]) for r in truth if r["type"] == "interests"
              for p in r["products"]}
    offers: Counter[str] = Counter()
    for m in emitted:
        if m.type == OFFER:
            key = (m.data["customer"], m.data["sku"])
            offers["right" if key in chances else "listed" if key in listed else "wrong"] += 1
    return {"run": str(run), "attributed_right": right, "attributed_wrong": wrong,
            "precision": round(right / max(1, right + wrong), 3),
            "app_user_units": sum(p["quantity"] for p in picks if p["visitor"] in member),
            "opportunities": len(chances), "offers": dict(offers)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a [journey] setting, e.g. attribution_window_s=10")
    args = parser.parse_args()
    settings: dict[str, Any] = {k: float(v) for k, _, v in (s.partition("=") for s in args.set)}
    rows = [measure(run, settings) for run in args.runs]
    for row in rows:
        print(json.dumps(row))
    right = sum(r["attributed_right"] for r in rows)
    wrong = sum(r["attributed_wrong"] for r in rows)
    chances = sum(r["opportunities"] for r in rows)
    offered = sum(r["offers"].get("right", 0) for r in rows)
    print(json.dumps({"settings": settings, "precision": round(right / max(1, right + wrong), 3),
                      "worst_precision": min(r["precision"] for r in rows),
                      "attributed_right": right, "attributed_wrong": wrong,
                      "offer_recall": round(offered / max(1, chances), 3),
                      "offers_wrong": sum(r["offers"].get("wrong", 0) for r in rows)}))


if __name__ == "__main__":
    main()
