"""Commercial scales on a serial line: A&D, CAS and Mettler Toledo MT-SICS output, one
scale weighing one plate. Formats are in docs/shelf-protocol.md.

Each `parse_*` takes one line (without its line ending) and returns a `Weight`, a `Skip`
or a `Fault` (drivers.weighing); none of them raises. `ScaleReader` reads a scale through
`SerialLineReader` (polling MT-SICS scales with `SI`) and yields `WeightSample`s.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable

from drivers.readings import WeightSample, weight_sample
from drivers.shelf_serial import SerialLineReader
from drivers.weighing import MAX_GRAMS, Fault, ParseResult, Protocol, Skip, Unit, Weight, to_weight

# A&D standard format: 15 characters, "ST,+00123.45  g": header, comma, sign and 8 characters
# of data (leading zeros), 3 characters of unit (right-aligned). Overload: "OL,+9999999E+19",
# negative overload "OL,-9999999E+19" (the EK-L writes "OL,+999999.9  g"). QT is the counting
# mode (pieces). With the comparator's result added (GC series), a second header follows the
# first: "ST,OK,+0001.234 kg" (LO, OK, HI or --).
AND_RE = re.compile(
    rb"(ST|US|QT|WT),(?:(?:LO|OK|HI|--),)?([+-][0-9. ]{1,8}) *([A-Za-z%]{1,3})")
AND_OL_RE = re.compile(rb"OL,(?:(?:LO|OK|HI|--),)?([+-])")
AND_HEADERS = (b"ST,", b"US,", b"QT,", b"WT,")

# CAS: a stability header (ST, US, OL for overload), a comma, gross or net (GS, NT), a comma,
# then, in the 22-byte format of the CAS indicators (CI, NT, PDI, PDS), a device id byte, a
# lamp status byte (bit 7 set) and a comma; 8 characters of data, the sign first or none
# ("+  1.234", "-  0.120", "000013.5"), then the unit: "ST,GS,+  1.234kg",
# "ST,GS,1\xc4,000013.5 kg" (22 bytes), "ST,NT,+00013.5kg" (the indicators' 18-byte "AND"
# format). Some CAS-compatible indicators put a space for "+" and a comma before the unit.
CAS_RE = re.compile(
    rb"(ST|US),(GS|NT),(?:[^,\r\n]{2},)?([+ -]?)([0-9. ]{1,8}?),? *([A-Za-z%]{1,3})")
CAS_OL_RE = re.compile(rb"OL,(?:GS|NT),(?:[^,\r\n]{2},)?([+ -]?)")
CAS_HEADERS = (b"ST,GS,", b"ST,NT,", b"US,GS,", b"US,NT,")

# MT-SICS: "S S      123.45 g" (stable), "S D      123.45 g" (dynamic): the weight right-aligned
# in 10 characters, a space, the unit. Errors: "S I" (not executable now), "S +" overload,
# "S -" underload, "ES" syntax, "ET" transmission, "EL" logical.
MT_RE = re.compile(rb"S ([SD]) +(-?[0-9.]{1,10}) +([A-Za-z%]{1,3})")
MT_ERR_RE = re.compile(rb"(?:^|[^A-Za-z])(S [I+-]|E[STL])\s*$")
MT_ERRORS = {b"S I": Fault.NOT_EXECUTABLE, b"S +": Fault.OVERLOAD, b"S -": Fault.UNDERLOAD,
             b"ES": Fault.SYNTAX, b"ET": Fault.TRANSMISSION, b"EL": Fault.LOGICAL}
MT_POLL = b"SI\r\n"
"""MT-SICS "send weight immediately": answered with "S S ..." or "S D ..." at once."""


def _number(text: bytes) -> float | None:
    """The number in a field the pattern limited to digits, points, spaces and a sign
    (spaces for leading zeros, between the sign and the digits or in place of the sign),
    or None (two points, spaces inside, no digit)."""
    if text[:1] in (b"+", b"-"):
        text = text[:1] + text[1:].lstrip(b" ")
    try:
        return float(text)
    except ValueError:
        return None


def _missing(line: bytes, headers: tuple[bytes, ...]) -> Skip:
    return Skip.PARTIAL if any(h in line for h in headers) else Skip.GARBLED


def _overload_or_missing(line: bytes, overload: re.Pattern[bytes],
                         headers: tuple[bytes, ...]) -> Fault | Skip:
    """A line that is not a weight: an overload (+, or no sign) or underload (-) report, else
    a Skip."""
    ol = overload.search(line)
    if ol is not None:
        return Fault.UNDERLOAD if ol.group(1) == b"-" else Fault.OVERLOAD
    return _missing(line, headers)


def parse_and(line: bytes, max_grams: float = MAX_GRAMS) -> ParseResult:
    """One A&D standard-format line: a Weight (stable for ST, unstable for US), Fault
    OVERLOAD/UNDERLOAD for OL, or a Skip. Never raises."""
    m = AND_RE.search(line)
    if m is None:
        return _overload_or_missing(line, AND_OL_RE, AND_HEADERS)
    value = _number(m.group(2))
    if value is None:
        return Skip.GARBLED
    if m.group(1) == b"QT":
        return Skip.UNKNOWN_UNIT  # a count of pieces, not a mass
    return to_weight(value, m.group(3), m.group(1) != b"US", None, max_grams)


def parse_cas(line: bytes, max_grams: float = MAX_GRAMS) -> ParseResult:
    """One CAS continuous-output line: a Weight (stable for ST, net for NT), Fault
    OVERLOAD/UNDERLOAD for OL, or a Skip. Never raises."""
    m = CAS_RE.search(line)
    if m is None:
        return _overload_or_missing(line, CAS_OL_RE, CAS_HEADERS)
    value = _number(m.group(4))
    if value is None:
        return Skip.GARBLED
    if m.group(3) == b"-":
        value = -value
    return to_weight(value, m.group(5), m.group(1) == b"ST",
                     m.group(2) == b"NT", max_grams)


def parse_mt_sics(line: bytes, max_grams: float = MAX_GRAMS) -> ParseResult:
    """One MT-SICS reply to S or SI: a Weight (stable for "S S", unstable for "S D"), a Fault
    for "S I", "S +", "S -", "ES", "ET", "EL", or a Skip. Never raises."""
    m = MT_RE.search(line)
    if m is None:
        err = MT_ERR_RE.search(line)
        if err is not None:
            return MT_ERRORS[err.group(1)]
        return Skip.PARTIAL if re.search(rb"S [SD] ", line) else Skip.GARBLED
    value = _number(m.group(2))
    if value is None:
        return Skip.GARBLED
    return to_weight(value, m.group(3), m.group(1) == b"S", None, max_grams)


PARSERS: dict[Protocol, Callable[[bytes, float], ParseResult]] = {
    Protocol.AND: parse_and, Protocol.CAS: parse_cas, Protocol.MT_SICS: parse_mt_sics}


class ScaleReader:
    """Reads one commercial scale (one plate): lines in, WeightSamples out. Skipped lines
    are counted per Skip reason, fault replies per Fault kind, weights in another mass unit
    than `unit` converted and counted as `unit_changes`.

    MT-SICS scales are polled: `SI` is sent `poll_hz` times a second; a poll sent while
    the previous one is still unanswered counts as `unanswered_polls` (a silent scale). The
    others talk continuously. Samples carry `controller=shelf`, `plate` (the plate's number on the
    shelf, 1), a seq of their own (0-65535, wrapping) and the scale's stability flag."""

    def __init__(self, shelf: str, port: str, baudrate: int, protocol: Protocol, *,
                 now: Callable[[], float], plate: int = 1, unit: Unit = Unit.G,
                 poll_hz: float = 5.0, timeout_s: float = 0.2,
                 max_grams: float = MAX_GRAMS,
                 monotonic: Callable[[], float] = time.monotonic,
                 bytesize: int = 8, parity: str = "none") -> None:
        """Raises ValueError for the omo protocol (read it with ShelfReader)."""
        if protocol not in PARSERS:
            raise ValueError(f"{protocol}: not a commercial scale protocol")
        self.shelf = shelf
        self.protocol = protocol
        self.parse = PARSERS[protocol]
        self.plate = plate
        self.unit = unit
        self.now = now
        self.monotonic = monotonic
        self.max_grams = max_grams
        self.polled = protocol is Protocol.MT_SICS
        self.poll_s = 1.0 / poll_hz
        self.lines = SerialLineReader(port, baudrate,
                                      min(timeout_s, self.poll_s) if self.polled else timeout_s,
                                      max_line=64, bytesize=bytesize, parity=parity)
        self._next_poll = 0.0
        self.seq = 0
        self.good = 0
        self.polls = 0
        self.unanswered = 0  # MT-SICS polls sent while the previous one had no reply yet
        self._awaiting = False
        self.unit_changes = 0
        self.skipped: Counter[Skip] = Counter()
        self.faults: Counter[Fault] = Counter()

    def open(self) -> None:
        """Raises serial.SerialException (or OSError) if the port is not there."""
        self.lines.open()
        self._next_poll = 0.0

    def close(self) -> None:
        self.lines.close()

    def _poll(self) -> None:
        now = self.monotonic()
        if now >= self._next_poll:
            self.lines.write(MT_POLL)
            self.polls += 1
            if self._awaiting:
                self.unanswered += 1
            self._awaiting = True
            self._next_poll = max(self._next_poll + self.poll_s, now)

    def read(self, stop: threading.Event | None = None) -> list[WeightSample]:
        """The samples that arrived within the timeout (polling first if due); raises
        serial.SerialException when the scale goes away."""
        if self.polled:
            self._poll()
        lines = self.lines.read_lines()
        return self.handle_lines(lines, self.now()) if lines else []

    def handle_lines(self, lines: list[bytes], t: float) -> list[WeightSample]:
        """The samples of `lines`, all read at `t` (one read from the port)."""
        out = []
        for line in lines:
            result = self.handle(line, t)
            if result is not None:
                out.append(result)
        return out

    def handle(self, line: bytes, t: float | None = None) -> WeightSample | None:
        """One line (read at `t`, by default now): its sample, or None (counted as a skip or
        a fault)."""
        r = self.parse(line, self.max_grams)
        self._awaiting = False
        if isinstance(r, Skip):
            self.skipped[r] += 1
            return None
        if isinstance(r, Fault):
            self.faults[r] += 1
            return None
        return self.sample(r, t)

    def sample(self, w: Weight, t: float | None = None) -> WeightSample:
        if w.unit is not self.unit:
            self.unit_changes += 1
        self.good += 1
        seq, self.seq = self.seq, (self.seq + 1) % 65536
        return weight_sample(self.shelf, self.shelf, self.plate, w.grams, seq,
                             self.now() if t is None else t, stable=w.stable)

    def counters(self) -> dict[str, int]:
        out = {"bad_lines": sum(self.skipped.values()) + self.lines.overlong}
        out.update({f"skipped_{r.value}": n for r, n in self.skipped.items() if n})
        if self.lines.overlong:
            out[f"skipped_{Skip.OVERLONG.value}"] = self.lines.overlong
        out.update({f"fault_{f.value}": n for f, n in self.faults.items() if n})
        if self.unit_changes:
            out["unit_changes"] = self.unit_changes
        if self.polled:
            out["polls"] = self.polls
            out["unanswered_polls"] = self.unanswered
        return out
