"""The shared helpers: back-off, token bucket, log-every, atomic writes, schema errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import jsonschema
import pytest

from edge.backoff import Backoff
from edge.files import read_json_object, write_json_atomic
from edge.ratelimit import LogEvery, TokenBucket
from edge.runtime import Backoff as RuntimeBackoff
from edge.schema_errors import first_problem
from edge.sync.connection import Backoff as LinkBackoff


def test_one_backoff_everywhere() -> None:
    assert RuntimeBackoff is Backoff and LinkBackoff is Backoff
    b = Backoff(initial_s=1, max_s=8)
    assert [b.delay(n) for n in (0, 1, 2, 3, 4, 5)] == [1, 1, 2, 4, 8, 8]
    rng = random.Random(3)
    jittered = [b.delay(3, rng) for _ in range(50)]
    assert all(2.0 <= d <= 4.0 for d in jittered) and len(set(jittered)) > 1


def test_token_bucket_starts_full_and_refills_at_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s(0.0) == pytest.approx(0.1)
    assert not bucket.take(0.05)
    assert bucket.take(0.1)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    bucket.refill(100.0)
    assert bucket.take(100.0)
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)


def test_log_every_says_yes_on_a_new_key_or_after_the_interval() -> None:
    now = [0.0]
    gate = LogEvery(60.0, lambda: now[0])
    assert gate.due("a") and not gate.due("a")
    assert gate.due("b")            # another reason is logged at once
    now[0] = 59.0
    assert not gate.due("b")
    now[0] = 60.0
    assert gate.due("b")
    gate.reset()
    assert gate.due("b")


def test_write_json_atomic_replaces_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.json"
    write_json_atomic(target, {"b": 1, "a": "ä"})
    write_json_atomic(target, {"n": 2})
    assert json.loads(target.read_text(encoding="utf-8")) == {"n": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]
    with pytest.raises(TypeError):
        write_json_atomic(target, {"x": object()})
    assert json.loads(target.read_text(encoding="utf-8")) == {"n": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]


def test_schema_errors_name_the_place_and_cut_long_messages() -> None:
    validator = jsonschema.Draft202012Validator(
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"maxLength": 1}},
         "required": ["a"]})
    assert first_problem(validator, {"a": 1}) is None
    assert first_problem(validator, {}, root="args") == "args: 'a' is a required property"
    assert first_problem(validator, {"a": "x"}, whole="(data)") == (
        "a: 'x' is not of type 'integer'")
    long = first_problem(validator, {"a": 1, "b": "y" * 1000}, root="args")
    assert long is not None and long.startswith("args/b: ") and long.endswith("...")
    assert len(long) < 320


def test_read_json_object_gives_the_object_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read_json_object(path) == {}  # missing
    write_json_atomic(path, {"a/1": {"scale": 2.0}})
    assert read_json_object(path) == {"a/1": {"scale": 2.0}}
    for damaged in (b"[1, 2]", b"{not json", b"\xff\xfe"):
        path.write_bytes(damaged)
        assert read_json_object(path) == {}
