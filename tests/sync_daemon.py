"""The real daemon for the sync delivery test, plus a generator of test events.

Usage: python -m tests.sync_daemon CONFIG RATE COUNT
Emits COUNT events at about RATE per second (every 25th a high-priority stock-low event,
the rest low-priority samples), then idles until SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys

from edge import logsetup
from edge.config import load
from edge.daemon import Daemon
from edge.runtime import ComponentContext
from edge.services import SimHooks
from edge.sync.connection import Backoff


class Generator:
    name = "test-generator"

    def __init__(self, rate: float, count: int) -> None:
        self.rate = rate
        self.count = count

    async def run(self, ctx: ComponentContext) -> None:
        tick = 0.02
        per_tick = max(1, round(self.rate * tick))
        n = 0
        while n < self.count and not ctx.stopping.is_set():
            batch = []
            for _ in range(min(per_tick, self.count - n)):
                if n % 25 == 24:
                    batch.append(ctx.emit("omo.shelf.stock.low", {
                        "shelf": "s1", "plate": "p1", "sku": "sku-1", "remaining": n % 5}))
                else:
                    batch.append(ctx.emit("omo.test.sample.created", {"n": n, "payload": "x" * 64}))
                n += 1
            await asyncio.gather(*batch)
            await ctx.sleep(tick)
        await ctx.stopping.wait()


def main() -> None:
    config = load(sys.argv[1])
    logsetup.setup("info")
    daemon = Daemon(config, components=[Generator(float(sys.argv[2]), int(sys.argv[3]))],
                    hooks=SimHooks(sync_backoff=Backoff(initial_s=0.1, max_s=0.5)),
                    status_every_s=0.5)
    raise SystemExit(asyncio.run(daemon.run()))


if __name__ == "__main__":
    main()
