"""The store app's beacon (drivers/app_beacon.py, edge/app_keys.py, docs/app-beacon.md):
the rotating token, its resolution with the keys held, the key file, the
`presence.app_keys` command through a real Mosquitto and the daemon, and the simulator's
app users."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import random
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.app_beacon import (
    DEFAULT_ROTATION_S,
    FALSE_RESOLUTION_RATE,
    MAX_MEMBER,
    AppKey,
    AppKeyRing,
    customer_id,
    encode_token,
    parse_customer_id,
    permute,
    slot_of,
    unpermute,
)
from drivers.beacons import decode_ibeacon
from edge.app_keys import UPDATED_TYPE, app_keys_path, load_app_keys, write_app_keys
from edge.events import format_time, validate_envelope
from edge.mosquitto import Mosquitto
from sim.ble import BleGenerator
from sim.world import STORE_UUID, build_world, scenarios, sim_app_key
from tests.test_sync_commands import cloud
from tests.waiting import await_until

T0 = 1_767_258_000.0  # 2026-01-01T09:00:00Z
ROT = DEFAULT_ROTATION_S
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))


def ring(*keys: AppKey, rotation_s: float = ROT) -> AppKeyRing:
    return AppKeyRing(keys, rotation_s=rotation_s)


def key(kid: str = "k1", secret: bytes = KEY_A, start: float = T0 - 86400,
        end: float = T0 + 86400) -> AppKey:
    return AppKey(kid, secret, start, end)


# ------------------------------------------------------------------------ the token
def test_known_answer_vector_pins_the_layout() -> None:
    """The vector in docs/app-beacon.md: the app's implementation must give the same."""
    assert slot_of(T0, ROT) == 2945430
    assert encode_token(KEY_A, 123456, T0, ROT) == (0xE91E, 0x4A21)


def test_the_permutation_is_a_bijection_on_a_sample_and_inverts() -> None:
    rng = random.Random(1)
    xs = [rng.getrandbits(32) for _ in range(5000)] + [0, 0xFFFFFFFF]
    tokens = [permute(KEY_A, x) for x in xs]
    assert len(set(tokens)) == len(set(xs))
    assert all(0 <= t <= 0xFFFFFFFF for t in tokens)
    assert [unpermute(KEY_A, t) for t in tokens] == xs


def test_round_trip_for_many_members_and_times() -> None:
    rng = random.Random(2)
    r = ring(key())
    for _ in range(3000):
        member = rng.randint(1, MAX_MEMBER)
        t = T0 + rng.uniform(-86000, 86000)
        major, minor = encode_token(KEY_A, member, t, ROT)
        assert 0 <= major <= 0xFFFF and 0 <= minor <= 0xFFFF
        assert r.resolve(major, minor, t) == member
    for member in (1, MAX_MEMBER):
        assert r.resolve(*encode_token(KEY_A, member, T0, ROT), T0) == member


def test_the_token_is_constant_within_a_slot_and_changes_every_slot() -> None:
    start = slot_of(T0, ROT) * ROT
    assert encode_token(KEY_A, 77, start, ROT) == encode_token(KEY_A, 77, start + ROT - 0.001,
                                                              ROT)
    tokens = [encode_token(KEY_A, 77, start + i * ROT, ROT) for i in range(1024)]
    assert len(set(tokens)) == 1024  # a new token in every slot of the 2**10-slot cycle


def test_tokens_of_one_member_across_slots_look_unrelated() -> None:
    """Without the key, consecutive tokens of one member share no visible structure: about
    half their 32 bits differ, every bit takes both values, the majors are spread."""
    tokens = [(ma << 16) | mi for ma, mi in
              (encode_token(KEY_A, 4242, T0 + i * ROT, ROT) for i in range(1024))]
    flips = [bin(a ^ b).count("1") for a, b in itertools.pairwise(tokens)]
    assert 15.0 < sum(flips) / len(flips) < 17.0
    for bit in range(32):
        ones = sum((t >> bit) & 1 for t in tokens)
        assert 400 < ones < 624, bit
    assert len({t >> 16 for t in tokens}) > 980
    # two members in the same slot: unrelated too (members 1 and 2 differ in 2 plain bits)
    same_slot = [bin(((a[0] << 16) | a[1]) ^ ((b[0] << 16) | b[1])).count("1")
                 for a, b in ((encode_token(KEY_A, m, T0, ROT), encode_token(KEY_A, m + 1, T0,
                                                                              ROT))
                              for m in range(1, 2000))]
    assert 15.0 < sum(same_slot) / len(same_slot) < 17.0


