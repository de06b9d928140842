"""Sales from a local POS on the store's broker (`[insight.pos_mqtt]`, docs/insight.md).

The POS publishes each sale to the configured topic at QoS 1: the `pos.sale` command's args
as JSON (`{"receipt": ..., "time": ..., "lines": [{"sku": ..., "quantity": ...}]}`). Each one
goes through the same `SaleDesk` as the cloud's command (same checks, one recording per
receipt), and the answer is published to `<topic>/result` (QoS 1):
`{"receipt": ..., "ok": true, "recorded": true|false, "duplicate": ...}` or
`{"receipt": ... or null, "ok": false, "error": "..."}` (the error never quotes the payload).

Delivery: the subscription is QoS 1 in a persistent MQTT 5 session, and a message is
acknowledged to the broker only after the sale is stored (or refused), so a sale the edge
was handed is never lost to a crash: the broker sends it again, and the receipt id makes
the second delivery count once. Sales published while the edge is down wait in the broker
for `session_expiry_s`. CONNECT announces a Maximum Packet Size, so the broker never sends
a larger message.

The component keeps its own connection (paho's network thread, which reconnects with
back-off by itself): while the broker is away it reports itself degraded and the rest of the
daemon goes on. Nothing here logs a payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.runtime import Health
from edge.sync.commands import CommandRejected

if TYPE_CHECKING:
    from edge.config.model import PosMqtt
    from edge.insight.pos import SaleDesk
    from edge.runtime import ComponentContext

log = logging.getLogger("omo_edge.insight.pos_mqtt")

PACKET_OVERHEAD = 1024  # fixed header, topic and properties on top of the payload
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30
RECEIPT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")  # as the command's schema


class Link(StrEnum):
    """What the network thread reports about the connection."""

    CONNECTED = "connected"
    REFUSED = "refused"
    LOST = "lost"


@dataclass(frozen=True)
class LinkChange:
    state: Link
    reason: str = ""


@dataclass(frozen=True)
class SaleMessage:
    """One message on the sale topic, as paho handed it over (acknowledged later)."""

    mid: int
    qos: int
    payload: bytes


class LocalPosListener:
    """Subscribes to the local POS's sale topic and records each sale via the `SaleDesk`."""

    name = "pos-mqtt"

    def __init__(self, settings: PosMqtt, desk: SaleDesk, client_id: str) -> None:
        self.settings = settings
        self.desk = desk
        self.client_id = client_id

    @property
    def result_topic(self) -> str:
        return f"{self.settings.topic}/result"

    def _client(self, loop: asyncio.AbstractEventLoop,
                inbox: asyncio.Queue[SaleMessage | LinkChange]) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5)
        client.manual_ack_set(True)  # acknowledged once the sale is stored
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)

        def put(item: SaleMessage | LinkChange) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(inbox.put_nowait, item)

        def on_connect(c: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
                       reason: ReasonCode, props: Properties | None) -> None:
            if reason.is_failure:
                put(LinkChange(Link.REFUSED, str(reason)))
                return
            c.subscribe(s.topic, qos=1)
            put(LinkChange(Link.CONNECTED))

        def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            put(SaleMessage(msg.mid, msg.qos, bytes(msg.payload)))

        def on_disconnect(c: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags,
                          reason: ReasonCode, props: Properties | None) -> None:
            put(LinkChange(Link.LOST, str(reason)))

        client.on_connect = on_connect
        client.on_message = on_message
        client.on_disconnect = on_disconnect
        return client

    async def run(self, ctx: ComponentContext) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[SaleMessage | LinkChange] = asyncio.Queue()
        client = self._client(loop, inbox)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = s.session_expiry_s
        props.MaximumPacketSize = s.max_payload_bytes + PACKET_OVERHEAD
        client.connect_async(s.host, s.port, s.keepalive_s, clean_start=False, properties=props)
        client.loop_start()
        ctx.set_health(Health.DEGRADED, f"connecting to the store broker {s.host}:{s.port}")
        stopping = asyncio.ensure_future(ctx.stopping.wait())
        try:
            while not ctx.stopping.is_set():
                getting = asyncio.ensure_future(inbox.get())
                await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not getting.done():
                    getting.cancel()
                    break
                item = getting.result()
                if isinstance(item, LinkChange):
                    self._on_link(ctx, item)
                else:
                    await self._on_sale(ctx, client, item)
        finally:
            stopping.cancel()
            with contextlib.suppress(Exception):
                client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    def _on_link(self, ctx: ComponentContext, change: LinkChange) -> None:
        where = f"{self.settings.host}:{self.settings.port}"
        if change.state is Link.CONNECTED:
            ctx.set_health(Health.OK, f"subscribed to the POS on {where}")
            log.info("local POS: subscribed on %s", where)
            return
        ctx.count("disconnects" if change.state is Link.LOST else "refused")
        detail = (f"the store broker {where} refused the connection: {change.reason}"
                  if change.state is Link.REFUSED
                  else f"lost the store broker {where} ({change.reason}); reconnecting")
        if ctx.state.health is not Health.DEGRADED or ctx.state.detail != detail:
            log.warning("local POS: %s", detail)
        ctx.set_health(Health.DEGRADED, detail)

    async def _on_sale(self, ctx: ComponentContext, client: mqtt.Client,
                       msg: SaleMessage) -> None:
        answer = await self.answer(msg.payload)
        ctx.count("sales_recorded" if answer.get("recorded") else
                  "sales_duplicate" if answer.get("duplicate") else "sales_refused")
        client.publish(self.result_topic, json.dumps(answer, separators=(",", ":")), qos=1)
        if msg.qos > 0:
            client.ack(msg.mid, msg.qos)

    async def answer(self, payload: bytes) -> dict[str, Any]:
        """Record one sale message; the answer for `<topic>/result`. Never raises for bad
        input: what is wrong is said without quoting it."""
        receipt: str | None = None
        if len(payload) > self.settings.max_payload_bytes:
            return {"receipt": None, "ok": False,
                    "error": f"larger than {self.settings.max_payload_bytes} bytes"}
        try:
            args = json.loads(payload)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return {"receipt": None, "ok": False, "error": "not JSON"}
        if isinstance(args, dict) and isinstance(args.get("receipt"), str) \
                and RECEIPT_RE.fullmatch(args["receipt"]):
            receipt = args["receipt"]
        try:
            result = await self.desk.record(args, via="local")
        except CommandRejected as exc:
            return {"receipt": receipt, "ok": False, "error": str(exc)}
        return {"ok": True, **result}
