"""paho-mqtt driven from an asyncio loop through its external-loop API: `loop_read` when the
socket is readable (and again while TLS holds decrypted bytes the socket no longer signals),
`loop_write` while paho has bytes queued, `loop_misc` (keepalive, retries) once a second.

Shared by the cloud sync connection (`edge.sync.connection`) and the BLE receivers' MQTT feed
(`drivers.mqtt_feed`); on 2 cores this publishes about twice as fast as paho's own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

MISC_EVERY_S = 1.0


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
            loop.add_writer(sock, client.loop_write)
        self._misc: asyncio.TimerHandle | None = loop.call_later(MISC_EVERY_S, self._tick)

    def cancel(self) -> None:
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None

    def _readable(self) -> None:
        client = self.client
        rc = client.loop_read()
        # TLS may hold decrypted bytes the socket no longer signals: read them too.
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            current = client.socket()
            if not isinstance(current, ssl.SSLSocket) or not current.pending():
                break
            rc = client.loop_read()

    def _closed(self, c: mqtt.Client, userdata: Any, s: Any) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(s)
            self.loop.remove_writer(s)

    def _want_write(self, c: mqtt.Client, userdata: Any, s: Any) -> None:
        self.loop.add_writer(s, c.loop_write)

    def _written(self, c: mqtt.Client, userdata: Any, s: Any) -> None:
        self.loop.remove_writer(s)

    def _tick(self) -> None:
        self._misc = None
        if self.client.socket() is not None:
            self.client.loop_misc()
            self._misc = self.loop.call_later(MISC_EVERY_S, self._tick)