@pytest.mark.parametrize(("skew", "resolves"), [(-2, False), (-1, True), (0, True), (1, True),
                                                 (2, False), (5, False), (512, False)])
def test_resolution_accepts_one_slot_either_side_and_rejects_others(skew: int,
                                                                    resolves: bool) -> None:
    r = ring(key())
    for member in (1, 999, 123456, MAX_MEMBER):
        token = encode_token(KEY_A, member, T0, ROT)
        heard = T0 + skew * ROT
        assert (r.resolve(*token, heard) == member) is resolves
        if not resolves:
            assert r.resolve(*token, heard) is None


def test_the_slot_counter_wraps_without_a_gap() -> None:
    """Slots are compared modulo 2**10: the last slot of a cycle and the first of the next
    are neighbours."""
    wrap = (slot_of(T0, ROT) // 1024 + 1) * 1024  # a slot whose low 10 bits are 0
    before = (wrap - 1) * ROT + 1
    r = ring(key(start=before - 3600, end=before + 3600))
    token = encode_token(KEY_A, 31337, before, ROT)
    assert r.resolve(*token, wrap * ROT + 1) == 31337
    assert r.resolve(*encode_token(KEY_A, 31337, wrap * ROT + 1, ROT), before) == 31337


def test_a_key_resolves_only_while_it_is_valid() -> None:
    k = key(start=T0, end=T0 + 3600)
    r = ring(k)
    for t, valid in [(T0 - 1, False), (T0, True), (T0 + 3599, True), (T0 + 3600, False)]:
        assert (r.keys_valid_at(t) == [k]) is valid
        assert (r.resolve(*encode_token(KEY_A, 5, t, ROT), t) == 5) is valid


def test_overlapping_keys_both_resolve_and_a_wrong_key_does_not() -> None:
    old, new = key("old", KEY_A, T0 - 7200, T0 + 600), key("new", KEY_B, T0 - 600, T0 + 7200)
    r = ring(old, new)
    assert r.keys_valid_at(T0) == [old, new] and r.keys_valid_at(T0 + 3600) == [new]
    assert r.resolve(*encode_token(KEY_A, 11, T0, ROT), T0) == 11
    assert r.resolve(*encode_token(KEY_B, 12, T0, ROT), T0) == 12
    only_b = ring(key("b", KEY_B))
    rng = random.Random(3)
    wrong = sum(only_b.resolve(*encode_token(KEY_A, rng.randint(1, MAX_MEMBER), T0, ROT), T0)
                is not None for _ in range(4000))
    assert wrong <= 4000 * FALSE_RESOLUTION_RATE * 2  # as rare as a random token


def test_random_tokens_resolve_at_about_the_stated_rate() -> None:
    r = ring(key())
    rng = random.Random(4)
    n = 20000
    hits = sum(r.resolve(rng.randrange(65536), rng.randrange(65536), T0 + rng.uniform(0, 3600))
               is not None for _ in range(n))
    assert FALSE_RESOLUTION_RATE == 3 / 1024
    assert 0.5 * n * FALSE_RESOLUTION_RATE < hits < 1.5 * n * FALSE_RESOLUTION_RATE


@settings(max_examples=400, deadline=None)
@given(major=st.integers(-(2**20), 2**20), minor=st.integers(-(2**20), 2**20),
       t=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(T0 - 86400, T0 + 86400)))
def test_resolve_never_raises_on_anything(major: int, minor: int, t: float) -> None:
    r = ring(key())
    member = r.resolve(major, minor, t)
    assert member is None or 1 <= member <= MAX_MEMBER


def test_an_empty_ring_resolves_nothing() -> None:
    assert AppKeyRing().resolve(*encode_token(KEY_A, 1, T0, ROT), T0) is None


@pytest.mark.parametrize("bad", [
    lambda: encode_token(KEY_A, 0, T0, ROT), lambda: encode_token(KEY_A, MAX_MEMBER + 1, T0),
    lambda: encode_token(b"short", 1, T0), lambda: encode_token(KEY_A, 1, float("nan")),
    lambda: encode_token(KEY_A, 1, T0, 0.0), lambda: AppKey("k", b"x" * 15, 0, 1),
    lambda: AppKey("k", KEY_A, 5, 5), lambda: AppKeyRing([key(), key()]),
    lambda: AppKeyRing([], rotation_s=-1),
    lambda: AppKeyRing([key(start=T0, end=T0 + 1024 * ROT + 1)]),  # longer than the cycle
])
def test_bad_arguments_raise_value_error(bad: Any) -> None:
    with pytest.raises(ValueError):
        bad()


def test_a_key_never_shows_its_secret() -> None:
    k = key(secret=b"\xaa" * 32)
    assert "aa" not in repr(k).lower() and "secret" not in repr(k)


