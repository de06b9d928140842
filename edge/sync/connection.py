"""The MQTT connection: one paho client per connection attempt, reconnect with jittered
backoff, and a clear reason for every refusal.

Why a fresh paho client per attempt: after a reconnect paho re-sends its whole queue of
unacknowledged messages at once, ignoring its in-flight limit. We keep our own window
(edge/sync/publisher.py) and, on a disconnect, forget paho's queue entirely: the outbox
re-sends from the first undelivered event once the next connection is up. The broker
session (subscriptions, queued commands) is kept: the client id is stable and the session
persistent (MQTT 3.1.1 clean_session=false; MQTT 5 clean_start=false with a session
expiry).

Threads: only the blocking connect (DNS, TCP, TLS handshake, CONNECT) runs on an executor
thread. After that the socket is driven by the asyncio loop through paho's external-loop
API (``loop_read`` when readable, ``loop_write`` when paho has bytes queued, ``loop_misc``
every second for keepalive), like aiomqtt does. Measured on a 2-core box this publishes
QoS 1 about twice as fast as paho's own network thread (``loop_start``), which spends its
time handing the GIL back and forth with the publishing thread (`omo-edge bench sync`
reports both). What paho reports (CONNACK, PUBACK, messages, disconnects) is queued and
dispatched from the loop in batches, outside paho's callbacks. Reconnecting is decided
on the asyncio side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from drivers.paho_asyncio import BufferedClient, LoopDriver
from edge.backoff import Backoff as Backoff  # re-exported for the sync component
from edge.config import Broker
from edge.ratelimit import LogEvery

log = logging.getLogger("omo_edge.sync.connection")

SESSION_EXPIRY_S = 86400  # MQTT 5: the broker keeps our session (and queued commands) a day
PACKET_OVERHEAD = 4096    # MQTT 5 Maximum Packet Size = max_command_bytes + this (header,
                          # topic, properties)


def max_packet_size(broker: Broker) -> int:
    """The Maximum Packet Size announced in CONNECT (MQTT 5): the broker never sends us a
    larger packet (Mosquitto drops it), so an oversized command is never read into memory.
    paho buffers a whole message before any callback sees it; this is the only bound."""
    return broker.max_command_bytes + PACKET_OVERHEAD
CONNACK_TIMEOUT_S = 15.0
REFUSAL_LOG_EVERY_S = 60.0


# Reconnect delays: jittered (the link passes its rng), from 0.25 s up to 15 s.
LINK_BACKOFF = Backoff(initial_s=0.25, max_s=15.0)


class TlsSetupError(ValueError):
    """The TLS files in the config cannot be loaded."""


# CONNACK reason codes (MQTT 5 numbering; paho maps MQTT 3.1.1 return codes onto them).
_REFUSALS: dict[int, str] = {
    0x84: "the broker does not support MQTT {protocol}: set broker.protocol to the other "
          "version ('3.1.1' or '5')",
    0x85: "the broker rejected the client id {client_id!r}: set broker.client_id",
    0x86: "the broker refused the credentials (bad user name or password): check "
          "broker.username and the password in the environment variable named by "
          "broker.password_env",
    0x87: "the broker refused the connection: not authorised (the user may not connect, "
          "or the broker needs a user name and password or a client certificate)",
    0x88: "the broker is unavailable (it refused the connection: server unavailable)",
    0x89: "the broker is busy (it refused the connection: server busy)",
    0x8A: "the broker refused the connection: this client is banned",
    0x8C: "the broker refused the connection: bad authentication method",
    0x95: "the broker refused the connection: packet too large",
    0x97: "the broker refused the connection: quota exceeded",
    0x9C: "the broker refused the connection and asks to use another server",
    0x9D: "the broker refused the connection: the server has moved",
}
AUTH_REFUSALS = frozenset({0x86, 0x87, 0x8A, 0x8C})


def refusal_message(code: int, name: str, broker: Broker, client_id: str) -> str:
    text = _REFUSALS.get(code)
    if text is None:
        return f"the broker refused the connection: {name} (reason code {code})"
    return text.format(protocol=broker.protocol, client_id=client_id)


def describe_connect_error(exc: BaseException, broker: Broker) -> str:
    """A clear sentence for a failed TCP/TLS connect, with what to check."""
    where = f"{broker.host}:{broker.port}"
    if isinstance(exc, TlsSetupError):
        return f"TLS setup failed: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS failure: the broker's certificate at {where} was not accepted "
                f"({getattr(exc, 'verify_message', None) or getattr(exc, 'reason', None) or exc}"
                "); check broker.tls.ca and that "
                "broker.host matches the certificate")
    if isinstance(exc, ssl.SSLError):
        detail = getattr(exc, "reason", None) or str(exc)
        hint = ""
        if "CERTIFICATE_REQUIRED" in str(exc) or "HANDSHAKE_FAILURE" in str(exc):
            hint = " (the broker may require a client certificate: broker.tls.cert/key)"
        elif "WRONG_VERSION_NUMBER" in str(exc) or "RECORD_LAYER" in str(exc):
            hint = " (is this port a plain MQTT listener? remove [broker.tls] or fix the port)"
        return f"TLS failure with {where}: {detail}{hint}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}: is the broker running and listening there?"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the broker host {broker.host!r}: {exc.strerror}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timed out connecting to {where}"
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return f"cannot connect to {where}: {type(exc).__name__}: {exc}"


def is_tls_error(last_error: str | None) -> bool:
    """Whether paho's last logged error (its only report of why a socket failed) came from
    the TLS layer. The one place that reads paho's text; everything after uses the flag."""
    upper = (last_error or "").upper()
    return "SSL" in upper or "CERTIFICATE" in upper


