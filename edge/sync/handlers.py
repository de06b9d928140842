"""Default command handlers.

`signage.show`, `signage.playlist` and `order.ready` write the latest state atomically as
JSON under ``<state_dir>/signage/`` (the durable state: a restarted daemon reads it back),
then tell `services.signage_listeners`; the channel server (edge/signage_link/) pushes it to
the players over the signage channel (docs/signage-channel.md):

    signage/show/<screen>.json         the content or recommendation to show now
    signage/playlists/<playlist>.json  a whole playlist
    signage/orders/<board>.json        order numbers ready for pickup, each with its expiry
                                       (`signage_channel.order_minutes` after it was added)

Each is bounded (edge/sync/bookkeeping.py): at most MAX_FILES screens shown, playlists and
boards (a new one beyond is `rejected`; rewriting an existing one is fine), at most
MAX_ORDERS_PER_BOARD orders on a board, and the schemas cap every list and string.

`presence.app_keys` replaces the store app's beacon keys in ``<state_dir>/app-keys.json``
(edge/app_keys.py, docs/app-beacon.md) and emits ``omo.presence.app_keys.updated`` so the
presence processor reloads them; secrets are never logged, recorded or answered.

`shelf.tare` and `shelf.calibrate` record the request and emit
``omo.shelf.calibration.requested``; the shelf processor carries it out on the plate's next
stable weight (edge/shelf/commands.py).

`signage.screenshot` asks the screen's player over the signage channel for a small PNG of
what it shows (the frame it drew, never a camera image) and answers it base64 in the
result; no player, or none answering within SCREENSHOT_TIMEOUT_S, is `rejected`.

A part that handles a command itself registers its own handler in
``services.command_handlers`` (name -> async callable); defaults fill only the gaps.
"""

from __future__ import annotations

import json
import time
from typing import Any

from drivers.app_beacon import DEFAULT_ROTATION_S, AppKeyRing
from edge import __version__
from edge.app_keys import UPDATED_TYPE, AppKeysInvalid, describe, parse_keys, write_app_keys
from edge.config import Config, ConfigError, load
from edge.events import format_time, parse_time
from edge.files import write_json_atomic
from edge.services import Services
from edge.shelf.commands import REQUESTED as SHELF_REQUESTED
from edge.shelf.commands import Action, UnknownPlate
from edge.shelf.commands import request as shelf_request
from edge.signage_link.state import live_orders
from edge.sync.bookkeeping import MAX_FILES, MAX_ORDERS_PER_BOARD, may_add
from edge.sync.commands import Command, CommandRejected, Handler

SCREENSHOT_TIMEOUT_S = 5.0  # a player's answer to signage.screenshot (inside the 10 s limit)


def _config_sections(config: Config) -> dict[str, Any]:
    return {
        "store": (config.store, config.device, config.timezone), "logging": config.log_level,
        "storage": config.storage, "privacy": config.privacy, "zones": config.zones,
        "shelves": config.shelves, "cameras": config.cameras, "ble": config.ble,
        "screens": config.screens, "broker": config.broker,
    }


