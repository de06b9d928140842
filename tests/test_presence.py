"""The presence processor: adverts in; visits, zones, dwell and app users out.

Unit tests drive the processor directly on a two-zone floor plan; the end-to-end test runs
the simulated store, whose adverts go through bleak's callback path into the real daemon, and
scores the log; a privacy test scans every event for addresses and raw beacon ids.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.app_beacon import AppKey, AppKeyRing, customer_id, encode_token
from drivers.beacons import APPLE_COMPANY_ID, EDDYSTONE_UUID, encode_eddystone_uid, encode_ibeacon
from drivers.readings import BleAdvert
from edge.catalogue import spec
from edge.config import ConfigError, parse
from edge.eventlog import open_readonly
from edge.presence import build
from edge.presence.identity import DeviceKind, Identifier
from edge.presence.locate import GridLocator, RadioModel, ReceiverPlace, ZoneArea
from edge.presence.pseudonym import Pseudonyms
from edge.presence.rssi import RssiWindow
from edge.presence.tracker import PresenceProcessor, PresenceSettings
from edge.presence.wiring import locator_for
from edge.processing.processor import Emission, Output
from edge.schema_errors import first_problem
from tests.sim_fixtures import short_run

T0 = 1_767_258_000.0
APP_UUID = "6f6d6f2d-6564-6765-2d61-707000000001"
STAFF_NS = "6f6d6f65646765737466"
KEY = AppKey("k1", bytes(range(32)), T0 - 3600, T0 + 86_400)

# two 6 m x 6 m zones side by side, a receiver in the middle of each
RECEIVERS = [ReceiverPlace("rx-a", "left", 3.0, 3.0), ReceiverPlace("rx-b", "right", 9.0, 3.0)]
AREAS = [ZoneArea("left", 0, 0, 6, 6), ZoneArea("right", 6, 0, 12, 6)]


def validate_data(event_type: str, data: dict[str, object]) -> None:
    assert first_problem(spec(event_type).validator, data, whole="(data)") is None


def processor(settings: PresenceSettings | None = None) -> PresenceProcessor:
    ring = AppKeyRing([KEY])
    return PresenceProcessor(
        ["rx-a", "rx-b"], GridLocator(RECEIVERS, AREAS, RadioModel()),
        Identifier((APP_UUID,), (f"eddystone-uid:{STAFF_NS}",), ring.resolve),
        Pseudonyms(b"test-key"), customer_id, settings)


def ibeacon(major: int, minor: int, uuid: str = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
            ) -> tuple[tuple[int, bytes], ...]:
    return ((APPLE_COMPANY_ID, encode_ibeacon(uuid, major, minor, -59)),)


def advert(rx: str, t: float, rssi: int, mfr: tuple[tuple[int, bytes], ...] = (),
           service: tuple[tuple[str, bytes], ...] = (), address: str = "00" * 8) -> BleAdvert:
    return BleAdvert(rx, t, rssi, address, mfr, service)


def drive(proc: PresenceProcessor, adverts: Iterator[BleAdvert], until: float
          ) -> list[Emission]:
    """Feed adverts in time order with a tick every tick_s before any later advert, as the
    processor host does; then tick on to `until`."""
    out: list[Emission] = []
    tick = proc.settings.tick_s
    next_tick = T0 + tick
    for a in adverts:
        while next_tick <= a.t:
            o = Output(next_tick)
            proc.on_tick(next_tick, o)
            out += o.emissions
            next_tick += tick
        o = Output(a.t)
        proc.on_reading(a, o)
        out += o.emissions
    while next_tick <= until:
        o = Output(next_tick)
        proc.on_tick(next_tick, o)
        out += o.emissions
        next_tick += tick
    return out


def walk(seconds_left: int, seconds_right: int, mfr: tuple[tuple[int, bytes], ...],
         service: tuple[tuple[str, bytes], ...] = ()) -> Iterator[BleAdvert]:
    """A beacon 1 m from rx-a for `seconds_left`, then 1 m from rx-b: strong at the near
    receiver (-60 dBm), weak at the far one (-75 dBm)."""
    for s in range(seconds_left + seconds_right):
        near, far = ("rx-a", "rx-b") if s < seconds_left else ("rx-b", "rx-a")
        t = T0 + s + 0.5
        yield advert(near, t, -60 + (s % 3) - 1, mfr, service)
        yield advert(far, t + 0.01, -75 + (s % 2), mfr, service)


def test_a_visit_moves_between_zones_and_ends_after_the_timeout() -> None:
    proc = processor()
    events = drive(proc, walk(20, 20, ibeacon(7, 9)), until=T0 + 100)
    types = [e.type for e in events]
    assert types == ["omo.presence.visit.started", "omo.presence.zone.entered",
                     "omo.presence.zone.exited", "omo.presence.zone.entered",
                     "omo.presence.zone.exited", "omo.presence.visit.ended"]
    started, entered_left, exited_left, entered_right, exited_right, ended = events
    # the visit began about half an advertising interval (1 s) before the first advert heard
    assert started.data["opted_in"] is False and started.at == pytest.approx(T0, abs=0.02)
    assert entered_left.data["zone"] == "left" and entered_right.data["zone"] == "right"
    # the move is dated to when it happened (20.5 s), not when it was decided
    assert entered_right.at == pytest.approx(T0 + 20.5, abs=2.0)
    assert exited_left.data["dwell_s"] == pytest.approx(20.0, abs=2.0)
    # what the move rests on: the belief, and the best receiver's filtered level and spread
    assert 0.4 <= entered_right.data["confidence"] <= 1.0
    assert entered_right.data["rssi_dbm"] == pytest.approx(-60, abs=1.0)
    assert 0 <= entered_right.data["rssi_iqr_db"] <= 2
    assert entered_right.data["rssi_variance_db2"] >= 0
    # the visit ends half an interval after the last advert, not when the timeout noticed it
    assert ended.at == pytest.approx(T0 + 40.01, abs=0.02)
    assert ended.data["duration_s"] == pytest.approx(40.0, abs=0.1)
    assert exited_right.at == ended.at
    assert len({e.data["visitor"] for e in events}) == 1
    for e in events:
        validate_data(e.type, e.data)
    assert not proc.tracks


def test_one_stray_second_does_not_move_the_visitor() -> None:
    def adverts() -> Iterator[BleAdvert]:
        for s in range(30):
            t = T0 + s + 0.5
            near, far = ("rx-b", "rx-a") if s == 12 else ("rx-a", "rx-b")  # one odd second
            yield advert(near, t, -60, ibeacon(1, 2))
            yield advert(far, t + 0.01, -75, ibeacon(1, 2))

    events = drive(processor(), adverts(), until=T0 + 31)
    assert [e.data["zone"] for e in events if e.type == "omo.presence.zone.entered"] == ["left"]


def test_staff_badges_are_never_visitors() -> None:
    badge = ((EDDYSTONE_UUID, encode_eddystone_uid(STAFF_NS, "000000000001", -18)),)
    proc = processor()
    assert drive(proc, walk(10, 10, (), badge), until=T0 + 80) == []
    assert proc.excluded > 0 and not proc.tracks


def test_an_app_user_is_resolved_to_a_customer_and_unknown_tokens_are_counted() -> None:
    member = 424242
    major, minor = encode_token(KEY.secret, member, T0, 600.0)
    proc = processor()
    events = drive(proc, walk(10, 0, ibeacon(major, minor, APP_UUID)), until=T0 + 60)
    arrived = [e for e in events if e.type == "omo.presence.app_user.arrived"]
    assert len(arrived) == 1 and arrived[0].data["customer"] == customer_id(member)
    assert events[0].data["opted_in"] is True
    validate_data(arrived[0].type, arrived[0].data)
    # a token made with another key resolves to nobody: no visit, counted
    stranger = encode_token(bytes(32), member, T0, 600.0)
    proc = processor()
    assert drive(proc, walk(10, 0, ibeacon(*stranger, APP_UUID)), until=T0 + 60) == []
    assert proc.identifier.unresolved_app == 20


def test_truncated_beacon_frames_are_counted_and_skipped() -> None:
    proc = processor()
    bad = ((APPLE_COMPANY_ID, encode_ibeacon(APP_UUID, 1, 2, -59)[:12]),)
    assert drive(proc, walk(5, 0, bad), until=T0 + 40) == []
    assert proc.identifier.malformed == 10


def test_devices_without_a_beacon_are_keyed_on_their_hashed_address() -> None:
    ident = Identifier((), ())
    a = ident.identify(advert("rx-a", T0, -60, address="ab" * 8))
    b = ident.identify(advert("rx-a", T0, -60, ibeacon(1, 2), address="cd" * 8))
    assert a is not None and a.kind is DeviceKind.DEVICE and a.key == "addr:" + "ab" * 8
    assert b is not None and b.kind is DeviceKind.BEACON  # keyed on the beacon, not the address
    assert b.key == "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:2"


def test_visitor_ids_are_stable_within_a_day_and_unlinkable_across_days() -> None:
    p = Pseudonyms(b"k", "Asia/Tokyo")
    morning, evening = T0 - 8 * 3600, T0  # 10:00 and 18:00 in Tokyo
    next_day = morning + 24 * 3600
    assert p.visitor_id("app:1", morning) == p.visitor_id("app:1", evening)
    assert p.visitor_id("app:1", morning) != p.visitor_id("app:1", next_day)
    assert p.visitor_id("app:1", morning) != p.visitor_id("app:2", morning)
    assert re.fullmatch("[0-9a-f]{16}", p.visitor_id("app:1", morning))
    assert Pseudonyms(b"other", "Asia/Tokyo").visitor_id("app:1", morning) \
        != p.visitor_id("app:1", morning)


def test_rssi_window_reports_median_spread_and_variance() -> None:
    w = RssiWindow(3.0)
    for t, r in [(0.0, -90), (1.0, -60), (1.5, -62), (2.0, -61), (2.5, -59)]:
        w.add(t, r)
    level = w.level(3.2)  # the -90 at t=0 has left the window
    assert level is not None and level.median == -60.5 and level.count == 4
    assert level.iqr == pytest.approx(1.5) and level.variance == pytest.approx(1.25)
    assert w.level(10.0) is None


def config(**ble: object) -> dict[str, object]:
    return {"store": {"id": "s", "device": "d"},
            "zones": [{"id": "left", "area": [0, 0, 6, 6]},
                      {"id": "right", "area": [6, 0, 12, 6]}],
            "ble": {"receivers": [{"id": "rx-a", "zone": "left", "position": [3, 3]},
                                  {"id": "rx-b", "zone": "right", "position": [9, 3]}],
                    **ble}}


def test_the_builder_uses_the_floor_plan_when_there_is_one(tmp_path: Path) -> None:
    raw = config()
    raw["storage"] = {"path": str(tmp_path / "events.db")}
    cfg = parse(raw, env={})
    (proc,) = build(cfg)
    assert isinstance(proc, PresenceProcessor)
    assert isinstance(locator_for(cfg, RadioModel()), GridLocator)
    no_plan = parse({**raw, "zones": [{"id": "left"}, {"id": "right"}],
                     "ble": {"receivers": [{"id": "rx-a", "zone": "left"},
                                           {"id": "rx-b", "zone": "right"}]}}, env={})
    assert locator_for(no_plan, RadioModel()).zones == ("left", "right")
    assert build(parse({"store": {"id": "s", "device": "d"}}, env={})) == []


@pytest.mark.parametrize(("change", "message"), [
    ({"zones": [{"id": "left", "area": [6, 0, 0, 6]}]}, "x0 < x1"),
    ({"ble": {"receivers": [{"id": "rx-a", "zone": "left", "position": [3, 3]},
                            {"id": "rx-b", "zone": "right"}]}}, "every receiver a position"),
    ({"ble": {"receivers": [{"id": "rx-a", "zone": "left", "position": [3]}]}}, "[x, y]"),
    ({"ble": {"receivers": [{"id": "rx-a", "zone": "left"}], "exclude": ["aa:bb"]}},
     "beacon id or prefix"),
])
def test_floor_plan_mistakes_are_clear_config_errors(change: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse({**config(), **change}, env={})
    assert message in str(err.value)


def test_the_simulated_store_is_scored_and_nothing_personal_is_published(tmp_path: Path
                                                                         ) -> None:
    res = asyncio.run(short_run(tmp_path, seed=3, duration=240.0))
    metrics = res.report["metrics"]
    pr = metrics["visit_precision_recall"]
    assert pr["scored"] and pr["value"]["precision"] >= 0.9 and pr["value"]["recall"] >= 0.9
    assert metrics["zone_accuracy"]["value"] >= 0.9
    assert pr["details"]["app_user_arrived_true_customer"] == pr["details"]["app_matched"] > 0
    # what the processor counts shows in the component's counters (omo-edge status)
    counters = res.report["run"]["components"]["processor:presence"]["counters"]
    assert counters["readings"] > 0 and counters["presence.excluded_tags"] > 0  # staff badges
    assert counters["presence.unresolved_app_tokens"] == 0
    el = open_readonly(tmp_path / "events.db")
    events = [s.event for s in el.query()]
    el.close()
    text = "\n".join(json.dumps(e.data) for e in events if e.type.startswith("omo.presence"))
    assert "omo.presence.visit.started" in {e.type for e in events}
    assert not re.search(r"([0-9A-Fa-f]{2}[:_-]){5}[0-9A-Fa-f]{2}", text)  # no MAC address
    for agent in res.world.agents:
        beacon = agent.beacon or {}
        for raw in (beacon.get("address"), agent.phone, beacon.get("instance")):
            if raw:
                assert raw.lower() not in text.lower()
    assert STAFF_NS not in text and APP_UUID not in text


def test_a_beacon_heard_over_mqtt_is_the_same_visitor_as_heard_by_the_adapter() -> None:
    from drivers.mqtt_ble import FeedContext, parse_espresense

    ctx = FeedContext(receivers={"right": "rx-b"}, key=b"k" * 16)
    payload = json.dumps({"id": "iBeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e-7-9",
                          "idType": 15, "rssi@1m": -59, "rssi": -61.5, "raw": 1.2,
                          "distance": 1.1, "mac": "c0ffee123456", "interval": 1000}).encode()
    heard = parse_espresense("espresense/devices/iBeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e"
                             "-7-9/right", payload, ctx, T0 + 25.0)
    assert isinstance(heard, BleAdvert)
    proc = processor()
    local = list(walk(20, 0, ibeacon(7, 9)))
    events = drive(proc, iter([*local, heard]), until=T0 + 100)
    assert len({e.data["visitor"] for e in events}) == 1  # one track, whichever way it came
    assert [e.type for e in events].count("omo.presence.visit.started") == 1


def test_without_a_floor_plan_the_strongest_receiver_names_the_zone() -> None:
    from edge.presence.locate import StrongestLocator

    proc = PresenceProcessor(
        ["rx-a", "rx-b"], StrongestLocator(RECEIVERS, ["left", "right"], RadioModel()),
        Identifier((), ()), Pseudonyms(b"test-key"), customer_id)
    events = drive(proc, walk(20, 20, ibeacon(3, 4)), until=T0 + 100)
    assert [e.data["zone"] for e in events if e.type == "omo.presence.zone.entered"] \
        == ["left", "right"]
    assert events[-1].type == "omo.presence.visit.ended"
