"""The command flood of issue 8 against a real Mosquitto and the real daemon in its own
process: 5,000 mixed commands in a few seconds, three 200 MB messages among them, and 70
legitimate commands sent during the flood. MQTT 5: the daemon announces a Maximum Packet
Size (broker.max_command_bytes + 4 KiB) in CONNECT, so the broker drops the 200 MB ones
instead of sending them; the daemon's peak RSS (VmHWM) stays far below them. Every message
that reaches the daemon is answered exactly once (shed ones as `shed`), and every
legitimate one is answered `ok`.

Numbers are printed (run with -s) and written to <tmp>/flood.json."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.mosquitto import Mosquitto
from tests.sync_fixtures import BASE, Collector, sync_raw, wait_until, write_toml

ROOT = Path(__file__).resolve().parent.parent
FLOOD = 5000
BIG = 200 * 1024 * 1024
LEGIT_ORDERS, LEGIT_SHOWS = 50, 20
RSS_GOAL_MB = 150


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def _remaining(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def send_big(port: int, topic: str, size: int, count: int) -> None:
    """Publish `count` QoS 0 messages of `size` bytes on a raw MQTT 3.1.1 connection,
    streamed 1 MiB at a time (paho re-slices its whole packet buffer on every partial
    write, which makes a 200 MB publish take seconds, and holds it all in memory)."""
    chunk = b" " * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        body = _utf8("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big") + _utf8("flood-big")
        sock.sendall(b"\x10" + _remaining(len(body)) + body)
        assert sock.recv(4)[:1] == b"\x20", "no CONNACK for the big sender"
        for _ in range(count):
            head = _utf8(topic)
            sock.sendall(b"\x30" + _remaining(len(head) + size) + head)
            left = size
            while left:
                n = min(left, len(chunk))
                sock.sendall(chunk[:n] if n < len(chunk) else chunk)
                left -= n
        sock.sendall(b"\xe0\x00")


def flood_messages(rng: random.Random) -> list[tuple[str, bytes]]:
    """5,000 mixed commands: pings, unknown names, bad playlists, garbage, huge ints,
    NaN, trailing newlines."""
    out: list[tuple[str, bytes]] = []
    for i in range(FLOOD):
        kind = rng.randrange(7)
        if kind <= 1:
            out.append(("ping", json.dumps({"id": f"f-{i}", "args": {"echo": "x" * 64}})
                        .encode()))
        elif kind == 2:
            out.append((f"no.such.cmd{rng.randrange(1000)}", json.dumps({"id": f"u-{i}"})
                        .encode()))
        elif kind == 3:
            out.append(("signage.playlist", json.dumps(
                {"id": f"pl-{i}", "args": {"playlist": "x\n", "items": []}}).encode()))
        elif kind == 4:
            out.append(("ping", rng.randbytes(200)))
        elif kind == 5:
            out.append(("ping", b'{"id": "h-%d", "args": {"n": %s}}' % (i, b"9" * 6000)))
        else:
            out.append(("ping", b'{"id": "n-%d", "args": {"n": NaN}}' % i))
    return out


def test_a_flood_with_200_mb_messages_keeps_memory_low_and_legit_commands_answered(
        tmp_path: Path) -> None:
    rng = random.Random(8)
    with Mosquitto() as broker:
        raw = sync_raw(tmp_path, broker.port, protocol="5", max_command_bytes=65536)
        cfg = write_toml(tmp_path / "config.toml", raw)
        col = Collector(broker.port, [f"{BASE}/cmd/+/result", f"{BASE}/status"],
                        client_id="flood-cloud")
        err = tmp_path / "daemon.err"
        daemon = subprocess.Popen(
            [sys.executable, "-m", "tests.sync_daemon", str(cfg), "1", "0"], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=err.open("ab"),
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        sender = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flood-sender",
                             protocol=mqtt.MQTTv311)
        sender.max_inflight_messages_set(0)
        sender.max_queued_messages_set(0)
        try:
            col.wait_for(lambda: any(m.get("state") == "online"
                                     for m in col.json_on(f"{BASE}/status")), 20,
                         "the daemon online")
            sender.connect("127.0.0.1", broker.port, keepalive=60)
            sender.loop_start()
            flood = flood_messages(rng)
            legit: list[tuple[str, bytes]] = (
                [("order.ready", json.dumps({"id": f"legit-o{i}", "args": {
                    "orders": [f"L{i}"], "mode": "add"}}).encode())
                 for i in range(LEGIT_ORDERS)]
                + [("signage.show", json.dumps({"id": f"legit-s{i}", "args": {
                    "screen": f"screen-{i % 4}", "content": {"kind": "text",
                                                            "text": f"hello {i}"}}}).encode())
                   for i in range(LEGIT_SHOWS)])
            every = FLOOD // len(legit)
            started = time.monotonic()
            big = threading.Thread(target=send_big, args=(broker.port, f"{BASE}/cmd/ping",
                                                          BIG, 3))
            big.start()          # the three 200 MB messages go out during the flood
            infos = []
            for i, (name, payload) in enumerate(flood):
                infos.append(sender.publish(f"{BASE}/cmd/{name}", payload, qos=1))
                if i % every == 0 and i // every < len(legit):
                    name_l, payload_l = legit[i // every]
                    infos.append(sender.publish(f"{BASE}/cmd/{name_l}", payload_l, qos=1))
            for info in infos:
                info.wait_for_publish(60)
            big.join(60)
            sent_s = time.monotonic() - started
            expected = FLOOD + len(legit)

            def answers() -> list[dict[str, object]]:
                return [json.loads(p) for t, p in col.matching(
                    lambda t, _p: t.startswith(f"{BASE}/cmd/") and t.endswith("/result"))]

            wait_until(lambda: len(answers()) >= expected, 60, f"{expected} answers")
            answered_s = time.monotonic() - started
            peak_mb = vm_hwm_mb(daemon.pid)
        finally:
            sender.loop_stop()
            sender.disconnect()
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(20)
            col.close()
            broker_log = broker.log_path.read_text(errors="replace")
        got = answers()
        outcomes = Counter(str(a["outcome"]) for a in got)
        by_id = {a["id"]: a for a in got if isinstance(a.get("id"), str)}
        legit_ok = sum(1 for name, payload in legit
                       if by_id.get(json.loads(payload)["id"], {}).get("outcome") == "ok")
        report = {"flood": FLOOD, "big_messages": 3, "big_mb": BIG // (1024 * 1024),
                  "sent_s": round(sent_s, 2), "all_answered_s": round(answered_s, 2),
                  "answers": len(got), "outcomes": dict(sorted(outcomes.items())),
                  "legit": len(legit), "legit_ok": legit_ok,
                  "daemon_peak_rss_mb": round(peak_mb, 1)}
        (tmp_path / "flood.json").write_text(json.dumps(report, indent=1))
        print("\nflood:", json.dumps(report))
        assert code == 0, err.read_text()[-2000:]
        assert len(got) == expected, report          # one answer a message, none twice
        assert legit_ok == len(legit), report
        assert peak_mb < RSS_GOAL_MB, report
        assert "Traceback" not in err.read_text()
        # The broker, not the daemon, turned the three 200 MB messages away.
        assert broker_log.count("Dropping too large outgoing PUBLISH for omo-edge") == 3
