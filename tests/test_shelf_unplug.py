"""No shelf event lost across an unplug: the simulated store writes to a real pty that the
daemon's reader opens with pyserial; shelf-2's controller is unplugged (its pty closed and
its by-id link removed) for 35-55 % of the run and plugged back in (a new pty behind the
same link); the daemon's source loop reconnects with back-off.

"No event lost" means: every pick and return made while the controller was connected is
reported as its own event; the changes made while it was away, which nobody could weigh,
come back as one `omo.shelf.stock.changed` with reason `correction` per plate, whose `delta`
is their net quantity; and after the run every plate's count is the true count."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.eventlog import open_readonly
from sim.scoring import Truth, event_views
from sim.scoring.shelf import _matches
from tests.sim_fixtures import short_run

SEED, DURATION = 13, 150.0  # the outage (52.5-82.5 s) holds two picks and a return on shelf-2


def test_no_shelf_event_is_lost_across_an_unplug_and_replug(tmp_path: Path) -> None:
    res = asyncio.run(short_run(tmp_path, scenario="sensor-unplug", seed=SEED,
                                duration=DURATION))
    assert res.report["run"]["components"]["shelf:shelf-2"]["counters"]["disconnects"] == 1
    el = open_readonly(tmp_path / "events.db")
    events = event_views([s.event.to_dict() for s in el.query()], res.world.start_epoch)
    el.close()
    truth = Truth(res.world.truth)
    (_, off, plugged), = res.world.outages("shelf")
    # the controller is back when the daemon's reader has reconnected (its back-off runs in
    # real time while the simulated clock runs many times faster)
    on = min(e.t for e in events if e.type == "omo.sensor.status.changed"
             and e.data["sensor"] == "shelf-2" and e.data["status"] == "online"
             and e.t >= plugged)
    changes = [r for k in ("pick", "return", "restock") for r in truth.of(k)]
    away = [r for r in changes if r["shelf"] == "shelf-2" and off < r["t"] and r["t_end"] < on]
    straddling = [r for r in changes if r["shelf"] == "shelf-2" and r not in away
                  and r["t"] <= on and r["t_end"] >= off]
    assert away, "the outage must hold changes for this test to mean anything"
    assert any(r["shelf"] == "shelf-2" and r["t"] > on for r in truth.of("pick"))
    run = res.report["run"]
    why = (run["ticks_readers_lagged"], {k: v["counters"] for k, v in run["components"].items()
                                         if k.startswith(("shelf", "processor:shelf"))})
    # every pick and return made while connected (and done before the run ends) is an
    # event of its own
    for kind in ("pick", "return"):
        true, found, pairs = _matches(truth, events, kind)
        connected = {i for i, r in enumerate(true)
                     if r not in away and r not in straddling and r["t_end"] < DURATION - 5}
        assert connected <= {i for i, _ in pairs}, (kind, why)
        assert len(pairs) == len(found)  # and nothing else is
    # what changed while away is one correction per plate, with its net quantity, at replug
    net: dict[str, int] = {}
    for r in away:
        net[r["plate"]] = net.get(r["plate"], 0) + (-1 if r["type"] == "pick" else 1) \
            * int(r["quantity"])
    corrections = {e.data["plate"]: e.data["delta"] for e in events
                   if e.type == "omo.shelf.stock.changed" and e.data["shelf"] == "shelf-2"
                   and e.data["reason"] == "correction"}
    assert corrections == {p: d for p, d in net.items() if d}, why
    at = [(round(e.t, 1), e.data["shelf"], e.data["plate"], e.data["delta"]) for e in events
          if e.type == "omo.shelf.stock.changed"
          and e.data["reason"] == "correction"]
    assert all(on <= t <= on + 5 for t, _, _, _ in at), (at, on, why)
    # every plate ends at its true count (plates still being handled at the end aside)
    final: dict[tuple[str, str], int] = {}
    for e in events:
        if e.type == "omo.shelf.stock.changed":
            final[(e.data["shelf"], e.data["plate"])] = int(e.data["count"])
    busy = {(r["shelf"], r["plate"]) for r in changes if r["t_end"] > DURATION - 5}
    last: dict[tuple[str, str], int] = {}
    for r in sorted(changes, key=lambda r: r["t_end"]):
        last[(r["shelf"], r["plate"])] = int(r["stock"])
    checked = {k: v for k, v in last.items() if k not in busy}
    assert len(checked) >= 5
    assert {k: final.get(k) for k in checked} == checked, why
