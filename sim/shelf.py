"""Simulated shelf controllers: a pty per controller and the lines they write.

Each controller is a pseudo-terminal. The daemon's shelf reader opens the slave side with
pyserial through a stable symlink (like a udev /dev/serial/by-id name); the simulator writes
protocol lines to the master. The slave is put in raw mode at creation and held open, so no
byte is echoed or lost before the reader opens it. Unplugging closes both sides and removes
the symlink; plugging back in creates a new pty behind the same symlink.

Load cells: each plate reports `rate_hz` times a second: tare + stock, with picks and returns
as ramps (slow ones over seconds, simultaneous ones on neighbouring plates), a slow drift,
Gaussian noise, and bumps that move the load for a moment without changing the stock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import sys
import termios
import tty
from pathlib import Path

from drivers.shelf_serial import encode_line
from sim.linenoise import garble
from sim.world import ShelfDef, World

MAX_PENDING = 64 * 1024  # a controller's UART does not buffer a whole day


class PtyPort:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.pending = bytearray()
        self.written = 0
        self.dropped = 0

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

    def write(self, data: bytes) -> None:
        if self.master is None:
            return
        self.pending += data
        if len(self.pending) > MAX_PENDING:
            cut = len(self.pending) - MAX_PENDING
            self.dropped += cut
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

    def __init__(self, world: World) -> None:
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
        for shelf in world.layout.shelves:
            for pl in shelf.plates:
                self.plates.append(_Plate(shelf, pl.number, pl.tare_grams
                                          + pl.stock * pl.unit_grams,
                                          self.rng.uniform(0, 1 / self.p.rate_hz)))
        self.seq: dict[str, int] = {s.controller: 0 for s in world.layout.shelves}
        self.sent: dict[str, int] = {s.id: 0 for s in world.layout.shelves}
        self.garbled = 0

    def load(self, shelf: str, plate: int, t: float) -> float:
        """The plate's true load at t (tare + stock, picks and returns as ramps, bumps)."""
        g = 0.0
        for ts, te, grams in self.changes.get((shelf, plate), ()):
            if t >= te:
                g += grams
            elif t > ts:
                g += grams * (t - ts) / (te - ts)
        for ts, te, grams in self.bumps.get((shelf, plate), ()):
            if ts < t < te:
                g += grams * (1 - abs(2 * (t - ts) / (te - ts) - 1))
        return g

    def step(self, t0: float, t1: float) -> dict[str, bytes]:
        """Bytes each shelf's controller writes in [t0, t1)."""
        out: dict[str, list[tuple[float, bytes]]] = {}
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
                line = encode_line(ctrl, pl.number, grams, self.seq[ctrl])
                self.seq[ctrl] = (self.seq[ctrl] + 1) % 65536
                if rng.random() < p.garbled:
                    line = garble(line, self.rng)
                    self.garbled += 1
                out.setdefault(pl.shelf.id, []).append((t, line))
        result = {}
        for shelf_id, lines in out.items():
            lines.sort(key=lambda x: x[0])
            self.sent[shelf_id] += len(lines)
            result[shelf_id] = b"".join(line for _, line in lines)
        return result
