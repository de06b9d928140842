"""Cloud commands: validate, deduplicate, run, record, answer.

A command arrives on ``<prefix>/<store>/<device>/cmd/<name>`` or
``<prefix>/<store>/all/cmd/<name>`` as JSON::

    {"id": "c-20261123-0001", "args": {...}, "expires_at": "2026-11-23T10:00:00Z"}

The envelope and each command's `args` have JSON Schemas in ``edge/schemas/commands/``.
Every command gets one answer on ``<prefix>/<store>/<device>/cmd/<name>/result``::

    {"id": ..., "command": ..., "device": ..., "outcome": "ok"|"rejected"|"duplicate"|"failed",
     "ok": true|false, "error": "...", "result": {...}, "time": ...}

A bad, oversized, expired or unknown command is answered with the error and changes
nothing. A command id seen before (for the same command name) is not run again: it is
answered ``duplicate`` with the first run's result. Every command is answered exactly once
and recorded in the event log as ``omo.cloud.command.received``, but for those shed by the
flood guard: they are answered ``shed`` and counted (``commands.shed``,
``commands.shed.<name>``), not recorded one by one. Each command name has its own token
bucket and its own slot in a round-robin queue (`FairQueue`), so a burst on one name
cannot starve the others. Payload text is never logged, recorded or answered: errors say
what was wrong (which field, which rule), not what was sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from edge.events import format_time, parse_time
from edge.ratelimit import LogEvery, TokenBucket
from edge.schema_errors import first_problem_without_values
from edge.sync.command_store import CommandStore
from edge.sync.topics import Topics, is_command_name

log = logging.getLogger("omo_edge.sync.commands")

HANDLER_TIMEOUT_S = 10.0
RECORD_TYPE = "omo.cloud.command.received"
OTHER = "_other"          # the flood-guard key shared by every name without a handler
QUEUE_PER_NAME = 100      # commands waiting per name (FairQueue); the excess is shed
QUEUE_BYTES = 8 * 1024 * 1024  # payload bytes waiting in all (FairQueue); the excess is shed
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class Outcome(StrEnum):
    """How a command ended; the `outcome` of its answer and of its record."""

    OK = "ok"
    REJECTED = "rejected"      # bad, oversized, expired or unknown, or refused by its handler
    DUPLICATE = "duplicate"    # its id ran before: answered with the first run's result
    FAILED = "failed"          # its handler raised or timed out
    SHED = "shed"              # over its name's rate or queue: not run, not recorded


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
def _whole(pattern: str) -> re.Pattern[str]:
    """A JSON-Schema (ECMA 262) pattern for Python: `$` at the end means the end of the
    string, as in ECMA, not "before a trailing newline" as in Python's re."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any
             ) -> Iterator[jsonschema.ValidationError]:
    if isinstance(instance, str) and not _whole(pattern).search(instance):
        yield jsonschema.ValidationError(f"does not match {pattern!r}")


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    text = resources.files("edge").joinpath("schemas", "commands", f"{name}.json").read_text(
        encoding="utf-8")
    schema = json.loads(text)
    base = jsonschema.validators.validator_for(schema)
    cls = jsonschema.validators.extend(base, {"pattern": _pattern})
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


class _NotFinite(ValueError):
    pass


