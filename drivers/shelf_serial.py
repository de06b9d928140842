"""Shelf controllers on a serial line: the project's own line protocol (docs/shelf-protocol.md)
and the pyserial line reader every shelf and scale protocol reads through.

The reader splits on CR, LF or CRLF, and (for protocols with a start byte, such as '$')
also starts a new line at each start byte, so noise in front of a frame, junk after it and
CR-only line endings cost only the noise. Lines that do not parse are counted per
`drivers.weighing.Skip` reason and skipped.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from itertools import repeat
from operator import attrgetter, setitem, xor

import serial

from drivers.device_clock import WRAP_MS, ClockCounters, ClockSettings, DeviceClock
from drivers.readings import BeamEdge, WeightSample, weight_sample
from drivers.weighing import Skip

FRAME_RE = re.compile(rb"\$W,([A-Za-z0-9_-]{1,16}),(\d{1,2}),(-?\d{1,7}\.\d),(\d{1,5})"
                      rb"(?:,(\d{1,10}))?\*([0-9A-Fa-f]{2})")
BEAM_RE = re.compile(rb"\$B,([A-Za-z0-9_-]{1,16}),(\d{1,2}),(\d),([01]),(\d{1,5})"
                     rb"(?:,(\d{1,10}))?\*([0-9A-Fa-f]{2})")
# the optional last field: the controller's millisecond clock (drivers/device_clock.py)
MAX_MS = WRAP_MS - 1
START = b"$W,"
BEAM_START = b"$B,"
MAX_LINE = 128

# The fast path (`fast_sample`): a line that is exactly one frame in its usual form, as the
# reader splits them. Anything it is not sure of goes to the careful path (`_fields`).
_PLATES: dict[bytes, tuple[int, int]] = {}  # plate text -> (plate, XOR of its bytes)
for _n in range(1, 100):
    for _text in {f"{_n}".encode(), f"{_n:02d}".encode()}:
        _PLATES[_text] = (_n, reduce(xor, _text))
_HEX_DIGITS = "0123456789abcdefABCDEF"
_HEX: dict[bytes, int] = {(a + b).encode(): int(a + b, 16)
                          for a in _HEX_DIGITS for b in _HEX_DIGITS}
_CONTROLLER_RE = re.compile(rb"[A-Za-z0-9_-]{1,16}")
# "$W,<controller>,<plate>" -> (controller, plate, XOR of "W", the id, the plate and the
# frame's 4 commas, which cancel out): the rest of the body is grams and seq
_HEADS: dict[bytes, tuple[str, int, int]] = {}
_MAX_HEADS = 4096  # remembered by the fast path (a shelf has a few controllers of a few plates)
_W = ord("W")
# grams text -> (grams, XOR of its bytes), for texts already found well formed: a plate at
# rest reports the same few weights over and over (its noise is a few tenths of a gram)
_GRAMS: dict[bytes, tuple[float, int]] = {}
_MAX_GRAMS = 8192  # texts remembered (about 1 MB at most); then forgotten all at once
# the controller's clock, "<seconds><3 digits of milliseconds>": the 3 digits' texts ->
# (value, XOR of their bytes), and the seconds' texts seen (a new one each second) ->
# (value in ms, XOR of their bytes)
_DIGITS3: dict[bytes, tuple[int, int]] = {
    f"{n:03d}".encode(): (n, reduce(xor, f"{n:03d}".encode())) for n in range(1000)}
_SECONDS: dict[bytes, tuple[int, int]] = {}
_MAX_SECONDS = 4096
_COMMA = ord(",")
# "$W,<controller>,<plate>,<grams>" of a line with the clock -> (controller, plate, grams,
# XOR of "W", the id, the plate and the grams): a plate at rest, as `_GRAMS`
_FRONTS: dict[bytes, tuple[str, int, float, int]] = {}
_new = object.__new__


class ProtocolError(ValueError):
    """A line that is not a valid shelf report; `reason` says why."""

    def __init__(self, message: str, reason: Skip = Skip.GARBLED) -> None:
        super().__init__(message)
        self.reason = reason


NO_STAMP = -1  # a line without the controller's clock (old firmware): dated on arrival


@dataclass(frozen=True)
class ShelfReport:
    controller: str
    plate: int
    grams: float
    seq: int
    ms: int | None = None  # the controller's millisecond clock, when the line carries it


def checksum(body: bytes) -> int:
    value = 0
    for b in body:
        value ^= b
    return value


def _frame(kind: str, fields: str, ms: int | None) -> bytes:
    body = f"{kind},{fields}{'' if ms is None else f',{ms % WRAP_MS}'}".encode("ascii")
    return b"$" + body + b"*" + f"{checksum(body):02X}".encode() + b"\r\n"


def encode_line(controller: str, plate: int, grams: float, seq: int,
                ms: int | None = None) -> bytes:
    """A `$W` line; with `ms`, the controller's clock (taken modulo 2^32)."""
    return _frame("W", f"{controller},{plate},{grams:.1f},{seq % 65536}", ms)


