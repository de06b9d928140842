"""The event model: CloudEvents 1.0 in structured JSON mode, with `seq` and `bootid` extensions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

import jsonschema

from edge.catalogue import Priority, UnknownEventType, envelope_validator, spec
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


_DATA_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# The C encoder `JSONEncoder.encode` builds afresh for every call (about half of the cost of
# encoding a small event's data), made once here with the same settings. Without the
# circular-reference markers: event data is plain JSON checked against its schema first
# (a cycle would end in RecursionError instead of ValueError).
_C_ENCODE: Callable[[Any, int], Any] | None
try:
    from _json import make_encoder as _make_encoder
except ImportError:  # an interpreter without the C accelerator
    _C_ENCODE = None
else:
    _C_ENCODE = _make_encoder(None, _DATA_ENCODER.default, encode_basestring, None, ":", ",",
                              False, False, True)


def encode_data(data: dict[str, Any]) -> str:
    """The event data as the log stores it: compact JSON, UTF-8 kept as is (the same text
    as ``json.dumps(data, separators=(",", ":"), ensure_ascii=False)``)."""
    if _C_ENCODE is not None:
        return "".join(_C_ENCODE(data, 0))
    return _DATA_ENCODER.encode(data)


def envelope_json(*, id: str, source: str, type: str, time: str, data_json: str, seq: int,
                  bootid: str) -> str:
    """The structured-mode CloudEvent, with `data_json` (already JSON text, as stored)
    placed in it as it is: nothing is decoded or encoded again. The same text as
    ``json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False)``."""
    return (f'{{"specversion":"{SPECVERSION}","id":{encode_basestring(id)},'
            f'"source":{encode_basestring(source)},"type":{encode_basestring(type)},'
            f'"time":{encode_basestring(time)},"datacontenttype":"{CONTENT_TYPE}",'
            f'"data":{data_json},"seq":{int(seq)},"bootid":{encode_basestring(bootid)}}}')


@dataclass(frozen=True)
class Event:
    """One event. `seq` is 0 until the event log assigns it; `data_json` is the data's
    JSON text as the log stored it (None before), so it is published without encoding
    the data again."""

    id: str
    type: str
    source: str
    time: str
    data: dict[str, Any]
    bootid: str
    seq: int = 0
    priority: Priority = field(default=Priority.NORMAL, compare=False)
    data_json: str | None = field(default=None, compare=False, repr=False)

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
                     self.priority, self.data_json)

    def stored(self, seq: int, data_json: str) -> Event:
        """This event as the log stored it: with its `seq` and its data's JSON text.

        Made by copying the fields, not through the frozen dataclass's ``__init__`` (nine
        ``object.__setattr__`` calls): a quarter of the cost, and the event log makes one
        for every event it stores, on its writer thread while holding the GIL."""
        new = object.__new__(Event)
        fields = new.__dict__
        fields.update(self.__dict__)
        fields["seq"] = seq
        fields["data_json"] = data_json
        return new

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
        """The CloudEvent as compact JSON (the stored data text when there is one)."""
        data_json = self.data_json if self.data_json is not None else encode_data(self.data)
        return envelope_json(id=self.id, source=self.source, type=self.type, time=self.time,
                             data_json=data_json, seq=self.seq, bootid=self.bootid)

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
