"""Door counters on a serial line: the line protocol, the direction state machine and a
pyserial reader.

A door counter is a pair of infrared beams across the entrance, A on the street side and B
on the shop side, on a small controller that reports every beam edge. The protocol extends
the shelf controllers' (`drivers.shelf_serial`: ASCII, one report per line, '$' ... '*',
an XOR checksum, 8N1, 115200 baud by default); docs/door-counter.md is its reference:

    $DOOR,<counter>,<seq>,<ms>,<beam>,<level>*<checksum>\\r\\n     a beam edge
    $DHB,<counter>,<seq>,<ms>,<levels>*<checksum>\\r\\n           a heartbeat (about 1/s)

- counter: 1-16 characters of [A-Za-z0-9_-], the controller's own id
- seq: 0-65535, one per line (edges and heartbeats share it), wrapping after 65535
- ms: the controller's millisecond clock, 0-4294967295, wrapping (a uint32 `millis()`)
- beam: `A` (street side) or `B` (shop side); level: `1` blocked, `0` clear
- levels: the heartbeat's two digits, A's level then B's
- checksum: two upper-case hex digits, the XOR of every byte between '$' and '*'

The edge turns edges into `DoorCrossing` readings (`DoorTracker`): a passage is everything
from the first beam breaking until both beams have been clear for `close_gap_ms`; it is one
person going in when A broke first and B cleared last, out for the mirror image, and nothing
when only one beam broke (a hand, a bag, a child's short break) or the order does not agree
(someone stepped in and turned back). Two people side by side are told from one person by
how long the beams stay blocked compared with how long the walker takes from one beam to
the other (`pair_ratio`); see docs/door-counter.md for the limits.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from drivers.readings import Direction, DoorCrossing
from drivers.shelf_serial import ProtocolError, SerialLineReader, checksum

EDGE_RE = re.compile(
    rb"^\$DOOR,([A-Za-z0-9_-]{1,16}),(\d{1,5}),(\d{1,10}),([AB]),([01])\*([0-9A-F]{2})$")
HEARTBEAT_RE = re.compile(
    rb"^\$DHB,([A-Za-z0-9_-]{1,16}),(\d{1,5}),(\d{1,10}),([01])([01])\*([0-9A-F]{2})$")
SEQ_MOD = 65536
MAX_AGE_S = 5.0  # a crossing is never dated further back than this
MS_MOD = 1 << 32

__all__ = ["Beam", "BeamEdge", "DoorCounterReader", "DoorTracker", "Heartbeat",
           "ProtocolError", "encode_edge", "encode_heartbeat", "parse_line"]


class Beam(StrEnum):
    A = "A"  # street side
    B = "B"  # shop side


@dataclass(frozen=True)
class BeamEdge:
    """One beam changing level, as the controller saw it."""

    counter: str
    seq: int
    ms: int
    beam: Beam
    blocked: bool


@dataclass(frozen=True)
class Heartbeat:
    """The controller's periodic report: its clock and both beams' levels."""

    counter: str
    seq: int
    ms: int
    a_blocked: bool
    b_blocked: bool


Line = BeamEdge | Heartbeat


def _frame(body: str) -> bytes:
    raw = body.encode("ascii")
    return b"$" + raw + b"*" + f"{checksum(raw):02X}".encode() + b"\r\n"


def encode_edge(counter: str, seq: int, ms: int, beam: Beam, blocked: bool) -> bytes:
    return _frame(f"DOOR,{counter},{seq % SEQ_MOD},{ms % MS_MOD},{beam},{int(blocked)}")


def encode_heartbeat(counter: str, seq: int, ms: int, a_blocked: bool, b_blocked: bool
                     ) -> bytes:
    return _frame(f"DHB,{counter},{seq % SEQ_MOD},{ms % MS_MOD},"
                  f"{int(a_blocked)}{int(b_blocked)}")


def parse_line(line: bytes) -> Line:
    """Parse one line (with or without its line ending); raise ProtocolError if invalid."""
    text = line.strip(b"\r\n \x00")
    m = EDGE_RE.match(text) or HEARTBEAT_RE.match(text)
    if not m:
        raise ProtocolError(f"not a door report: {text[:40]!r}")
    body = text[1:text.index(b"*")]
    if checksum(body) != int(m.group(6), 16):
        raise ProtocolError("bad checksum")
    seq, ms = int(m.group(2)), int(m.group(3))
    if seq >= SEQ_MOD or ms >= MS_MOD:
        raise ProtocolError("seq or ms out of range")
    counter = m.group(1).decode()
    if text.startswith(b"$DOOR"):
        return BeamEdge(counter, seq, ms, Beam(m.group(4).decode()), m.group(5) == b"1")
    return Heartbeat(counter, seq, ms, m.group(4) == b"1", m.group(5) == b"1")


# ----------------------------------------------------------------- state machine
@dataclass
class _Block:
    """One beam blocked from `on` to `off` (ms); `*_inferred`: restored after a lost line."""

    on: int
    off: int
    on_inferred: bool
    off_inferred: bool


@dataclass
class _Passage:
    """The beams' blocks since the first beam broke."""

    blocks: dict[Beam, list[_Block]] = field(
        default_factory=lambda: {Beam.A: [], Beam.B: []})


