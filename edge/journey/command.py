"""The `journey.interests` command: the cloud replaces one opted-in customer's interest list.

args: `{"customer": "m1a2b", "products": [{"sku": "...", "expires": "<RFC 3339>"}, ...]}`
(`edge/schemas/commands/journey.interests.json`; an empty list clears it). The handler
drops entries already expired, refuses more than `journey.max_products` products, keeps the
list in the state folder (`edge.journey.interests.save`, so a restart keeps it) and records
`omo.journey.interests.updated`, which the journey processor reads from the log. A refused
command is answered `rejected` with the field and the rule, never the text sent.

`build` registers the handler in `services.command_handlers` (the sync component serves it
from the cloud's command topics; the simulator calls it directly); no component of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from edge.journey.interests import InterestsInvalid, parse_products, save
from edge.schema_errors import first_problem_without_values
from edge.sync.commands import Command, CommandRejected, _validator

if TYPE_CHECKING:
    from edge.config import Config
    from edge.runtime import Component
    from edge.services import Services

log = logging.getLogger("omo_edge.journey.command")

COMMAND = "journey.interests"
UPDATED = "omo.journey.interests.updated"


class InterestDesk:
    """The `journey.interests` handler: validate, keep, record."""

    def __init__(self, config: Config, services: Services) -> None:
        self.config = config
        self.services = services
        self.counts: Counter[str] = Counter()
        self._lock = asyncio.Lock()

    async def handle(self, cmd: Command) -> dict[str, Any]:
        return await self.update(cmd.args)

    async def update(self, args: Any) -> dict[str, Any]:
        """Replace one customer's list; the command's result. Raises CommandRejected."""
        problem = first_problem_without_values(_validator(COMMAND), args, root="args")
        if problem:
            self.counts["rejected"] += 1
            raise CommandRejected(problem)
        now = self.services.clock.now()
        cfg = self.config.journey
        try:
            interests, expired = parse_products(args["products"], now, cfg.max_products)
        except InterestsInvalid as exc:
            self.counts["rejected"] += 1
            raise CommandRejected(str(exc)) from None
        customer = str(args["customer"])
        async with self._lock:
            loop = asyncio.get_running_loop()
            try:
                dropped = await loop.run_in_executor(
                    None, save, self.config.storage.state_dir, customer, interests,
                    cfg.max_customers)
            except OSError as exc:
                self.counts["failed"] += 1
                raise CommandRejected(f"cannot keep the list: {exc.strerror or 'I/O error'}"
                                      ) from None
            event = await self.services.emitter.emit(
                UPDATED, {"customer": customer, "products": [i.as_json() for i in interests]})
        if event is None:
            raise CommandRejected("the list is kept but could not be recorded (event log "
                                  "full); send it again later")
        self.counts["updated"] += 1
        if dropped:
            log.info("journey: %d older interest list(s) dropped (journey.max_customers)",
                     dropped)
        return {"customer": customer, "products": len(interests), "expired": expired,
                "cleared": not interests, "dropped_customers": dropped}


def build(config: Config, services: Services) -> list[Component]:
    """Register the `journey.interests` handler (unless another part has one)."""
    if config.journey.enabled and COMMAND not in services.command_handlers:
        services.command_handlers[COMMAND] = InterestDesk(config, services).handle
    return []
