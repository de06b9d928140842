"""The channel server: a supervised component listening on ``<state_dir>/signage/player.sock``.

Per connection (see `signage.protocol` for the sequence): wait for the player's `Hello`
(`signage_channel.hello_timeout_s`), queue the current state (every live Show, Playlist and
Orders), then changes as they happen: command files rewritten (`services.signage_listeners`),
trigger events stored in the log (``omo.signage.trigger.fired``), orders expiring. Each
`Played` is recorded once in the event log (`edge.signage_link.played`), then acknowledged.

Bad input never stops the server: a line that is not a valid message is counted
(`malformed`) and skipped; a line longer than `MAX_LINE` closes that connection (counted
`oversized`); a player that stops reading costs a bounded queue (`edge.signage_link.
connection`). The socket is mode 0660 (the player's user shares the daemon's group); a
stale socket file left by a previous run is replaced at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from pathlib import Path

from edge import local_socket
from edge.config import Config
from edge.events import Event, InvalidEvent
from edge.runtime import Component, ComponentContext, Health
from edge.services import Services
from edge.signage_link.connection import Connection
from edge.signage_link.played import Outcome, PlayedRecorder
from edge.signage_link.state import TRIGGER_FIRED, SignageState, StateMessage, show_from_trigger
from signage.protocol import (
    MAX_LINE,
    SOCKET_NAME,
    Ack,
    Capture,
    Hello,
    Played,
    Screenshot,
    Skipped,
    decode,
)

log = logging.getLogger("omo_edge.signage_link")
SOCKET_MODE = 0o660
SKIPPED = "omo.signage.item.skipped"
EXPIRY_CHECK_S = 0.5  # the longest wait between two looks at expiring orders and shows


def socket_path(config: Config) -> Path:
    return config.storage.state_dir / "signage" / SOCKET_NAME


def build(config: Config, services: Services) -> list[Component]:
    """The channel server, when screens are configured."""
    if not config.screens:
        return []
    return [ChannelServer(config)]


class ChannelServer:
    """Serves every player connected to the signage socket, several at once."""

    name = "signage-channel"

    def __init__(self, config: Config, path: Path | None = None) -> None:
        self.config = config
        self.path = path or socket_path(config)
        sc = config.signage_channel
        self.state = SignageState(root=config.storage.state_dir / "signage",
                                  order_s=sc.order_minutes * 60.0, show_s=sc.show_s)
        self.connections: set[Connection] = set()
        self.listening = asyncio.Event()
        self._ctx: ComponentContext | None = None
        self._recorder: PlayedRecorder | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._retired = {"sent": 0, "superseded": 0, "dropped": 0, "unencodable": 0}
        self._captures: dict[str, asyncio.Future[Screenshot]] = {}

    # ----------------------------------------------------------------- counting
    def _count(self, name: str, n: int = 1) -> None:
        if self._ctx is not None:
            self._ctx.count(name, n)

    def _report(self) -> None:
        if self._ctx is None:
            return
        totals = dict(self._retired)
        for conn in self.connections:
            for name in totals:
                totals[name] += getattr(conn.counters, name)
        counters = self._ctx.state.counters
        counters.update(totals)
        counters["players"] = sum(1 for c in self.connections if c.hello is not None)
        counters["bad_files"] = self.state.bad_files

    # ------------------------------------------------------------------ pushing
    def publish(self, message: StateMessage) -> None:
        """Make `message` part of the current state and push it to every player."""
        self.state.put(message)
        self.broadcast(message)

    def broadcast(self, message: StateMessage) -> None:
        for conn in self.connections:
            if conn.wants(message):
                conn.offer(message)

    def _file_changed(self, kind: str, name: str) -> None:
        if self._ctx is None:
            return
        message = self.state.reload(kind, name, self._ctx.clock.now())
        if message is not None:
            self.broadcast(message)

    def _event_stored(self, event: Event) -> None:
        if event.type != TRIGGER_FIRED or self._ctx is None:
            return
        try:
            show = show_from_trigger(event, self._ctx.clock.now())
        except (KeyError, ValueError, TypeError):
            self._count("bad_triggers")
            return
        self.publish(show)
        self._count("triggers")

    # -------------------------------------------------------------- connections
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(writer, self.config.signage_channel.queue)
        self.connections.add(conn)
        self._count("connections")
        write_task = asyncio.create_task(conn.write_loop(), name="signage-channel-writer")
        try:
            await self._read_loop(reader, conn)
        except (ConnectionError, OSError):
            self._count("broken")
        except Exception:  # a bug on one connection: close it, keep serving the others
            self._count("errors")
            log.exception("signage channel: a connection failed; closing it")
        finally:
            conn.close()
            write_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await write_task
            self.connections.discard(conn)
            for name in self._retired:
                self._retired[name] += getattr(conn.counters, name)
            self._report()

    async def _read_loop(self, reader: asyncio.StreamReader, conn: Connection) -> None:
        timeout = self.config.signage_channel.hello_timeout_s
        while True:
            try:
                if conn.hello is None:
                    line = await asyncio.wait_for(reader.readline(), timeout)
                else:
                    line = await reader.readline()
            except TimeoutError:
                self._count("no_hello")
                return
            except ValueError:  # longer than MAX_LINE (asyncio's LimitOverrunError)
                self._count("oversized")
                return
            if not line.endswith(b"\n"):  # end of stream (a cut-off last line is dropped)
                return
            if len(line) > MAX_LINE:
                self._count("oversized")
                return
            try:
                message = decode(line)
            except Exception:  # BadMessage; decode of the contract raises others on some bytes
                self._count("malformed")
                continue
            if isinstance(message, Hello):
                self._hello(conn, message)
            elif conn.hello is None:
                self._count("before_hello")
            elif isinstance(message, Skipped):
                await self._skipped(conn, message)
            elif isinstance(message, Screenshot):
                fut = self._captures.get(message.id)
                if fut is not None and not fut.done():
                    fut.set_result(message)
                else:
                    self._count("screenshots.unasked")
            elif isinstance(message, Played):
                await conn.recording.acquire()  # back-pressure: at most PLAYED_IN_FLIGHT
                task = asyncio.create_task(self._played(conn, message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                self._count("unexpected")

    def _hello(self, conn: Connection, hello: Hello) -> None:
        first = conn.hello is None
        conn.hello = hello
        self._count("hellos")
        if self._ctx is None:
            return
        if first:
            log.info("signage player connected (%d screen(s))", len(hello.screens))
        for message in self.state.live(self._ctx.clock.now()):
            if conn.wants(message):
                conn.offer(message)
        self._report()

    async def _skipped(self, conn: Connection, skipped: Skipped) -> None:
        """``omo.signage.item.skipped``, at most SKIPS_PER_S a second per connection (a
        broken playlist must not flood the log; the excess is counted)."""
        if self._ctx is None or not conn.skips.take(time.monotonic()):
            self._count("skipped.dropped")
            return
        data: dict[str, object] = {"screen": skipped.screen[:128], "item": skipped.item[:128],
                                   "reason": str(skipped.reason)}
        if skipped.trigger:
            data["trigger"] = skipped.trigger[:128]
        at = skipped.at if math.isfinite(skipped.at) else None
        try:
            await self._ctx.emitter.emit(SKIPPED, data, at=at)
        except (InvalidEvent, OverflowError, ValueError):
            self._count("skipped.invalid")
            return
        self._count("skipped")

    async def screenshot(self, screen: str, width: int, timeout_s: float) -> Screenshot:
        """Ask the player of `screen` for a PNG of what it shows. Raises LookupError when no
        player has that screen, TimeoutError when it does not answer in `timeout_s`."""
        conns = [c for c in self.connections if c.hello is not None
                 and (not c.hello.screens or screen in c.hello.screens)]
        if not conns:
            raise LookupError(screen)
        capture = Capture(id=uuid.uuid4().hex, screen=screen, width=width)
        fut: asyncio.Future[Screenshot] = asyncio.get_running_loop().create_future()
        self._captures[capture.id] = fut
        try:
            for conn in conns:
                conn.offer(capture)
            return await asyncio.wait_for(fut, timeout_s)
        finally:
            self._captures.pop(capture.id, None)

    async def _played(self, conn: Connection, played: Played) -> None:
        assert self._recorder is not None
        try:
            outcome = await self._recorder.record(played)
        finally:
            conn.recording.release()
        self._count(f"played.{outcome.value}")
        if outcome is not Outcome.NOT_STORED:
            conn.offer(Ack((played.id,)))

    # ---------------------------------------------------------------------- run
    async def run(self, ctx: ComponentContext) -> None:
        self._ctx = ctx
        if not local_socket.fits(self.path):
            ctx.set_health(Health.FAILED, "the socket path is longer than "
                           f"{local_socket.MAX_SOCKET_PATH} bytes (a Unix socket's limit): "
                           "choose a shorter storage.state_dir")
            log.error("signage channel: %s", ctx.state.detail)
            await ctx.stopping.wait()
            return
        self._recorder = PlayedRecorder(ctx.emitter)
        self.state.load(ctx.clock.now())
        server = await local_socket.listen(self.path, self._serve, mode=SOCKET_MODE,
                                           limit=MAX_LINE)
        unsubscribe = ctx.emitter.subscribe(self._event_stored)
        ctx.services.signage_listeners.append(self._file_changed)
        ctx.services.signage_screenshot = self.screenshot
        self.listening.set()
        ctx.set_health(Health.OK, f"listening on {self.path.name}")
        try:
            while True:
                now = ctx.clock.now()
                for orders in self.state.expire(now):
                    self.broadcast(orders)
                self._report()
                nxt = self.state.next_expiry()
                wait = EXPIRY_CHECK_S if nxt is None else min(EXPIRY_CHECK_S,
                                                                max(0.01, nxt - now))
                if await ctx.sleep(wait):
                    return
        finally:
            self.listening.clear()
            unsubscribe()
            with contextlib.suppress(ValueError):
                ctx.services.signage_listeners.remove(self._file_changed)
            if ctx.services.signage_screenshot == self.screenshot:
                ctx.services.signage_screenshot = None
            server.close()
            for conn in list(self.connections):
                conn.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._report()
