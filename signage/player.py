"""One screen's player: what plays now, the next item prepared ahead, and the frame.

Never black: the next item is opened (image loaded, first video frame decoded, card drawn)
while the current one plays, and switching happens within one frame; the main region keeps
its last frame until a new first frame exists. Candidates, in order: a live `Show` of the
highest priority, the scheduled playlist from its current position, the default playlist,
then the built-in splash (drawn, needs no file). An item that cannot be opened is skipped,
counted by reason and logged by id (never its content), and the next candidate is tried.

Time comes from the caller (`tick(now)`), so tests drive it with a fake clock.
"""

from __future__ import annotations

import logging
import math
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pygame

from edge.config.model import Screen
from signage import draw
from signage.cache import AssetCache
from signage.content import (
    ContentError,
    Playable,
    Reason,
    Still,
    SurfaceCache,
    Video,
    open_item,
)
from signage.layout import Regions, regions
from signage.protocol import (
    Item,
    Message,
    Orders,
    Played,
    Playlist,
    Priority,
    Show,
    Skipped,
)
from signage.schedule import Schedule
from signage.store import PlayerStore

log = logging.getLogger("omo.signage")

SPLASH_S = 10.0  # how long the splash stays before the chain is tried again
MIN_S, MAX_S = 0.1, 86400.0  # an item's duration is clamped to this (hostile or NaN values)


def duration(item: Item) -> float:
    d = item.duration_s
    return 10.0 if not math.isfinite(d) else min(MAX_S, max(MIN_S, d))
TICKER_PX_S = 120.0


@dataclass(frozen=True)
class Entry:
    """A candidate to play: an item and where it came from."""

    item: Item
    priority: Priority = Priority.SCHEDULE
    trigger: str | None = None
    until: float | None = None  # a Show's end
    playlist: str | None = None
    index: int = -1
    version: int = 0

    @property
    def key(self) -> tuple[object, ...]:
        return (self.item.id, self.priority, self.trigger, self.playlist, self.index,
                self.version)


@dataclass
class Playing:
    entry: Entry | None  # None: the splash
    playable: Playable
    started: float
    ends: float
    version: int = 0  # the player's content version when it started


@dataclass
class PlayerStatus:
    frames: int = 0
    played: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    splash_shown: int = 0
    prepared_hits: int = 0
    current: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"frames": self.frames, "played": self.played, "skipped": dict(self.skipped),
                "splash_shown": self.splash_shown, "prepared_hits": self.prepared_hits,
                "current": self.current}