@dataclass(frozen=True)
class BeamReport:
    controller: str
    plate: int
    lane: int
    broken: bool
    seq: int
    ms: int | None = None  # the controller's millisecond clock, when the line carries it


def encode_beam(controller: str, plate: int, lane: int, broken: bool, seq: int,
                ms: int | None = None) -> bytes:
    """A `$B` line; with `ms`, the controller's clock (taken modulo 2^32)."""
    return _frame("B", f"{controller},{plate},{lane},{int(broken)},{seq % 65536}", ms)


def parse_beam(line: bytes) -> BeamReport:
    """Parse one beam edge line (`$B,...`), wherever it starts on the line. Raises
    ProtocolError (with its Skip reason) if the line holds no valid beam report."""
    m = BEAM_RE.search(line)
    if m is None:
        start = line.find(BEAM_START)
        partial = start >= 0 and b"*" not in line[start:]
        raise ProtocolError(f"not a beam report ({len(line)} bytes)",
                            Skip.PARTIAL if partial else Skip.GARBLED)
    controller, plate_text, lane_text, state, seq_text, ms_text, cs = m.groups()
    if checksum(m.group(0)[1:-3]) != int(cs, 16):
        raise ProtocolError("bad checksum", Skip.BAD_CHECKSUM)
    plate, lane, seq = int(plate_text), int(lane_text), int(seq_text)
    ms = _stamp(ms_text)
    if not 1 <= plate <= 99 or not 1 <= lane <= 9 or seq > 65535 or ms > MAX_MS:
        raise ProtocolError("plate, lane, seq or clock out of range", Skip.OUT_OF_RANGE)
    return BeamReport(controller.decode(), plate, lane, state == b"1", seq,
                      None if ms == NO_STAMP else ms)


def _stamp(text: bytes | None) -> int:
    return NO_STAMP if text is None else int(text)


def parse_line(line: bytes) -> ShelfReport:
    """Parse one line: the first valid frame in it, wherever it starts (noise in front and
    junk after the checksum are ignored). Raises ProtocolError (with its Skip reason) if the
    line holds no valid frame."""
    controller, plate, grams, seq, ms = _fields(line)
    return ShelfReport(controller, plate, grams, seq, None if ms == NO_STAMP else ms)


def fast_sample(line: bytes, shelf: str, t: float) -> WeightSample | None:
    """The WeightSample of `line` (read on `shelf` at `t`, and dated `t`: the reader dates
    a line with the controller's clock) when the line is exactly one valid frame (nothing
    before the `$` or after the checksum) with plate, seq and clock in range, else None:
    then the careful path (`_fields`) decides. One line through `fast_samples`."""
    samples, _, _ = fast_samples([line], shelf, t)
    return samples[0] if samples else None