def describe_lost(last_error: str | None, client_cert: bool = True) -> str:
    """Why an established connection ended, from paho's last logged error. `client_cert`:
    whether we present one (a broker that wants one may just close the TLS connection)."""
    if last_error and is_tls_error(last_error):
        hint = ""
        upper = last_error.upper()
        if "CERTIFICATE_REQUIRED" in upper:
            hint = " (the broker requires a client certificate: set broker.tls.cert and key)"
        elif "EOF" in upper and not client_cert:
            hint = (" (the broker closed the TLS connection; it may require a client "
                    "certificate: set broker.tls.cert and key)")
        return f"TLS failure: {last_error}{hint}"
    return "connection lost" + (f": {last_error}" if last_error else "")


def tls_context(broker: Broker) -> ssl.SSLContext | None:
    tls = broker.tls
    if tls is None:
        return None
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot load broker.tls.ca {tls.ca!r}: {exc}") from None
    if tls.cert and tls.key:
        try:
            ctx.load_cert_chain(tls.cert, tls.key)
        except (OSError, ssl.SSLError) as exc:
            raise TlsSetupError(
                f"cannot load the client certificate broker.tls.cert/key: {exc}") from None
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def default_client_id(store: str, device: str) -> str:
    return f"omo-edge-{store}-{device}"[:128]


class PubAck(NamedTuple):
    """A PUBACK as the listeners get it: message id and reason code (>= 0x80: refused)."""

    mid: int
    code: int


class LinkListener:
    """What the connection reports, on the asyncio loop. Override what you need."""

    def link_up(self, generation: int, session_present: bool) -> None:
        """A connection is up (CONNACK accepted)."""

    def link_down(self, generation: int, reason: str) -> None:
        """That connection ended; anything unacknowledged on it is to be sent again."""

    def acks(self, generation: int, acks: list[PubAck]) -> None:
        """PUBACKs (message id, reason code; >= 0x80 is a refusal) in arrival order."""

    def message(self, generation: int, topic: str, payload: bytes, mid: int, qos: int) -> None:
        """An incoming message; QoS 1 messages must be acknowledged with `Link.ack`."""


