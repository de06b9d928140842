"""The event model: CloudEvents envelope, catalogue schemas, time-ordered ids."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.catalogue import PRIORITY_HIGH, catalogue, spec
from edge.events import (
    Event,
    InvalidEvent,
    encode_data,
    format_time,
    parse_time,
    validate_envelope,
)
from edge.ids import new_event_id
from tests.core_fixtures import BOOT, SOURCE, sample

TYPE_RE = re.compile(r"^omo(\.[a-z][a-z0-9_]*){2,3}$")


def test_every_schema_file_is_a_valid_schema_named_after_its_type() -> None:
    files = [f for f in resources.files("edge").joinpath("schemas").iterdir()
             if f.name.endswith(".json")]
    assert len(files) == len(catalogue()) + 1  # plus the envelope
    for f in files:
        schema = json.loads(f.read_text())
        jsonschema.validators.validator_for(schema).check_schema(schema)
        if f.name != "envelope.json":
            assert f.name == schema["title"] + ".json"
            assert TYPE_RE.match(schema["title"]), schema["title"]
            assert schema["x-priority"] in (0, 1, 2)
            assert schema["additionalProperties"] is False


def test_catalogue_covers_the_event_names_other_parts_use() -> None:
    names = set(catalogue())
    for t in ("omo.presence.visit.started", "omo.shelf.item.picked", "omo.vision.audience.window",
              "omo.signage.item.played", "omo.journey.completed", "omo.device.events.dropped"):
        assert t in names
    assert spec("omo.shelf.stock.low").priority == PRIORITY_HIGH


def test_a_new_event_is_a_valid_cloudevent() -> None:
    ev = sample(1).with_seq(7)
    obj = ev.to_dict()
    validate_envelope(obj)
    assert obj["specversion"] == "1.0"
    assert obj["source"] == "omo-edge://store-1/edge-01"
    assert obj["time"] == "2026-01-01T00:00:00.001Z"
    assert Event.from_dict(json.loads(ev.to_json())) == ev


def test_bad_data_is_rejected_with_the_field_named() -> None:
    with pytest.raises(InvalidEvent, match="quantity"):
        Event.new("omo.shelf.item.picked", {"shelf": "a", "plate": "1", "quantity": 0},
                  source=SOURCE, bootid=BOOT, epoch_s=0)
    with pytest.raises(InvalidEvent, match="unknown event type"):
        Event.new("omo.not-a-type", {}, source=SOURCE, bootid=BOOT, epoch_s=0)


def test_envelope_rejects_missing_seq_and_extra_attributes() -> None:
    obj = sample(1).to_dict()  # seq 0: not yet stored
    with pytest.raises(InvalidEvent, match="seq"):
        validate_envelope(obj)
    obj = sample(1).with_seq(1).to_dict() | {"mac": "aa:bb"}
    with pytest.raises(InvalidEvent):
        validate_envelope(obj)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=1_700_000_000_000, max_value=1_900_000_000_000),
                min_size=2, max_size=200))
def test_ids_are_unique_and_time_ordered_even_within_one_millisecond(times: list[int]) -> None:
    ids = [new_event_id(ms) for ms in sorted(times)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_keep_increasing_when_the_clock_steps_back() -> None:
    a = new_event_id(1_800_000_000_000)
    b = new_event_id(1_700_000_000_000)
    assert b > a


@given(st.floats(min_value=0, max_value=4_000_000_000))
def test_time_format_round_trips_to_the_millisecond(t: float) -> None:
    text = format_time(t)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert abs(parse_time(text) - t) <= 0.0005 + 1e-6


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), _JSON, max_size=6))
def test_stored_data_text_is_compact_json_with_utf8_kept(data: dict[str, object]) -> None:
    assert encode_data(data) == json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    assert encode_data(data) == encode_data(data)  # the shared encoder keeps no state
