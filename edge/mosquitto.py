"""Start a real Mosquitto broker on a free loopback port, and stop and restart it.

Shared by the sync bench (`omo-edge bench sync`), the simulator (the `broker-outage`
scenario) and the tests; it lives in `edge` so that `edge` never imports `sim`. Never a
mock: it runs Debian's `mosquitto` binary with a generated config in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

MOSQUITTO_INSTALL_HINT = "sudo apt-get install -y mosquitto"


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)),
        None,
    )
    if not found:
        raise FileNotFoundError(
            f"the mosquitto binary is missing; install it: {MOSQUITTO_INSTALL_HINT}")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """A broker process. `extra_config` lines are appended to the generated config
    (listeners for TLS, password files, ...). The port stays the same across restarts."""

    def __init__(self, port: int | None = None, extra_config: str = "",
                 workdir: Path | None = None, default_listener: bool = True) -> None:
        self.binary = find_mosquitto()
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="omo-mosquitto-")
        self.workdir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        lines = [
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "max_queued_messages 100000",
        ]
        if os.geteuid() == 0:
            # As root Mosquitto drops to the `mosquitto` user, which cannot write its log
            # into our root-owned temporary directory; keep it as the caller.
            lines.append("user root")
        if default_listener:
            lines += [f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
        self.config_path.write_text("\n".join(lines) + "\n" + extra_config + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0) -> Mosquitto:
        if self.running:
            return self
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                raise RuntimeError(f"mosquitto exited at start: {err}{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)  # polling the port until it accepts; not synchronising tests
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on port {self.port} within {timeout}s")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