def fast_samples(lines: list[bytes], shelf: str, t: float
                 ) -> tuple[list[WeightSample], list[int], list[int]]:
    """The readers' hot path, a batch of lines at a time: the WeightSamples (read on `shelf`
    at `t`, and dated `t`) of the lines that are exactly one valid frame (nothing before the
    `$` or after the checksum) with plate, seq and clock in range, in order; beside each,
    the controller's clock of its line (`NO_STAMP` without one), for the reader to date it;
    and the indices of the other lines, for the careful path (`_fields`) to decide. Plain
    splits and table look-ups: a controller id and plate, or a grams text, seen before is
    not checked, converted or XORed again (`_HEADS`, `_GRAMS`). Never raises, and never
    gives a sample the careful path would not."""
    out: list[WeightSample] = []
    stamps: list[int] = []
    misses: list[int] = []  # index of a line not taken = samples + misses before it
    append, stamp = out.append, stamps.append
    head_seen, hexes, memo = _HEADS.get, _HEX.get, _GRAMS.get
    digits3, seconds, front_seen = _DIGITS3.get, _SECONDS.get, _FRONTS.get
    new = _new
    for line in lines:
        parts = line.rsplit(b",", 2)
        if len(parts) != 3:
            misses.append(len(out) + len(misses))
            continue
        head_text, grams_text, tail = parts
        front = front_seen(head_text)  # with the clock: "$W,<id>,<plate>,<grams>"
        head = None if front is not None else head_seen(head_text)
        if head is not None or (front is None and b"." in grams_text):
            # $W,<id>,<plate>,<grams>,<seq>*<cs>
            head = head or _head(head_text)
            grams = memo(grams_text) or _grams(grams_text)
            if head is None or grams is None:
                misses.append(len(out) + len(misses))
                continue
            controller, plate, value = head[0], head[1], grams[0]
            seq_text, _, cs_text = tail.partition(b"*")
            ms = NO_STAMP
            check = head[2] ^ grams[1]
        else:  # $W,<id>,<plate>,<grams>,<seq>,<ms>*<cs>: with the controller's clock
            front = front or _front(head_text)
            ms_text, _, cs_text = tail.partition(b"*")
            low = digits3(ms_text[-3:])  # the clock's milliseconds, then its seconds
            if front is None or not ms_text.isdigit() or len(ms_text) > 10:
                misses.append(len(out) + len(misses))
                continue
            if low is not None and len(ms_text) > 3:
                high = seconds(ms_text[:-3]) or _seconds(ms_text[:-3])
                ms = high[0] + low[0]
                check = front[3] ^ high[1] ^ low[1] ^ _COMMA
            else:  # the controller's first second
                ms = int(ms_text)
                check = front[3] ^ reduce(xor, ms_text) ^ _COMMA
            controller, plate, value = front[0], front[1], front[2]
            seq_text = grams_text
        cs = hexes(cs_text)
        if cs is None or not seq_text.isdigit() or len(seq_text) > 5:
            misses.append(len(out) + len(misses))
            continue
        for b in seq_text:
            check ^= b
        seq = int(seq_text)
        if seq > 65535 or ms > MAX_MS or check != cs:
            misses.append(len(out) + len(misses))
            continue
        # `weight_sample(shelf, controller, plate, value, seq, t)`, written out
        sample: WeightSample = new(WeightSample)
        d = sample.__dict__
        d["shelf"] = shelf
        d["controller"] = controller
        d["plate"] = plate
        d["grams"] = value
        d["seq"] = seq
        d["t"] = t
        d["stable"] = None
        append(sample)
        stamp(ms)
    return out, stamps, misses


def _grams(text: bytes) -> tuple[float, int] | None:
    """`_GRAMS`' entry for `text` (and kept there), or None if it is no grams text."""
    whole, _, tenths = text.partition(b".")  # -?\d{1,7}\.\d, without a regex
    if len(tenths) != 1 or not tenths.isdigit() or not (
            (whole.isdigit() and len(whole) <= 7)
            or (whole[:1] == b"-" and whole[1:].isdigit() and len(whole) <= 8)):
        return None
    if len(_GRAMS) >= _MAX_GRAMS:
        _GRAMS.clear()
    grams = _GRAMS[text] = (float(text), reduce(xor, text))
    return grams


def _front(text: bytes) -> tuple[str, int, float, int] | None:
    """`$W,<controller>,<plate>,<grams>` as `_FRONTS` keeps it (and kept there), or None if
    it is not that."""
    head_text, _, grams_text = text.rpartition(b",")
    head = _HEADS.get(head_text) or _head(head_text)
    grams = _GRAMS.get(grams_text) or _grams(grams_text)
    if head is None or grams is None:
        return None
    if len(_FRONTS) >= _MAX_GRAMS:
        _FRONTS.clear()
    front = _FRONTS[text] = (head[0], head[1], grams[0], head[2] ^ grams[1])
    return front