@dataclass
class TrackerCounts:
    crossings_in: int = 0
    crossings_out: int = 0
    single_beam: int = 0  # passages that broke one beam only: not people crossing
    turned_back: int = 0  # both beams, but the order does not give a direction
    pairs: int = 0  # passages counted as two people side by side
    edges_inferred: int = 0  # edges a lost line must have carried, restored from the levels
    clock_backwards: int = 0  # edges whose ms went backwards: ignored
    restarts: int = 0  # heartbeats whose ms went backwards: the controller restarted


class DoorTracker:
    """Beam edges (controller milliseconds) in, crossings out. Pure: no I/O, no clock.

    `close_gap_ms`: both beams clear this long ends a passage. `pair_ratio`: a passage
    whose shorter beam-blocked time is at least this multiple of the walker's beam-to-beam
    time counts two people (side by side), up to `pause_ratio`, beyond which it is one person
    who stopped in the beams."""

    def __init__(self, *, close_gap_ms: int = 300, pair_ratio: float = 2.05,
                 pause_ratio: float = 8.0) -> None:
        self.close_gap_ms = close_gap_ms
        self.pair_ratio = pair_ratio
        self.pause_ratio = pause_ratio
        self.counts = TrackerCounts()
        self.reset()

    def reset(self) -> None:
        """Forget the beams' state (a new connection: the controller may have restarted)."""
        self.level = {Beam.A: False, Beam.B: False}
        self.passage: _Passage | None = None
        self.clear_since: int | None = None
        self.last_ms: int | None = None
        self.ended_ms: int | None = None  # when the passage classified last had cleared

    def age_s(self) -> float:
        """How long before the newest line the passage classified last had ended, s."""
        if self.ended_ms is None or self.last_ms is None:
            return 0.0
        return max(0.0, (self.last_ms - self.ended_ms) / 1000)

    def _advance(self, ms: int, *, restart_if_back: bool = False) -> int | None:
        """The line's time on an unwrapped scale; None if it goes backwards (unless
        `restart_if_back`: then the controller restarted and its clock starts again)."""
        if self.last_ms is None:
            self.last_ms = ms
            return ms
        delta = (ms - self.last_ms) % MS_MOD
        if delta >= MS_MOD // 2:
            if restart_if_back:
                self.counts.restarts += 1
                self.reset()
                self.last_ms = ms
                return ms
            self.counts.clock_backwards += 1
            return None
        self.last_ms += delta
        return self.last_ms

    def edge(self, beam: Beam, blocked: bool, ms: int) -> list[Direction]:
        """One edge; the crossings of any passage it shows to have ended before it."""
        prev = self.last_ms
        now = self._advance(ms)
        if now is None:
            return []
        out = self._maybe_close(now)
        if self.level[beam] == blocked:  # the opposite edge was lost with a line
            self.counts.edges_inferred += 1
            self._set(beam, not blocked, prev if prev is not None else now, inferred=True)
        self._set(beam, blocked, now)
        return out

    def heartbeat(self, a_blocked: bool, b_blocked: bool, ms: int) -> list[Direction]:
        """The controller's levels and clock: close a finished passage, repair lost edges.
        A heartbeat whose clock went back says the controller restarted: start afresh."""
        prev = self.last_ms
        now = self._advance(ms, restart_if_back=True)
        if now is None:
            return []
        for beam, blocked in ((Beam.A, a_blocked), (Beam.B, b_blocked)):
            if self.level[beam] != blocked:
                self.counts.edges_inferred += 1
                self._set(beam, blocked, prev if prev is not None else now, inferred=True)
        return self._maybe_close(now)

    def _set(self, beam: Beam, blocked: bool, ms: int, *, inferred: bool = False) -> None:
        self.level[beam] = blocked
        if blocked:
            if self.passage is None:
                self.passage = _Passage()
            self.passage.blocks[beam].append(_Block(ms, ms, inferred, False))
            self.clear_since = None
            return
        if self.passage is not None and self.passage.blocks[beam]:
            last = self.passage.blocks[beam][-1]
            last.off, last.off_inferred = ms, inferred
        if not any(self.level.values()):
            self.clear_since = ms

    def _maybe_close(self, now: int) -> list[Direction]:
        if (self.passage is None or self.clear_since is None
                or now - self.clear_since < self.close_gap_ms):
            return []
        passage, self.passage = self.passage, None
        self.ended_ms = self.clear_since
        return self._classify(passage)

    def _classify(self, p: _Passage) -> list[Direction]:
        a, b = p.blocks[Beam.A], p.blocks[Beam.B]
        if not a or not b:
            self.counts.single_beam += 1
            return []
        # which beam broke first and which cleared last; an edge restored after a lost
        # line has no reliable time, so it does not vote
        first_vote = 0 if a[0].on_inferred or b[0].on_inferred else _sign(b[0].on - a[0].on)
        last_a, last_b = max(a, key=lambda x: x.off), max(b, key=lambda x: x.off)
        last_vote = 0 if last_a.off_inferred or last_b.off_inferred else _sign(
            last_b.off - last_a.off)
        votes = first_vote + last_vote
        if votes == 0:  # stepped in and turned back, or no order to tell
            self.counts.turned_back += 1
            return []
        direction = Direction.IN if votes > 0 else Direction.OUT
        if len(a) == len(b) > 1:
            n = len(a)  # one after the other, too close for the beams to clear between
        elif any(x.on_inferred or x.off_inferred for x in a + b):
            n = 1  # durations unknown
        else:
            n = self._people(a, b)
        if n > 1:
            self.counts.pairs += 1
        if direction is Direction.IN:
            self.counts.crossings_in += n
        else:
            self.counts.crossings_out += n
        return [direction] * n

    def _people(self, a: list[_Block], b: list[_Block]) -> int:
        """1, or 2 when the beams stayed blocked long for the walking speed (side by side)."""
        blocked = min(sum(x.off - x.on for x in a), sum(x.off - x.on for x in b))
        transit = max(abs(b[0].on - a[0].on), abs(max(x.off for x in b) - max(x.off for x in a)),
                      1)
        r = blocked / transit
        return 2 if self.pair_ratio <= r <= self.pause_ratio else 1


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


