"""The signage state the daemon keeps and pushes to players: live Shows, Playlists, Orders.

Its durable form is the command hand-off files under ``<state_dir>/signage/`` (written by
`edge.sync.handlers`, bounded by `edge.sync.bookkeeping`): a restarted daemon reads them
back with `SignageState.load`. Shows that trigger rules cause (`omo.signage.trigger.fired`)
live in memory only, for their few seconds; they are in the event log, so replayable.

A state message has a `StateKey`: a newer message with the same key supersedes an older one
(a connection's queue replaces an unsent older one with it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.events import Event, parse_time
from signage.protocol import ContentKind, Item, Orders, Playlist, Priority, Product, Show

StateMessage = Show | Playlist | Orders
CLOUD_TRIGGER = "cloud"
"""`Show.trigger` of a `signage.show` from the cloud."""
TRIGGER_FIRED = "omo.signage.trigger.fired"
ITEM_PLAYED = "omo.signage.item.played"


@dataclass(frozen=True)
class StateKey:
    """What a state message replaces: the show of one priority on one screen, a playlist by
    name, a board."""

    kind: str
    name: str
    priority: int = 0


def key_of(message: StateMessage) -> StateKey:
    if isinstance(message, Show):
        return StateKey("show", message.screen, int(message.priority))
    if isinstance(message, Playlist):
        return StateKey("playlist", message.name)
    return StateKey("orders", message.board)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def content_item(content: dict[str, Any], default_s: float) -> Item:
    """An `Item` from a command's content object (signage.show / signage.playlist). Its id
    names it in proof of play: the URI, or ``text:<digest>`` for text."""
    kind = ContentKind(str(content["kind"]))
    uri = content.get("uri")
    text = content.get("text")
    item_id = str(uri)[:128] if uri else f"text:{_digest(str(text))}"
    return Item(id=item_id, kind=kind, duration_s=float(content.get("duration_s", default_s)),
                uri=uri, text=text)


def show_from_command(doc: dict[str, Any], default_s: float) -> Show:
    """A Show from a `signage.show` hand-off file (the command's args and its stamp). A
    recommendation becomes a product card; it never names a shopper (the schema has no
    such field, and nothing else of the command is copied)."""
    received = parse_time(str(doc["received_at"]))
    if "recommendation" in doc:
        rec = doc["recommendation"]
        product = Product(sku=str(rec["sku"]), name=str(rec["title"]), price=rec.get("price"),
                          image=rec.get("image"), reason=rec.get("reason"))
        item = Item(id=f"product:{product.sku}"[:128], kind=ContentKind.PRODUCT,
                    duration_s=default_s, product=product)
    else:
        item = content_item(doc["content"], default_s)
    until = parse_time(str(doc["until"])) if doc.get("until") else received + item.duration_s
    return Show(screen=str(doc["screen"]), item=item, priority=Priority.CLOUD,
                trigger=CLOUD_TRIGGER, until=until)


def playlist_from_command(doc: dict[str, Any], default_s: float) -> Playlist:
    return Playlist(name=str(doc["playlist"]),
                    items=tuple(content_item(c, default_s) for c in doc["items"]))


def live_orders(doc: dict[str, Any], now: float, default_until: float) -> dict[str, float]:
    """The orders on a board file still within their time: order -> expiry (epoch s).
    A file without expiries (written before they existed) gives `default_until`."""
    expires = doc.get("expires")
    expires = expires if isinstance(expires, dict) else {}
    out: dict[str, float] = {}
    for order in doc.get("orders", []):
        until = expires.get(order, default_until)
        if isinstance(until, int | float) and math.isfinite(until) and until > now:
            out[str(order)] = float(until)
    return out


def orders_message(board: str, live: dict[str, float]) -> Orders:
    """The board's Orders: `expires` is the latest expiry, so a player cut off from the
    daemon does not clear a board early; the daemon sends a new Orders at each expiry."""
    return Orders(board=board, orders=tuple(live), expires=max(live.values(), default=0.0))


def show_from_trigger(event: Event, now: float) -> Show:
    """The Show an `omo.signage.trigger.fired` event asks for: its duration from `now` (when
    the daemon stored it), or from the event's time if that is later. A trigger dated at its
    cause (a zone entry presence confirmed seconds later) still shows for its whole duration."""
    d = event.data
    product = d.get("product")
    duration = float(d["duration_s"])
    if product is not None:
        item = Item(id=str(d["item"]), kind=ContentKind.PRODUCT, duration_s=duration,
                    product=Product(sku=str(product["sku"]), name=str(product["name"]),
                                    price=product.get("price")))
    else:
        uri = str(d["uri"])
        kind = ContentKind.VIDEO if uri.lower().endswith((".mp4", ".avi", ".mkv", ".mov")) \
            else ContentKind.IMAGE
        item = Item(id=str(d["item"]), kind=kind, duration_s=duration, uri=uri)
    return Show(screen=str(d["screen"]), item=item, priority=Priority(int(d["priority"])),
                trigger=str(d["rule"]), until=max(parse_time(event.time), now) + duration)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


@dataclass
class SignageState:
    """Every live state message, by key; `order_s` and `show_s` are the config's."""

    root: Path
    order_s: float
    show_s: float
    shows: dict[StateKey, Show] = field(default_factory=dict)
    playlists: dict[str, Playlist] = field(default_factory=dict)
    boards: dict[str, dict[str, float]] = field(default_factory=dict)
    bad_files: int = 0

    def put(self, message: StateMessage) -> None:
        if isinstance(message, Show):
            self.shows[key_of(message)] = message
        elif isinstance(message, Playlist):
            self.playlists[message.name] = message

    def live(self, now: float) -> list[StateMessage]:
        """Every live message: shows not yet over, every playlist, every non-empty board
        (expired orders left out)."""
        self.expire(now)
        out: list[StateMessage] = list(self.playlists.values())
        out += [orders_message(b, live) for b, live in self.boards.items() if live]
        out += list(self.shows.values())
        return out

    def expire(self, now: float) -> list[Orders]:
        """Forget shows that are over and orders past their time; returns the boards that
        changed (as Orders to push)."""
        for k in [k for k, s in self.shows.items() if s.until is not None and s.until <= now]:
            del self.shows[k]
        changed = []
        for board, live in self.boards.items():
            kept = {o: t for o, t in live.items() if t > now}
            if len(kept) != len(live):
                self.boards[board] = kept
                changed.append(orders_message(board, kept))
        return changed

    def next_expiry(self) -> float | None:
        times = [t for live in self.boards.values() for t in live.values()]
        times += [s.until for s in self.shows.values() if s.until is not None]
        return min(times, default=None)

    def reload(self, kind: str, name: str, now: float) -> StateMessage | None:
        """Read one hand-off file again (after a command rewrote it); returns the message to
        push, or None if the file is unreadable (counted in `bad_files`) or already over."""
        doc = _read(self.root / kind / f"{name}.json")
        if doc is None:
            self.bad_files += 1
            return None
        try:
            if kind == "show":
                show = show_from_command(doc, self.show_s)
                if show.until is not None and show.until <= now:
                    return None
                self.put(show)
                return show
            if kind == "playlists":
                playlist = playlist_from_command(doc, self.show_s)
                self.put(playlist)
                return playlist
            if kind == "orders":
                board = str(doc.get("board", name))
                received = parse_time(str(doc.get("received_at")))
                live = live_orders(doc, now, received + self.order_s)
                self.boards[board] = live
                return orders_message(board, live)
        except (KeyError, ValueError, TypeError, OverflowError):
            self.bad_files += 1
        return None

    def load(self, now: float) -> None:
        """Read every hand-off file (at start: a restarted daemon knows what to show)."""
        for kind in ("show", "playlists", "orders"):
            with contextlib.suppress(OSError):
                for path in sorted((self.root / kind).glob("*.json")):
                    if not path.name.startswith("."):
                        self.reload(kind, path.stem, now)
