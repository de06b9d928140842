"""Sales from the point of sale: the `pos.sale` command -> `omo.pos.sale.recorded`, once per
receipt (docs/insight.md).

The command's `args` (`edge/schemas/commands/pos.sale.json`: receipt, time, lines of sku and
quantity) are validated here as well as by the command processor, so every way in gets the
same checks; what is wrong is said without quoting the payload. A receipt id is claimed in
`<state_dir>/receipts.db` (kept 30 days, across restarts; at most `RECEIPTS_MAX_ROWS`, the
oldest forgotten first; pruned hourly and under disk pressure; its bytes count toward the
storage budget, `edge.sync.bookkeeping`) before its sale is recorded: a
resent receipt, under the same or another command id, is answered `ok` with
`"duplicate": true` and recorded nothing; a receipt whose recording failed may be sent again.

The wiring builder `build` registers the handler in `services.command_handlers` (the sync
component serves it from the cloud's command topics) and, with `[insight.pos_mqtt]`, runs
`edge.insight.pos_mqtt.LocalPosListener`, which takes the same sales from a local POS on the
store's broker (`via: "local"`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.events import format_time, parse_time
from edge.schema_errors import first_problem_without_values
from edge.sync.bookkeeping import receipts_path
from edge.sync.command_store import CommandStore
from edge.sync.commands import Command, CommandRejected, _validator

if TYPE_CHECKING:
    from edge.config import Config
    from edge.runtime import Component
    from edge.services import Services

log = logging.getLogger("omo_edge.insight.pos")

COMMAND = "pos.sale"
SALE = "omo.pos.sale.recorded"
RECEIPTS = "pos.sale.receipt"  # the store's key space for receipt ids
MAX_FUTURE_S = 300.0  # a receipt dated later than this ahead of the edge's clock is refused
MAX_AGE_S = 30 * 86400.0  # ... and one older than the receipts are kept
RECEIPTS_MAX_ROWS = 300_000  # 10,000 receipts a day for 30 days; about 30 MB
PRUNE_EVERY_S = 3600.0


def open_receipts(path: Path) -> CommandStore:
    """The receipt-id store at `path`, with the receipts' bounds."""
    return CommandStore(path, keep_s=MAX_AGE_S, max_rows=RECEIPTS_MAX_ROWS)


def prune_receipts(path: Path, now: float) -> int:
    """Forget receipts older than 30 days or beyond the row cap in the store at `path`, if
    there is one; returns how many. Never raises for a damaged or busy store (0)."""
    if not path.exists():
        return 0
    try:
        store = open_receipts(path)
        try:
            return store.prune(now)
        finally:
            store.close()
    except (sqlite3.Error, OSError) as exc:
        log.warning("cannot prune the POS receipts: %s", exc)
        return 0


def parse_sale(args: Any, now: float, via: str = "cloud") -> dict[str, Any]:
    """The `omo.pos.sale.recorded` data for a `pos.sale`'s args; raises CommandRejected
    saying what is wrong (never quoting it). Lines of one product are summed."""
    problem = first_problem_without_values(_validator(COMMAND), args, root="args")
    if problem:
        raise CommandRejected(problem)
    try:
        sold = parse_time(args["time"])
    except (ValueError, OverflowError):
        raise CommandRejected("args/time: not a valid date and time") from None
    if sold > now + MAX_FUTURE_S:
        raise CommandRejected(f"args/time: more than {MAX_FUTURE_S:.0f} s in the future "
                              "(is the POS clock right?)")
    if sold < now - MAX_AGE_S:
        raise CommandRejected("args/time: older than 30 days")
    qty: Counter[str] = Counter()
    for line in args["lines"]:
        qty[line["sku"]] += line["quantity"]
    return {"receipt": args["receipt"], "sold_at": format_time(sold), "via": via,
            "lines": [{"sku": s, "quantity": min(q, 1000)} for s, q in qty.items()]}


class SaleDesk:
    """The `pos.sale` handler: validate, claim the receipt, record the sale."""

    def __init__(self, services: Services, receipts_path: Path) -> None:
        self.services = services
        self.receipts_path = receipts_path
        self._store: CommandStore | None = None
        self._pruned_at: float | None = None
        self.counts: Counter[str] = Counter()

    def _receipts(self) -> CommandStore:
        """The open store, pruned at first use and then hourly (on the executor)."""
        if self._store is None:
            self._store = open_receipts(self.receipts_path)
        now = self.services.clock.now()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            self.counts["pruned"] += self._store.prune(now)
        return self._store

    async def handle(self, cmd: Command) -> dict[str, Any]:
        return await self.record(cmd.args, via="cloud")

    async def record(self, args: Any, via: str) -> dict[str, Any]:
        now = self.services.clock.now()
        try:
            data = parse_sale(args, now, via)
        except CommandRejected:
            self.counts["rejected"] += 1
            raise
        receipt = data["receipt"]
        loop = asyncio.get_running_loop()
        store = await loop.run_in_executor(None, self._receipts)
        previous = await loop.run_in_executor(None, store.claim, receipt, RECEIPTS, now)
        if previous is not None and previous[0] != "failed":
            self.counts["duplicate"] += 1
            log.info("pos.sale receipt already recorded: counted once")
            return {"receipt": receipt, "recorded": False, "duplicate": True}
        try:
            event = await self.services.emitter.emit(SALE, data)
        except Exception:
            await loop.run_in_executor(None, store.finish, receipt, RECEIPTS, "failed", None)
            raise
        if event is None:  # the log dropped it (full disk): it may be sent again
            await loop.run_in_executor(None, store.finish, receipt, RECEIPTS, "failed", None)
            raise CommandRejected("the sale could not be stored (event log full); send it "
                                  "again later")
        await loop.run_in_executor(None, store.finish, receipt, RECEIPTS, "ok", None)
        self.counts["recorded"] += 1
        return {"receipt": receipt, "recorded": True, "lines": len(data["lines"])}

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def build(config: Config, services: Services) -> list[Component]:
    """Register the `pos.sale` handler (unless another part has one), and with
    `[insight.pos_mqtt]` the component that takes sales from a local POS on the store's
    broker (`edge.insight.pos_mqtt`)."""
    if not config.insight.enabled or COMMAND in services.command_handlers:
        return []
    desk = SaleDesk(services, receipts_path(config))
    services.command_handlers[COMMAND] = desk.handle
    local = config.insight.pos_mqtt
    if local is None or not local.enabled:
        return []
    from edge.insight.pos_mqtt import LocalPosListener

    return [LocalPosListener(local, desk,
                             client_id=f"omo-edge-pos-{config.store}-{config.device}")]