class ScreenPlayer:
    def __init__(self, screen: Screen, *, size: tuple[int, int], cache: AssetCache,
                 store: PlayerStore, tz: zoneinfo.ZoneInfo,
                 on_played: Callable[[Played], None] = lambda p: None,
                 on_skipped: Callable[[Skipped], None] = lambda s: None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self.screen = screen
        self.size = size
        self.regions: Regions = regions(screen.layout, size)
        self.cache = cache
        self.store = store
        self.schedule = Schedule(screen, tz)
        self.on_played = on_played
        self.on_skipped = on_skipped
        self.new_id = new_id
        self.canvas = pygame.Surface(size)
        self.playlists: dict[str, tuple[Item, ...]] = {
            p.name: p.items for p in store.playlists()}
        self.position: dict[str, int] = {}
        self.shows: dict[Priority, Entry] = {}
        self.orders: dict[str, Orders] = {}
        self.version = 0
        self.current: Playing | None = None
        self.prepared: tuple[Entry, Playable] | None = None
        self.last_main: pygame.Surface | None = None
        self.stills = SurfaceCache()
        self.changed = True  # the last tick drew something new on the canvas
        self._on_canvas: pygame.Surface | None = None  # the main frame the canvas shows
        self._prepare_at: float | None = None  # open the next item (prepare_ahead) for then
        self._ended: list[Played] = []  # proof of play to store and send (prepare_ahead)
        self.status = PlayerStatus()
        self.is_on = True
        self._board: tuple[tuple[str, ...], pygame.Surface] | None = None
        self._board_on_canvas = False

    # ------------------------------------------------------------------ messages
    def apply(self, message: Message, now: float) -> None:
        """A message from the daemon (Show, Playlist, Orders; others are ignored here)."""
        if isinstance(message, Show):
            if message.screen != self.screen.id:
                return
            until = now + duration(message.item)
            if message.until is not None and math.isfinite(message.until):
                until = min(max(message.until, now), now + MAX_S)
            self.version += 1
            self.shows[message.priority] = Entry(message.item, message.priority,
                                                 message.trigger, until, version=self.version)
        elif isinstance(message, Playlist):
            self.playlists[message.name] = message.items
            self.store.save_playlist(message)
            self.version += 1
        elif isinstance(message, Orders):
            self.orders[message.board] = message

    # ------------------------------------------------------------------ choosing
    def _live_show(self, now: float, *, prune: bool = True) -> Entry | None:
        """The live Show of the highest priority at `now`; ended ones are forgotten unless
        `now` is a time ahead (`prune` False: preparing what plays next)."""
        ended = [p for p, e in self.shows.items() if e.until is not None and e.until <= now]
        if prune:
            for prio in ended:
                del self.shows[prio]
        live = [p for p in self.shows if p not in ended]
        return self.shows[max(live)] if live else None

    def _from_playlist(self, name: str) -> Iterator[Entry]:
        items = self.playlists.get(name, ())
        start = self.position.get(name, 0)
        for k in range(len(items)):
            index = (start + k) % len(items)
            yield Entry(items[index], playlist=name, index=index, version=self.version)

    def _candidates(self, now: float, *, prune: bool = True) -> Iterator[Entry]:
        show = self._live_show(now, prune=prune)
        if show is not None:
            yield show
        scheduled = self.schedule.playlist(now)
        yield from self._from_playlist(scheduled)
        if self.screen.playlist != scheduled:
            yield from self._from_playlist(self.screen.playlist)

    def _open(self, entry: Entry) -> Playable:
        return open_item(entry.item, self.regions.main.size, self.cache, self.stills)

    def _skip(self, entry: Entry, reason: Reason, now: float) -> None:
        self.status.skipped[str(reason)] += 1
        self.on_skipped(Skipped(screen=self.screen.id, item=entry.item.id, reason=reason,
                                at=now, trigger=entry.trigger))
        log.warning("signage: skipped item %s on %s: %s", entry.item.id, self.screen.id, reason)
        if entry.priority > Priority.SCHEDULE and self.shows.get(entry.priority) == entry:
            del self.shows[entry.priority]

    def _start_next(self, now: float) -> None:
        prepared, self.prepared = self.prepared, None
        for entry in self._candidates(now):
            if prepared is not None and prepared[0].key == entry.key:
                playable, prepared = prepared[1], None
                self.status.prepared_hits += 1
            else:
                try:
                    playable = self._open(entry)
                except ContentError as exc:
                    self._skip(entry, exc.reason, now)
                    continue
            if entry.playlist is not None:
                self.position[entry.playlist] = entry.index + 1
            ends = entry.until if entry.until is not None else now + duration(entry.item)
            self.current = Playing(entry, playable, now, ends)
            self.status.current = entry.item.id
            break
        else:
            self.current = Playing(None, Still(draw.splash(self.regions.main.size)), now,
                                   now + SPLASH_S, self.version)
            self.status.splash_shown += 1
            self.status.current = None
        if prepared is not None:
            prepared[1].close()
        self._prepare_at = self.current.ends  # after this frame is on screen: prepare_ahead

    def prepare_ahead(self) -> bool:
        """The work that can wait until a frame is on screen: record the proof of play of
        items that ended, and open what is expected to play after the current item. The
        frame loop calls this after each frame, so a new item's first frame never waits
        for them; `tick` calls it on the next frame otherwise. True if it prepared."""
        ended, self._ended = self._ended, []
        for played in ended:
            self.store.add_played(played)
            self.on_played(played)
        at, self._prepare_at = self._prepare_at, None
        if at is None:
            return False
        if self.prepared is not None:
            self.prepared[1].close()
            self.prepared = None
        self._prepare(at)
        return True

    def _prepare(self, at: float) -> None:
        """Open what is expected to play after the current item (at time `at`)."""
        for entry in self._candidates(at, prune=False):
            if self.current and self.current.entry and entry.key == self.current.entry.key:
                continue
            try:
                self.prepared = (entry, self._open(entry))
            except ContentError:
                continue  # reported when its turn comes
            return

    def _finish(self, now: float) -> None:
        cur, self.current = self.current, None
        if cur is None:
            return
        cur.playable.close()
        if isinstance(cur.playable, Video) and cur.playable.truncated and cur.entry:
            self._skip(cur.entry, Reason.TRUNCATED, now)
        if cur.entry is None:
            return
        played = Played(id=self.new_id(), screen=self.screen.id, item=cur.entry.item.id,
                        started=cur.started, ended=now, trigger=cur.entry.trigger)
        self._ended.append(played)  # stored and sent by prepare_ahead, after the frame
        self.status.played += 1

    def _outranked(self, now: float) -> bool:
        if self.current is None:
            return False
        if self.current.entry is None and self.current.version != self.version:
            return True  # the splash gives way as soon as new content arrives
        show = self._live_show(now)
        if show is None:
            return False
        cur = self.current.entry
        if cur is None:
            return True
        return show.priority > cur.priority or (show.priority == cur.priority
                                                and show.key != cur.key)

    # ------------------------------------------------------------------ frames
    def tick(self, now: float) -> pygame.Surface:
        """Advance to `now` and draw the frame into `canvas` (returned); `changed` says
        whether the canvas differs from the previous tick's."""
        on = self.schedule.screen_on(now)
        if not on:
            if self.current is not None:
                self._finish(now)
            self.changed = self.is_on or self._on_canvas is not None
            self.is_on = False
            self._on_canvas = None
            self._board_on_canvas = False
            self.canvas.fill((0, 0, 0))  # screen off hours: blank on purpose
            return self.canvas
        self.is_on = True
        self.changed = False
        self.prepare_ahead()  # if the last frame loop did not
        if self.current is None or now >= self.current.ends or self._outranked(now):
            self._finish(now)
            self._start_next(now)
        assert self.current is not None
        frame = self.current.playable.frame(now - self.current.started)
        if frame is None:  # a video ended early: next item now, last frame kept meanwhile
            self._finish(now)
            self._start_next(now)
            frame = self.current.playable.frame(0.0) or self.last_main
        if frame is not None:
            self.last_main = frame
        if self.last_main is not None and self.last_main is not self._on_canvas:
            self.canvas.blit(self.last_main, self.regions.main)  # else it is there already
            self._on_canvas = self.last_main
            self.changed = True
        self._draw_regions(now)
        self.status.frames += 1
        return self.canvas

    def _draw_regions(self, now: float) -> None:
        """The ticker and the board; the board is redrawn only when its numbers change."""
        r = self.regions
        if r.ticker is not None:
            self.changed = True
            self.canvas.blit(draw.ticker(r.ticker.size, self.screen.ticker,
                                         int(now * TICKER_PX_S)), r.ticker)
        if r.board is not None:
            board = self.orders.get(self.screen.board)
            numbers = tuple(board.orders) if board and board.expires > now else ()
            if self._board is None or self._board[0] != numbers:
                self._board = (numbers, draw.board(r.board.size, list(numbers)))
                self._board_on_canvas = False
            if not self._board_on_canvas:
                self.canvas.blit(self._board[1], r.board)
                self._board_on_canvas = True
                self.changed = True

    def close(self, now: float) -> None:
        self._finish(now)
        self._prepare_at = None
        self.prepare_ahead()  # stores what ended
        if self.prepared is not None:
            self.prepared[1].close()
            self.prepared = None