def _seconds(text: bytes) -> tuple[int, int]:
    """`_SECONDS`' entry for `text` (digits), kept there."""
    if len(_SECONDS) >= _MAX_SECONDS:
        _SECONDS.clear()
    entry = _SECONDS[text] = (int(text) * 1000, reduce(xor, text))
    return entry


def _head(text: bytes) -> tuple[str, int, int] | None:
    """`$W,<controller>,<plate>` as `_HEADS` keeps it (and kept there while there is room),
    or None if it is not that."""
    parts = text.split(b",")
    if len(parts) != 3 or parts[0] != b"$W":
        return None
    _, controller, plate_text = parts
    plate = _PLATES.get(plate_text)
    if plate is None or _CONTROLLER_RE.fullmatch(controller) is None:
        return None
    head = (controller.decode(), plate[0], reduce(xor, controller, _W) ^ plate[1])
    if len(_HEADS) < _MAX_HEADS:
        _HEADS[text] = head
    return head


def _fields(line: bytes) -> tuple[str, int, float, int, int]:
    """parse_line's fields (controller, plate, grams, seq, the clock or NO_STAMP), without
    building the report: the careful path, for any line. Raises ProtocolError as
    parse_line does."""
    m = FRAME_RE.search(line)
    if m is None:
        start = line.find(START)
        partial = start >= 0 and b"*" not in line[start:]
        raise ProtocolError(f"not a shelf report ({len(line)} bytes)",
                            Skip.PARTIAL if partial else Skip.GARBLED)
    controller, plate_text, grams, seq_text, ms_text, cs = m.groups()
    if checksum(m.group(0)[1:-3]) != int(cs, 16):
        raise ProtocolError("bad checksum", Skip.BAD_CHECKSUM)
    plate, seq, ms = int(plate_text), int(seq_text), _stamp(ms_text)
    if not 1 <= plate <= 99 or seq > 65535 or ms > MAX_MS:
        raise ProtocolError("plate, seq or clock out of range", Skip.OUT_OF_RANGE)
    return controller.decode(), plate, float(grams), seq, ms