class DefaultHandlers:
    def __init__(self, config: Config, services: Services, *, bootid: str) -> None:
        self.config = config
        self.services = services
        self.bootid = bootid
        self.signage_dir = config.storage.state_dir / "signage"
        self.order_s = config.signage_channel.order_minutes * 60.0

    def table(self) -> dict[str, Handler]:
        return {"ping": self.ping, "config.reload": self.config_reload,
                "signage.show": self.signage_show, "signage.playlist": self.signage_playlist,
                "order.ready": self.order_ready, "presence.app_keys": self.presence_app_keys,
                "shelf.tare": self.shelf_tare, "shelf.calibrate": self.shelf_calibrate,
                "signage.screenshot": self.signage_screenshot}

    def _stamp(self, cmd: Command) -> dict[str, Any]:
        return {"command_id": cmd.id, "received_at": format_time(cmd.received_at)}

    async def ping(self, cmd: Command) -> dict[str, Any]:
        out: dict[str, Any] = {"pong": True, "version": __version__, "bootid": self.bootid,
                               "time": format_time(time.time())}
        if "echo" in cmd.args:
            out["echo"] = cmd.args["echo"]
        return out

    async def config_reload(self, cmd: Command) -> dict[str, Any]:
        path = self.config.source_path
        if not path:
            raise CommandRejected("the daemon was not started from a config file")
        try:
            new = load(path)
        except ConfigError as exc:
            raise CommandRejected("config invalid: " + "; ".join(exc.problems)[:900]) from None
        old_s, new_s = _config_sections(self.config), _config_sections(new)
        changed = sorted(k for k in old_s if old_s[k] != new_s[k])
        self.services.config_pending = new
        return {"valid": True, "changed": changed, "applied": False,
                "restart_required": bool(changed)}

    def _changed(self, kind: str, name: str) -> None:
        for listener in list(getattr(self.services, "signage_listeners", ())):
            listener(kind, name)

    def _check_screen(self, screen: str) -> None:
        known = {s.id for s in self.config.screens}
        if known and screen not in known:
            raise CommandRejected("unknown screen: not one of the configured screens ("
                                  + ", ".join(sorted(known)) + ")")

    def _check_room(self, kind: str, name: str, what: str) -> None:
        if not may_add(self.signage_dir / kind, f"{name}.json", kind):
            raise CommandRejected(f"too many {what}: at most {MAX_FILES[kind]}; reuse or "
                                  f"remove one first")

    async def signage_show(self, cmd: Command) -> dict[str, Any]:
        screen = cmd.args["screen"]
        self._check_screen(screen)
        self._check_room("show", screen, "screens shown")
        path = self.signage_dir / "show" / f"{screen}.json"
        write_json_atomic(path, {**self._stamp(cmd), **cmd.args})
        self._changed("show", screen)
        return {"screen": screen, "written": str(path.relative_to(self.signage_dir.parent))}

    async def signage_screenshot(self, cmd: Command) -> dict[str, Any]:
        """A small PNG of what a screen shows, asked of its player over the channel."""
        screen = cmd.args["screen"]
        self._check_screen(screen)
        ask = self.services.signage_screenshot
        if ask is None:
            raise CommandRejected("the signage channel is not running (no [[screens]]?)")
        try:
            shot = await ask(screen, int(cmd.args.get("width", 320)), SCREENSHOT_TIMEOUT_S)
        except LookupError:
            raise CommandRejected("no player is connected for that screen") from None
        except TimeoutError:
            raise CommandRejected(f"the screen's player did not answer within "
                                  f"{SCREENSHOT_TIMEOUT_S:.0f} s") from None
        return {"screen": screen, "width": shot.width, "height": shot.height,
                "png_base64": shot.png}

    async def signage_playlist(self, cmd: Command) -> dict[str, Any]:
        for screen in cmd.args.get("screens", []):
            self._check_screen(screen)
        name = cmd.args["playlist"]
        self._check_room("playlists", name, "playlists")
        path = self.signage_dir / "playlists" / f"{name}.json"
        write_json_atomic(path, {**self._stamp(cmd), **cmd.args})
        self._changed("playlists", name)
        return {"playlist": name, "items": len(cmd.args["items"])}

    async def order_ready(self, cmd: Command) -> dict[str, Any]:
        board = cmd.args.get("board", "pickup")
        mode = cmd.args.get("mode", "replace")
        self._check_room("orders", board, "boards")
        path = self.signage_dir / "orders" / f"{board}.json"
        now = cmd.received_at  # an order's minutes start when the command arrived
        expires: dict[str, float] = {}
        if mode != "replace":
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                expires = live_orders(doc, now, parse_time(str(doc["received_at"]))
                                      + self.order_s)
            except (OSError, ValueError, AttributeError, KeyError, TypeError, OverflowError):
                expires = {}
        current = list(expires)
        incoming = list(dict.fromkeys(cmd.args["orders"]))
        if mode == "replace":
            orders = incoming
        elif mode == "add":
            orders = current + [o for o in incoming if o not in current]
        else:
            orders = [o for o in current if o not in set(incoming)]
        if len(orders) > MAX_ORDERS_PER_BOARD:
            raise CommandRejected(f"the board would hold {len(orders)} orders; at most "
                                  f"{MAX_ORDERS_PER_BOARD}: remove some first")
        until = now + self.order_s
        expires = {o: expires.get(o, until) for o in orders}
        write_json_atomic(path, {**self._stamp(cmd), "board": board, "orders": orders,
                                 "expires": expires})
        self._changed("orders", board)
        return {"board": board, "orders": orders}

    async def presence_app_keys(self, cmd: Command) -> dict[str, Any]:
        """Replace the app beacon keys with the command's (expired ones dropped), write them
        0600, emit UPDATED_TYPE. Rejected, changing nothing, if a key is unusable."""
        try:
            keys = parse_keys(cmd.args["keys"])
        except AppKeysInvalid as exc:
            raise CommandRejected(f"args/keys: {exc}") from None
        now = self.services.clock.now()
        live = [k for k in keys if k.valid_until > now]
        try:
            ring = AppKeyRing(live, rotation_s=float(cmd.args.get("rotation_s",
                                                                  DEFAULT_ROTATION_S)))
        except ValueError as exc:  # a key valid for longer than the token cycle
            raise CommandRejected(f"args/keys: {exc}") from None
        write_app_keys(self.config.storage.state_dir, ring)
        dropped = len(keys) - len(live)
        await self.services.emitter.emit(UPDATED_TYPE, {
            "count": len(ring), "keys": [k.id for k in ring.keys], "dropped_expired": dropped})
        return {"held": len(ring), "keys": describe(ring), "dropped_expired": dropped,
                "rotation_s": ring.rotation_s}

    async def shelf_tare(self, cmd: Command) -> dict[str, Any]:
        """Ask the shelf processor to zero a plate (edge/shelf/commands.py); rejected for an
        unknown shelf or plate."""
        return await self._shelf(cmd, Action.TARE)

    async def shelf_calibrate(self, cmd: Command) -> dict[str, Any]:
        """Ask the shelf processor to set a plate's scale from a known weight; rejected for
        an unknown shelf or plate."""
        return await self._shelf(cmd, Action.CALIBRATE)

    async def _shelf(self, cmd: Command, action: Action) -> dict[str, Any]:
        try:
            data = shelf_request(self.config, action, cmd.args, format_time(cmd.received_at))
        except UnknownPlate as exc:
            raise CommandRejected(str(exc)) from None
        await self.services.emitter.emit(SHELF_REQUESTED, data)
        return {**data, "pending": True}


def install_defaults(config: Config, services: Services, bootid: str) -> dict[str, Handler]:
    """services.command_handlers, with a default for each command nobody else handles."""
    handlers: dict[str, Handler] = services.command_handlers
    for name, handler in DefaultHandlers(config, services, bootid=bootid).table().items():
        handlers.setdefault(name, handler)
    return handlers
