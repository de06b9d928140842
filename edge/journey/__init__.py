"""The OMO journey of opted-in app users: the cloud's interest lists, offers at the shelf,
picks attributed to a shopper, and a summary per visit (docs/journey.md).

`build` is the part's processor builder (`edge.processing.registry`): the journey processor
(`edge.journey.processor`) when `journey.enabled` and the store has zones, starting from the
interest lists kept in the state folder (`edge.journey.interests`) and the offers of the
last `journey.offer_cooldown_s` in the event log (so a restart keeps the cooldown; an offer
later than the visit at hand, as when `omo-edge replay` runs an older recording, does not
hold it back). The
lists arrive as the `journey.interests` command (`edge.journey.command`).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import Config
    from edge.processing.processor import Processor

log = logging.getLogger(__name__)
MAX_RECENT_OFFERS = 100_000


def recent_offers(path: Path, cooldown_s: float) -> dict[tuple[str, str], float]:
    """(customer, sku) -> time of the last `omo.journey.offer.triggered` in the log at
    `path`, for the offers within `cooldown_s` of the newest one. No log, or one that cannot
    be read, gives none (with a warning for the latter)."""
    from edge.eventlog import EventLogError, open_readonly
    from edge.events import parse_time
    from edge.journey.processor import OFFER

    if cooldown_s <= 0 or not path.exists():
        return {}
    out: dict[tuple[str, str], float] = {}
    try:
        with open_readonly(path) as events:
            newest: float | None = None
            for stored in events.query(types=[OFFER], newest_first=True,
                                       limit=MAX_RECENT_OFFERS):
                t = parse_time(stored.event.time)
                newest = t if newest is None else newest
                if t < newest - cooldown_s:
                    break
                d = stored.event.data
                key = (str(d.get("customer")), str(d.get("sku")))
                out.setdefault(key, t)
    except (EventLogError, OSError, sqlite3.Error, ValueError) as exc:
        log.warning("journey: cannot read the last offers from %s (%s); the cooldown starts "
                    "afresh", path, type(exc).__name__)
        return {}
    return out


def build(config: Config) -> list[Processor]:
    """The journey processor, unless `journey.enabled` is false or the store has no zones."""
    from edge.journey.interests import load
    from edge.journey.processor import from_config

    if not config.journey.enabled or not config.zones:
        return []
    kept = load(config.storage.state_dir, config.journey.max_customers)
    processor = from_config(config, kept)
    processor.last_offer.update(recent_offers(config.storage.path,
                                              config.journey.offer_cooldown_s))
    return [processor]
