"""`omo-edge bench sync`: events/s from append to PUBACK (marked delivered) through the
event log, the emitter and the sync publisher, against raw paho-mqtt publishing the same
payloads to the same topics at QoS 1 with the same in-flight window (the ceiling); and a
drain of a backlog built during an outage, with its peak RSS.

`ratio` is against raw paho with its own network thread (``loop_start``, the usual way);
`ratio_vs_raw_asyncio` is against raw paho driven from an asyncio loop as omo-edge drives
it, which is about twice as fast on a small machine: both are reported.

Each measurement runs in its own child process (a clean peak RSS per phase); each child
talks to a real Mosquitto started with edge.mosquitto.

What the ceilings and the live path share: the same events (fixed seed), topics, MQTT
version, QoS 1 and in-flight window (our own, paho's unlimited), and the same payload bytes
(`payload_bytes_total` shows the sums: the ceiling sends each event's JSON with seq 1..n,
ours each stored event with the seq the log gave it, 1..n). What only the live path does,
and what the ratio prices: 64 producer tasks appending through the emitter (each waits for
its event to be durable), the group-committed SQLite append (fsync per batch), the outbox
bookkeeping and the delivered marks written to the log; its clock runs from the first
append to the last event *marked delivered*, the ceiling's from the first publish to the
last PUBACK. Our client also asks for a persistent session (clean start off, session
expiry) and announces a Maximum Packet Size, and our process runs with the collector
settings of `omo-edge run` (`edge.runtime.tune_gc`), as the daemon does; the ceilings run
paho as shipped, with Python's defaults. In the other direction, what only ours has: its
client reads the socket in 64 KiB chunks instead of paho's three reads a packet, and corks
it while writing a window (`drivers.paho_asyncio`); the ratio counts that as ours. Every
child, ceilings included, collects and freezes its heap just before its clock starts
(`_settle_heap`), so that no run pays for collecting the inputs built before it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

CHILD_KINDS = ("raw", "raw-asyncio", "omo-live", "omo-drain")

HELP = "MQTT sync: append-to-PUBACK events/s and a backlog drain vs raw paho"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=20000,
                        help="events in the append-to-PUBACK run (default 20000)")
    parser.add_argument("--drain-events", type=int, default=100000,
                        help="events backlogged during the outage (default 100000)")
    parser.add_argument("--window", type=int, default=200,
                        help="in-flight window, ours and raw paho's (default 200, as "
                             "broker.max_inflight)")
    parser.add_argument("--protocol", choices=["3.1.1", "5"], default="5")
    parser.add_argument("--payload-bytes", type=int, default=200,
                        help="size of the text field in each event (default 200)")
    parser.add_argument("--producers", type=int, default=64,
                        help="concurrent tasks appending events (default 64)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of the live comparison; the best of each is kept")
    parser.add_argument("--child", choices=CHILD_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)


# --------------------------------------------------------------------- payloads
def _events(n: int, payload_bytes: int, start: int = 0) -> Any:
    """The same events in every child: ids, times and payloads from a fixed seed."""
    import random
    import uuid

    from edge.catalogue import Priority
    from edge.events import Event, format_time, source_uri

    rng = random.Random(20261123 + start)
    src = source_uri("bench", "edge-01")
    boot = "b" * 32
    base = 1_767_225_600.0
    letters = "abcdefghijklmnopqrstuvwxyz"
    for i in range(start, start + n):
        ms = int(base * 1000) + i
        value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
        value |= rng.getrandbits(62)
        yield Event(id=str(uuid.UUID(int=value)), type="omo.test.sample.created", source=src,
                    time=format_time(ms / 1000), bootid=boot, priority=Priority.LOW,
                    data={"n": i, "payload": "".join(rng.choices(letters, k=payload_bytes))})


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _settle_heap() -> None:
    """Called by every child just before its clock starts: collect, then move everything
    alive (the inputs built before the clock, modules, the client) out of the collector's
    reach (`gc.freeze`). The inputs differ in kind: the ceilings hold their messages as
    strings, which the cyclic collector skips, while the live run holds its events as
    Event objects with data dicts, which every full collection would walk again; without
    this the live run's clock paid for collecting the bench's own inputs."""
    import gc

    gc.collect()
    gc.freeze()


def _broker_config(port: int, protocol: str, window: int) -> Any:
    from edge.config import parse

    return parse({"store": {"id": "bench", "device": "edge-01"},
                  "broker": {"host": "127.0.0.1", "port": port, "protocol": protocol,
                             "max_inflight": window}}, env={}).broker


# ------------------------------------------------------------------ raw paho
def _child_raw(args: argparse.Namespace) -> dict[str, Any]:
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.sync.topics import Topics

    topics = Topics("omo/v1", "bench", "edge-01")
    msgs = [(topics.event(e.type), e.with_seq(i + 1).to_json())
            for i, e in enumerate(_events(args.n, args.payload_bytes))]
    proto = mqtt.MQTTv5 if args.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=proto)
    client.max_inflight_messages_set(0)  # the window is kept below, as ours is
    cond = threading.Condition()
    state = {"inflight": 0, "acked": 0}
    connected = threading.Event()

    def on_publish(*_: Any) -> None:
        with cond:
            state["inflight"] -= 1
            state["acked"] += 1
            cond.notify()

    client.on_publish = on_publish
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", args.port, 30)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("raw paho: no connection")
    window = args.window
    _settle_heap()
    t0 = time.perf_counter()
    for topic, payload in msgs:
        with cond:
            while state["inflight"] >= window:
                cond.wait()
            state["inflight"] += 1
        client.publish(topic, payload, qos=1)
    with cond:
        while state["acked"] < len(msgs):
            cond.wait()
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    return {"events": len(msgs), "per_s": len(msgs) / elapsed, "seconds": elapsed,
            "peak_rss_mb": _peak_rss_mb(), "bytes": sum(len(p.encode()) for _, p in msgs)}


async def _raw_asyncio(args: argparse.Namespace) -> dict[str, Any]:
    """Raw paho driven from an asyncio loop (external-loop API), as omo-edge drives it."""
    import asyncio

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.sync.topics import Topics

    topics = Topics("omo/v1", "bench", "edge-01")
    msgs = [(topics.event(e.type), e.with_seq(i + 1).to_json())
            for i, e in enumerate(_events(args.n, args.payload_bytes))]
    loop = asyncio.get_running_loop()
    proto = mqtt.MQTTv5 if args.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-aio",
                         protocol=proto)
    client.max_inflight_messages_set(0)
    state = {"inflight": 0, "acked": 0}
    room, done, connected = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def on_publish(*_: Any) -> None:
        state["inflight"] -= 1
        state["acked"] += 1
        room.set()
        if state["acked"] >= len(msgs):
            done.set()

    client.on_publish = on_publish
    client.on_connect = lambda *_: connected.set()
    await loop.run_in_executor(None, client.connect, "127.0.0.1", args.port, 30)
    sock: Any = client.socket()
    loop.add_reader(sock, client.loop_read)

    def want_write(c: mqtt.Client, u: Any, s: Any) -> None:
        loop.add_writer(s, c.loop_write)

    def written(c: mqtt.Client, u: Any, s: Any) -> None:
        loop.remove_writer(s)

    client.on_socket_register_write = want_write
    client.on_socket_unregister_write = written
    await asyncio.wait_for(connected.wait(), 10)
    _settle_heap()
    t0, cpu0, loop0 = time.perf_counter(), time.process_time(), time.thread_time()
    i = 0
    while i < len(msgs):
        while state["inflight"] < args.window and i < len(msgs):
            client.publish(msgs[i][0], msgs[i][1], qos=1)
            state["inflight"] += 1
            i += 1
        room.clear()
        await room.wait()
    await done.wait()
    elapsed = time.perf_counter() - t0
    cpu_s, loop_cpu_s = time.process_time() - cpu0, time.thread_time() - loop0
    loop.remove_reader(sock)
    client.disconnect()
    return {"events": len(msgs), "per_s": len(msgs) / elapsed, "seconds": elapsed,
            "cpu_s": cpu_s, "loop_cpu_s": loop_cpu_s,
            "peak_rss_mb": _peak_rss_mb(), "bytes": sum(len(p.encode()) for _, p in msgs)}


# ------------------------------------------------------------------ omo-edge
async def _produce(emitter: Any, chunks: Any, producers: int) -> None:
    """`producers` tasks append events concurrently (the emitter commits them in groups)."""
    import asyncio

    for events in chunks:
        async def worker(k: int, events: list[Any] = events) -> None:
            for ev in events[k::producers]:
                await emitter.append(ev)

        await asyncio.gather(*(worker(k) for k in range(producers)))


def _chunks(n: int, payload_bytes: int, chunk: int = 2000) -> Any:
    for start in range(0, n, chunk):
        yield list(_events(min(chunk, n - start), payload_bytes, start))


async def _omo(args: argparse.Namespace, drain: bool) -> dict[str, Any]:
    import asyncio
    import tempfile
    from pathlib import Path

    from edge.clock import SystemClock
    from edge.eventlog import EventLog
    from edge.events import source_uri
    from edge.mosquitto import Mosquitto
    from edge.runtime import Emitter, tune_gc
    from edge.sync.connection import Backoff, Link
    from edge.sync.publisher import Publisher
    from edge.sync.topics import Topics

    tune_gc()  # the collector as `omo-edge run` sets it
    broker = Mosquitto() if drain else None
    port = broker.port if broker else args.port
    with tempfile.TemporaryDirectory(prefix="omo-bench-sync-") as tmp:
        log = EventLog(Path(tmp) / "events.db")
        emitter = Emitter(log, SystemClock(), source=source_uri("bench", "edge-01"),
                          bootid="b" * 32)
        await emitter.start()
        topics = Topics("omo/v1", "bench", "edge-01")
        link = Link(_broker_config(port, args.protocol, args.window), client_id="bench-omo",
                    backoff=Backoff(initial_s=0.05, max_s=0.2))
        publisher = Publisher(log, link, topics, window=args.window)
        link.listeners.append(publisher)
        unsubscribe = emitter.subscribe(publisher.on_event)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(link.run(stop)), asyncio.create_task(publisher.run(stop))]
        n = args.n
        out: dict[str, Any] = {"events": n}
        try:
            if drain:
                t_a = time.perf_counter()
                await _produce(emitter, _chunks(n, args.payload_bytes), args.producers)
                out["append_during_outage_per_s"] = n / (time.perf_counter() - t_a)
                out["queued_before_reconnect"] = log.stats().queued
                assert broker is not None
                _settle_heap()
                t_b = time.perf_counter()
                broker.start()
                while not link.connected:
                    await asyncio.sleep(0.001)
                t0 = time.perf_counter()
                out["reconnect_s"] = t0 - t_b
            else:
                ready = list(_chunks(n, args.payload_bytes))  # made before the clock starts
                while not link.connected:
                    await asyncio.sleep(0.01)
                _settle_heap()
                t0, cpu0, loop0 = time.perf_counter(), time.process_time(), time.thread_time()
                await _produce(emitter, ready, args.producers)
                out["append_done_s"] = time.perf_counter() - t0
            while publisher.counters["delivered"] < n:  # woken by each mark written
                publisher.delivered_changed.clear()
                await publisher.delivered_changed.wait()
            elapsed = time.perf_counter() - t0
            if not drain:
                out.update(cpu_s=time.process_time() - cpu0, loop_cpu_s=time.thread_time() - loop0)
            out.update(per_s=n / elapsed, seconds=elapsed, peak_rss_mb=_peak_rss_mb(),
                       inflight_peak=publisher.counters.get("inflight_peak", 0),
                       ack_flushes=publisher.counters.get("ack_flushes", 0),
                       undelivered_after=log.stats().queued)
            if not drain:  # what was published: each stored event as the outbox sends it
                out["bytes"] = sum(len(s.event.to_json().encode()) for s in log.query())
        finally:
            stop.set()
            await publisher.flush()
            await link.close()
            await asyncio.gather(*tasks, return_exceptions=True)
            unsubscribe()
            publisher.close()
            await emitter.stop()
            log.close()
            if broker is not None:
                broker.close()
    return out


def _run_child(kind: str, n: int, port: int | None, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "edge.sync.bench", "--child", kind, "--n", str(n),
           "--window", str(args.window), "--protocol", args.protocol,
           "--payload-bytes", str(args.payload_bytes), "--producers", str(args.producers)]
    if port is not None:
        cmd += ["--port", str(port)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child {kind} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    from edge.bench_machine import machine_info
    from edge.mosquitto import Mosquitto

    live_omo: list[dict[str, Any]] = []
    live_raw: list[dict[str, Any]] = []
    live_aio: list[dict[str, Any]] = []
    with Mosquitto() as broker:
        for _ in range(max(1, args.repeat)):
            live_raw.append(_run_child("raw", args.events, broker.port, args))
            live_aio.append(_run_child("raw-asyncio", args.events, broker.port, args))
            live_omo.append(_run_child("omo-live", args.events, broker.port, args))
        drain_raw = _run_child("raw", args.drain_events, broker.port, args)
        drain_aio = _run_child("raw-asyncio", args.drain_events, broker.port, args)
    drain_omo = _run_child("omo-drain", args.drain_events, None, args)
    best_omo = max(live_omo, key=lambda r: r["per_s"])
    best_raw = max(live_raw, key=lambda r: r["per_s"])
    best_aio = max(live_aio, key=lambda r: r["per_s"])
    live = {"events": args.events, "omo_edge_per_s": round(best_omo["per_s"], 1),
            "raw_paho_per_s": round(best_raw["per_s"], 1),
            "ratio": round(best_omo["per_s"] / best_raw["per_s"], 3),
            "raw_paho_asyncio_per_s": round(best_aio["per_s"], 1),
            "ratio_vs_raw_asyncio": round(best_omo["per_s"] / best_aio["per_s"], 3),
            # CPU per event over the timed part (process; loop thread): steadier than the
            # wall-clock ratio while other processes load the machine.
            "cpu_us_per_event": {
                "omo_edge": round(1e6 * best_omo["cpu_s"] / args.events, 1),
                "omo_edge_loop": round(1e6 * best_omo["loop_cpu_s"] / args.events, 1),
                "raw_paho_asyncio": round(1e6 * best_aio["cpu_s"] / args.events, 1)},
            "runs_omo_edge_per_s": [round(r["per_s"], 1) for r in live_omo],
            "runs_raw_paho_per_s": [round(r["per_s"], 1) for r in live_raw],
            "runs_raw_paho_asyncio_per_s": [round(r["per_s"], 1) for r in live_aio],
            "peak_rss_mb": best_omo["peak_rss_mb"],
            "payload_bytes_total": {"omo_edge": best_omo["bytes"], "raw_paho": best_raw["bytes"],
                                    "raw_paho_asyncio": best_aio["bytes"]}}
    drain = {"events": args.drain_events, "omo_edge_per_s": round(drain_omo["per_s"], 1),
             "raw_paho_per_s": round(drain_raw["per_s"], 1),
             "ratio": round(drain_omo["per_s"] / drain_raw["per_s"], 3),
             "raw_paho_asyncio_per_s": round(drain_aio["per_s"], 1),
             "ratio_vs_raw_asyncio": round(drain_omo["per_s"] / drain_aio["per_s"], 3),
             "seconds": round(drain_omo["seconds"], 2),
             "reconnect_s": round(drain_omo["reconnect_s"], 3),
             "append_during_outage_per_s": round(drain_omo["append_during_outage_per_s"], 1),
             "peak_rss_mb": drain_omo["peak_rss_mb"],
             "raw_paho_peak_rss_mb": drain_raw["peak_rss_mb"],
             "undelivered_after": drain_omo["undelivered_after"]}
    return {"bench": "sync", "qos": 1, "protocol": args.protocol, "window": args.window,
            "payload_bytes": args.payload_bytes, "producers": args.producers,
            "ratio": live["ratio"], "drain_ratio": drain["ratio"],
            "ratio_vs_raw_asyncio": live["ratio_vs_raw_asyncio"],
            "drain_ratio_vs_raw_asyncio": drain["ratio_vs_raw_asyncio"],
            "drain_per_s": drain["omo_edge_per_s"], "peak_rss_mb": drain["peak_rss_mb"],
            "live": live, "drain": drain, "machine": machine_info()}


def main(args: argparse.Namespace) -> int:
    if args.child:
        if args.child == "raw":
            result = _child_raw(args)
        elif args.child == "raw-asyncio":
            import asyncio

            result = asyncio.run(_raw_asyncio(args))
        else:
            import asyncio

            result = asyncio.run(_omo(args, drain=args.child == "omo-drain"))
        print(json.dumps(result))
        return 0
    result = run(args)
    if not getattr(args, "json", False):
        lv, dr = result["live"], result["drain"]
        print(f"{'run':<34} {'events':>8} {'omo-edge/s':>11} {'raw paho/s':>11} {'ratio':>6} "
              f"{'peak RSS':>9}")
        print(f"{'append -> PUBACK (QoS 1)':<34} {lv['events']:>8} {lv['omo_edge_per_s']:>11.0f} "
              f"{lv['raw_paho_per_s']:>11.0f} {lv['ratio']:>6.2f} {lv['peak_rss_mb']:>7.0f}MB")
        print(f"{'drain after outage':<34} {dr['events']:>8} {dr['omo_edge_per_s']:>11.0f} "
              f"{dr['raw_paho_per_s']:>11.0f} {dr['ratio']:>6.2f} {dr['peak_rss_mb']:>7.0f}MB")
        print(f"raw paho driven from asyncio (as omo-edge drives it): live "
              f"{lv['raw_paho_asyncio_per_s']:.0f}/s (ratio {lv['ratio_vs_raw_asyncio']:.2f}), "
              f"drain {dr['raw_paho_asyncio_per_s']:.0f}/s "
              f"(ratio {dr['ratio_vs_raw_asyncio']:.2f})")
        print(f"window {result['window']}, MQTT {result['protocol']}, payload text "
              f"{result['payload_bytes']} B, reconnect after the outage {dr['reconnect_s']} s")
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m edge.sync.bench")
    add_arguments(_parser)
    _parser.add_argument("--json", action="store_true")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main(_parser.parse_args()))
