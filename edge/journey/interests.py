"""Interest lists: what the cloud says an opted-in customer browsed online and did not buy.

An interest list is a pseudonymous customer id and products, each with an expiry. The cloud
replaces a customer's list with the `journey.interests` command (`edge.journey.command`);
the lists are kept one small file per customer under `<state_dir>/journey/interests/`
(`<customer>.json`, written atomically; an empty list deletes it), so a restart keeps them:
the journey processor's builder reads them back with `load`. This module is the pure part
(parsing, expiry) and that store.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.events import format_time, parse_time
from edge.files import write_json_atomic

log = logging.getLogger(__name__)

FOLDER = Path("journey") / "interests"
CUSTOMER = re.compile(r"m[0-9a-z]{1,8}")


class InterestsInvalid(ValueError):
    """Args that cannot be used; the message names the field and the rule, never the
    value sent."""


@dataclass(frozen=True)
class Interest:
    """One product on a customer's list, until `expires` (epoch seconds)."""

    sku: str
    expires: float

    def as_json(self) -> dict[str, str]:
        return {"sku": self.sku, "expires": format_time(self.expires)}


def parse_products(items: Iterable[Any], now: float, max_products: int
                   ) -> tuple[tuple[Interest, ...], int]:
    """(the live interests, how many were already expired) from the command's `products`
    (already checked against the command's JSON Schema). A product listed twice keeps its
    latest expiry. Raises InterestsInvalid."""
    latest: dict[str, float] = {}
    expired = 0
    for i, item in enumerate(items):
        try:
            expires = parse_time(str(item["expires"]))
        except (KeyError, TypeError, ValueError, OverflowError):
            raise InterestsInvalid(f"args/products/{i}/expires: not a valid date and time"
                                   ) from None
        if not math.isfinite(expires):
            raise InterestsInvalid(f"args/products/{i}/expires: not a valid date and time")
        if expires <= now:
            expired += 1
            continue
        sku = str(item["sku"])
        latest[sku] = max(expires, latest.get(sku, -math.inf))
    if len(latest) > max_products:
        raise InterestsInvalid(f"args/products: at most {max_products} products a customer "
                               "(journey.max_products)")
    return tuple(Interest(s, e) for s, e in latest.items()), expired


def from_event(data: dict[str, Any]) -> tuple[str, tuple[Interest, ...]] | None:
    """(customer, interests) from an `omo.journey.interests.updated` event's data, or None
    if it is not one."""
    customer, products = data.get("customer"), data.get("products")
    if not isinstance(customer, str) or not isinstance(products, list):
        return None
    out: list[Interest] = []
    for item in products:
        if not isinstance(item, dict) or not isinstance(item.get("sku"), str):
            return None
        try:
            out.append(Interest(item["sku"], parse_time(str(item.get("expires")))))
        except (ValueError, OverflowError):
            return None
    return customer, tuple(out)


# -------------------------------------------------------------------- the store
def folder(state_dir: Path) -> Path:
    return state_dir / FOLDER


def save(state_dir: Path, customer: str, interests: tuple[Interest, ...],
         max_customers: int) -> int:
    """Replace `customer`'s list on disk (an empty one deletes it); returns how many other
    customers' lists were dropped to stay within `max_customers` (the least recently
    updated go first). Raises OSError (a full or read-only state folder)."""
    if not CUSTOMER.fullmatch(customer):
        raise ValueError("not a customer id")  # the schema checked it: a bug if reached
    where = folder(state_dir)
    path = where / f"{customer}.json"
    if not interests:
        path.unlink(missing_ok=True)
        return 0
    write_json_atomic(path, {"customer": customer,
                             "products": [i.as_json() for i in interests]})
    files = [e for e in os.scandir(where) if e.name.endswith(".json") and e.is_file()]
    dropped = 0
    if len(files) > max_customers:
        files.sort(key=lambda e: (e.stat().st_mtime_ns, e.name))
        for entry in files[:len(files) - max_customers]:
            if entry.name != path.name:
                Path(entry.path).unlink(missing_ok=True)
                dropped += 1
    return dropped


def load(state_dir: Path, max_customers: int) -> dict[str, tuple[Interest, ...]]:
    """Every kept list (customer -> interests, expired ones included: the processor ignores
    them by the time of each visit). A damaged file is skipped with a warning naming it."""
    where = folder(state_dir)
    try:
        entries = sorted(os.scandir(where), key=lambda e: e.name)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.warning("journey: cannot read %s (%s); holding no interest lists", where,
                    exc.strerror or type(exc).__name__)
        return {}
    out: dict[str, tuple[Interest, ...]] = {}
    for entry in entries:
        if not entry.name.endswith(".json") or len(out) >= max_customers:
            continue
        try:
            data = json.loads(Path(entry.path).read_text(encoding="utf-8"))
            parsed = from_event(data) if isinstance(data, dict) else None
        except (OSError, ValueError):
            parsed = None
        if parsed is None or not CUSTOMER.fullmatch(parsed[0]):
            log.warning("journey: skipping the damaged interest file %s", entry.name)
            continue
        out[parsed[0]] = parsed[1]
    return out