@dataclass
class LinkStatus:
    connected: bool = False
    reason: str = "not connected yet"
    refused: bool = False  # the last failure was a refusal (credentials, authorisation, TLS)
    since: float = field(default_factory=time.time)
    attempts: int = 0
    connects: int = 0
    refusals: int = 0
    failures: int = 0
    next_retry_in_s: float | None = None


# What paho reports, as typed items handed from its callbacks to the loop (`_Handoff`).
@dataclass(frozen=True, slots=True)
class _Up:
    """CONNACK accepted."""

    generation: int
    session_present: bool


@dataclass(frozen=True, slots=True)
class _Refused:
    """CONNACK refused, with its reason code and paho's name for it."""

    generation: int
    code: int
    name: str


@dataclass(frozen=True, slots=True)
class _Down:
    """The connection ended; `tls_failure` when paho's last error was a TLS one."""

    generation: int
    reason: str
    tls_failure: bool = False


class _Ack(NamedTuple):
    """A PUBACK: message id and reason code (>= 0x80 is a refusal). A named tuple, not a
    frozen dataclass like the rest: one is made for every event published, and a frozen
    dataclass's ``__init__`` costs three ``object.__setattr__`` calls."""

    generation: int
    mid: int
    code: int


@dataclass(frozen=True, slots=True)
class _Message:
    """An incoming message (QoS 1 ones are acknowledged with `Link.ack`)."""

    generation: int
    topic: str
    payload: bytes
    mid: int
    qos: int


LinkEvent = _Up | _Refused | _Down | _Ack | _Message


class _End(NamedTuple):
    """How a connection attempt ended (the result of `Link._session`)."""

    reason: str
    stopping: bool = False     # we are shutting down; still connected
    tls_failure: bool = False  # the TLS layer failed: a refusal, not a lost connection


class _ErrorKeeper(logging.Logger):
    """paho's logger for one connection: keeps its last error text (to say why the
    connection ended) and lets everything below ERROR go without being formatted."""

    def __init__(self, errors: dict[int, str], generation: int) -> None:
        super().__init__("omo_edge.sync.paho", logging.ERROR)
        self.propagate = False
        self._errors = errors
        self._generation = generation

    def handle(self, record: logging.LogRecord) -> None:
        self._errors[self._generation] = record.getMessage()[:300]

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """paho calls this for every packet it sends or reads (at DEBUG): one comparison
        here instead of `Logger.log`'s checks, twice an event."""
        if level >= logging.ERROR:
            super().log(level, msg, *args, **kwargs)


