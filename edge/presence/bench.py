"""`omo-edge bench ble`: adverts per second through the presence pipeline (decode, RSSI
filter, grid locator, zone hysteresis, visits) on one core, beside the beacon decoders alone
measured in the same run on the same adverts (the ceiling).

The stream is synthetic and seeded: a 24 m x 14 m store with six receivers, visitors walking
between random points, each carrying a beacon (1 s interval) or a phone without a beacon
(2 s interval); a third of the beacons are the store app's, whose rotating token is resolved
with a key, as in a store. Every receiver hears them through a log-distance path loss with
shadowing and missed packets, as a busy store's radio does.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from typing import Any

from drivers.app_beacon import AppKey, AppKeyRing, customer_id, encode_token
from drivers.beacons import APPLE_COMPANY_ID, decode_beacon, encode_ibeacon
from drivers.readings import BleAdvert
from edge.bench_machine import machine_info
from edge.presence.identity import Identifier
from edge.presence.locate import GridLocator, RadioModel, ReceiverPlace, ZoneArea
from edge.presence.pseudonym import Pseudonyms
from edge.presence.tracker import PresenceProcessor
from edge.processing.processor import Output

HELP = "BLE adverts per second through decode + filter + zones, against decoding alone"
GOAL_PER_S = 100_000
T0 = 1_767_258_000.0
APP_UUID = "6f6d6f2d-6564-6765-2d61-707000000001"
OTHER_UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
KEY = AppKey("bench", bytes(range(32)), T0 - 86_400, T0 + 86_400)
RECEIVERS = [ReceiverPlace("rx-1", "entrance", 2, 7), ReceiverPlace("rx-2", "drinks", 8, 2.5),
             ReceiverPlace("rx-3", "snacks", 18, 2.5), ReceiverPlace("rx-4", "promo", 9, 7.5),
             ReceiverPlace("rx-5", "care", 9, 12), ReceiverPlace("rx-6", "checkout", 19, 9.5)]
AREAS = [ZoneArea("entrance", 0, 0, 4, 14), ZoneArea("drinks", 4, 0, 12, 5),
         ZoneArea("snacks", 12, 0, 24, 5), ZoneArea("promo", 4, 5, 14, 9.5),
         ZoneArea("care", 4, 9.5, 14, 14), ZoneArea("checkout", 14, 5, 24, 14)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--visitors", type=int, default=80,
                        help="visitors in the store at once (default 80)")
    parser.add_argument("--seconds", type=float, default=300.0,
                        help="seconds of store time to stream (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="the stream's seed (default 1)")


def stream(visitors: int, seconds: float, seed: int) -> list[BleAdvert]:
    """The adverts the six receivers hear, in time order."""
    rng = random.Random(f"omo-bench-ble:{seed}")
    out: list[tuple[float, BleAdvert]] = []
    for v in range(visitors):
        beacon, app = v % 2 == 0, v % 6 == 0
        mfr = ((APPLE_COMPANY_ID, encode_ibeacon(OTHER_UUID, 1, v, -59)),) if beacon else ()
        address = f"{rng.getrandbits(64):016x}"
        interval = 1.0 if beacon else 2.0
        x, y = rng.uniform(0.5, 23.5), rng.uniform(0.5, 13.5)
        tx, ty = x, y
        t = rng.uniform(0, interval)
        while t < seconds:
            if math.hypot(tx - x, ty - y) < 0.5:
                tx, ty = rng.uniform(0.5, 23.5), rng.uniform(0.5, 13.5)
            d = math.hypot(tx - x, ty - y)
            step = min(d, 1.1 * interval)
            x, y = x + (tx - x) / d * step, y + (ty - y) / d * step
            if app:
                mfr = ((APPLE_COMPANY_ID,
                        encode_ibeacon(APP_UUID, *encode_token(KEY.secret, 1000 + v, T0 + t),
                                       -59)),)
            for r in RECEIVERS:
                if rng.random() < 0.12:
                    continue
                dist = max(0.3, math.hypot(x - r.x, y - r.y))
                rssi = round(-59 - 23 * math.log10(dist) + rng.gauss(0, 4.0))
                if rssi >= -96:
                    out.append((t, BleAdvert(r.id, T0 + t, rssi, address, mfr)))
            t += interval * rng.uniform(0.9, 1.1)
    out.sort(key=lambda item: item[0])
    return [a for _, a in out]


def decode_rate(adverts: list[BleAdvert]) -> float:
    """The ceiling: the beacon decoder alone (`decode_beacon`, uncached), on every advert's
    frames."""
    t0 = time.perf_counter()
    for a in adverts:
        decode_beacon(dict(a.manufacturer_data), dict(a.service_data))
    return len(adverts) / (time.perf_counter() - t0)


def pipeline_rate(adverts: list[BleAdvert]) -> tuple[float, int]:
    """Adverts per second through the presence processor with its ticks; the events it made."""
    proc = PresenceProcessor([r.id for r in RECEIVERS],
                             GridLocator(RECEIVERS, AREAS, RadioModel()),
                             Identifier((APP_UUID,), (), AppKeyRing([KEY]).resolve),
                             Pseudonyms(b"bench"), customer_id)
    tick = proc.settings.tick_s
    next_tick = T0 + tick
    events = 0
    t0 = time.perf_counter()
    for a in adverts:
        while next_tick <= a.t:
            out = Output(next_tick)
            proc.on_tick(next_tick, out)
            events += len(out.emissions)
            next_tick += tick
        out = Output(a.t)
        proc.on_reading(a, out)
    return len(adverts) / (time.perf_counter() - t0), events


def run(visitors: int, seconds: float, seed: int) -> dict[str, Any]:
    adverts = stream(visitors, seconds, seed)
    decode = decode_rate(adverts)
    pipeline, events = pipeline_rate(adverts)
    return {"bench": "ble", "adverts": len(adverts), "visitors": visitors,
            "store_seconds": seconds, "adverts_per_store_s": round(len(adverts) / seconds, 1),
            "pipeline_per_s": round(pipeline, 1), "decode_only_per_s": round(decode, 1),
            "ratio": round(pipeline / decode, 3), "goal_per_s": GOAL_PER_S,
            "meets_goal": pipeline >= GOAL_PER_S, "events": events,
            "machine": machine_info()}


def main(args: argparse.Namespace) -> int:
    result = run(args.visitors, args.seconds, args.seed)
    if not args.json:
        print(f"{result['adverts']} adverts, {result['visitors']} visitors, "
              f"{result['store_seconds']:g} s of store time "
              f"({result['adverts_per_store_s']:g} adverts/s in the store)")
        print(f"{'stage':<32} {'adverts/s':>12}")
        print(f"{'decode alone (ceiling)':<32} {result['decode_only_per_s']:>12.0f}")
        print(f"{'decode + filter + zones':<32} {result['pipeline_per_s']:>12.0f}")
        print(f"ratio {result['ratio']:.2f}; goal {GOAL_PER_S} adverts/s: "
              f"{'met' if result['meets_goal'] else 'not met'}")
    print(json.dumps(result, separators=(",", ":")))
    return 0
