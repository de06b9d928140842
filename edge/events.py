"""The event model: CloudEvents 1.0 in structured JSON mode, with `seq` and `bootid` extensions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonschema

from edge.catalogue import UnknownEventType, envelope_validator, spec
from edge.ids import new_event_id
from edge.schema_errors import describe, first_problem

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"


class InvalidEvent(ValueError):
    """An event that does not match the envelope or its type's schema."""


def format_time(epoch_s: float) -> str:
    """RFC 3339, UTC, millisecond precision: 2026-11-23T06:00:00.123Z."""
    ms = round(epoch_s * 1000)
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_time(text: str) -> float:
    """The inverse of `format_time`; accepts any RFC 3339 timestamp."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def source_uri(store: str, device: str) -> str:
    return f"omo-edge://{store}/{device}"


@dataclass(frozen=True)
class Event:
    """One event. `seq` is 0 until the event log assigns it."""

    id: str
    type: str
    source: str
    time: str
    data: dict[str, Any]
    bootid: str
    seq: int = 0
    priority: int = field(default=1, compare=False)

    @classmethod
    def new(
        cls, event_type: str, data: dict[str, Any], *, source: str, bootid: str, epoch_s: float
    ) -> Event:
        """A new event with a fresh time-ordered id; raises InvalidEvent if `data` is wrong."""
        try:
            event_spec = spec(event_type)
        except UnknownEventType as exc:
            raise InvalidEvent(str(exc)) from None
        problem = first_problem(event_spec.validator, data, whole="(data)")
        if problem:
            raise InvalidEvent(f"{event_type}: {problem}")
        return cls(
            id=new_event_id(int(epoch_s * 1000)),
            type=event_type,
            source=source,
            time=format_time(epoch_s),
            data=data,
            bootid=bootid,
            priority=event_spec.priority,
        )

    def with_seq(self, seq: int) -> Event:
        return Event(self.id, self.type, self.source, self.time, self.data, self.bootid, seq,
                     self.priority)

    def to_dict(self) -> dict[str, Any]:
        return {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": CONTENT_TYPE,
            "data": self.data,
            "seq": self.seq,
            "bootid": self.bootid,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Event:
        validate_envelope(obj)
        return cls(
            id=obj["id"],
            type=obj["type"],
            source=obj["source"],
            time=obj["time"],
            data=obj["data"],
            bootid=obj["bootid"],
            seq=obj["seq"],
            priority=spec(obj["type"]).priority,
        )


def validate_envelope(obj: dict[str, Any]) -> None:
    """Raise InvalidEvent unless `obj` is a valid omo-edge CloudEvent (envelope and data)."""
    try:
        envelope_validator().validate(obj)
        spec(obj["type"]).validator.validate(obj["data"])
    except jsonschema.ValidationError as exc:
        raise InvalidEvent(f"{obj.get('type', '?')}: {describe(exc, whole='(event)')}") from None
    except KeyError as exc:
        raise InvalidEvent(str(exc)) from None
