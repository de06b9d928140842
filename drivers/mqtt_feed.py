"""The MQTT BLE feed: one subscriber to the store broker, where ESPresense nodes and
OpenMQTTGateway/Theengs gateways publish what they hear; a `drivers.base.Driver`.

`open()` connects (the blocking TCP connect on a thread of its own), then drives paho's socket
from the asyncio loop through its external-loop API (`loop_read` when readable, `loop_write`
when paho has bytes queued, `loop_misc` every second), waits for CONNACK and SUBACK, and
returns. Each message is parsed on the loop as it arrives (`drivers.mqtt_ble.parse`): good
adverts wait in a bounded queue for `read()`, the rest are counted by reason. A lost
connection makes `read()` raise `SensorLost`; the source loop (`edge.sources.SensorSource`)
reconnects with back-off. The driver never retries by itself.

MQTT 5 is used so that CONNECT can announce a Maximum Packet Size: the broker never sends a
larger message, which is the only bound on what paho reads into memory. Nothing here logs a
payload, a topic's device level or a MAC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from drivers.base import SensorLost, in_thread
from drivers.mqtt_ble import FeedContext, Skipped, SkipReason, parse, subscriptions
from drivers.paho_asyncio import BufferedClient, LoopDriver
from drivers.readings import BleAdvert

log = logging.getLogger(__name__)
QUEUE_LIMIT = 10_000  # adverts waiting for read() before the newest are dropped and counted
PACKET_OVERHEAD = 1024  # fixed header, topic and properties on top of the payload
HANDSHAKE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FeedSettings:
    """Where the feed connects and what it subscribes to."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30


class MqttBleFeed:
    """Subscribes to the receivers' topics and yields their adverts as `BleAdvert`s."""

    def __init__(self, settings: FeedSettings, ctx: FeedContext, *,
                 now: Callable[[], float]) -> None:
        self.settings = settings
        self.ctx = ctx
        self.now = now
        self.adverts = 0
        self.overflow = 0
        self.skipped: Counter[SkipReason] = Counter()
        self.per_receiver: Counter[str] = Counter()  # which node went quiet
        self._client: mqtt.Client | None = None
        self._queue: deque[BleAdvert] = deque()
        self._ready = asyncio.Event()
        self._lost: str | None = None
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._suback: asyncio.Future[list[ReasonCode]] | None = None
        self._driver: LoopDriver | None = None
        self._skips_shown = 0

    # ------------------------------------------------------------------ messages
    def handle(self, topic: str, payload: bytes) -> None:
        """One message from the broker: parse it, queue the advert or count the skip."""
        result = parse(topic, payload, self.ctx, self.now())
        if isinstance(result, Skipped):
            self.skipped[result.reason] += 1
            self._ready.set()  # read() hands back an empty batch so the counts get shown
            return
        self.adverts += 1
        self.per_receiver[result.receiver] += 1
        if len(self._queue) >= QUEUE_LIMIT:
            self.overflow += 1
            return
        self._queue.append(result)
        self._ready.set()

    # ------------------------------------------------------------------ paho side
    def _new_client(self) -> mqtt.Client:
        s = self.settings
        client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=s.client_id,
                                protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.connect_timeout = 5.0
        return client

    def _connect(self, client: mqtt.Client) -> None:
        """Blocking (on a thread of its own): TCP and CONNECT."""
        s = self.settings
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.MaximumPacketSize = self.ctx.max_payload + PACKET_OVERHEAD
        client.connect(s.host, s.port, s.keepalive_s, clean_start=True, properties=props)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, props: Properties | None) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(reason)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reasons: list[ReasonCode], props: Properties | None) -> None:
        if self._suback is not None and not self._suback.done():
            self._suback.set_result(list(reasons))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.handle(msg.topic, bytes(msg.payload))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags,
                       reason: ReasonCode, props: Properties | None) -> None:
        self._lost = (f"the broker closed the connection: {reason}"
                      if flags.is_disconnect_packet_from_server else "connection lost")
        if self._client is client:
            log.warning("MQTT BLE feed on %s:%d: %s", self.settings.host, self.settings.port,
                        self._lost)
        self._ready.set()
        for fut in (self._connack, self._suback):
            if fut is not None and not fut.done():
                fut.set_exception(SensorLost(self._lost))

    def _attach(self, client: mqtt.Client) -> None:
        """Drive the client's socket from the asyncio loop."""
        sock = client.socket()
        if sock is None:
            raise SensorLost("no socket after connecting")
        self._driver = LoopDriver(client, asyncio.get_running_loop(), sock)

    # ------------------------------------------------------------------ Driver
    async def open(self) -> None:
        """Connect and subscribe; raises `SensorLost` (refused, no SUBACK), `OSError`
        (no broker there) or `TimeoutError`."""
        loop = asyncio.get_running_loop()
        self._lost = None
        self._ready = asyncio.Event()
        self._connack = loop.create_future()
        self._suback = loop.create_future()
        for fut in (self._connack, self._suback):  # a late failure is nobody's to retrieve
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        client = self._new_client()
        self._client = client
        await in_thread("mqtt-ble-connect", lambda: self._connect(client))
        self._attach(client)
        reason = await asyncio.wait_for(asyncio.shield(self._connack), HANDSHAKE_TIMEOUT_S)
        if reason.is_failure:
            raise SensorLost(f"the broker refused the connection: {reason}")
        topics = subscriptions(self.ctx)
        rc, _ = client.subscribe([(t, 0) for t in topics])
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise SensorLost(f"cannot subscribe: {mqtt.error_string(rc)}")
        granted = await asyncio.wait_for(asyncio.shield(self._suback), HANDSHAKE_TIMEOUT_S)
        refused = [t for t, r in zip(topics, granted, strict=False) if r.is_failure]
        if refused:
            raise SensorLost(f"the broker refused the subscription to {', '.join(refused)}")
        log.info("MQTT BLE feed subscribed on %s:%d (%d topic filters)", self.settings.host,
                 self.settings.port, len(topics))

    async def read(self) -> list[BleAdvert]:
        """The adverts queued since the last call (none, when only skips were counted, so
        that the source copies the counters); raises `SensorLost` once the connection is gone
        and the queue is empty."""
        while True:
            skips = self.skipped.total()
            if self._queue or skips != self._skips_shown:
                self._skips_shown = skips
                batch = list(self._queue)
                self._queue.clear()
                return batch
            if self._lost is not None or self._client is None:
                raise SensorLost(self._lost or "not open")
            self._ready.clear()
            await self._ready.wait()

    async def close(self) -> None:
        client, self._client = self._client, None
        if self._driver is not None:
            self._driver.cancel()
            self._driver = None
        if client is None:
            return
        with contextlib.suppress(Exception):
            client.disconnect()
            client.loop_write()  # DISCONNECT now: the loop stops driving the socket below
        sock = client.socket()
        if sock is not None:
            with contextlib.suppress(Exception):
                loop = asyncio.get_running_loop()
                loop.remove_reader(sock)
                loop.remove_writer(sock)
            with contextlib.suppress(OSError, ssl.SSLError):
                sock.close()
        self._queue.clear()

    def counters(self) -> dict[str, int]:
        counters = {"mqtt_adverts": self.adverts}
        counters.update({f"mqtt_adverts.{rx}": n for rx, n in self.per_receiver.items()})
        counters.update({f"mqtt_skipped_{r.value}": n for r, n in self.skipped.items()})
        if self.overflow:
            counters["mqtt_overflow"] = self.overflow
        return counters
