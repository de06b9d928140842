"""Shelf controllers on a serial line: the line protocol and a pyserial reader.

Protocol (ASCII, one report per line, 8N1, 115200 baud by default):

    $W,<controller>,<plate>,<grams>,<seq>*<checksum>\\r\\n

- controller: 1-16 characters of [A-Za-z0-9_-], the controller's own id
- plate: the plate number on that controller, 1-99
- grams: the plate's load in grams, signed, one decimal place ("1234.5", "-0.7")
- seq: 0-65535, one per line per controller, wrapping to 0 after 65535
- checksum: two upper-case hex digits, the XOR of every byte between '$' and '*'

A controller reports every plate several times a second whether or not it changed. Lines that
do not parse (noise on the line, a bad checksum, an overlong line) are counted and skipped.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import serial

from drivers.readings import WeightSample

LINE_RE = re.compile(
    rb"^\$W,([A-Za-z0-9_-]{1,16}),(\d{1,2}),(-?\d{1,7}\.\d),(\d{1,5})\*([0-9A-F]{2})$")
MAX_LINE = 128


class ProtocolError(ValueError):
    """A line that is not a valid shelf report."""


@dataclass(frozen=True)
class ShelfReport:
    controller: str
    plate: int
    grams: float
    seq: int


def checksum(body: bytes) -> int:
    value = 0
    for b in body:
        value ^= b
    return value


def encode_line(controller: str, plate: int, grams: float, seq: int) -> bytes:
    body = f"W,{controller},{plate},{grams:.1f},{seq % 65536}".encode("ascii")
    return b"$" + body + b"*" + f"{checksum(body):02X}".encode() + b"\r\n"


def parse_line(line: bytes) -> ShelfReport:
    """Parse one line (with or without its line ending); raise ProtocolError if invalid."""
    text = line.strip(b"\r\n \x00")
    m = LINE_RE.match(text)
    if not m:
        raise ProtocolError(f"not a shelf report: {text[:40]!r}")
    body = text[1:text.index(b"*")]
    if checksum(body) != int(m.group(5), 16):
        raise ProtocolError("bad checksum")
    plate, seq = int(m.group(2)), int(m.group(4))
    if not 1 <= plate <= 99 or seq > 65535:
        raise ProtocolError("plate or seq out of range")
    return ShelfReport(m.group(1).decode(), plate, float(m.group(3)), seq)


class SerialLineReader:
    """Opens a serial port with pyserial (a device path or a URL such as socket://host:port
    or loop://) and returns complete lines. Blocking; run it on a thread."""

    def __init__(self, port: str, baudrate: int = 115200, timeout_s: float = 0.2) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self._ser: serial.SerialBase | None = None
        self._buf = bytearray()
        self.overlong = 0

    def open(self) -> None:
        """Raises serial.SerialException (or OSError) if the port is not there."""
        self.close()
        self._ser = serial.serial_for_url(self.port, baudrate=self.baudrate,
                                          timeout=self.timeout_s)
        self._buf.clear()

    @property
    def is_open(self) -> bool:
        return self._ser is not None and bool(self._ser.is_open)

    def read_lines(self) -> list[bytes]:
        """The complete lines that arrived within the timeout (maybe none). Raises
        serial.SerialException when the device goes away."""
        if self._ser is None:
            raise serial.SerialException("port not open")
        try:
            chunk = self._ser.read(max(1, self._ser.in_waiting))
        except OSError as exc:  # EIO from the tty layer when the device is gone
            raise serial.SerialException(f"read failed: {exc}") from exc
        if not chunk:
            return []
        self._buf.extend(chunk)
        lines = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                break
            lines.append(bytes(self._buf[:nl + 1]))
            del self._buf[:nl + 1]
        if len(self._buf) > MAX_LINE:  # no line ending in sight: garbage, drop it
            self.overlong += 1
            self._buf.clear()
        return lines

    def close(self) -> None:
        if self._ser is not None:
            ser, self._ser = self._ser, None
            with contextlib.suppress(OSError, serial.SerialException):
                ser.close()


class ShelfReader:
    """Reads shelf reports from one port: lines in, WeightSamples out, bad lines counted."""

    def __init__(self, shelf: str, port: str, baudrate: int, *,
                 now: Callable[[], float], timeout_s: float = 0.2) -> None:
        self.shelf = shelf
        self.now = now
        self.lines = SerialLineReader(port, baudrate, timeout_s)
        self.good = 0
        self.bad = 0

    def open(self) -> None:
        self.lines.open()

    def close(self) -> None:
        self.lines.close()

    def read(self, stop: threading.Event | None = None) -> list[WeightSample]:
        """The samples that arrived within the timeout; raises serial.SerialException when
        the controller goes away. (`stop` is not needed: the read times out by itself.)"""
        out = []
        for line in self.lines.read_lines():
            try:
                r = parse_line(line)
            except ProtocolError:
                self.bad += 1
                continue
            self.good += 1
            out.append(WeightSample(self.shelf, r.controller, r.plate, r.grams, r.seq,
                                    self.now()))
        return out

    @property
    def bad_total(self) -> int:
        return self.bad + self.lines.overlong

    def counters(self) -> dict[str, int]:
        return {"bad_lines": self.bad_total}
