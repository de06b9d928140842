"""The event catalogue: every event type omo-edge emits, with its JSON Schema and priority.

The schemas live as JSON files in ``edge/schemas/`` (one per type, plus the envelope),
so consumers can use them without Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import Any

import jsonschema


class Priority(IntEnum):
    """An event type's delivery priority (its schema's ``x-priority``; stored as the
    integer). Lower goes first: the outbox publishes high before normal before low, and
    sheds low before normal before high."""

    HIGH = 0
    NORMAL = 1
    LOW = 2

    @property
    def label(self) -> str:
        """The name in counters, docs and reports: ``high``, ``normal``, ``low``."""
        return self.name.lower()


PRIORITY_HIGH = Priority.HIGH
PRIORITY_NORMAL = Priority.NORMAL
PRIORITY_LOW = Priority.LOW
PRIORITY_NAMES: dict[int, str] = {p: p.label for p in Priority}


class UnknownEventType(KeyError):
    pass


@dataclass(frozen=True)
class EventSpec:
    type: str
    description: str
    priority: Priority
    schema: dict[str, Any]
    validator: jsonschema.protocols.Validator


def _load_schema(name: str) -> dict[str, Any]:
    text = resources.files("edge").joinpath("schemas", name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def catalogue() -> dict[str, EventSpec]:
    specs: dict[str, EventSpec] = {}
    for entry in resources.files("edge").joinpath("schemas").iterdir():
        name = entry.name
        if not name.startswith("omo.") or not name.endswith(".json"):
            continue
        schema = _load_schema(name)
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
        specs[schema["title"]] = EventSpec(
            type=schema["title"],
            description=schema.get("description", ""),
            priority=Priority(int(schema.get("x-priority", Priority.NORMAL))),
            schema=schema,
            validator=validator_cls(schema),
        )
    return dict(sorted(specs.items()))


@cache
def envelope_validator() -> jsonschema.protocols.Validator:
    schema = _load_schema("envelope.json")
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def spec(event_type: str) -> EventSpec:
    try:
        return catalogue()[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None