class _Handoff:
    """What paho reports, dispatched on the asyncio loop outside paho's callbacks, in order
    and in batches (one dispatch for however many arrived). Items from another thread
    (paho may report a failure during the blocking connect) go through
    ``call_soon_threadsafe``."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 dispatch: Callable[[list[LinkEvent]], None]) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self._dispatch = dispatch
        self._items: deque[LinkEvent] = deque()
        self._scheduled = False

    def put(self, item: LinkEvent) -> None:
        self._items.append(item)
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
                if threading.get_ident() == self._thread:
                    self._loop.call_soon(self._drain)
                else:
                    self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        items: list[LinkEvent] = []
        pop = self._items.popleft
        with contextlib.suppress(IndexError):
            while True:
                items.append(pop())
        self._dispatch(items)


class Link:
    """One MQTT connection at a time to the configured broker, reconnecting until stopped."""

    def __init__(
        self,
        broker: Broker,
        *,
        client_id: str,
        will: tuple[str, bytes] | None = None,
        subscriptions: list[str] | None = None,
        paho_inflight: int = 0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.will = will
        self.subscriptions = list(subscriptions or [])
        self.paho_inflight = paho_inflight
        self.backoff = backoff or LINK_BACKOFF
        self.rng = rng or random.Random()
        self.status = LinkStatus()
        self.generation = 0
        self.listeners: list[LinkListener] = []
        self.on_status: Callable[[LinkStatus], None] | None = None
        self._client: mqtt.Client | None = None
        self._handoff: _Handoff | None = None
        self._up: asyncio.Event | None = None
        self._down: asyncio.Future[_End] | None = None
        self._refusal: dict[int, str] = {}
        self._last_error: dict[int, str] = {}
        self._dropped: dict[int, str] = {}
        self._failure_log = LogEvery(REFUSAL_LOG_EVERY_S)

    # ------------------------------------------------------------------ paho side
    def _new_client(self, generation: int) -> mqtt.Client:
        b = self.broker
        v5 = b.protocol == "5"
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            userdata=generation,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        client.max_inflight_messages_set(self.paho_inflight)
        client.max_queued_messages_set(0)
        if b.username is not None:
            client.username_pw_set(b.username, b.password)
        ctx = tls_context(b)
        if ctx is not None:
            client.tls_set_context(ctx)
            if b.tls is not None and b.tls.insecure_skip_verify:
                client.tls_insecure_set(True)
        if self.will is not None:
            client.will_set(self.will[0], self.will[1], qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        # paho formats a debug line for every packet when `on_log` is set; a logger that
        # only takes errors costs one level check a packet instead.
        client.enable_logger(_ErrorKeeper(self._last_error, generation))
        client.connect_timeout = 5.0
        return client

    def _open(self, generation: int) -> mqtt.Client:
        """Blocking (run in an executor): TCP, TLS handshake, CONNECT. Raises on TCP/TLS
        failure. The socket is handed to the loop by `_attach`."""
        b = self.broker
        client = self._new_client(generation)
        if b.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.MaximumPacketSize = max_packet_size(b)
            client.connect(b.host, b.port, b.keepalive_s, clean_start=False, properties=props)
        else:
            client.connect(b.host, b.port, b.keepalive_s)
        return client

    def _attach(self, client: mqtt.Client) -> None:
        """Drive the client's socket from the asyncio loop."""
        sock = client.socket()
        if sock is None:
            return
        LoopDriver(client, asyncio.get_running_loop(), sock)

    def _put(self, item: LinkEvent) -> None:
        if self._handoff is not None:
            self._handoff.put(item)

    def _on_connect(self, client: mqtt.Client, gen: int, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, props: Properties | None) -> None:
        if reason.is_failure:
            self._put(_Refused(gen, int(reason.value), str(reason)))
            return
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        self._put(_Up(gen, bool(flags.session_present)))

    def _on_disconnect(self, client: mqtt.Client, gen: int, flags: mqtt.DisconnectFlags,
                       reason: ReasonCode, props: Properties | None) -> None:
        if flags.is_disconnect_packet_from_server:
            self._put(_Down(gen, f"the broker closed the connection: {reason}"))
            return
        tls = self.broker.tls
        last_error = self._last_error.get(gen)
        self._put(_Down(gen, describe_lost(last_error, client_cert=tls is not None
                                           and tls.cert is not None),
                        tls_failure=is_tls_error(last_error)))

    def _on_publish(self, client: mqtt.Client, gen: int, mid: int, reason: ReasonCode,
                    props: Properties) -> None:
        self._put(_Ack(gen, mid, int(reason.value)))

    def _on_message(self, client: mqtt.Client, gen: int, msg: mqtt.MQTTMessage) -> None:
        self._put(_Message(gen, msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    # --------------------------------------------------------------- loop side
    def _dispatch(self, items: list[LinkEvent]) -> None:
        i = 0
        while i < len(items):
            item = items[i]
            i += 1
            match item:
                case _Ack(generation=gen):
                    # Consecutive PUBACKs of one connection go to the listeners as one batch.
                    batch = [PubAck(item.mid, item.code)]
                    while i < len(items):
                        nxt = items[i]
                        if not isinstance(nxt, _Ack) or nxt.generation != gen:
                            break
                        batch.append(PubAck(nxt.mid, nxt.code))
                        i += 1
                    for listener in self.listeners:
                        listener.acks(gen, batch)
                case _Message():
                    for listener in self.listeners:
                        listener.message(item.generation, item.topic, item.payload, item.mid,
                                         item.qos)
                case _Up():
                    self._connected(item.generation, item.session_present)
                case _Refused():
                    self._refused(item.generation, item.code, item.name)
                case _Down():
                    self._lost(item)

    def _lost(self, down: _Down) -> None:
        gen = down.generation
        if self._down is None or gen != self.generation or self._down.done():
            return
        refusal = self._refusal.get(gen)
        self._down.set_result(_End(refusal) if refusal is not None
                              else _End(down.reason, tls_failure=down.tls_failure))

    def _connected(self, gen: int, session_present: bool) -> None:
        if gen != self.generation:
            return
        st = self.status
        was_down_for = time.time() - st.since
        st.connected, st.refused, st.since = True, False, time.time()
        st.reason, st.next_retry_in_s = "", None
        st.connects += 1
        log.info("connected to %s:%d (MQTT %s, %s, session %s)%s", self.broker.host,
                 self.broker.port, self.broker.protocol,
                 "TLS" if self.broker.tls else "plain",
                 "resumed" if session_present else "new",
                 f" after {was_down_for:.1f} s" if st.connects > 1 else "")
        self._failure_log.reset()
        if self._up is not None:
            self._up.set()
        self._notify()
        for listener in self.listeners:
            listener.link_up(gen, session_present)

    def _refused(self, gen: int, code: int, name: str) -> None:
        msg = refusal_message(code, name, self.broker, self.client_id)
        self._refusal[gen] = msg
        self.status.refused = True

    def _notify(self) -> None:
        if self.on_status is not None:
            self.on_status(self.status)

    def _log_failure(self, reason: str, delay: float) -> None:
        if self._failure_log.due(reason):
            log.warning("MQTT %s:%d: %s; retrying in %.1f s (logged again in %d s if it "
                        "goes on)", self.broker.host, self.broker.port, reason, delay,
                        int(REFUSAL_LOG_EVERY_S))

    async def run(self, stopping: asyncio.Event) -> None:
        """Connect, and reconnect after every loss with jittered backoff, until `stopping`."""
        loop = asyncio.get_running_loop()
        self._handoff = _Handoff(loop, self._dispatch)
        failures = 0
        while not stopping.is_set():
            self.generation += 1
            gen = self.generation
            self._up = asyncio.Event()
            self._down = loop.create_future()
            self.status.attempts += 1
            client: mqtt.Client | None = None
            dropped: str | None = None
            try:
                client = await loop.run_in_executor(None, self._open, gen)
            except Exception as exc:
                reason = describe_connect_error(exc, self.broker)
                refused = isinstance(exc, ssl.SSLError | TlsSetupError)
                still_up = False
            else:
                self._client = client
                self._attach(client)
                end = await self._session(client, gen, stopping)
                dropped = self._dropped.pop(gen, None)
                reason = dropped or end.reason
                refused = gen in self._refusal or (dropped is None and end.tls_failure)
                still_up = dropped is None and end.stopping
            was_up = self._up.is_set() and not refused
            self.status.refusals += refused
            if stopping.is_set() and client is not None and still_up:
                return  # still connected: `close` says goodbye and disconnects cleanly
            self._client = None
            if client is not None:
                _release(client)
            self._refusal.pop(gen, None)
            self._last_error.pop(gen, None)
            if stopping.is_set():
                break
            failures = 1 if was_up and dropped is None else failures + 1
            delay = self.backoff.delay(failures, self.rng)
            st = self.status
            if was_up or st.connected:
                for listener in self.listeners:
                    listener.link_down(gen, reason)
                log.warning("MQTT connection to %s:%d lost: %s; reconnecting in %.1f s",
                            self.broker.host, self.broker.port, reason, delay)
            else:
                self._log_failure(reason, delay)
            if st.connected:
                st.since = time.time()
            st.connected, st.reason, st.refused = False, reason, refused
            st.failures += not was_up
            st.next_retry_in_s = round(delay, 2)
            self._notify()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=delay)

    async def _session(self, client: mqtt.Client, gen: int, stopping: asyncio.Event) -> _End:
        """Wait for CONNACK, then for the end of the connection or for `stopping`."""
        assert self._up is not None and self._down is not None
        down = self._down
        stop_task: asyncio.Future[Any] = asyncio.ensure_future(stopping.wait())
        up_task: asyncio.Future[Any] = asyncio.ensure_future(self._up.wait())
        try:
            await asyncio.wait([down, stop_task, up_task], timeout=CONNACK_TIMEOUT_S,
                               return_when=asyncio.FIRST_COMPLETED)
            if not self._up.is_set() and not self._down.done() and not stopping.is_set():
                client.disconnect()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._down), timeout=2.0)
                return _End(self._refusal.get(gen, "no CONNACK from the broker within "
                                              f"{CONNACK_TIMEOUT_S:.0f} s"))
            await asyncio.wait([down, stop_task], return_when=asyncio.FIRST_COMPLETED)
            if self._down.done():
                return self._down.result()
            return _End("stopping", stopping=True)
        finally:
            stop_task.cancel()
            up_task.cancel()

    # ----------------------------------------------------------------- actions
    @property
    def connected(self) -> bool:
        return self.status.connected and self._client is not None

    def publish(self, topic: str, payload: bytes | str, qos: int = 1,
                retain: bool = False) -> int | None:
        """Hand one message to paho; returns its message id, or None when not connected."""
        client = self._client
        if client is None or not self.status.connected:
            return None
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    def drop(self, generation: int, reason: str) -> None:
        """End the connection `generation` (e.g. the broker refused a publish): it is
        reconnected with a growing backoff, and the outbox re-sends what was unacknowledged."""
        client = self._client
        if client is None or generation != self.generation or generation in self._dropped:
            return
        self._dropped[generation] = reason
        client.disconnect()

    def ack(self, generation: int, mid: int, qos: int) -> None:
        """Acknowledge an incoming message on the connection it came on (else the broker
        delivers it again on the next connection, and the command store answers it as a
        duplicate)."""
        client = self._client
        if client is not None and generation == self.generation and qos > 0:
            client.ack(mid, qos)

    async def close(self, last_will_payload: bytes | None = None, timeout: float = 1.0) -> None:
        """Publish `last_will_payload` (retained, on the will topic) if connected, then
        disconnect cleanly (the broker does not send the Last Will after a clean disconnect)."""
        client = self._client
        if client is None:
            return
        deadline = time.monotonic() + timeout
        if self.status.connected and last_will_payload is not None and self.will is not None:
            info = client.publish(self.will[0], last_will_payload, qos=1, retain=True)
            while (info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS and not info.is_published()
                   and client.socket() is not None and time.monotonic() < deadline):
                await asyncio.sleep(0.005)
        with contextlib.suppress(Exception):
            client.disconnect()
        while client.socket() is not None and time.monotonic() < deadline + 0.5:
            await asyncio.sleep(0.005)  # the loop writes DISCONNECT, then paho closes
        _release(client)
        self._client = None
        self.status.connected = False


def _release(client: mqtt.Client) -> None:
    """Stop driving the client's socket and close it (paho's queue goes with the client)."""
    sock = client.socket()
    if sock is None:
        return
    with contextlib.suppress(Exception):
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock)
        loop.remove_writer(sock)
    with contextlib.suppress(Exception):
        sock.close()
