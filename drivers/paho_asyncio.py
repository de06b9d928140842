"""paho-mqtt driven from an asyncio loop through its external-loop API: `loop_read` when the
socket is readable (and again while a `BufferedClient` or TLS holds bytes the socket no
longer signals), `loop_write` while paho has bytes queued (the socket corked meanwhile, so
a window of packets leaves in full segments), `loop_misc` (keepalive, retries) once a second.

Shared by the cloud sync connection (`edge.sync.connection`) and the BLE receivers' MQTT feed
(`drivers.mqtt_feed`); on 2 cores this publishes about twice as fast as paho's own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

MISC_EVERY_S = 1.0
TCP_CORK: int = getattr(socket, "TCP_CORK", 0)  # Linux only; 0 elsewhere: not corked
READ_CHUNK = 65536  # bytes asked of the socket per recv by `BufferedClient`


class BufferedClient(mqtt.Client):
    """A paho client that reads its socket in chunks.

    paho reads each incoming packet with two or three ``recv`` calls of its exact parts
    (the command byte, the remaining length a byte at a time, the rest) and one more that
    ends each `loop_read` with ``EAGAIN``: at QoS 1 that is four system calls and an
    exception for every PUBACK of four bytes. This client serves those reads from one
    ``recv(READ_CHUNK)`` instead; paho's packet parsing is unchanged.

    It overrides paho's private ``_sock_recv`` (read against paho-mqtt 2.2, whose packet
    reader calls it for every read; `tests/test_paho_asyncio.py` fails if a later paho
    stops reading through it). Bytes
    the buffer holds do not make the socket readable again, so whoever drives
    `loop_read` must call it again while `buffered()` is true (`LoopDriver` does)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_buf = b""
        self._read_pos = 0
        self._read_sock: Any = None
        self.recv_calls = 0  # system reads made (each read serves many of paho's)

    def buffered(self) -> bool:
        """Bytes already read from the socket that paho has not consumed yet."""
        return self._read_pos < len(self._read_buf) and self._read_sock is self._sock

    def _sock_recv(self, bufsize: int) -> bytes:
        pos, buf = self._read_pos, self._read_buf
        if pos >= len(buf) or self._read_sock is not self._sock:
            # Empty, or left from an earlier socket (paho's reconnect): read afresh.
            self._read_sock = self._sock
            self.recv_calls += 1
            buf = super()._sock_recv(max(bufsize, READ_CHUNK))  # raises BlockingIOError
            pos = 0
            self._read_buf = buf
        end = pos + bufsize
        self._read_pos = end
        if pos == 0 and end >= len(buf):
            return buf
        return buf[pos:end]


class LoopDriver:
    """Hands a connected client's socket to `loop`; `cancel()` stops the `loop_misc` timer
    (the socket callbacks end when paho closes the socket)."""

    def __init__(self, client: mqtt.Client, loop: asyncio.AbstractEventLoop,
                 sock: Any) -> None:
        self.client = client
        self.loop = loop
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._written
        loop.add_reader(sock, self._readable)
        if client.want_write():
            loop.add_writer(sock, self._writable)
        self._misc: asyncio.TimerHandle | None = loop.call_later(MISC_EVERY_S, self._tick)

    def cancel(self) -> None:
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None

    def _readable(self) -> None:
        client = self.client
        rc = client.loop_read()
        # Bytes already read into a `BufferedClient`, or decrypted bytes TLS holds, are not
        # signalled by the socket again: read them too.
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            if isinstance(client, BufferedClient) and client.buffered():
                rc = client.loop_read()
                continue
            current = client.socket()
            if not isinstance(current, ssl.SSLSocket) or not current.pending():
                break
            rc = client.loop_read()

    def _closed(self, c: mqtt.Client, userdata: Any, s: Any) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(s)
            self.loop.remove_writer(s)

    def _want_write(self, c: mqtt.Client, userdata: Any, s: Any) -> None:
        self.loop.add_writer(s, self._writable)

    def _writable(self) -> None:
        """Write what paho has queued. paho sends each packet with a `send` of its own; the
        socket is corked meanwhile (Linux `TCP_CORK`) so that the window's packets leave
        as full segments when this returns, not one segment (and one wake-up of the
        broker) per packet. Nothing waits for a later write: the cork comes off here."""
        current = self.client.socket()
        if not TCP_CORK or not isinstance(current, socket.socket):  # websockets: not corked
            self.client.loop_write()
            return
        sock: socket.socket = current
        with contextlib.suppress(OSError):  # not corked: written packet by packet, still right
            sock.setsockopt(socket.IPPROTO_TCP, TCP_CORK, 1)
        try:
            self.client.loop_write()
        finally:
            if self.client.socket() is sock:  # paho may have closed it meanwhile
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, TCP_CORK, 0)

    def _written(self, c: mqtt.Client, userdata: Any, s: Any) -> None:
        self.loop.remove_writer(s)

    def _tick(self) -> None:
        self._misc = None
        if self.client.socket() is not None:
            self.client.loop_misc()
            self._misc = self.loop.call_later(MISC_EVERY_S, self._tick)