PARITY = {"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN, "odd": serial.PARITY_ODD}


class SerialLineReader:
    """Opens a serial port with pyserial (a device path such as /dev/serial/by-id/..., or a
    URL: socket://host:port, rfc2217://host:port, loop://) and returns complete lines, without
    their line endings. A line ends at CR or LF; with `frame_start` (e.g. b"$"), a start byte
    also ends the line before it. Blocking; run it on a thread."""

    def __init__(self, port: str, baudrate: int = 115200, timeout_s: float = 0.2, *,
                 frame_start: bytes | None = None, max_line: int = MAX_LINE,
                 bytesize: int = 8, parity: str = "none") -> None:
        """`bytesize` 7 or 8, `parity` "none", "even" or "odd" (ValueError otherwise)."""
        if bytesize not in (7, 8) or parity not in PARITY:
            raise ValueError(f"serial format {bytesize} data bits, parity {parity!r}: "
                             "expected 7 or 8 bits and one of " + ", ".join(PARITY))
        self.port = port
        self.baudrate = baudrate
        self.bytesize = bytesize
        self.parity = PARITY[parity]
        self.timeout_s = timeout_s
        self.frame_start = frame_start
        self.max_line = max_line
        self._ser: serial.SerialBase | None = None
        self._buf = bytearray()
        self.overlong = 0

    def open(self) -> None:
        """Raises serial.SerialException (or OSError, ValueError for a bad URL) if the port
        is not there."""
        self.close()
        # a poll write must not block on a stalled line; pyserial's rfc2217:// client has no
        # write timeout (NotImplementedError) and writes to its socket without blocking long
        limit = None if self.port.startswith("rfc2217://") else self.timeout_s
        self._ser = serial.serial_for_url(self.port, baudrate=self.baudrate,
                                          bytesize=self.bytesize, parity=self.parity,
                                          timeout=self.timeout_s, write_timeout=limit)
        self._buf.clear()

    @property
    def is_open(self) -> bool:
        return self._ser is not None and bool(self._ser.is_open)

    def write(self, data: bytes) -> None:
        """Send `data` (a poll command). Raises serial.SerialException when the port is gone
        or not open."""
        if self._ser is None:
            raise serial.SerialException("port not open")
        try:
            self._ser.write(data)
        except OSError as exc:
            raise serial.SerialException(f"write failed: {exc}") from exc

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
        return self.feed(chunk)

    def feed(self, chunk: bytes) -> list[bytes]:
        """Split `chunk` (appended to what is pending) into complete lines; keep the rest."""
        buf = self._buf
        buf.extend(chunk)
        data = bytes(buf)
        if self.frame_start is not None:
            # a start byte after anything but a line ending ends the noise in front of it
            data = data.replace(self.frame_start, b"\n" + self.frame_start)
        parts = data.replace(b"\r", b"\n").split(b"\n")
        buf[:] = parts.pop()
        lines = list(filter(None, parts))
        if len(buf) > self.max_line:  # no line ending in sight: garbage, drop it
            self.overlong += 1
            start = -1 if self.frame_start is None else buf.rfind(self.frame_start)
            del buf[:start if start > 0 else len(buf)]
        return lines

    def close(self) -> None:
        if self._ser is not None:
            ser, self._ser = self._ser, None
            with contextlib.suppress(OSError, serial.SerialException):
                ser.close()


MAX_CLOCKS = 256  # controllers' clocks a reader keeps; then forgotten all at once


class ShelfReader:
    """Reads shelf reports from one omo controller: lines in, WeightSamples out, bad lines
    counted per reason. With `clock` settings, a line with the controller's clock is dated
    on it (one `DeviceClock` per controller id, shared by its weights and beam edges);
    without them, and a line without the clock, when it was read."""

    def __init__(self, shelf: str, port: str, baudrate: int, *,
                 now: Callable[[], float], timeout_s: float = 0.2,
                 bytesize: int = 8, parity: str = "none",
                 clock: ClockSettings | None = None) -> None:
        self.shelf = shelf
        self.now = now
        self.lines = SerialLineReader(port, baudrate, timeout_s, frame_start=b"$",
                                      bytesize=bytesize, parity=parity)
        self.good = 0
        self.beams = 0
        self.skipped: Counter[Skip] = Counter()
        self.clock_settings = clock
        self.clocks: dict[str, DeviceClock] = {}
        self.forgotten = ClockCounters()  # the counts of clocks forgotten (MAX_CLOCKS)

    def open(self) -> None:
        self.lines.open()

    def close(self) -> None:
        self.lines.close()

    def read(self, stop: threading.Event | None = None) -> list[WeightSample | BeamEdge]:
        """The samples that arrived within the timeout; raises serial.SerialException when
        the controller goes away. (`stop` is not needed: the read times out by itself.)"""
        lines = self.lines.read_lines()
        return self.handle_lines(lines, self.now()) if lines else []

    def handle_lines(self, lines: list[bytes], t: float) -> list[WeightSample | BeamEdge]:
        """The samples and beam edges of `lines`, all read at `t` (one read from the port),
        dated on their controllers' clocks when they carry it (and the reader dates on it),
        else `t`; bad lines counted
        per Skip reason. Each line takes the fast path (`fast_samples`) and, if that is not
        sure, the careful one (`_careful`): the same result either way."""
        samples, stamps, misses = fast_samples(lines, self.shelf, t)
        self.good += len(samples)
        out: list[WeightSample | BeamEdge] = list(samples)
        if misses:
            out, stamps = self._with_careful(lines, out, stamps, misses, t)
        if self.clock_settings is not None and stamps and max(stamps) != NO_STAMP:
            self._date(out, stamps, t)
        return out

    def _with_careful(self, lines: list[bytes], fast: list[WeightSample | BeamEdge],
                      stamps: list[int], misses: list[int], t: float
                      ) -> tuple[list[WeightSample | BeamEdge], list[int]]:
        """The fast path's readings with the careful path's of the lines it missed, in the
        lines' order, and their clocks."""
        out: list[WeightSample | BeamEdge] = []
        out_stamps: list[int] = []
        done = 0  # fast readings already in `out`
        for n, i in enumerate(misses):
            taken = i - n  # the fast samples of the lines before line i
            out += fast[done:taken]
            out_stamps += stamps[done:taken]
            done = taken
            reading, ms = self._careful(lines[i], t)
            if reading is not None:
                out.append(reading)
                out_stamps.append(ms)
        out += fast[done:]
        out_stamps += stamps[done:]
        return out, out_stamps

    def _date(self, readings: list[WeightSample | BeamEdge], stamps: list[int],
              arrival: float) -> None:
        """Date the readings that carry their controller's clock on it (in place: the
        readings are this reader's own, not yet handed on)."""
        if min(stamps) != NO_STAMP and len(set(map(_CONTROLLER, readings))) == 1:
            _set_times(readings, self._clock(readings[0].controller).place(stamps, arrival))
            return
        by_controller: dict[str, list[int]] = {}
        for i, ms in enumerate(stamps):
            if ms != NO_STAMP:
                by_controller.setdefault(readings[i].controller, []).append(i)
        for controller, idx in by_controller.items():
            dates = self._clock(controller).place([stamps[i] for i in idx], arrival)
            _set_times([readings[i] for i in idx], dates)

    def _clock(self, controller: str) -> DeviceClock:
        clock = self.clocks.get(controller)
        if clock is None:
            if len(self.clocks) >= MAX_CLOCKS:  # ids from line noise: start again
                for old in self.clocks.values():
                    _add(self.forgotten, old.counters)
                self.clocks.clear()
            clock = self.clocks[controller] = DeviceClock(self.clock_settings)
        return clock

    def handle(self, line: bytes, t: float | None = None) -> WeightSample | BeamEdge | None:
        """One line (read at `t`, by default now): its sample or beam edge (dated on its
        controller's clock when it carries it and the reader dates on it), or None
        (counted per Skip reason). The careful path: wherever a frame starts on the line."""
        arrival = self.now() if t is None else t
        reading, ms = self._careful(line, arrival)
        if reading is not None and ms != NO_STAMP and self.clock_settings is not None:
            self._date([reading], [ms], arrival)
        return reading

    def _careful(self, line: bytes, t: float) -> tuple[WeightSample | BeamEdge | None, int]:
        """One line read at `t`: its reading, dated `t`, and its clock (NO_STAMP without
        one); or None, counted per Skip reason."""
        try:
            controller, plate, grams, seq, ms = _fields(line)
        except ProtocolError as exc:
            if BEAM_START in line:
                return self._beam(line, t)
            self.skipped[exc.reason] += 1
            return None, NO_STAMP
        self.good += 1
        return weight_sample(self.shelf, controller, plate, grams, seq, t), ms

    def _beam(self, line: bytes, t: float) -> tuple[BeamEdge | None, int]:
        try:
            b = parse_beam(line)
        except ProtocolError as exc:
            self.skipped[exc.reason] += 1
            return None, NO_STAMP
        self.good += 1
        self.beams += 1
        return (BeamEdge(self.shelf, b.controller, b.plate, b.lane, b.broken, b.seq, t),
                NO_STAMP if b.ms is None else b.ms)

    @property
    def bad(self) -> int:
        return sum(self.skipped.values())

    @property
    def bad_total(self) -> int:
        return self.bad + self.lines.overlong

    def clock_counters(self) -> ClockCounters:
        """The controllers' clocks' counts, summed (those forgotten included)."""
        total = ClockCounters(**vars(self.forgotten))
        for clock in self.clocks.values():
            _add(total, clock.counters)
        return total

    def counters(self) -> dict[str, int]:
        out = {"bad_lines": self.bad_total}
        if self.beams:
            out["beam_edges"] = self.beams
        out.update({f"skipped_{r.value}": n for r, n in self.skipped.items() if n})
        if self.lines.overlong:
            out[f"skipped_{Skip.OVERLONG.value}"] = self.lines.overlong
        out.update({f"clock_{k}": n for k, n in vars(self.clock_counters()).items() if n})
        return out


_CONTROLLER = attrgetter("controller")
_DICT = attrgetter("__dict__")


def _set_times(readings: list[WeightSample | BeamEdge], times: list[float]) -> None:
    """Give each reading (built by this reader, not yet handed on) its time: `reading.t =
    t` for each pair, which a frozen dataclass refuses, in one C-level pass."""
    deque(map(setitem, map(_DICT, readings), repeat("t"), times), maxlen=0)


def _add(total: ClockCounters, more: ClockCounters) -> None:
    for k, n in vars(more).items():
        setattr(total, k, getattr(total, k) + n)
