"""Local shelf control: how `omo-edge shelf tare|calibrate` reaches a running daemon, and how
a calibration outlives a restart.

The daemon listens on a Unix socket, `<storage.state_dir>/shelf.sock` (mode 0600: the
daemon's user and root), like the recording socket. A client sends one JSON line,
`{"command": "shelf.tare" | "shelf.calibrate", "args": {...}}`, with the same args as the
cloud command (checked against the same JSON Schema, `edge/schemas/commands/`), and gets one
JSON line back: `{"outcome": "ok", "result": {...}}` or `{"outcome": "rejected", "error":
"..."}`. An accepted request goes the cloud command's way (`edge.shelf.commands.request`,
then `omo.shelf.calibration.requested` into the event log), so the shelf processor carries it
out on the plate's next stable weight, whoever asked.

Persistence: every `omo.shelf.plate.calibrated` the processor emits is kept in
`<state_dir>/shelf/plates.json` (written atomically), and `edge.shelf.build` applies those
tares and scales over the config's at start, so a calibration done by command survives a
restart. The config's `tare_grams`/`scale` are the installer's values; the file holds what
was measured since (delete it to go back to the config).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge import local_socket
from edge.files import read_json_object, write_json_atomic
from edge.runtime import Component, ComponentContext, Health
from edge.shelf.commands import CALIBRATED, REQUESTED, Action, UnknownPlate, request

if TYPE_CHECKING:
    from edge.config import Config
    from edge.events import Event
    from edge.services import Services

log = logging.getLogger(__name__)
SOCKET_NAME = "shelf.sock"
PLATES_FILE = Path("shelf") / "plates.json"
MAX_LINE = 4096
COMMANDS = {"shelf.tare": Action.TARE, "shelf.calibrate": Action.CALIBRATE}


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def build(config: Config, services: Services) -> list[Component]:
    return [ShelfControl()] if config.shelves else []


def saved_calibrations(state_dir: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(shelf, plate) -> (tare_grams, scale) from the plates file; a missing or malformed
    file (or entry) gives nothing for it: the config's values then hold."""
    held = read_json_object(state_dir / PLATES_FILE)
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for key, entry in held.items():
        shelf, _, plate = str(key).partition("/")
        if not isinstance(entry, dict):
            continue
        tare, scale = entry.get("tare_grams"), entry.get("scale")
        if (isinstance(tare, int | float) and isinstance(scale, int | float)
                and not isinstance(tare, bool) and scale > 0):
            out[(shelf, plate)] = (float(tare), float(scale))
    return out


def save_calibration(state_dir: Path, data: dict[str, Any]) -> None:
    """Keep one `omo.shelf.plate.calibrated` event's tare and scale."""
    path = state_dir / PLATES_FILE
    held = read_json_object(path)
    held[f"{data['shelf']}/{data['plate']}"] = {
        "tare_grams": data["tare_grams"], "scale": data["scale"]}
    write_json_atomic(path, held)


def handle_line(config: Config, line: bytes, at: str) -> tuple[dict[str, Any], dict[str, Any]
                                                               | None]:
    """One request line: (the answer, the request event's data or None)."""
    from edge.schema_errors import first_problem_without_values
    from edge.sync.commands import _validator

    try:
        obj = json.loads(line)
    except ValueError:
        return {"outcome": "rejected", "error": "not a JSON line"}, None
    if not isinstance(obj, dict) or obj.get("command") not in COMMANDS:
        return {"outcome": "rejected",
                "error": "expected {\"command\": one of " + ", ".join(COMMANDS)
                + ", \"args\": {...}}"}, None
    name, args = obj["command"], obj.get("args", {})
    problem = first_problem_without_values(_validator(name), args, root="args")
    if problem:
        return {"outcome": "rejected", "error": problem}, None
    try:
        data = request(config, COMMANDS[name], args, at)
    except UnknownPlate as exc:
        return {"outcome": "rejected", "error": str(exc)}, None
    except OSError as exc:  # the state folder: full or read-only
        return {"outcome": "rejected", "error": f"cannot record the request: {exc.strerror}"
                }, None
    return {"outcome": "ok", "result": {**data, "pending": True}}, data


class ShelfControl:
    """Serves the shelf control socket and keeps calibrations across restarts."""

    name = "shelf-control"

    async def run(self, ctx: ComponentContext) -> None:
        state_dir = ctx.services.config.storage.state_dir
        unsubscribe = ctx.emitter.subscribe(lambda e: self._on_event(ctx, state_dir, e))
        path = socket_path(state_dir)
        try:
            if not local_socket.fits(path):
                ctx.set_health(Health.DEGRADED, f"no local shelf control: {path} is longer "
                               "than a Unix socket path may be; shorten storage.state_dir")
                await ctx.stopping.wait()
                return
            server = await local_socket.listen(
                path, lambda r, w: self._serve(ctx, r, w), mode=0o600, limit=MAX_LINE)
            ctx.set_health(Health.OK)
            try:
                await ctx.stopping.wait()
            finally:
                await local_socket.close(server, path)
        finally:
            unsubscribe()

    def _on_event(self, ctx: ComponentContext, state_dir: Path, event: Event) -> None:
        if event.type != CALIBRATED:
            return
        try:
            save_calibration(state_dir, event.data)
            ctx.count("calibrations_saved")
        except (OSError, KeyError) as exc:
            ctx.count("calibrations_not_saved")
            log.warning("shelf calibration not saved: %s", type(exc).__name__)

    async def _serve(self, ctx: ComponentContext, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        from edge.events import format_time

        try:
            try:
                line = await asyncio.wait_for(reader.readline(), 5.0)
            except (ValueError, asyncio.LimitOverrunError):
                line = b""
            answer, data = handle_line(ctx.services.config, line,
                                       format_time(ctx.clock.now()))
            ctx.count("requests_" + answer["outcome"])
            if data is not None:
                await ctx.emitter.emit(REQUESTED, data)
            writer.write((json.dumps(answer) + "\n").encode())
            await writer.drain()
        except (TimeoutError, ConnectionError):
            ctx.count("requests_broken")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
