"""Simulated BLE: a bleak scanner backend fed by the world, and the advert generator.

`SimScannerBackend` is a `bleak.backends.scanner.BaseBleakScanner`, passed to the real
`BleakScanner(backend=...)` by the driver. It builds bleak's own `AdvertisementData` and
`BLEDevice` (through `create_or_update_device`, as bleak's BlueZ backend does) and calls
`call_detection_callbacks`, so an advert takes the same path through bleak and the driver as
one from a radio.

RSSI follows a log-distance path-loss model: tx power at 1 m, exponent n, slow shadowing per
beacon-receiver pair (an AR(1) process) and fast Gaussian noise; packets are missed at random
and below the receiver's floor.

App users' phones advertise the store app's beacon (drivers/app_beacon.py): an iBeacon under
the store's UUID whose major:minor is the rotating token of their member number, made with
the run's key (`sim.world.sim_app_key`) for each advert's time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner

from drivers.app_beacon import DEFAULT_ROTATION_S, AppKey, encode_token, slot_of
from drivers.beacons import APPLE_COMPANY_ID, EDDYSTONE_UUID, encode_eddystone_uid, encode_ibeacon
from sim.world import Agent, World, sim_app_key


class BleHub:
    """Connects the simulator to the scanner backends the daemon's sources create."""

    def __init__(self) -> None:
        self.backends: dict[str, SimScannerBackend] = {}
        self.delivered: dict[str, int] = {}

    def factory(self, receiver: Any) -> tuple[type[BaseBleakScanner], dict[str, Any]]:
        """SimHooks.ble_backend: the bleak backend class and its arguments."""
        return SimScannerBackend, {"sim_hub": self, "sim_receiver": receiver.id}

    def attached(self, receivers: list[str]) -> bool:
        return all(r in self.backends for r in receivers)

    def deliver(self, receiver: str, address: str, adv: AdvertisementData) -> None:
        backend = self.backends.get(receiver)
        if backend is None:
            return
        self.delivered[receiver] = self.delivered.get(receiver, 0) + 1
        backend.receive(address, adv)


