"""The local channel between the daemon and the signage player: its messages and framing.

Transport: a Unix stream socket, ``<state_dir>/signage/player.sock`` by default. The daemon
listens; the player connects, and reconnects with back-off while the daemon is away, so
either side can restart without the other. Framing: one JSON object per line (UTF-8,
``\\n``-terminated, at most `MAX_LINE` bytes); a line that does not parse, or parses to an
unknown `kind`, is counted and skipped by the reader, never fatal.

Daemon -> player: `Show` (content or a product card on one screen, with priority, duration
and the trigger that caused it), `Playlist` (replace a named playlist), `Orders` (the
order numbers on a pickup board), `Ack` (proof-of-play records now durable in the event
log).
Player -> daemon: `Hello` (first message on every connection: who is playing which
screens), `Played` (proof of play; the player keeps each in its own store until acked, so
none is lost while the daemon is away), `Skipped` (an item that could not be played, with a
reason code), `Screenshot` (the answer to a `Capture`).
Daemon -> player also: `Capture` (send a small PNG of what the screen shows).

On every (re)connection the daemon sends the current state (every live `Show`, `Playlist`
and `Orders`) after the player's `Hello`, then changes as they happen; the player answers
with every unacknowledged `Played`. `Played.id` is unique and stable, so a record delivered
twice is recorded once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

MAX_LINE = 256 * 1024
"""The longest line either side sends or accepts, in bytes, newline included."""

SOCKET_NAME = "player.sock"
"""The socket's file name under ``<state_dir>/signage/``."""

VERSION = 1
"""The channel's version; `Hello` carries it."""


class ContentKind(StrEnum):
    """What an item is."""

    IMAGE = "image"
    VIDEO = "video"
    TEXT = "text"
    PRODUCT = "product"  # a product or price card rendered from data
    HTML = "html"  # accepted from the cloud; the player skips it (reported) as unsupported


class Priority(IntEnum):
    """Which content wins a screen: a higher value interrupts a lower one."""

    SCHEDULE = 0  # the playlist and schedule
    TRIGGER = 1  # a rule in config fired on an event (a pick-up, a zone entry)
    CLOUD = 2  # `signage.show` from the cloud (a recommendation)
    URGENT = 3  # staff or safety notices


@dataclass(frozen=True)
class Product:
    """The data a product card is drawn from. `image` is an asset URI or None."""

    sku: str
    name: str
    price: float | None = None
    currency: str = "JPY"
    image: str | None = None
    reason: str | None = None  # why it is shown ("popular today"); never names a shopper


@dataclass(frozen=True)
class Item:
    """One piece of content. `uri` is ``asset://<name>`` (the local cache) or an https URL,
    with an optional `sha256` the cached bytes must match; `text` for TEXT; `product` for
    PRODUCT. `id` names the item in proof of play."""

    id: str
    kind: ContentKind
    duration_s: float = 10.0
    uri: str | None = None
    sha256: str | None = None
    text: str | None = None
    product: Product | None = None


@dataclass(frozen=True)
class Show:
    """Show `item` on `screen` for its duration (or until `until`, epoch seconds), then let
    the schedule resume. `trigger` says why (a rule name, or ``cloud``)."""

    screen: str
    item: Item
    priority: Priority = Priority.TRIGGER
    trigger: str | None = None
    until: float | None = None
    kind: str = field(default="show", init=False)


@dataclass(frozen=True)
class Playlist:
    """Replace the playlist `name`'s items."""

    name: str
    items: tuple[Item, ...]
    kind: str = field(default="playlist", init=False)


@dataclass(frozen=True)
class Orders:
    """The order numbers ready for pickup on `board`, each shown until `expires` (epoch s)."""

    board: str
    orders: tuple[str, ...]
    expires: float
    kind: str = field(default="orders", init=False)


@dataclass(frozen=True)
class Ack:
    """These `Played` ids are now in the event log: the player may forget them."""

    ids: tuple[str, ...]
    kind: str = field(default="ack", init=False)


@dataclass(frozen=True)
class Hello:
    """The player's first message on a connection."""

    player: str
    screens: tuple[str, ...]
    version: int = VERSION
    kind: str = field(default="hello", init=False)


@dataclass(frozen=True)
class Played:
    """Proof of play: `item` was on `screen` from `started` to `ended` (epoch seconds),
    because of `trigger` (None: the schedule)."""

    id: str
    screen: str
    item: str
    started: float
    ended: float
    trigger: str | None = None
    kind: str = field(default="played", init=False)