def _no_constant(text: str) -> Any:
    raise _NotFinite(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def loads_strict(payload: bytes) -> Any:
    """JSON as the commands accept it: UTF-8, no NaN/Infinity (nor numbers that overflow to
    them), no integer over Python's digit limit. Raises CommandRejected saying what was
    wrong, never quoting the payload."""
    try:
        return json.loads(payload.decode("utf-8"), parse_constant=_no_constant,
                          parse_float=_finite_float)
    except UnicodeDecodeError:
        raise CommandRejected("payload is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CommandRejected(f"payload is not JSON: {exc.msg} at line {exc.lineno} "
                              f"column {exc.colno}") from None
    except _NotFinite:
        raise CommandRejected("payload has a number that is not finite (NaN or Infinity "
                              "are not JSON)") from None
    except RecursionError:
        raise CommandRejected("payload is nested too deeply") from None
    except ValueError:  # int() over sys.get_int_max_str_digits()
        raise CommandRejected("payload has a number with too many digits") from None


class FairQueue:
    """Incoming commands waiting to be processed, one bounded FIFO per key (command name),
    served round-robin: a burst on one name waits behind its own queue only."""

    def __init__(self, per_key: int = QUEUE_PER_NAME, max_bytes: int = QUEUE_BYTES) -> None:
        self.per_key = per_key
        self.max_bytes = max_bytes
        self.bytes = 0
        self._queues: dict[str, deque[tuple[Any, int]]] = {}
        self._ready: deque[str] = deque()
        self._event = asyncio.Event()

    def put(self, key: str, item: Any, size: int = 0) -> bool:
        """Queue `item` (`size`: its payload bytes); False (nothing queued) when `key`'s
        queue is full, or `key` has messages waiting and the queue holds `max_bytes`. A key
        with nothing waiting always gets one in (the keys are few and each message is at
        most max_command_bytes), so a flood cannot use the byte cap to shed a quiet name."""
        q = self._queues.setdefault(key, deque())
        if len(q) >= self.per_key or (q and self.bytes + size > self.max_bytes):
            if not q:
                del self._queues[key]
            return False
        if not q:
            self._ready.append(key)
        q.append((item, size))
        self.bytes += size
        self._event.set()
        return True

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def get(self) -> Any:
        while not self._ready:
            self._event.clear()
            await self._event.wait()
        key = self._ready.popleft()
        q = self._queues[key]
        item, size = q.popleft()
        self.bytes -= size
        if q:
            self._ready.append(key)  # its next one waits for every other key's turn
        else:
            del self._queues[key]
        return item


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
        self._rate, self._burst = rate, burst
        self._buckets: dict[str, TokenBucket] = {}
        self._monotonic = monotonic
        self._flood_log = LogEvery(60.0, monotonic)
        for key in ("received", *Outcome, "errors"):
            self.counters.setdefault(f"commands.{key}", 0)

    def key(self, topic: str) -> str | None:
        """The flood-guard key of a message: its command name if a handler has that name,
        else OTHER (so unknown names share one budget); None if not a command topic."""
        raw = self.topics.command_name(topic)
        if raw is None:
            return None
        return raw if raw in self.handlers else OTHER

    def shed(self, topic: str, payload: bytes, why: str) -> dict[str, Any] | None:
        """Answer a message the flood guard turned away (`shed`), count it and say so in the
        log at most once a minute. Not recorded in the event log (that is what a flood
        would fill)."""
        key = self.key(topic)
        raw = self.topics.command_name(topic)
        if key is None or raw is None:
            return None
        self.counters["commands.shed"] = self.counters.get("commands.shed", 0) + 1
        per = f"commands.shed.{key}"
        self.counters[per] = self.counters.get(per, 0) + 1
        if self._flood_log.due():
            log.warning("command flood: shedding commands over %s (counted in commands.shed "
                        "and commands.shed.<name>; logged once a minute)", why)
        name = raw if is_command_name(raw) else "_invalid"
        cmd_id = _peek_id(payload) if len(payload) <= self.max_bytes else None
        return self._answer(name, cmd_id, Outcome.SHED,
                            f"shed by the flood guard ({why}); send it again later", None)

    async def handle(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        """Process one message; returns the answer sent (None if the topic is not a command
        topic). Every command message gets exactly one answer."""
        key = self.key(topic)
        if key is None:
            return None
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst,
                                                      now=self._monotonic())
        if not bucket.take(self._monotonic()):
            return self.shed(topic, payload, f"{self._rate:.0f} commands/s for one name")
        self.counters["commands.received"] += 1
        loop = asyncio.get_running_loop()
        raw_name = self.topics.command_name(topic) or ""
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
                await loop.run_in_executor(None, self.store.finish, command.id, name,
                                           str(outcome), {"outcome": str(outcome),
                                                          "error": error, "result": result})
        except CommandRejected as exc:
            error = str(exc)
            if len(payload) <= self.max_bytes:
                cmd_id = cmd_id or _peek_id(payload)
        except Exception as exc:  # a bug here still gets its one answer and record
            outcome, error = Outcome.FAILED, f"internal error ({type(exc).__name__})"
            self.counters["commands.errors"] += 1
            log.error("command %s id=%s: internal error %s", name, cmd_id or "-",
                      type(exc).__name__)
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
        return self._answer(name, cmd_id, outcome, error, result)

    def _answer(self, name: str, cmd_id: str | None, outcome: Outcome, error: str | None,
                result: dict[str, Any] | None) -> dict[str, Any]:
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
        obj = loads_strict(payload)
        problem = first_problem_without_values(_validator("envelope"), obj, root="payload")
        if problem:
            raise CommandRejected(problem)
        known = sorted(self.handlers)
        if name not in self.handlers:
            raise CommandRejected(f"unknown command {name!r}; known: {', '.join(known)}")
        args = obj.get("args", {})
        if name in schema_names():
            problem = first_problem_without_values(_validator(name), args, root="args")
            if problem:
                raise CommandRejected(problem)
        expires = obj.get("expires_at")
        if expires is not None:
            try:
                deadline = parse_time(expires)
            except (ValueError, OverflowError):
                raise CommandRejected("payload/expires_at: not a valid date and time") from None
            if deadline < self._wall():
                raise CommandRejected("expired: expires_at is in the past")
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
            return Outcome.FAILED, f"the handler raised {type(exc).__name__}", None
        return Outcome.OK, None, result


def _peek_id(payload: bytes) -> str | None:
    """The id of a rejected command, if it has a usable one (for the answer)."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(obj, dict):
        value = obj.get("id")
        if isinstance(value, str) and ID_RE.fullmatch(value):
            return value
    return None
