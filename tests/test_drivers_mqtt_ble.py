"""Cheap BLE receivers over MQTT: ESPresense and OpenMQTTGateway/Theengs payloads, written the
way those projects write them, through the parsers, the fuzzers and a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import SensorLost
from drivers.beacons import (
    APPLE_COMPANY_ID,
    EDDYSTONE_UUID,
    decode_eddystone_uid,
    decode_ibeacon,
)
from drivers.ble import hash_address
from drivers.mqtt_ble import (
    FeedContext,
    Skipped,
    SkipReason,
    parse,
    parse_espresense,
    parse_omg,
    subscriptions,
)
from drivers.mqtt_feed import FeedSettings, MqttBleFeed
from drivers.readings import BleAdvert
from edge.config import ConfigError, Listener
from edge.config import parse as parse_config
from edge.daemon import Daemon
from edge.doctor import run_checks
from edge.mosquitto import Mosquitto, free_port
from edge.processing.bus import CallbackSink
from tests.sync_fixtures import Collector
from tests.waiting import await_until

KEY = b"k" * 16
UUID = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
MACS = ("c8f2a1b3d4e5", "C8:F2:A1:B3:D4:E5", "58:78:20:76:BC:24", "5b1ac07d4e21",
        "11:22:33:44:55:66", "0c8b95aa1122")
CTX = FeedContext(receivers={"entrance": "esp-entrance", "OMG_snacks": "omg-snacks"}, key=KEY,
                  ignored=frozenset({"back-office"}))

# ESPresense 4.x (lib/BleFingerprint fill(): rssi with two decimals, rxAdj, rssiVar, var, int)
ESP_IBEACON = (f"espresense/devices/iBeacon:{UUID}-100-1/entrance",
               f'{{"mac":"c8f2a1b3d4e5","id":"iBeacon:{UUID}-100-1","rssi@1m":-59,'
               '"rssi":-71.50,"rxAdj":0,"rssiVar":2.31,"distance":2.81,"var":0.42,"int":1024}')
# ESPresense 3.x: integer rssi, idType, raw, per-channel fields
ESP_IBEACON_V3 = (f"espresense/devices/iBeacon:{UUID}-100-1/entrance",
                  f'{{"mac":"c8f2a1b3d4e5","id":"iBeacon:{UUID}-100-1","idType":180,'
                  '"rssi@1m":-59,"rssi":-72,"raw":2.82,"rssi37":-72,"raw37":2.82,"channel":37,'
                  '"distance":2.51,"mean":2.6,"var":0.31,"ci":0.18,"int":1011}')
# Eddystone-UID: ESPresense prints the namespace's fifth byte twice (22 hex digits);
# rssi@1m = tx power at 0 m (-20) - 41
NAMESPACE, INSTANCE = "edd1ebeac04e5defa017", "0123456789ab"
EDDY_ID = f"eddy:{NAMESPACE[:10]}{NAMESPACE[8:10]}{NAMESPACE[10:]}-{INSTANCE}"
ESP_EDDYSTONE = (f"espresense/devices/{EDDY_ID}/entrance",
                 f'{{"mac":"0c8b95aa1122","id":"{EDDY_ID}","rssi@1m":-61,"rssi":-66.25,'
                 '"rxAdj":0,"distance":1.51,"var":0.2,"int":1010}')
ESP_PHONE = ("espresense/devices/apple:1005:9-12/entrance",
             '{"mac":"5b1ac07d4e21","id":"apple:1005:9-12","rssi@1m":-65,"rssi":-80.00,'
             '"rxAdj":0,"distance":4.2,"var":1.3,"int":210}')
# OpenMQTTGateway with pubadvdata: raw manufacturer data (company id little-endian first),
# decoded by Theengs too
OMG_RAW = ("home/OMG_snacks/BTtoMQTT/C8F2A1B3D4E5",
           '{"id":"C8:F2:A1:B3:D4:E5","mac_type":1,"adv_type":3,'
           '"manufacturerdata":"4c000215e2c56db5dffb48d2b060d0f5a71096e000640001c5",'
           '"rssi":-80,"brand":"GENERIC","model":"iBeacon","model_id":"IBEACON","mfid":"4c00",'
           '"uuid":"e2c56db5dffb48d2b060d0f5a71096e0","major":100,"minor":1,"txpower":-59}')
# OpenMQTTGateway's default: only the Theengs decoder's fields
OMG_DECODED = ("home/OMG_snacks/BTtoMQTT/58782076BC24",
               '{"id":"58:78:20:76:BC:24","mac_type":1,"rssi":-79,"brand":"GENERIC",'
               '"model":"iBeacon","model_id":"IBEACON","mfid":"4c00",'
               '"uuid":"e2c56db5dffb48d2b060d0f5a71096e0","major":100,"minor":1,"txpower":-59}')
OMG_EDDYSTONE = ("home/OMG_snacks/BTtoMQTT/0C8B95AA1122",
                 '{"id":"0C:8B:95:AA:11:22","mac_type":1,"adv_type":3,"rssi":-70,'
                 f'"servicedata":"00ec{NAMESPACE}{INSTANCE}0000","servicedatauuid":"0xfeaa"}}')
OMG_SENSOR = ("home/OMG_snacks/BTtoMQTT/112233445566",
              '{"id":"11:22:33:44:55:66","mac_type":0,"adv_type":0,'
              '"name":"Qingping Motion & Light","rssi":-93,'
              '"servicedata":"88121122334455660201520f0126090403000000",'
              '"servicedatauuid":"0xfdcd","brand":"Qingping","model":"Motion & Light",'
              '"model_id":"CGPR1","lux":3,"batt":82}')


def advert(msg: tuple[str, str], ctx: FeedContext = CTX, t: float = 12.5) -> BleAdvert:
    result = parse(msg[0], msg[1].encode(), ctx, t)
    assert isinstance(result, BleAdvert), result
    return result


def skip(msg: tuple[str, str | bytes], ctx: FeedContext = CTX) -> SkipReason:
    payload = msg[1] if isinstance(msg[1], bytes) else msg[1].encode()
    result = parse(msg[0], payload, ctx, 0.0)
    assert isinstance(result, Skipped), result
    return result.reason


def no_mac(text: str) -> bool:
    low = text.lower().replace(":", "")
    return not any(m.lower().replace(":", "") in low for m in MACS)


# ----------------------------------------------------------------------------- parsers
def test_an_espresense_ibeacon_is_rebuilt_as_the_local_scanner_would_hear_it() -> None:
    a = advert(ESP_IBEACON)
    assert (a.receiver, a.t, a.rssi, a.tx_power) == ("esp-entrance", 12.5, -72, None)
    assert a.address_hash == hash_address(f"ibeacon:{UUID}:100:1", KEY)
    beacon = decode_ibeacon(dict(a.manufacturer_data))
    assert beacon is not None
    assert (beacon.uuid, beacon.major, beacon.minor, beacon.measured_power) == (UUID, 100, 1, -59)
    old = advert(ESP_IBEACON_V3)
    assert (old.rssi, old.address_hash, old.manufacturer_data) == (
        -72, a.address_hash, a.manufacturer_data)
    assert no_mac(repr(a)) and no_mac(repr(old))


def test_rx_adjustment_is_taken_out_of_the_measured_power() -> None:
    topic, payload = ESP_IBEACON
    adjusted = payload.replace('"rssi@1m":-59', '"rssi@1m":-49').replace('"rxAdj":0',
                                                                          '"rxAdj":10')
    beacon = decode_ibeacon(dict(advert((topic, adjusted)).manufacturer_data))
    assert beacon is not None and beacon.measured_power == -59


def test_an_espresense_eddystone_uid_repairs_the_doubled_namespace_byte() -> None:
    a = advert(ESP_EDDYSTONE)
    uid = decode_eddystone_uid(dict(a.service_data))
    assert uid is not None and (uid.namespace, uid.instance, uid.tx_power) == (
        NAMESPACE, INSTANCE, -20)
    assert a.service_uuids == (EDDYSTONE_UUID,) and a.rssi == -66
    assert a.address_hash == hash_address(f"eddystone:{NAMESPACE}:{INSTANCE}", KEY)
    fixed = EDDY_ID.replace(f"{NAMESPACE[:10]}{NAMESPACE[8:10]}", NAMESPACE[:10])
    b = advert((f"espresense/devices/{fixed}/entrance", ESP_EDDYSTONE[1].replace(EDDY_ID, fixed)))
    assert b.address_hash == a.address_hash  # a firmware that prints 20 digits: the same key
    broken = EDDY_ID.replace(f"{NAMESPACE[8:10]}{NAMESPACE[8:10]}", f"{NAMESPACE[8:10]}ff")
    assert skip((ESP_EDDYSTONE[0], ESP_EDDYSTONE[1].replace(EDDY_ID, broken))) is SkipReason.BAD_ID


def test_an_unknown_device_is_keyed_on_espresense_fingerprint_id() -> None:
    a = advert(ESP_PHONE)
    assert a.address_hash == hash_address("espresense:apple:1005:9-12", KEY)
    assert a.manufacturer_data == () and a.service_data == () and a.rssi == -80
    assert no_mac(repr(a))


def test_a_named_device_may_have_a_non_ascii_id() -> None:
    a = advert(("espresense/devices/name:x/entrance",
                '{"id":"name:キッチン-tag","rssi@1m":-65,"rssi":-70.00}'))
    assert a.address_hash == hash_address("espresense:name:キッチン-tag", KEY)


def test_an_altbeacon_is_keyed_on_its_identity() -> None:
    id_ = f"altBeacon:{UUID}-7-9"
    a = advert((f"espresense/devices/{id_}/entrance",
                f'{{"mac":"c8f2a1b3d4e5","id":"{id_}","rssi@1m":-59,"rssi":-70.00}}'))
    assert a.address_hash == hash_address(f"altbeacon:{UUID}:7:9", KEY)


def test_gateways_raw_and_decoded_give_the_same_beacon_as_espresense() -> None:
    esp, raw, decoded = advert(ESP_IBEACON), advert(OMG_RAW), advert(OMG_DECODED)
    assert raw.receiver == decoded.receiver == "omg-snacks"
    assert esp.address_hash == raw.address_hash == decoded.address_hash
    assert esp.manufacturer_data == raw.manufacturer_data == decoded.manufacturer_data
    assert (raw.rssi, decoded.rssi) == (-80, -79)
    assert raw.tx_power is None  # an iBeacon's txpower is its measured power, not a TX level
    for a in (raw, decoded):
        assert no_mac(repr(a))
    older = OMG_DECODED[1].replace('"txpower"', '"power"')  # older Theengs decoders
    assert advert((OMG_DECODED[0], older)).manufacturer_data == esp.manufacturer_data


def test_gateway_eddystone_service_data_is_carried_as_bytes() -> None:
    a, esp = advert(OMG_EDDYSTONE), advert(ESP_EDDYSTONE)
    assert a.address_hash == esp.address_hash
    assert a.service_data == esp.service_data == (
        (EDDYSTONE_UUID, bytes.fromhex(f"00ec{NAMESPACE}{INSTANCE}0000")),)


def test_gateway_adverts_without_a_beacon_identity_are_counted_not_keyed_on_the_mac() -> None:
    assert skip(OMG_SENSOR) is SkipReason.NO_IDENTITY
    truncated = OMG_RAW[1].replace("000640001c5", "0006400")
    assert skip((OMG_RAW[0], truncated)) is SkipReason.MALFORMED_BEACON


@pytest.mark.parametrize(("msg", "reason"), [
    (("espresense/devices/x/nowhere", '{"id":"x","rssi":-60}'), SkipReason.UNKNOWN_NODE),
    (("espresense/devices/x/back-office", '{"id":"x","rssi":-60}'), SkipReason.IGNORED_NODE),
    (("home/OMG_attic/BTtoMQTT/C8F2A1B3D4E5", OMG_RAW[1]), SkipReason.UNKNOWN_NODE),
    (("espresense/devices/x/entrance", b"\xff\xfe"), SkipReason.NOT_JSON),
    (("espresense/devices/x/entrance", "online"), SkipReason.NOT_JSON),
    (("espresense/devices/x/entrance", "[1, 2]"), SkipReason.NOT_OBJECT),
    (("espresense/devices/x/entrance", '{"id":"x"}'), SkipReason.MISSING_FIELD),
    (("espresense/devices/x/entrance", '{"id":"x","rssi":"-60"}'), SkipReason.BAD_TYPE),
    (("espresense/devices/x/entrance", '{"id":"x","rssi":NaN}'), SkipReason.BAD_TYPE),
    (("espresense/devices/x/entrance", '{"id":"x","rssi":-Infinity}'), SkipReason.BAD_TYPE),
    (("espresense/devices/x/entrance", '{"id":"x","rssi":true}'), SkipReason.BAD_TYPE),
    (("espresense/devices/x/entrance", '{"id":7,"rssi":-60}'), SkipReason.BAD_TYPE),
    (("espresense/devices/x/entrance", '{"id":"x","rssi":-300}'), SkipReason.RSSI_RANGE),
    (("espresense/devices/x/entrance", '{"id":"x","rssi":60}'), SkipReason.RSSI_RANGE),
    (("espresense/devices/x/entrance", '{"id":"a b","rssi":-60}'), SkipReason.BAD_ID),
    (("espresense/devices/x/entrance", '{"id":"a\\u0000b","rssi":-60}'), SkipReason.BAD_ID),
    (("espresense/devices/x/entrance", '{"id":"","rssi":-60}'), SkipReason.BAD_ID),
    (("espresense/devices/x/entrance", '{"id":"' + "x" * 129 + '","rssi":-60}'),
     SkipReason.BAD_ID),
    (("espresense/devices/x/entrance", '{"id":"iBeacon:nope-1-2","rssi":-60}'),
     SkipReason.BAD_ID),
    (("espresense/devices/x/entrance",
      f'{{"id":"iBeacon:{UUID}-70000-1","rssi":-60,"rssi@1m":-59}}'), SkipReason.BAD_ID),
    (("espresense/devices/x/entrance", f'{{"id":"iBeacon:{UUID}-1-1","rssi":-60}}'),
     SkipReason.MISSING_FIELD),
    (("espresense/devices/x/entrance", "[" * 4000), SkipReason.NOT_JSON),
    (("espresense/devices/x/entrance", '{"id":"x","rssi":-60,"pad":"' + "a" * 5000 + '"}'),
     SkipReason.TOO_LARGE),
    (("espresense/devices/x/entrance/battery", '{"battery":90}'), SkipReason.BAD_TOPIC),
    (("espresense/devices/+/entrance", '{"id":"x","rssi":-60}'), SkipReason.BAD_TOPIC),
    (("espresense/devices/#", '{"id":"x","rssi":-60}'), SkipReason.BAD_TOPIC),
    (("espresense/rooms/entrance/status", "online"), SkipReason.BAD_TOPIC),
    (("", "{}"), SkipReason.BAD_TOPIC),
    (("home/OMG_snacks/BTtoMQTT", OMG_RAW[1]), SkipReason.BAD_TOPIC),
    (("home/OMG_snacks/LWT", "online"), SkipReason.BAD_TOPIC),
    ((OMG_RAW[0], OMG_RAW[1].replace('"4c00', '"zz00')), SkipReason.BAD_TYPE),
    ((OMG_DECODED[0], OMG_DECODED[1].replace('"txpower":-59', '"txpower":-590')),
     SkipReason.BAD_TYPE),
    ((OMG_DECODED[0], OMG_DECODED[1].replace(',"major":100', "")), SkipReason.MISSING_FIELD),
    ((OMG_DECODED[0], OMG_DECODED[1].replace('"major":100', '"major":65536')),
     SkipReason.BAD_ID),
    ((OMG_DECODED[0], OMG_DECODED[1].replace('"uuid":"e2c5', '"uuid":"zzz')),
     SkipReason.BAD_ID),
    ((OMG_EDDYSTONE[0], OMG_EDDYSTONE[1].replace("0xfeaa", "feaa!")), SkipReason.BAD_TYPE),
])
def test_hostile_and_odd_messages_are_skipped_with_a_reason(
        msg: tuple[str, str | bytes], reason: SkipReason) -> None:
    assert skip(msg) is reason


def test_topic_roots_and_subscriptions() -> None:
    ctx = FeedContext(receivers={"gw1": "rx-1", "lobby": "rx-2"}, key=KEY,
                      espresense_roots=("site/espresense/devices",),
                      omg_roots=("shop/+/BTtoMQTT", "theengs/+/BTtoMQTT"))
    assert subscriptions(ctx) == ["site/espresense/devices/+/+", "shop/+/BTtoMQTT/+",
                                  "theengs/+/BTtoMQTT/+"]
    assert advert(("theengs/gw1/BTtoMQTT/1de4b189115e45f6b44e509352269977", OMG_DECODED[1]),
                  ctx).receiver == "rx-1"
    assert advert(("site/espresense/devices/apple:1005:9-12/lobby", ESP_PHONE[1]),
                  ctx).receiver == "rx-2"
    assert parse_omg(ESP_PHONE[0], ESP_PHONE[1].encode(), ctx, 0) == Skipped(
        SkipReason.BAD_TOPIC)
    assert parse_espresense(OMG_RAW[0], OMG_RAW[1].encode(), ctx, 0) == Skipped(
        SkipReason.BAD_TOPIC)


def test_the_hash_key_is_the_only_link_between_hashes() -> None:
    other = FeedContext(receivers=CTX.receivers, key=b"x" * 16)
    assert advert(ESP_IBEACON).address_hash != advert(ESP_IBEACON, other).address_hash


# ----------------------------------------------------------------------------- fuzzing
TOPICS = st.one_of(
    st.text(max_size=60),
    st.sampled_from([ESP_IBEACON[0], OMG_RAW[0], "espresense/devices/a/entrance",
                     "home/OMG_snacks/BTtoMQTT/x", "home/+/BTtoMQTT/#"]))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10)
FIELDS = ["id", "rssi", "rssi@1m", "rxAdj", "mac", "manufacturerdata", "servicedata",
          "servicedatauuid", "model_id", "uuid", "major", "minor", "txpower", "power"]
OBJECTS = st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES | st.sampled_from(
    ["IBEACON", UUID, "4c000215" + "00" * 21, "0xfeaa", "00ec" + "11" * 18, f"iBeacon:{UUID}-1-2",
     EDDY_ID, -60, -59.5, 65535, 65536]), max_size=len(FIELDS))


def _checked(result: BleAdvert | Skipped) -> None:
    assert isinstance(result, BleAdvert | Skipped)
    if isinstance(result, BleAdvert):
        assert -127 <= result.rssi <= 20 and len(result.address_hash) == 16
        assert result.receiver in CTX.receivers.values()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(TOPICS, st.binary(max_size=300))
def test_random_bytes_never_raise(topic: str, payload: bytes) -> None:
    for fn in (parse, parse_espresense, parse_omg):
        _checked(fn(topic, payload, CTX, 1.0))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.sampled_from([ESP_IBEACON[0], OMG_RAW[0]]), OBJECTS)
def test_random_json_objects_never_raise(topic: str, obj: dict[str, Any]) -> None:
    payload = json.dumps(obj, allow_nan=True).encode()
    result = parse(topic, payload, CTX, 1.0)
    _checked(result)
    if isinstance(result, BleAdvert):
        rssi = obj["rssi"]
        assert isinstance(rssi, int | float) and math.isfinite(rssi)


# ----------------------------------------------------------------------------- config
def store_raw(tmp: Path, port: int, **mqtt: Any) -> dict[str, Any]:
    return {
        "store": {"id": "store-1", "device": "edge-01"},
        "storage": {"path": str(tmp / "events.db"), "state_dir": str(tmp / "state"),
                    "min_free_mb": 0},
        "zones": [{"id": "entrance"}, {"id": "snacks"}],
        "ble": {"mqtt": {"host": "127.0.0.1", "port": port, "nodes": [
            {"node": "entrance", "receiver": "esp-entrance", "zone": "entrance"},
            {"node": "OMG_snacks", "receiver": "omg-snacks", "zone": "snacks"}], **mqtt}},
    }


def test_config_checks_the_nodes(tmp_path: Path) -> None:
    config = parse_config(store_raw(tmp_path, 1883), env={})
    assert config.ble.enabled and config.ble.mqtt.enabled
    assert config.ble.mqtt.omg_topics == ("home/+/BTtoMQTT",)
    assert config.ble.listeners() == (Listener("esp-entrance", "entrance"),
                                      Listener("omg-snacks", "snacks"))
    raw = store_raw(tmp_path, 1883, omg_topics=["home/#"], ignore_nodes=["entrance"])
    raw["ble"]["mqtt"]["nodes"].append({"node": "entrance", "receiver": "esp-entrance",
                                        "zone": "cellar"})
    raw["ble"]["receivers"] = [{"id": "mqtt", "zone": "entrance"}]
    raw["ble"]["mqtt"]["nodes"][0]["position"] = [1, 2, 3]
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env={})
    text = "\n".join(info.value.problems)
    for expected in ("ble.mqtt.omg_topics[]", "'entrance' is used twice",
                     "'esp-entrance' is used twice", "ble.mqtt.nodes[2].zone = 'cellar'",
                     "also in ble.mqtt.ignore_nodes", "ble.receivers[0].id = 'mqtt'",
                     "ble.mqtt.nodes[0].position = [1.0, 2.0, 3.0]: expected [x, y]",
                     "give every receiver a position, or none"):
        assert expected in text, text
    empty = store_raw(tmp_path, 1883)
    empty["ble"]["mqtt"]["nodes"] = []
    with pytest.raises(ConfigError, match=r"no \[\[ble\.mqtt\.nodes\]\]"):
        parse_config(empty, env={})


# ----------------------------------------------------------------------------- a real broker
def test_adverts_from_both_firmwares_arrive_on_the_reading_bus_through_mosquitto(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    broker = Mosquitto().start()
    publisher = Collector(broker.port, ["nothing/here"], client_id="esp32-nodes")
    config = parse_config(store_raw(tmp_path, broker.port), env={})
    daemon = Daemon(config, status_every_s=0.2)
    got: list[BleAdvert] = []
    daemon.services.readings.subscribe(BleAdvert, CallbackSink(got.append))

    def state() -> Any:
        return daemon.services.components.get("ble:mqtt")

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop, handle_signals=False))
        sensors = daemon.services.sensors
        try:
            await await_until(lambda: sensors.online("ble:mqtt"), 20, "the feed to subscribe")
            # a node missing from the config shows in the counters, adverts or not
            await asyncio.to_thread(publisher.publish, "espresense/devices/x/nowhere",
                                    '{"id":"x","rssi":-60}', 0)
            await await_until(lambda: state().counters.get("mqtt_skipped_unknown_node"), 20,
                              "the unknown node to be counted")
            for topic, payload in [
                    ("espresense/devices/x/entrance", "{not json"),
                    # over the announced Maximum Packet Size: Mosquitto never delivers it
                    ("espresense/devices/x/entrance", '{"id":"x","rssi":-60,"pad":"'
                     + "a" * 8000 + '"}'),
                    OMG_SENSOR, ESP_IBEACON, OMG_DECODED, ESP_EDDYSTONE, OMG_EDDYSTONE]:
                await asyncio.to_thread(publisher.publish, topic, payload, 0)
            await await_until(lambda: len(got) >= 4, 20, "four adverts")
            counters = state().counters
            assert counters["mqtt_skipped_unknown_node"] == 1
            assert counters["mqtt_skipped_not_json"] == 1
            assert counters["mqtt_skipped_no_identity"] == 1
            assert counters["mqtt_adverts"] == 4
            assert counters["mqtt_adverts.esp-entrance"] == counters["mqtt_adverts.omg-snacks"] == 2
            assert "disconnects" not in counters  # the oversized message cost no connection

            # the broker restarts: the source reports it and reconnects
            publisher.subscribed.clear()
            await asyncio.to_thread(broker.restart)
            await await_until(lambda: state().counters.get("disconnects", 0) >= 1, 20,
                              "the feed to notice the restart")
            await await_until(lambda: sensors.online("ble:mqtt"), 20, "the feed to resubscribe")
            await asyncio.to_thread(publisher.subscribed.wait, 20)
            await asyncio.to_thread(publisher.publish, *OMG_RAW, 0)
            await await_until(lambda: len(got) >= 5, 20, "an advert after the restart")
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    try:
        asyncio.run(go())
    finally:
        publisher.close()
        broker.close()
    esp, omg, esp_eddy, omg_eddy, after = got[:5]
    key = daemon.services.address_key  # the one key of every BLE source in the process
    assert esp.address_hash == hash_address(f"ibeacon:{UUID}:100:1", key)
    assert [a.receiver for a in got[:5]] == ["esp-entrance", "omg-snacks", "esp-entrance",
                                             "omg-snacks", "omg-snacks"]
    assert esp.address_hash == omg.address_hash == after.address_hash  # one beacon, two nodes
    assert esp_eddy.address_hash == omg_eddy.address_hash != esp.address_hash
    beacon = decode_ibeacon(dict(omg.manufacturer_data))
    assert beacon is not None and (beacon.uuid, beacon.major, beacon.minor) == (UUID, 100, 1)
    assert dict(esp.manufacturer_data).keys() == {APPLE_COMPANY_ID}
    for a in got:
        assert no_mac(repr(a))
    assert no_mac(caplog.text)
    assert "Qingping" not in caplog.text and "manufacturerdata" not in caplog.text


def test_the_feed_reports_a_missing_broker_and_refused_credentials(tmp_path: Path) -> None:
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "omo-edge", "s3cret"], check=True)
    pw.chmod(0o644)
    port = free_port()
    broker = Mosquitto(port=port, default_listener=False, extra_config=(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"))

    def feed(port: int, password: str | None) -> MqttBleFeed:
        settings = FeedSettings(host="127.0.0.1", port=port, client_id="omo-edge-test-ble",
                                username="omo-edge", password=password)
        return MqttBleFeed(settings, CTX, now=lambda: 3.0)

    async def go() -> None:
        nobody = feed(free_port(), "s3cret")
        with pytest.raises(ConnectionRefusedError):
            await nobody.open()
        await nobody.close()
        wrong = feed(port, "wrong")
        with pytest.raises(SensorLost, match="refused"):
            await wrong.open()
        await wrong.close()
        right = feed(port, "s3cret")
        await right.open()
        await asyncio.to_thread(publish, *ESP_IBEACON)
        batch = await asyncio.wait_for(right.read(), 10)
        assert [a.receiver for a in batch] == ["esp-entrance"] and batch[0].t == 3.0
        await asyncio.to_thread(broker.stop)
        with pytest.raises(SensorLost):
            await asyncio.wait_for(right.read(), 10)
        await right.close()
        assert right.counters() == {"mqtt_adverts": 1, "mqtt_adverts.esp-entrance": 1}

    broker.start()
    node = Collector(port, ["nothing/here"], client_id="esp32-entrance", username="omo-edge",
                     password="s3cret")

    def publish(topic: str, payload: str) -> None:
        node.publish(topic, payload, 0)

    try:
        asyncio.run(go())
    finally:
        node.close()
        broker.close()


def test_the_doctor_checks_the_feed_broker(tmp_path: Path) -> None:
    port = free_port()
    config = parse_config(store_raw(tmp_path, port), env={})

    def line() -> str:
        return next(r.line() for r in run_checks(config, 1.0) if "BLE MQTT" in r.name)

    assert line().startswith(f"FAIL BLE MQTT feed 127.0.0.1:{port}: cannot connect")
    with Mosquitto(port=port):
        assert line() == (f"PASS BLE MQTT feed 127.0.0.1:{port}: reachable (TCP); 2 node(s) "
                          "mapped to receivers")
