"""`omo-edge bench shelf`: weight samples per second through the shelf readers' parse path
(line splitting, parsing, checks, the WeightSample) on one core, for the omo controller
protocol and each commercial scale format, beside a ceiling measured in the same run on the
same bytes: `bytes.split` into lines and one `re.fullmatch` of a plain pattern per line (no
checksum, no conversion, no sample built).

The stream is synthetic and seeded: 8 plates reporting a noisy load around a stock level,
0.2 % of the lines damaged (a flipped byte, noise in front, a line cut short), as in a store.
The omo lines carry the controller's millisecond clock (`OMO_LINE_MS` apart, wrapping at
2^32 within the stream), and the reader dates each sample on it (`drivers/device_clock.py`,
`shelves[].date_on_clock`).

Stages are named in `STAGES` (name -> function of the lines giving samples/s); the headline
figure is the last stage's omo rate, so a later stage (parse + detect) is added by appending
one entry. The reader is fed as the serial port feeds it: 4 KiB chunks, each chunk's lines
handled as one batch read at one time. Beside each wall-clock rate, `*_cpu_per_s` gives the
same samples over the thread's CPU time (a loaded machine's waits for a core left out), and
`<last>_over_<first>` the last stage's rate over parsing alone, the two measured in the same
run; `--repeat` runs each stage that many times and keeps the best.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable
from typing import Any

from drivers.device_clock import WRAP_MS, ClockSettings
from drivers.scales import ScaleReader
from drivers.shelf_serial import ShelfReader, encode_line
from drivers.weighing import Protocol

HELP = "weight samples per second through the shelf parsers, against a plain regex ceiling"
GOAL_PER_S = 200_000
CHUNK = 4096  # bytes per read, as a busy serial port hands them over
OMO_LINE_MS = 31  # 8 plates at 4 Hz: a line every 31 ms
OMO_BOOT_MS = WRAP_MS - 3_000_000  # the controller's clock wraps 50 minutes in

CEILING_RE: dict[Protocol, re.Pattern[bytes]] = {
    Protocol.OMO: re.compile(rb"\$W,[^,]+,\d+,-?[\d.]+,\d+(,\d+)?\*[0-9A-F]{2}"),
    Protocol.AND: re.compile(rb"(ST|US),[+-][\d.]{8} *[a-z]{1,3}"),
    Protocol.CAS: re.compile(rb"(ST|US),(GS|NT),[+-][\d. ]{7}[ a-z]{2}"),
    Protocol.MT_SICS: re.compile(rb"S [SD] +-?[\d.]+ [a-z]{1,3}"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lines", type=int, default=200_000,
                        help="lines per protocol (default 200000)")
    parser.add_argument("--seed", type=int, default=1, help="the stream's seed (default 1)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each stage, the best kept (default 1)")


def _line(protocol: Protocol, plate: int, grams: float, seq: int, stable: bool,
          ms: int) -> bytes:
    if protocol is Protocol.OMO:
        return encode_line("C1", plate, grams, seq, ms)
    if protocol is Protocol.AND:
        return f"{'ST' if stable else 'US'},{grams:+09.2f}  g\r\n".encode()
    if protocol is Protocol.CAS:
        return f"{'ST' if stable else 'US'},GS,{'+' if grams >= 0 else '-'}" \
               f"{abs(grams) / 1000:7.3f}kg\r\n".encode()
    return f"S {'S' if stable else 'D'} {grams:10.2f} g\r\n".encode()


def stream(protocol: Protocol, n: int, seed: int) -> bytes:
    """`n` lines of `protocol` from 8 plates (a commercial scale: 1), 0.2 % damaged."""
    rng = random.Random(f"omo-bench-shelf:{protocol.value}:{seed}")
    plates = 8 if protocol is Protocol.OMO else 1
    stock = [rng.uniform(200, 5000) for _ in range(plates)]
    out = bytearray()
    for i in range(n):
        p = i % plates
        if rng.random() < 0.001:
            stock[p] = max(0.0, stock[p] + rng.choice((-1, 1)) * rng.uniform(50, 500))
        line = _line(protocol, p + 1, stock[p] + rng.gauss(0, 1.2), i // plates,
                     rng.random() < 0.9, OMO_BOOT_MS + i * OMO_LINE_MS)
        if rng.random() < 0.002:
            kind = rng.randrange(3)
            j = rng.randrange(1, len(line) - 3)
            if kind == 0:
                line = line[:j] + bytes([line[j] ^ 0x04]) + line[j + 1:]
            elif kind == 1:
                line = bytes(rng.randrange(33, 127) for _ in range(5)) + line
            else:
                line = line[:j] + b"\r\n"
        out += line
    return bytes(out)


def ceiling_rate(protocol: Protocol, data: bytes) -> tuple[float, int]:
    """Lines per second (and matches) for `bytes.split` + `re.fullmatch` on each line."""
    pattern = CEILING_RE[protocol]
    t0 = time.perf_counter()
    lines = data.split(b"\r\n")
    hits = sum(1 for line in lines if pattern.fullmatch(line))
    return len(lines) / (time.perf_counter() - t0), hits


def _reader(protocol: Protocol, data: bytes) -> ShelfReader | ScaleReader:
    """The reader of `protocol`, its clock the wall clock; for omo, the stream's own time:
    each read of `data` (CHUNK bytes) arrives 5 ms after the controller wrote its last
    line, so the lines are dated on the controller's clock as in a store."""
    if protocol is not Protocol.OMO:
        return ScaleReader("bench", "loop://", 9600, protocol, now=time.time)
    arrivals, lines = [], 0
    for i in range(0, len(data), CHUNK):
        lines += data.count(b"\n", i, i + CHUNK)
        arrivals.append((OMO_BOOT_MS + lines * OMO_LINE_MS) / 1000 + 0.005)
    return ShelfReader("bench", "loop://", 115200, now=iter(arrivals).__next__,
                       clock=ClockSettings())


