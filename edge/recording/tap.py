"""The recording socket: how `omo-edge record` gets the readings a running daemon sees.

The daemon listens on a Unix socket, `<storage.state_dir>/record.sock` (mode 0600: only the
daemon's user and root may record). A client that connects gets a header line, then every
BLE advert, weight sample and door crossing as one line each in the recording format
(`edge.recording.format`; frames never), and once a second a status line
`{"tick": <clock time>, "dropped": <n>}`. The daemon never waits for a recorder: a client
that reads too slowly loses readings, which are counted in `dropped` and in the recording's
footer. Nothing is subscribed to the bus while no client is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from drivers.readings import BeamEdge, BleAdvert, DoorCrossing, Reading, WeightSample
from edge import __version__, local_socket
from edge.recording.format import Header, RecordingError, RecordingWriter, encode, parse_header
from edge.runtime import Component, ComponentContext, Health

if TYPE_CHECKING:
    from edge.config import Config
    from edge.services import Services

log = logging.getLogger(__name__)
SOCKET_NAME = "record.sock"
HIGH_WATER_BYTES = 8 * 2**20  # unsent bytes per client before readings are dropped
TICK_EVERY_S = 1.0


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def build(config: Config, services: Services) -> list[Component]:
    return [RecordTap()]


class RecordTap:
    """Serves the recording socket."""

    name = "recorder"

    async def run(self, ctx: ComponentContext) -> None:
        path = socket_path(ctx.services.config.storage.state_dir)
        if not local_socket.fits(path):
            ctx.set_health(Health.DEGRADED, f"cannot record: {path} is longer than a Unix "
                           f"socket path may be ({local_socket.MAX_SOCKET_PATH} bytes); "
                           "shorten storage.state_dir")
            await ctx.stopping.wait()
            return
        server = await local_socket.listen(path, lambda r, w: self._serve(ctx, r, w),
                                           mode=0o600)
        ctx.set_health(Health.OK)
        try:
            await ctx.stopping.wait()
        finally:
            await local_socket.close(server, path)

    async def _serve(self, ctx: ComponentContext, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        cfg = ctx.services.config
        ctx.count("recordings")
        header = Header(cfg.store, cfg.device, ctx.clock.now(), __version__)
        writer.write((header.to_json() + "\n").encode())
        dropped = 0
        transport = writer.transport

        def offer(reading: Reading) -> None:
            nonlocal dropped
            if transport.is_closing() or transport.get_write_buffer_size() > HIGH_WATER_BYTES:
                dropped += 1
                return
            writer.write((encode(reading) + "\n").encode())

        bus = ctx.services.readings
        undo = [bus.subscribe_callback(BleAdvert, offer),
                bus.subscribe_callback(WeightSample, offer),
                bus.subscribe_callback(DoorCrossing, offer),
                bus.subscribe_callback(BeamEdge, offer)]
        closed = asyncio.ensure_future(reader.read())  # the client sends nothing: EOF ends it
        stopping = asyncio.ensure_future(ctx.stopping.wait())
        try:
            while not closed.done() and not stopping.done():
                tick = {"tick": ctx.clock.now(), "dropped": dropped}
                writer.write((json.dumps(tick) + "\n").encode())
                await asyncio.wait({closed, stopping}, timeout=TICK_EVERY_S,
                                   return_when=asyncio.FIRST_COMPLETED)
        finally:
            for u in undo:
                u()
            ctx.count("recorded_dropped", dropped)
            with contextlib.suppress(Exception):
                writer.write((json.dumps({"tick": ctx.clock.now(), "dropped": dropped})
                              + "\n").encode())
                writer.close()
            closed.cancel()
            stopping.cancel()


class RecordClientError(RuntimeError):
    """The recording could not be made (no daemon, no permission, a broken file)."""


@dataclass
class RecordResult:
    path: Path
    readings: dict[str, int]
    dropped: int
    seconds: float
    daemon_stopped: bool


async def record(socket: Path, out: Path, seconds: float, *,
                 progress: Callable[[str], None] | None = None,
                 stop: asyncio.Event | None = None) -> RecordResult:
    """Record what the daemon behind `socket` sees for `seconds` (real time) into `out`.
    Raises RecordClientError."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket), limit=2**20)
    except (FileNotFoundError, ConnectionRefusedError):
        raise RecordClientError(f"no daemon is running here (no recording socket at {socket});"
                                " start it with `omo-edge run` or `systemctl start omo-edge`"
                                ) from None
    except PermissionError:
        raise RecordClientError(f"permission denied on {socket}: record as root or as the "
                                "daemon's user (sudo omo-edge record ...)") from None
    except OSError as exc:
        raise RecordClientError(f"cannot connect to {socket}: {exc.strerror or exc}") from None
    try:
        header = parse_header((await reader.readline()).decode("utf-8", "replace"))
    except RecordingError as exc:
        writer.close()
        raise RecordClientError(f"the daemon did not answer as a recorder: {exc}") from None
    try:
        rec = RecordingWriter(out, header)
    except OSError as exc:
        writer.close()
        raise RecordClientError(f"cannot write {out}: {exc.strerror or exc}") from None
    started = time.monotonic()
    deadline = started + seconds
    next_progress = started + 10.0
    end, dropped, daemon_stopped = header.started_at, 0, False
    stop = stop or asyncio.Event()
    try:
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            try:
                line = await asyncio.wait_for(reader.readline(), min(left, 0.5))
            except TimeoutError:
                continue
            if not line:
                daemon_stopped = True
                break
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text.startswith("["):
                rec.write_line(text, text[2:text.find('"', 2)])
            elif text.startswith("{"):
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    tick = json.loads(text)
                    end, dropped = float(tick["tick"]), int(tick["dropped"])
            if progress is not None and time.monotonic() >= next_progress:
                next_progress += 10.0
                progress(_progress_line(rec, time.monotonic() - started, seconds, dropped))
    except OSError as exc:
        raise RecordClientError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        writer.close()
        rec.tally.dropped = dropped
        with contextlib.suppress(OSError):
            rec.close(end)
    return RecordResult(out, dict(rec.tally.readings), dropped,
                        time.monotonic() - started, daemon_stopped)


def _progress_line(rec: RecordingWriter, elapsed: float, total: float, dropped: int) -> str:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(rec.tally.readings.items())) or "none yet"
    return (f"recording: {elapsed:.0f}/{total:.0f} s, {rec.tally.total} readings ({kinds}), "
            f"{rec.bytes_in / 1e6:.1f} MB before compression"
            + (f", {dropped} dropped by the daemon (recorder too slow)" if dropped else ""))


def print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