@dataclass(frozen=True)
class Capture:
    """Daemon -> player: send a `Screenshot` of `screen` (what the panel shows), scaled to
    `width` pixels wide (the height keeps the panel's aspect)."""

    id: str
    screen: str
    width: int = 320
    kind: str = field(default="capture", init=False)


@dataclass(frozen=True)
class Screenshot:
    """Player -> daemon: the answer to `Capture` `id`: a PNG (base64) of what the panel
    showed, `width` x `height` pixels. Never a camera image: the frame the player drew."""

    id: str
    screen: str
    png: str
    width: int
    height: int
    kind: str = field(default="screenshot", init=False)


class SkipReason(StrEnum):
    """Why the player skipped an item (a code; never the item's content)."""

    MISSING = "missing"
    CORRUPT = "corrupt"  # its bytes do not match its sha256
    BAD_URI = "bad-uri"
    FETCH_FAILED = "fetch-failed"
    UNDECODABLE = "undecodable"
    TRUNCATED = "truncated"  # a video that stopped before its frame count
    UNSUPPORTED = "unsupported"
    INVALID = "invalid"
    TOO_LARGE = "too-large"  # an image over the player's pixel limit


@dataclass(frozen=True)
class Skipped:
    """Player -> daemon: `item` could not be played on `screen` at `at` (epoch seconds), for
    `reason`. Best effort: sent when connected, not kept while the daemon is away."""

    screen: str
    item: str
    reason: SkipReason
    at: float
    trigger: str | None = None
    kind: str = field(default="skipped", init=False)


Message = (Show | Playlist | Orders | Ack | Hello | Played | Capture | Screenshot | Skipped)


class BadMessage(ValueError):
    """A line that is not a valid message; the reader counts it and skips it."""


def encode(message: Message) -> bytes:
    """One message as one line. Raises BadMessage if it would exceed MAX_LINE."""
    line = json.dumps(asdict(message), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    if len(line) > MAX_LINE:
        raise BadMessage(f"{message.kind} message of {len(line)} bytes exceeds {MAX_LINE}")
    return line


def _item(raw: Any) -> Item:
    if not isinstance(raw, dict):
        raise BadMessage("item is not an object")
    product = raw.get("product")
    return Item(
        id=str(raw["id"]), kind=ContentKind(raw["kind"]),
        duration_s=float(raw.get("duration_s", 10.0)), uri=raw.get("uri"),
        sha256=raw.get("sha256"), text=raw.get("text"),
        product=Product(**product) if isinstance(product, dict) else None)


def decode(line: bytes) -> Message:
    """Parse one line. Raises BadMessage for anything that is not a valid message."""
    if len(line) > MAX_LINE:
        raise BadMessage(f"line of {len(line)} bytes exceeds {MAX_LINE}")
    kind = None
    try:
        raw = json.loads(line)
        if not isinstance(raw, dict):
            raise BadMessage("not a JSON object")
        kind = raw.pop("kind", None)
        if kind == "show":
            return Show(screen=str(raw["screen"]), item=_item(raw["item"]),
                        priority=Priority(int(raw.get("priority", Priority.TRIGGER))),
                        trigger=raw.get("trigger"), until=raw.get("until"))
        if kind == "playlist":
            return Playlist(name=str(raw["name"]), items=tuple(_item(i) for i in raw["items"]))
        if kind == "orders":
            return Orders(board=str(raw["board"]), orders=tuple(str(o) for o in raw["orders"]),
                          expires=float(raw["expires"]))
        if kind == "ack":
            return Ack(ids=tuple(str(i) for i in raw["ids"]))
        if kind == "hello":
            return Hello(player=str(raw["player"]), screens=tuple(map(str, raw["screens"])),
                         version=int(raw.get("version", VERSION)))
        if kind == "played":
            return Played(**raw)
        if kind == "capture":
            return Capture(id=str(raw["id"]), screen=str(raw["screen"]),
                           width=int(raw.get("width", 320)))
        if kind == "screenshot":
            return Screenshot(id=str(raw["id"]), screen=str(raw["screen"]),
                              png=str(raw["png"]), width=int(raw["width"]),
                              height=int(raw["height"]))
        if kind == "skipped":
            trigger = raw.get("trigger")
            return Skipped(screen=str(raw["screen"]), item=str(raw["item"]),
                           reason=SkipReason(raw["reason"]), at=float(raw["at"]),
                           trigger=None if trigger is None else str(trigger))
    except BadMessage:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise BadMessage(f"malformed {kind or 'message'}: {type(exc).__name__}") from None
    raise BadMessage(f"unknown kind {kind!r}" if isinstance(kind, str) else "no kind")
