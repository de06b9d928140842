"""Simulated shelf controllers: a pty per controller and the lines they write.

Each controller is a pseudo-terminal. The daemon's shelf reader opens the slave side with
pyserial through a stable symlink (like a udev /dev/serial/by-id name); the simulator writes
protocol lines to the master. The slave is put in raw mode at creation and held open, so no
byte is echoed or lost before the reader opens it. Unplugging closes both sides and removes
the symlink; plugging back in creates a new pty behind the same symlink.

Load cells: each plate reports `rate_hz` times a second: tare + stock, with picks and returns
as ramps (slow ones over seconds, simultaneous ones on neighbouring plates), a slow drift,
Gaussian noise, and bumps that move the load for a moment without changing the stock.

Each controller stamps its lines with its millisecond clock (`ControllerClock`): the sim
time it wrote the line, from a boot offset of its own, running a few ppm fast or slow,
wrapping at 2^32; a controller unplugged and plugged back in restarts it from 0 (or keeps
it, `reset_on_replug=False`). `clock=False`: old firmware, lines without the clock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import random
import sys
import termios
import tty
from dataclasses import dataclass
from pathlib import Path

from drivers.device_clock import WRAP_MS
from drivers.shelf_serial import encode_beam, encode_line
from sim.linenoise import garble
from sim.world import ShelfDef, World

MAX_PENDING = 64 * 1024  # a controller's UART does not buffer a whole day
CLOCK_PPM = 40.0  # a controller's clock runs up to this fast or slow (a crystal's tolerance)


@dataclass(frozen=True)
class ControllerClock:
    """A controller's millisecond clock: `boot_ms` at sim time 0, running `ppm` fast (slow
    when negative), restarted from 0 at each time in `restarts` (a replug)."""

    boot_ms: float
    ppm: float
    restarts: tuple[float, ...] = ()

    def ms(self, t: float) -> int:
        """The clock at sim time `t`, as the controller writes it (a uint32)."""
        start, base = 0.0, self.boot_ms
        for r in self.restarts:
            if r <= t:
                start, base = r, 0.0
        return int(base + (t - start) * 1000 * (1 + self.ppm * 1e-6)) % WRAP_MS


def beam_lanes(shelf: ShelfDef, pitch_m: float) -> int:
    """How many beams cross each plate of `shelf`: one every `pitch_m`, 1 to 9."""
    width = (shelf.rect.x1 - shelf.rect.x0) / len(shelf.plates)
    return max(1, min(9, math.ceil(width / pitch_m - 1e-9)))


class PtyPort:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.pending = bytearray()
        self.written = 0
        self.dropped = 0
        # clean reports handed to the pty since it was last plugged: each one becomes a
        # reading at the reader (a garbled line may or may not)
        self.reports = 0

    @property
    def plugged(self) -> bool:
        return self.master is not None

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.master, self.slave = master, slave
        tmp = self.link.with_name(self.link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.link)
        self.reports = 0

    def unread(self) -> int:
        """Bytes written that the reader has not taken yet (in the pty or still pending)."""
        if self.slave is None:
            return 0
        buf = fcntl.ioctl(self.slave, termios.FIONREAD, b"\0\0\0\0")
        return len(self.pending) + int.from_bytes(buf, sys.byteorder)

    def unplug(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        for fd in (self.master, self.slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = None
        self.pending.clear()

    def write(self, data: bytes, reports: int = 0) -> None:
        """Queue `data` for the pty; `reports`: how many clean reports it holds."""
        if self.master is None:
            return
        self.pending += data
        self.reports += reports
        if len(self.pending) > MAX_PENDING:
            cut = len(self.pending) - MAX_PENDING
            self.dropped += cut
            self.reports = max(0, self.reports - self.pending.count(b"$", 0, cut))
            del self.pending[:cut]
        self.flush()

    def flush(self) -> bool:
        """Write what the pty takes now; True when nothing is left."""
        if self.master is None:
            return True
        while self.pending:
            try:
                n = os.write(self.master, self.pending[:4096])
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return False
                raise
            self.written += n
            del self.pending[:n]
        return True


class _Plate:
    def __init__(self, shelf: ShelfDef, number: int, base: float, next_t: float) -> None:
        self.shelf = shelf
        self.number = number
        self.base = base
        self.drift = 0.0
        self.next_t = next_t


class ShelfGenerator:
    """Protocol lines per controller, tick by tick."""

    def __init__(self, world: World, *, clock: bool = True,
                 reset_on_replug: bool = True) -> None:
        """`clock`: stamp the lines with the controllers' clocks; `reset_on_replug`: a
        controller unplugged (a scenario's shelf outage) restarts its clock when it is
        plugged back in, else keeps it."""
        self.world = world
        self.p = world.params.shelf
        self.rng = random.Random(f"omo-sim:{world.seed}:{world.scenario.name}:shelf")
        self.plates: list[_Plate] = []
        self.changes: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
        self.bumps: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
        for c in world.weight_changes:
            self.changes.setdefault((c.shelf, c.plate), []).append((c.t, c.t_end, c.grams))
        for shelf_id, plate, t, grams, length in world.bumps:
            self.bumps.setdefault((shelf_id, plate), []).append((t, t + length, grams))
        self.touches: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
        for tc in world.touches:
            self.touches.setdefault((tc.shelf, tc.plate), []).append(
                (tc.t, tc.t_end, tc.grams, tc.rise_s))
        for shelf in world.layout.shelves:
            for pl in shelf.plates:
                self.plates.append(_Plate(shelf, pl.number, pl.tare_grams
                                          + pl.stock * pl.unit_grams,
                                          self.rng.uniform(0, 1 / self.p.rate_hz)))
        self.edges = self._beam_edges(world)
        self.clocks = self._clocks(world, reset_on_replug) if clock else {}
        self.edge_i = 0
        self.seq: dict[str, int] = {s.controller: 0 for s in world.layout.shelves}
        self.sent: dict[str, int] = {s.id: 0 for s in world.layout.shelves}
        self.garbled = 0
        self.garbled_beams = 0
        self.beam_noise = random.Random(f"omo-sim:{world.seed}:{world.scenario.name}:beam-noise")
        self.damaged: dict[str, int] = {}  # per shelf: lines garbled in the last timed_lines
        self.clean: dict[str, int] = {}  # per shelf: clean lines in the last step

    @staticmethod
    def _clocks(world: World, reset_on_replug: bool) -> dict[str, ControllerClock]:
        """Each controller's clock, from an rng of its own (the lines' noise is the same
        with or without clocks)."""
        rng = random.Random(f"omo-sim:{world.seed}:{world.scenario.name}:shelf-clock")
        replugs: dict[str, list[float]] = {}
        if reset_on_replug:
            for target, _, on in world.outages("shelf"):
                replugs.setdefault(target, []).append(on)
        return {s.controller: ControllerClock(rng.uniform(0, WRAP_MS),
                                              rng.uniform(-CLOCK_PPM, CLOCK_PPM),
                                              tuple(sorted(replugs.get(s.id, ()))))
                for s in world.layout.shelves}

    def _stamp(self, controller: str, t: float) -> int | None:
        clock = self.clocks.get(controller)
        return None if clock is None else clock.ms(t)

    def _beam_edges(self, world: World) -> list[tuple[float, ShelfDef, int, int, bool]]:
        """Every beam edge of the run in time order: (t, shelf, plate, lane, broken). A hand
        putting on or taking off (a pick, a return, a restock) breaks one of the plate's
        lanes, chosen at random, from a moment before the weight starts moving until a
        moment after it stops; a lane is broken while any hand is in it. So does a hand
        that touches an item without taking it. Bumps (a knock from outside) break no
        beam."""
        pitch = self.p.beam_pitch_m
        if pitch <= 0:
            return []
        lanes = {s.id: beam_lanes(s, pitch) for s in world.layout.shelves}
        rng = random.Random(f"omo-sim:{world.seed}:{world.scenario.name}:beams")
        spans: dict[tuple[str, int, int], list[tuple[float, float]]] = {}
        for c in world.weight_changes:
            lane = rng.randint(1, lanes[c.shelf])
            spans.setdefault((c.shelf, c.plate, lane), []).append(
                (c.t - rng.uniform(0.05, 0.3), c.t_end + rng.uniform(0.05, 0.3)))
        # touches from their own rng: the picks' lanes are the same with or without them
        touch_rng = random.Random(f"omo-sim:{world.seed}:{world.scenario.name}:touch-beams")
        for tc in world.touches:
            lane = touch_rng.randint(1, lanes[tc.shelf])
            spans.setdefault((tc.shelf, tc.plate, lane), []).append(
                (tc.t - touch_rng.uniform(0.05, 0.3), tc.t_end + touch_rng.uniform(0.05, 0.3)))
        shelves = {s.id: s for s in world.layout.shelves}
        edges: list[tuple[float, ShelfDef, int, int, bool]] = []
        for (shelf_id, plate, lane), items in spans.items():
            merged: list[list[float]] = []
            for a, b in sorted(items):
                if merged and a <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            for a, b in merged:
                edges.append((a, shelves[shelf_id], plate, lane, True))
                edges.append((b, shelves[shelf_id], plate, lane, False))
        edges.sort(key=lambda e: (e[0], e[1].id, e[2], e[3]))
        return edges

    def load(self, shelf: str, plate: int, t: float) -> float:
        """The plate's true load at t (tare + stock, picks and returns as ramps, bumps,
        touches)."""
        g = 0.0
        for ts, te, grams in self.changes.get((shelf, plate), ()):
            if t >= te:
                g += grams
            elif t > ts:
                g += grams * (t - ts) / (te - ts)
        for ts, te, grams in self.bumps.get((shelf, plate), ()):
            if ts < t < te:
                g += grams * (1 - abs(2 * (t - ts) / (te - ts) - 1))
        for ts, te, grams, rise in self.touches.get((shelf, plate), ()):
            if ts < t < te:  # up over `rise`, held, down over `rise`
                g += grams * min(1.0, (t - ts) / rise, (te - t) / rise)
        return g

    def step(self, t0: float, t1: float) -> dict[str, bytes]:
        """Bytes each shelf's controller writes in [t0, t1) (`clean` says how many of the
        lines in them are undamaged)."""
        result = {}
        self.clean = {}
        for shelf_id, lines in self.timed_lines(t0, t1).items():
            self.sent[shelf_id] += len(lines)
            self.clean[shelf_id] = len(lines) - self.damaged.get(shelf_id, 0)
            result[shelf_id] = b"".join(line for _, line in lines)
        return result

    def timed_lines(self, t0: float, t1: float) -> dict[str, list[tuple[float, bytes]]]:
        """The lines each shelf's controller writes in [t0, t1), with their times, in time
        order (the offline harness feeds them straight to the processor)."""
        out: dict[str, list[tuple[float, bytes]]] = {}
        damaged: dict[str, int] = {}
        self.damaged = damaged
        p, rng = self.p, self.rng
        period = 1 / p.rate_hz
        drift_sigma = p.drift_g_per_min / 60 * period ** 0.5
        for pl in self.plates:
            while pl.next_t < t1:
                t = pl.next_t
                pl.next_t += period
                pl.drift += rng.gauss(0, drift_sigma)
                grams = pl.base + self.load(pl.shelf.id, pl.number, t) + pl.drift \
                    + rng.gauss(0, p.noise_g)
                ctrl = pl.shelf.controller
                line = encode_line(ctrl, pl.number, grams, self.seq[ctrl],
                                   self._stamp(ctrl, t))
                self.seq[ctrl] = (self.seq[ctrl] + 1) % 65536
                if rng.random() < p.garbled:
                    line = garble(line, self.rng)
                    self.garbled += 1
                    damaged[pl.shelf.id] = damaged.get(pl.shelf.id, 0) + 1
                out.setdefault(pl.shelf.id, []).append((t, line))
        while self.edge_i < len(self.edges) and self.edges[self.edge_i][0] < t1:
            t, shelf, plate, lane, broken = self.edges[self.edge_i]
            self.edge_i += 1
            if t < t0:
                continue
            ctrl = shelf.controller
            line = encode_beam(ctrl, plate, lane, broken, self.seq[ctrl], self._stamp(ctrl, t))
            self.seq[ctrl] = (self.seq[ctrl] + 1) % 65536
            if self.beam_noise.random() < p.garbled:  # its own stream: weights unchanged
                line = garble(line, self.beam_noise)
                self.garbled += 1
                self.garbled_beams += 1
                damaged[shelf.id] = damaged.get(shelf.id, 0) + 1
            out.setdefault(shelf.id, []).append((t, line))
        for lines in out.values():
            lines.sort(key=lambda x: x[0])
        return out