class SimScannerBackend(BaseBleakScanner):
    def __init__(self, detection_callback: AdvertisementDataCallback | None,
                 service_uuids: list[str] | None, scanning_mode: str = "active", *,
                 sim_hub: BleHub, sim_receiver: str, **_platform_args: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self.hub = sim_hub
        self.receiver = sim_receiver

    async def start(self) -> None:
        self.seen_devices = {}
        self.hub.backends[self.receiver] = self

    async def stop(self) -> None:
        if self.hub.backends.get(self.receiver) is self:
            del self.hub.backends[self.receiver]

    def receive(self, address: str, adv: AdvertisementData) -> None:
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        path = f"/org/bluez/{self.receiver}/dev_{address.replace(':', '_')}"
        device = self.create_or_update_device(path, address, adv.local_name, {"path": path}, adv)
        self.call_detection_callbacks(device, adv)


@dataclass
class _Emitter:
    agent: Agent
    address: str
    interval: float
    next_t: float
    payload: tuple[dict[int, bytes], dict[str, bytes], list[str], int | None]
    member: int | None = None  # an app user's: the payload is made per advert (`_app`)
    slot: int | None = None  # the rotation slot `payload` was made for


class BleGenerator:
    """Adverts of the beacons and phones in the store, per receiver, tick by tick."""

    def __init__(self, world: World, app_key: AppKey | None = None,
                 rotation_s: float = DEFAULT_ROTATION_S) -> None:
        """`app_key`: the key of the app users' tokens (the run's `sim_app_key` unless
        given); `rotation_s`: their rotation period."""
        self.world = world
        self.app_key = app_key or sim_app_key(world)
        self.rotation_s = rotation_s
        self.p = world.params.ble
        self.rng = random.Random(f"omo-sim:{world.seed}:{world.scenario.name}:ble")
        self.shadow: dict[tuple[str, str], float] = {}
        self.emitters: list[_Emitter] = []
        for a in world.agents:
            if a.beacon is not None:
                b = a.beacon
                member: int | None = None
                if b["kind"] == "app":
                    payload: tuple[Any, ...] = ({}, {}, [], None)  # made per advert
                    member = b["member"]
                else:
                    payload = ({}, {EDDYSTONE_UUID: encode_eddystone_uid(
                        b["namespace"], b["instance"], self.p.tx_power_1m + 41)},
                        [EDDYSTONE_UUID], None)
                self.emitters.append(_Emitter(a, b["address"], self.p.interval_s,
                                              a.t_start + self.rng.uniform(0, 1), payload,
                                              member))
            elif a.phone is not None:
                nearby = bytes([0x10, 0x05, self.rng.randrange(256), 0x1C,
                                *(self.rng.randrange(256) for _ in range(3))])
                self.emitters.append(_Emitter(a, a.phone, self.p.phone_interval_s,
                                              a.t_start + self.rng.uniform(0, 2),
                                              ({APPLE_COMPANY_ID: nearby}, {}, [], 12)))
        self.emitters.sort(key=lambda e: e.agent.id)
        self.sent = 0
        self.garbled = 0

    def step(self, t0: float, t1: float) -> list[tuple[str, str, AdvertisementData]]:
        """The adverts heard in [t0, t1): (receiver, address, advert) in time order."""
        out: list[tuple[float, str, str, AdvertisementData]] = []
        p, rng = self.p, self.rng
        for e in self.emitters:
            while e.next_t < t1:
                t = e.next_t
                e.next_t += e.interval * rng.uniform(0.9, 1.1)
                if t < t0:
                    continue
                st = e.agent.state(t)
                if st is None:
                    continue
                if e.member is not None:
                    self._app(e, t)
                manufacturer, service, uuids, tx = e.payload
                if rng.random() < p.garbled and manufacturer.get(APPLE_COMPANY_ID, b"")[:1] \
                        == b"\x02":
                    manufacturer = {APPLE_COMPANY_ID: manufacturer[APPLE_COMPANY_ID][
                        :rng.randrange(3, 20)]}
                    self.garbled += 1
                for rx in self.world.layout.receivers:
                    key = (e.agent.id, rx.id)
                    s = self.shadow.get(key, rng.gauss(0, p.shadow_db))
                    s = 0.9 * s + math.sqrt(1 - 0.81) * rng.gauss(0, p.shadow_db)
                    self.shadow[key] = s
                    d = max(0.3, math.hypot(st[0] - rx.pos[0], st[1] - rx.pos[1]))
                    rssi = p.tx_power_1m - 10 * p.path_loss_n * math.log10(d) + s \
                        + rng.gauss(0, p.noise_db)
                    if rssi < p.floor_dbm or rng.random() < p.miss:
                        continue
                    adv = AdvertisementData(
                        local_name=None, manufacturer_data=dict(manufacturer),
                        service_data=dict(service), service_uuids=list(uuids), tx_power=tx,
                        rssi=max(-127, round(rssi)),
                        platform_data=(f"/org/bluez/{rx.id}", {"RSSI": round(rssi)}))
                    out.append((t, rx.id, e.address, adv))
                    self.sent += 1
        out.sort(key=lambda r: (r[0], r[1], r[2]))
        return [(rx, addr, adv) for _, rx, addr, adv in out]

    def _app(self, e: _Emitter, t: float) -> None:
        """Make an app user's advert for sim time `t`: the token of the slot it falls in."""
        assert e.member is not None and e.agent.beacon is not None
        epoch = self.world.start_epoch + t
        slot = slot_of(epoch, self.rotation_s)
        if slot != e.slot:
            major, minor = encode_token(self.app_key.secret, e.member, epoch, self.rotation_s)
            e.payload = ({APPLE_COMPANY_ID: encode_ibeacon(
                e.agent.beacon["uuid"], major, minor, self.p.tx_power_1m)}, {}, [], None)
            e.slot = slot
