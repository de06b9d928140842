"""The whole trigger budget, across two processes: an event appended in the daemon (a shelf
pick: the trigger processor fires, the channel server sends the `Show`) to the flip of the
first frame that shows its product card in a real player process (`omo-edge signage
--driver offscreen`, 1080p, pinned to one core), which reports each content change on
``--frame-log`` with CLOCK_MONOTONIC nanoseconds, the clock this process reads too (it is
system-wide on Linux).

Every trigger picks a product not seen before, so its card is drawn in the path (no cache
hit); triggers are spaced 40-100 ms apart (seeded), so each is measured on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge.config import load
from edge.signage_link.rig import ChannelRig

W, H = 1920, 1080
SCREEN = "screen-a"
CONFIG = f"""
[store]
id = "bench"
device = "edge-01"
timezone = "Asia/Tokyo"

[storage]
path = "{{tmp}}/events.db"
min_free_mb = 0

[[zones]]
id = "snacks"
area = [0, 0, 4, 4]

[[screens]]
id = "{SCREEN}"
zone = "snacks"
width = {W}
height = {H}
fullscreen = false
fps = 60

[[shelves]]
id = "shelf-1"
port = "/dev/null"
zone = "snacks"
[[shelves.plates]]
id = "p0"
sku = "4900000000000"
name = "お茶"
unit_grams = 500
price = 150

[[signage_channel.triggers]]
id = "pick-card"
event = "omo.shelf.item.picked"
cooldown_s = 0
duration_s = 60
"""


class FrameLog:
    """Reads the player's frame log from a pipe in a thread: (ns, item) per line."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.lines: queue.Queue[tuple[int, int, str]] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with os.fdopen(self.read_fd, "r", encoding="utf-8") as pipe:
            for line in pipe:
                flipped, drawn, item = [*line.rstrip("\n").split(" ", 2), "", ""][:3]
                with contextlib.suppress(ValueError):
                    self.lines.put((int(flipped), int(drawn), item))

    def until(self, item: str, timeout_s: float) -> tuple[int, int] | None:
        """(flip ended, flip began) in ns for the first frame showing `item`, or None on a
        timeout."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                flipped, drawn, shown = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if shown == item:
                return flipped, drawn
        return None


def _player(config: Path, log: FrameLog, core: int | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "signage", "-c", str(config), "--driver", "offscreen",
         "--frame-log", f"/dev/fd/{log.write_fd}"],
        pass_fds=(log.write_fd,), env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    os.close(log.write_fd)
    if core is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(proc.pid, {core})
    return proc


@dataclass
class Samples:
    """Milliseconds per trigger: the whole (pick appended -> flip ended), and its last
    part, the flip alone (begun -> ended); `missed`: triggers never shown within 10 s."""

    total: list[float] = field(default_factory=list)
    flip: list[float] = field(default_factory=list)
    missed: int = 0


async def _run(n: int, tmp: Path, seed: int, core: int | None) -> Samples:
    path = tmp / "bench.toml"
    path.write_text(CONFIG.replace("{tmp}", str(tmp)), encoding="utf-8")
    cfg = load(path, require_secrets=False)
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    samples = Samples()
    async with ChannelRig(cfg) as rig:
        log = FrameLog()
        proc = _player(path, log, core)
        try:
            if await loop.run_in_executor(None, log.until, "None", 60.0) is None:
                raise RuntimeError("the player process showed no first frame within 60 s")
            while not any(c.hello for c in rig.server.connections):
                await asyncio.sleep(0.01)
            warm = 5
            for k in range(n + warm):
                sku = f"49{seed:03d}{k:08d}"
                t0 = time.monotonic_ns()
                await rig.emitter.emit("omo.shelf.item.picked", {
                    "shelf": "shelf-1", "plate": "p0", "sku": sku, "quantity": 1})
                shown = await loop.run_in_executor(None, log.until, f"product:{sku}", 10.0)
                if k >= warm:
                    if shown is None:
                        samples.missed += 1
                    else:
                        samples.total.append((shown[0] - t0) / 1e6)
                        samples.flip.append((shown[0] - shown[1]) / 1e6)
                await asyncio.sleep(rng.uniform(0.04, 0.1))
        finally:
            proc.terminate()
            try:
                await loop.run_in_executor(None, proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return samples


def run(n: int, tmp: Path, seed: int = 1, core: int | None = None) -> Samples:
    """n picks, each to its card's first frame flipped."""
    return asyncio.run(_run(n, tmp, seed, core))