def parse_rate(protocol: Protocol, data: bytes) -> tuple[float, int]:
    """Samples per second (and samples) through the reader's line splitting and parsing."""
    reader = _reader(protocol, data)
    feed = reader.lines.feed
    handle_lines = reader.handle_lines
    now = reader.now
    samples = 0
    t0 = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        samples += len(handle_lines(feed(data[i:i + CHUNK]), now()))
    return samples / (time.perf_counter() - t0), samples


def detect_rate(protocol: Protocol, data: bytes) -> tuple[float, int]:
    """Samples per second (and samples) through parsing and the shelf processor's detection
    (calibration, drift tracking, change detection, quantity, stock, faults)."""
    from edge.processing.processor import Output
    from edge.shelf.processor import PlateSpec, ShelfProcessor

    reader = _reader(protocol, data)
    proc = ShelfProcessor([PlateSpec("bench", f"p{n}", n, f"sku-{n}", 100.0, 100, 3, stock=50)
                           for n in range(1, 9)])
    feed = reader.lines.feed
    handle_lines = reader.handle_lines
    now = reader.now
    on_reading = proc.on_reading
    out = Output(0.0)
    samples = 0
    t0 = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        for sample in handle_lines(feed(data[i:i + CHUNK]), now()):
            samples += 1
            on_reading(sample, out)
        out.emissions.clear()
    return samples / (time.perf_counter() - t0), samples


Stage = Callable[[Protocol, bytes], tuple[float, int]]
STAGES: dict[str, Stage] = {"parse": parse_rate, "detect": detect_rate}
"""The measured stages, in order: parsing alone, then parsing and detection."""


def run(n: int, seed: int, stages: dict[str, Stage] | None = None,
        repeat: int = 1) -> dict[str, Any]:
    """Every stage and the ceiling on every protocol's stream; the headline is the last
    stage's omo rate against the omo ceiling, and against the first stage (parse alone).
    Each stage runs `repeat` times and keeps its best rate: on a loaded machine the best run
    is the one least disturbed. `*_cpu_per_s` are the same samples over the thread's CPU
    time (setup included), which waiting for a core does not count."""
    from edge.bench_machine import machine_info

    stages = STAGES if stages is None else stages
    protocols: dict[str, dict[str, float | int]] = {}
    for protocol in Protocol:
        data = stream(protocol, n, seed)
        ceiling, _ = ceiling_rate(protocol, data)
        row: dict[str, float | int] = {"ceiling_per_s": round(ceiling, 1)}
        for name, stage in stages.items():
            best, best_cpu, samples = 0.0, 0.0, 0
            for _ in range(max(1, repeat)):
                c0 = time.thread_time()
                rate, samples = stage(protocol, data)
                cpu_s = time.thread_time() - c0
                best = max(best, rate)
                best_cpu = max(best_cpu, samples / cpu_s if cpu_s > 0 else 0.0)
            row[f"{name}_per_s"] = round(best, 1)
            row[f"{name}_cpu_per_s"] = round(best_cpu, 1)
            row[f"{name}_samples"] = samples
        protocols[protocol.value] = row
    names = list(stages)
    first, last = names[0], names[-1]
    omo = protocols[Protocol.OMO.value]
    figure, ceiling = float(omo[f"{last}_per_s"]), float(omo["ceiling_per_s"])
    return {"bench": "shelf", "lines": n, "repeat": max(1, repeat), "stage": last,
            "samples_per_s": figure, "cpu_samples_per_s": float(omo[f"{last}_cpu_per_s"]),
            "ceiling_per_s": ceiling, "ceiling": "bytes.split + re.fullmatch per line",
            "ratio": round(figure / ceiling, 3),
            f"{last}_over_{first}": round(figure / float(omo[f"{first}_per_s"]), 3),
            "goal_per_s": GOAL_PER_S, "meets_goal": figure >= GOAL_PER_S,
            "protocols": protocols, "machine": machine_info()}


def main(args: argparse.Namespace) -> int:
    result = run(args.lines, args.seed, repeat=args.repeat)
    if not args.json:
        stages = list(STAGES)
        print(f"{result['lines']} lines per protocol; ceiling: {result['ceiling']}")
        print(f"{'protocol':<10} {'ceiling/s':>12}" + "".join(
            f" {name + '/s':>14} {name + ' cpu/s':>14}" for name in stages) + f" {'ratio':>7}")
        for name, row in result["protocols"].items():
            print(f"{name:<10} {row['ceiling_per_s']:>12.0f}" + "".join(
                f" {row[s + '_per_s']:>14.0f} {row[s + '_cpu_per_s']:>14.0f}" for s in stages)
                + f" {row[stages[-1] + '_per_s'] / row['ceiling_per_s']:>7.2f}")
        print(f"omo {result['stage']}: {result['samples_per_s']:.0f} samples/s; goal "
              f"{GOAL_PER_S}: {'met' if result['meets_goal'] else 'not met'}")
    print(json.dumps(result, separators=(",", ":")))
    return 0