def test_customer_ids_round_trip_and_reject_what_is_not_one() -> None:
    assert customer_id(123456) == "m2n9c" and customer_id(1) == "m1"
    for member in (1, 35, 36, 123456, MAX_MEMBER):
        assert parse_customer_id(customer_id(member)) == member
    for bad in ("", "m", "x12", "m0", "m01", "M12", "m-1", "mzzzzzz", "m1 "):
        with pytest.raises(ValueError):
            parse_customer_id(bad)


# ------------------------------------------------------------------------ the key file
def test_the_key_file_round_trips_with_mode_0600(tmp_path: Path) -> None:
    path = write_app_keys(tmp_path, ring(key("a"), key("b", KEY_B), rotation_s=300.0))
    assert path == app_keys_path(tmp_path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_app_keys(tmp_path)
    assert [k.id for k in loaded.keys] == ["a", "b"] and loaded.rotation_s == 300.0
    assert loaded.keys[1].secret == KEY_B
    assert loaded.resolve(*encode_token(KEY_B, 9, T0, 300.0), T0) == 9
    assert not list(tmp_path.glob(".app-keys.json-*"))  # no temporary file left


def test_no_key_file_is_an_empty_ring(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert len(load_app_keys(tmp_path)) == 0
    assert not caplog.records


GOOD = {"id": "k", "secret": base64.b64encode(KEY_A).decode(),
        "valid_from": format_time(T0), "valid_until": format_time(T0 + 60)}
CORRUPT: list[tuple[bytes, str]] = [
    (b"", "not JSON"), (b"{\"version\": 1, \"keys\": [", "not JSON"), (b"\xff\xfe", "not JSON"),
    (b"[" * 100000, "not JSON"), (b"[]", "version"), (b"{\"version\": 2, \"keys\": []}", "version"),
    (b"{\"version\": 1}", "keys must be a list"),
    (b"{\"version\": 1, \"keys\": [], \"rotation_s\": -5}", "rotation_s"),
    (b"{\"version\": 1, \"keys\": [], \"rotation_s\": true}", "rotation_s"),
    (json.dumps({"version": 1, "keys": [{**GOOD, "secret": "!!!" + GOOD["secret"]}]}).encode(),
     "not valid base64"),
    (json.dumps({"version": 1, "keys": [{**GOOD, "secret": "QUJD"}]}).encode(), "16 to 64"),
    (json.dumps({"version": 1, "keys": [{**GOOD, "valid_until": "soon"}]}).encode(),
     "valid_until"),
    (json.dumps({"version": 1, "keys": [{**GOOD, "valid_until": GOOD["valid_from"]}]}).encode(),
     "before"),
    (json.dumps({"version": 1, "keys": [GOOD, GOOD]}).encode(), "unique"),
    (json.dumps({"version": 1, "keys": [GOOD] * 17}).encode(), "at most 16"),
    (json.dumps({"version": 1, "keys": [7]}).encode(), "string id"),
]


@pytest.mark.parametrize(("content", "says"), CORRUPT)
def test_a_corrupt_key_file_warns_and_gives_an_empty_ring(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, says: str) -> None:
    app_keys_path(tmp_path).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="omo_edge.app_keys"):
        loaded = load_app_keys(tmp_path)
    assert len(loaded) == 0
    [record] = caplog.records
    assert "corrupt" in record.getMessage() and says in record.getMessage()
    assert GOOD["secret"] not in caplog.text and GOOD["secret"][:12] not in caplog.text


def test_an_unreadable_key_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app_keys_path(tmp_path).mkdir()  # a directory where the file should be
    with caplog.at_level(logging.WARNING, logger="omo_edge.app_keys"):
        assert len(load_app_keys(tmp_path)) == 0
    assert "cannot read" in caplog.text


# ------------------------------------------------------------ the command, end to end
@pytest.fixture(scope="module")
def broker() -> Any:
    with Mosquitto() as m:
        yield m


def _wire(kid: str, secret: bytes, start: float, end: float) -> dict[str, str]:
    return {"id": kid, "secret": base64.b64encode(secret).decode(),
            "valid_from": format_time(start), "valid_until": format_time(end)}


def test_presence_app_keys_command_writes_0600_keys_and_never_shows_a_secret(
        tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    secret_live, secret_old, secret_bad = b"\x11" * 32, b"\x22" * 24, b"\x33" * 65
    secrets = [base64.b64encode(s).decode() for s in (secret_live, secret_old, secret_bad)]
    now = time.time()

    async def scenario() -> None:
        async with cloud(tmp_path, broker) as c:
            state = tmp_path / "state"
            ok = await c.ask("presence.app_keys", {"id": "keys-1", "args": {
                "rotation_s": 300, "keys": [
                    _wire("k-live", secret_live, now - 3600, now + 86400),
                    _wire("k-old", secret_old, now - 7200, now - 3600)]}})
            assert ok["outcome"] == "ok", ok
            assert ok["result"] == {
                "held": 1, "dropped_expired": 1, "rotation_s": 300.0,
                "keys": [{"id": "k-live", "valid_from": format_time(now - 3600),
                          "valid_until": format_time(now + 86400)}]}
            path = state / "app-keys.json"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            held = load_app_keys(state)
            assert [k.id for k in held.keys] == ["k-live"] and held.rotation_s == 300.0
            assert held.resolve(*encode_token(secret_live, 42, now, 300.0), now) == 42

            await await_until(lambda: c.daemon.event_log.query(types=[UPDATED_TYPE]), 10,
                              "the keys-updated event")
            [updated] = [s.event for s in c.daemon.event_log.query(types=[UPDATED_TYPE])]
            validate_envelope(updated.to_dict())
            assert updated.data == {"count": 1, "keys": ["k-live"], "dropped_expired": 1}

            # an unusable key: rejected, names the key and the rule, changes nothing
            before = path.read_bytes()
            bad = await c.ask("presence.app_keys", {"id": "keys-2", "args": {"keys": [
                _wire("k-long", secret_bad, now, now + 60)]}})
            assert bad["outcome"] == "rejected" and "k-long" in bad["error"]
            assert "16 to 64" in bad["error"]
            bad_b64 = await c.ask("presence.app_keys", {"id": "keys-3", "args": {"keys": [
                {**_wire("k-x", secret_live, now, now + 60), "secret": "A" * 23 + "=="}]}})
            assert bad_b64["outcome"] == "rejected" and "base64" in bad_b64["error"]
            too_long = await c.ask("presence.app_keys", {"id": "keys-5", "args": {"keys": [
                _wire("k-month", secret_live, now, now + 30 * 86400)]}})
            assert too_long["outcome"] == "rejected" and "at most 7.1 days" in too_long["error"]
            assert path.read_bytes() == before

            # an empty set revokes every key
            cleared = await c.ask("presence.app_keys", {"id": "keys-4", "args": {"keys": []}})
            assert cleared["result"]["held"] == 0 and len(load_app_keys(state)) == 0

            await await_until(lambda: c.daemon.event_log.stats().queued == 0, 15,
                              "events out")
            answers = b"".join(p for _, p in c.col.matching(lambda t, _p: True))
            databases = sorted(tmp_path.rglob("*.db*"))  # the event log, the command store
            assert {"events.db", "commands.db"} <= {db.name for db in databases}
            for s in secrets:
                assert s.encode() not in answers and s not in caplog.text
                for db in databases:
                    assert s.encode() not in db.read_bytes(), db

    with caplog.at_level(logging.DEBUG):
        asyncio.run(scenario())


# ------------------------------------------------------------------------ the simulator
def test_sim_app_users_advertise_tokens_that_resolve_to_their_member(tmp_path: Path) -> None:
    world = build_world(scenarios()["normal-day"], 5, 1500.0)
    gen = BleGenerator(world)
    write_app_keys(tmp_path, AppKeyRing([sim_app_key(world)], gen.rotation_s))
    keys = load_app_keys(tmp_path)
    member_of = {a.beacon["address"]: a.beacon["member"] for a in world.agents
                 if a.beacon is not None and a.beacon["kind"] == "app"}
    assert len(set(member_of.values())) == len(member_of) > 0
    tokens: dict[int, set[tuple[int, int]]] = {}
    resolved = 0
    for step in range(150):
        t0, t1 = step * 10.0, (step + 1) * 10.0
        for _, address, adv in gen.step(t0, t1):
            if address not in member_of:
                continue
            try:
                beacon = decode_ibeacon(adv.manufacturer_data)
            except ValueError:
                continue  # a garbled advert
            assert beacon is not None and beacon.uuid == STORE_UUID
            heard = world.start_epoch + t1  # the daemon's clock at the end of the tick
            assert keys.resolve(beacon.major, beacon.minor, heard) == member_of[address]
            tokens.setdefault(member_of[address], set()).add((beacon.major, beacon.minor))
            resolved += 1
    assert resolved > 100
    assert any(len(seen) > 1 for seen in tokens.values())  # somebody stayed past a rotation
    truth = [r for r in world.truth if r["type"] == "visit.started" and r["opted_in"]]
    assert {r["app_user"] for r in truth} <= set(member_of.values())
