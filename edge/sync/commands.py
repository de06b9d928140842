"""Cloud commands: validate, deduplicate, run, record, answer.

A command arrives on ``<prefix>/<store>/<device>/cmd/<name>`` or
``<prefix>/<store>/all/cmd/<name>`` as JSON::

    {"id": "c-20261123-0001", "args": {...}, "expires_at": "2026-11-23T10:00:00Z"}

The envelope and each command's `args` have JSON Schemas in ``edge/schemas/commands/``.
Every command gets one answer on ``<prefix>/<store>/<device>/cmd/<name>/result``::

    {"id": ..., "command": ..., "device": ..., "outcome": "ok"|"rejected"|"duplicate"|"failed",
     "ok": true|false, "error": "...", "result": {...}, "time": ...}

A bad, oversized, expired or unknown command is answered with the error and changes
nothing. A command id seen before is not run again: it is answered ``duplicate`` with the
first run's result. Every command (but those shed by the flood guard) is recorded in the
event log as ``omo.cloud.command.received``. Payloads are never logged (they may carry
content we do not want in a journal); only the name, id and outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from edge.events import format_time, parse_time
from edge.ratelimit import LogEvery, TokenBucket
from edge.schema_errors import first_problem
from edge.sync.command_store import CommandStore
from edge.sync.topics import Topics, is_command_name

log = logging.getLogger("omo_edge.sync.commands")

HANDLER_TIMEOUT_S = 10.0
RECORD_TYPE = "omo.cloud.command.received"


class Outcome(StrEnum):
    """How a command ended; the `outcome` of its answer and of its record."""

    OK = "ok"
    REJECTED = "rejected"      # bad, oversized, expired or unknown, or refused by its handler
    DUPLICATE = "duplicate"    # its id ran before: answered with the first run's result
    FAILED = "failed"          # its handler raised or timed out


@dataclass(frozen=True)
class Command:
    name: str
    id: str
    args: dict[str, Any]
    received_at: float
    to_all: bool = False


class CommandRejected(Exception):
    """The command is well formed but cannot be carried out (unknown screen, ...)."""


Handler = Callable[[Command], Awaitable[dict[str, Any]]]


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    text = resources.files("edge").joinpath("schemas", "commands", f"{name}.json").read_text(
        encoding="utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def schema_names() -> list[str]:
    folder = resources.files("edge").joinpath("schemas", "commands")
    return sorted(e.name[:-5] for e in folder.iterdir()
                  if e.name.endswith(".json") and e.name != "envelope.json")


class CommandProcessor:
    """Turns one incoming message into at most one run of a handler and exactly one answer
    (except under a flood, where the excess is counted and shed)."""

    def __init__(
        self,
        *,
        topics: Topics,
        handlers: dict[str, Handler],
        store: CommandStore,
        record: Callable[[dict[str, Any]], Awaitable[Any]],
        answer: Callable[[str, bytes], Any],
        max_bytes: int,
        counters: dict[str, int] | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rate: float = 20.0,
        burst: float = 50.0,
    ) -> None:
        self.topics = topics
        self.handlers = handlers
        self.store = store
        self.record = record
        self.answer = answer
        self.max_bytes = max_bytes
        self.counters = counters if counters is not None else {}
        self._wall = wall
        self._bucket = TokenBucket(rate, burst, now=monotonic())
        self._monotonic = monotonic
        self._flood_log = LogEvery(60.0, monotonic)
        for key in ("received", *Outcome, "shed"):
            self.counters.setdefault(f"commands.{key}", 0)

    async def handle(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        """Process one message; returns the answer sent (None if the message was shed or
        was not a command topic)."""
        raw_name = self.topics.command_name(topic)
        if raw_name is None:
            return None
        if not self._bucket.take(self._monotonic()):
            self.counters["commands.shed"] += 1
            if self._flood_log.due():
                log.warning("more than %.0f commands/s: shedding the excess (counted in "
                            "commands.shed; logged once a minute)", self._bucket.rate)
            return None
        self.counters["commands.received"] += 1
        loop = asyncio.get_running_loop()
        name = raw_name if is_command_name(raw_name) else "_invalid"
        cmd_id: str | None = None
        outcome: Outcome = Outcome.REJECTED
        error: str | None = None
        result: dict[str, Any] | None = None
        try:
            to_all = topic.startswith(f"{self.topics.prefix}/{self.topics.store}/all/cmd/")
            command = self._parse(name, payload, to_all=to_all)
            cmd_id = command.id
            previous = await loop.run_in_executor(None, self.store.claim, command.id, name,
                                                  self._wall())
            if previous is not None:
                outcome = Outcome.DUPLICATE
                error = f"command id already seen (first outcome: {previous[0]})"
                result = previous[1]
            else:
                outcome, error, result = await self._run(command)
                await loop.run_in_executor(None, self.store.finish, command.id, str(outcome),
                                           {"outcome": str(outcome), "error": error,
                                            "result": result})
        except CommandRejected as exc:
            error = str(exc)
            if len(payload) <= self.max_bytes:
                cmd_id = cmd_id or _peek_id(payload)
        if outcome is Outcome.DUPLICATE and isinstance(result, dict) and "outcome" in result:
            result = result.get("result")
        self.counters[f"commands.{outcome}"] += 1
        # The error text stays out of the journal: it may quote the payload.
        log.info("command %s id=%s: %s", name, cmd_id or "-", outcome)
        data: dict[str, Any] = {"command": name[:128], "outcome": str(outcome)}
        if cmd_id:
            data["command_id"] = cmd_id[:128]
        if error:
            data["error"] = error[:1000]
        await self.record(data)
        answer: dict[str, Any] = {
            "id": cmd_id, "command": name, "device": self.topics.device,
            "outcome": str(outcome), "ok": outcome is Outcome.OK,
            "time": format_time(self._wall()),
        }
        if error:
            answer["error"] = error
        if result is not None:
            answer["result"] = result
        self.answer(self.topics.result(name),
                    json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode())
        return answer

    def _parse(self, name: str, payload: bytes, *, to_all: bool) -> Command:
        if len(payload) > self.max_bytes:
            raise CommandRejected(f"payload too large: {len(payload)} bytes; the limit is "
                                  f"{self.max_bytes} (broker.max_command_bytes)")
        if name == "_invalid":
            raise CommandRejected("invalid command name: use lower-case words separated by "
                                  "dots, at most 64 characters")
        try:
            obj = json.loads(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise CommandRejected("payload is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise CommandRejected(f"payload is not JSON: {exc.msg} at line {exc.lineno} "
                                  f"column {exc.colno}") from None
        except RecursionError:
            raise CommandRejected("payload is nested too deeply") from None
        problem = first_problem(_validator("envelope"), obj, root="payload")
        if problem:
            raise CommandRejected(problem)
        known = sorted(self.handlers)
        if name not in self.handlers:
            raise CommandRejected(f"unknown command {name!r}; known: {', '.join(known)}")
        args = obj.get("args", {})
        if name in schema_names():
            problem = first_problem(_validator(name), args, root="args")
            if problem:
                raise CommandRejected(problem)
        expires = obj.get("expires_at")
        if expires is not None and parse_time(expires) < self._wall():
            raise CommandRejected(f"expired at {expires}")
        return Command(name=name, id=obj["id"], args=args, received_at=self._wall(),
                       to_all=to_all)

    async def _run(self, command: Command
                   ) -> tuple[Outcome, str | None, dict[str, Any] | None]:
        handler = self.handlers[command.name]
        try:
            result = await asyncio.wait_for(handler(command), timeout=HANDLER_TIMEOUT_S)
        except CommandRejected as exc:
            return Outcome.REJECTED, str(exc), None
        except TimeoutError:
            return Outcome.FAILED, f"timed out after {HANDLER_TIMEOUT_S:.0f} s", None
        except Exception as exc:
            # Not the message or traceback: they may quote the command's arguments.
            log.error("command %s id=%s failed: %s", command.name, command.id,
                      type(exc).__name__)
            return Outcome.FAILED, f"{type(exc).__name__}: {exc}"[:500], None
        return Outcome.OK, None, result


def _peek_id(payload: bytes) -> str | None:
    """The id of a rejected command, if it has a usable one (for the answer)."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(obj, dict):
        value = obj.get("id")
        if isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return None