# ------------------------------------------------------------------------ reader
class DoorCounterReader:
    """Reads one door counter's port: lines in, DoorCrossings out (a `BlockingDriver`; run
    it with `drivers.base.ThreadedDriver`). Bad lines and lines out of sequence are counted
    and skipped. Readings take their time from `now` (the daemon's clock), less how long
    ago (by the controller's clock, at most `MAX_AGE_S`) the passage ended: the
    controller's milliseconds only order edges and measure intervals."""

    def __init__(self, counter: str, port: str, baudrate: int, *,
                 now: Callable[[], float], timeout_s: float = 0.2,
                 tracker: DoorTracker | None = None) -> None:
        self.counter = counter
        self.now = now
        self.lines = SerialLineReader(port, baudrate, timeout_s)
        self.tracker = tracker or DoorTracker()
        self.bad = 0
        self.out_of_order = 0
        self.seq_gaps = 0
        self.fed = 0  # valid lines taken in sequence (edges and heartbeats)
        self.taken = 0  # of them, those whose crossings `read` has stamped and returned
        self._seq: int | None = None

    def open(self) -> None:
        """Raises serial.SerialException (or OSError) if the port is not there."""
        self.lines.open()
        self.tracker.reset()
        self._seq = None

    def close(self) -> None:
        self.lines.close()

    def read(self, stop: threading.Event | None = None) -> list[DoorCrossing]:
        """The crossings completed within the timeout; raises serial.SerialException when the
        controller goes away."""
        out: list[DoorCrossing] = []
        for raw in self.lines.read_lines():
            directions = self.feed(raw)
            if directions:
                # the passage ended a moment ago (the beams had to stay clear): date the
                # crossing then, by the controller's clock for the interval only
                t = self.now() - min(self.tracker.age_s(), MAX_AGE_S)
                out += [DoorCrossing(self.counter, t, d) for d in directions]
        self.taken = self.fed
        return out

    def feed(self, raw: bytes) -> list[Direction]:
        """One raw line through the parser, the sequence check and the tracker."""
        try:
            line = parse_line(raw)
        except ProtocolError:
            self.bad += 1
            return []
        if self._seq is not None:
            delta = (line.seq - self._seq) % SEQ_MOD
            if delta == 0 or delta >= SEQ_MOD // 2:  # a repeat or an old line
                self.out_of_order += 1
                return []
            if delta > 1:
                self.seq_gaps += 1
        self._seq = line.seq
        self.fed += 1
        if isinstance(line, BeamEdge):
            return self.tracker.edge(line.beam, line.blocked, line.ms)
        return self.tracker.heartbeat(line.a_blocked, line.b_blocked, line.ms)

    def counters(self) -> dict[str, int]:
        c = self.tracker.counts
        return {"lines": self.taken, "bad_lines": self.bad + self.lines.overlong,
                "out_of_order_lines": self.out_of_order, "seq_gaps": self.seq_gaps,
                "door_single_beam": c.single_beam, "door_turned_back": c.turned_back,
                "door_pairs": c.pairs, "door_edges_inferred": c.edges_inferred,
                "door_clock_backwards": c.clock_backwards, "door_restarts": c.restarts}
