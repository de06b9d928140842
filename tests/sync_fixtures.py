"""Helpers for the sync tests: configs, a counting MQTT subscriber, an in-process daemon,
and certificates made with openssl."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import Config, parse
from edge.daemon import Daemon
from edge.services import SimHooks
from edge.sync.connection import Backoff
from tests.waiting import await_until, wait_until  # noqa: F401 (re-exported)

STORE, DEVICE = "store-1", "edge-01"
PREFIX = "omo/v1"
BASE = f"{PREFIX}/{STORE}/{DEVICE}"
FAST_BACKOFF = Backoff(initial_s=0.1, max_s=0.5)


def sync_raw(tmp: Path, port: int, **broker: Any) -> dict[str, Any]:
    return {
        "store": {"id": STORE, "device": DEVICE},
        "storage": {"path": str(tmp / "events.db"), "state_dir": str(tmp / "state"),
                    "min_free_mb": 0},
        "broker": {"host": "127.0.0.1", "port": port, "heartbeat": 1, **broker},
    }


def sync_config(tmp: Path, port: int, env: dict[str, str] | None = None, **broker: Any) -> Config:
    return parse(sync_raw(tmp, port, **broker), env=env or {})


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    raise TypeError(v)


def write_toml(path: Path, raw: dict[str, Any]) -> Path:
    lines: list[str] = []
    for section, table in raw.items():
        if isinstance(table, list):
            for item in table:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in item.items()]
            continue
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
        for name, sub in nested.items():
            lines.append(f"[{section}.{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in sub.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Collector:
    """A subscriber that records every message (persistent session, QoS 1)."""

    def __init__(self, port: int, topics: list[str], *, client_id: str = "test-collector",
                 username: str | None = None, password: str | None = None,
                 tls: dict[str, str] | None = None, clean: bool = True) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311, clean_session=clean)
        if username:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set(ca_certs=tls["ca"], certfile=tls.get("cert"),
                                keyfile=tls.get("key"))
        self.client.max_inflight_messages_set(0)
        self.topics = topics
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.reconnect_delay_set(1, 1)
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise AssertionError("the test subscriber did not connect")

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        for t in self.topics:
            client.subscribe(t, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.cond.notify_all()

    def matching(self, pred: Callable[[str, bytes], bool]) -> list[tuple[str, bytes]]:
        with self.cond:
            return [(t, p) for t, p, _ in self.messages if pred(t, p)]

    def json_on(self, topic: str) -> list[dict[str, Any]]:
        out = []
        for _, p in self.matching(lambda t, _p: t == topic):
            with contextlib.suppress(ValueError):
                out.append(json.loads(p))
        return out

    def wait_for(self, pred: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = pred()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what or 'messages'}")
                self.cond.wait(left)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextlib.asynccontextmanager
async def running_daemon(config: Config, **kwargs: Any) -> AsyncIterator[Daemon]:
    """The real daemon in this process (sync with a fast reconnect backoff)."""
    daemon = Daemon(config, status_every_s=kwargs.pop("status_every_s", 0.2),
                    hooks=kwargs.pop("hooks", SimHooks(sync_backoff=FAST_BACKOFF)), **kwargs)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, handle_signals=False))
    try:
        await asyncio.wait_for(daemon.ready.wait(), 10)
        yield daemon
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def make_certs(d: Path) -> dict[str, Path]:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all
    signed by the CA; plus a second CA that signed nothing (for the untrusted case)."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    for ca in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN=omo test {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.crt")
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=omo-{name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *ext)
    return {n: d / n for n in ("ca.crt", "other-ca.crt", "server.crt", "server.key",
                               "client.crt", "client.key")}
