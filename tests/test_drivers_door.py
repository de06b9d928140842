"""The door counter: its line protocol, the direction state machine, and the reader through
a real pty opened by pyserial."""

from __future__ import annotations

from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.door_serial import (
    Beam,
    BeamEdge,
    DoorCounterReader,
    DoorTracker,
    Heartbeat,
    ProtocolError,
    encode_edge,
    encode_heartbeat,
    parse_line,
)
from drivers.readings import Direction, DoorCrossing
from drivers.shelf_serial import checksum
from sim.shelf import PtyPort
from tests.sim_fixtures import wait_for

A, B = Beam.A, Beam.B


# ----------------------------------------------------------------------- protocol
def test_edge_and_heartbeat_round_trip_with_checksum() -> None:
    line = encode_edge("D1", 70001, (1 << 32) + 5, A, True)
    assert line == b"$DOOR,D1,4465,5,A,1*" + f"{checksum(b'DOOR,D1,4465,5,A,1'):02X}".encode() \
        + b"\r\n"
    assert parse_line(line) == BeamEdge("D1", 4465, 5, A, True)
    hb = encode_heartbeat("D1", 7, 123456, False, True)
    assert hb.startswith(b"$DHB,D1,7,123456,01*")
    assert parse_line(hb) == Heartbeat("D1", 7, 123456, False, True)


@pytest.mark.parametrize("bad", [
    b"$DOOR,D1,1,100,A,1*00\r\n",  # wrong checksum
    b"$DOOR,D1,1,100,C,1*" + f"{checksum(b'DOOR,D1,1,100,C,1'):02X}".encode(),  # no beam C
    b"$DOOR,D1,1,100,A,2*" + f"{checksum(b'DOOR,D1,1,100,A,2'):02X}".encode(),  # level 2
    b"$DOOR,D1,70000,100,A,1*" + f"{checksum(b'DOOR,D1,70000,100,A,1'):02X}".encode(),
    b"$DOOR,D1,1,4294967296,A,1*" + f"{checksum(b'DOOR,D1,1,4294967296,A,1'):02X}".encode(),
    b"$DHB,D1,1,100,1*" + f"{checksum(b'DHB,D1,1,100,1'):02X}".encode(),  # one level
    b"$W,C1,1,100.0,5*" + f"{checksum(b'W,C1,1,100.0,5'):02X}".encode(),  # a shelf line
    b"$DOOR,D1,1,100\r\n",
    b"\x00\xff garbage\r\n",
    b"",
])
def test_bad_lines_raise_protocol_error(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_line(bad)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_are_a_protocol_error_or_a_valid_report(data: bytes) -> None:
    try:
        line = parse_line(data)
    except ProtocolError:
        return
    assert isinstance(line, BeamEdge | Heartbeat)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([encode_edge("D1", 9, 1234, B, False),
                        encode_heartbeat("door_7", 65535, 4294967295, True, True)]),
       st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=255))
def test_any_changed_byte_is_caught(line: bytes, pos: int, value: int) -> None:
    body = line.rstrip(b"\r\n")
    pos %= len(body)
    mutated = body[:pos] + bytes([value]) + body[pos + 1:]
    if mutated == body:
        assert parse_line(mutated) == parse_line(line)
        return
    with pytest.raises(ProtocolError):
        parse_line(mutated)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=40))
def test_the_reader_survives_any_lines(lines: list[bytes]) -> None:
    reader = DoorCounterReader("door-1", "loop://", 115200, now=lambda: 0.0)
    for raw in lines:
        assert all(isinstance(d, Direction) for d in reader.feed(raw))
    c = reader.counters()
    assert c["bad_lines"] + c["out_of_order_lines"] <= len(lines)


# ------------------------------------------------------------------ state machine
def run(edges: list[tuple[int, Beam, int]], *, end_ms: int | None = None,
        tracker: DoorTracker | None = None) -> list[Direction]:
    """Edges (ms, beam, level) through a tracker, then a heartbeat with both beams clear."""
    tr = tracker or DoorTracker()
    out: list[Direction] = []
    for ms, beam, level in edges:
        out += tr.edge(beam, bool(level), ms)
    last = edges[-1][0] if edges else 0
    out += tr.heartbeat(False, False, end_ms if end_ms is not None else last + 1000)
    return out


def walk(start: int, first: Beam, *, depth_ms: int = 300, gap_ms: int = 180) -> list[
        tuple[int, Beam, int]]:
    """One adult: the first beam breaks at `start`, the other `gap_ms` later; each stays
    blocked `depth_ms`."""
    second = B if first is A else A
    return sorted([(start, first, 1), (start + gap_ms, second, 1),
                   (start + depth_ms, first, 0), (start + gap_ms + depth_ms, second, 0)])


def test_a_then_b_is_in_and_b_then_a_is_out() -> None:
    assert run(walk(1000, A)) == [Direction.IN]
    assert run(walk(1000, B)) == [Direction.OUT]
    # one after the other, the beams clear in between: two crossings
    assert run(walk(1000, A) + walk(3000, B)) == [Direction.IN, Direction.OUT]


def test_a_child_short_break_of_one_beam_does_not_count() -> None:
    tr = DoorTracker()
    assert run([(1000, A, 1), (1080, A, 0)], tracker=tr) == []
    assert run([(5000, B, 1), (5150, B, 0)], tracker=tr) == []
    assert tr.counts.single_beam == 2


def test_a_child_complete_but_short_crossing_counts() -> None:
    # a small body: A clears before B breaks, but the passage goes A -> B
    assert run([(1000, A, 1), (1120, A, 0), (1170, B, 1), (1290, B, 0)]) == [Direction.IN]
    assert run([(1000, B, 1), (1100, B, 0), (1150, A, 1), (1250, A, 0)]) == [Direction.OUT]


def test_a_pause_in_the_beams_counts_one() -> None:
    # stops 3 s with the front in beam A only, then with both beams blocked, then in B only
    stop_in_a = [(1000, A, 1), (4180, B, 1), (4300, A, 0), (4480, B, 0)]
    stop_in_b = [(1000, A, 1), (1180, B, 1), (1300, A, 0), (4480, B, 0)]
    for edges in (stop_in_a, stop_in_b):
        assert run(edges) == [Direction.IN]
    # someone standing in both beams for half a minute is still one person
    assert run([(1000, A, 1), (1180, B, 1), (31300, A, 0), (31480, B, 0)]) == [Direction.IN]


def test_stepping_in_and_turning_back_does_not_count() -> None:
    tr = DoorTracker()
    # A, then B, then back out: B clears first, A last
    assert run([(1000, A, 1), (1200, B, 1), (1500, B, 0), (1700, A, 0)], tracker=tr) == []
    assert tr.counts.turned_back == 1


def test_two_side_by_side_count_two_when_the_beams_stay_blocked_long() -> None:
    tr = DoorTracker()
    # the second walks 0.3 m behind the first: blocked 0.6 m worth, beams 0.2 m apart
    side_by_side = [(1000, A, 1), (1200, B, 1), (1600, A, 0), (1800, B, 0)]
    assert run(side_by_side, tracker=tr) == [Direction.IN, Direction.IN]
    assert tr.counts.pairs == 1
    # far enough apart that A clears in between, but never both beams: still two
    tailgate = [(1000, B, 1), (1200, A, 1), (1350, B, 0), (1450, B, 1), (1550, A, 0),
                (1650, A, 1), (1800, B, 0), (2000, A, 0)]
    assert run(tailgate) == [Direction.OUT, Direction.OUT]
    # level with each other: the beams see one body (a known limit, docs/door-counter.md)
    assert run(walk(1000, A, depth_ms=320, gap_ms=200)) == [Direction.IN]


def test_a_lost_edge_is_restored_and_the_crossing_kept() -> None:
    tr = DoorTracker()
    # A's break was lost: A clearing while A is known clear says it was blocked
    assert run([(1180, B, 1), (1300, A, 0), (1480, B, 0)], tracker=tr) == [Direction.IN]
    # B's clearing was lost: the heartbeat's levels close the passage
    assert run([(5000, B, 1), (5180, A, 1), (5300, B, 0)], tracker=tr) == [Direction.OUT]
    assert tr.counts.edges_inferred == 2


def test_a_passage_ends_only_after_both_beams_are_clear_for_the_gap() -> None:
    tr = DoorTracker(close_gap_ms=300)
    edges = walk(1000, A)
    for ms, beam, level in edges:
        assert tr.edge(beam, bool(level), ms) == []
    assert tr.heartbeat(False, False, edges[-1][0] + 299) == []
    assert tr.heartbeat(False, False, edges[-1][0] + 300) == [Direction.IN]


def test_the_controller_clock_wraps_and_backwards_lines_are_ignored() -> None:
    tr = DoorTracker()
    start = (1 << 32) - 200
    edges = [((start + ms - 1000) % (1 << 32), beam, level) for ms, beam, level in walk(1000, A)]
    assert run(edges, end_ms=(start + 2000) % (1 << 32), tracker=tr) == [Direction.IN]
    assert tr.edge(A, True, 5) == []  # far in the past after the wrap
    assert tr.counts.clock_backwards == 1


def test_a_heartbeat_whose_clock_went_back_means_the_controller_restarted() -> None:
    tr = DoorTracker()
    assert tr.edge(A, True, 900_000) == []  # someone in beam A when the controller resets
    assert tr.heartbeat(False, False, 1000) == []  # millis() starts again from zero
    assert tr.counts.restarts == 1 and not tr.level[A]
    assert run(walk(2000, B), tracker=tr) == [Direction.OUT]


def test_reader_skips_garbled_and_out_of_sequence_lines() -> None:
    reader = DoorCounterReader("door-1", "loop://", 115200, now=lambda: 7.0)
    lines = [encode_edge("D1", i, ms, beam, bool(level))
             for i, (ms, beam, level) in enumerate(walk(1000, A))]
    out: list[Direction] = []
    out += reader.feed(lines[0])
    out += reader.feed(lines[0])  # repeated
    out += reader.feed(b"$DOOR,D1,1,1180,B,1*00\r\n")  # bad checksum
    out += reader.feed(lines[1])
    out += reader.feed(encode_edge("D1", 0, 1190, B, False))  # an old seq
    out += reader.feed(lines[3])  # lines[2] lost: a gap, A's clearing restored
    out += reader.feed(encode_heartbeat("D1", 9, 3000, False, False))
    assert out == [Direction.IN]
    c = reader.counters()
    assert c["bad_lines"] == 1 and c["out_of_order_lines"] == 2 and c["seq_gaps"] == 2
    assert c["door_edges_inferred"] == 1


# ------------------------------------------------------------------- through a pty
def test_reader_opens_pty_with_pyserial_and_emits_crossings(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "door-1")
    port.plug()
    reader = DoorCounterReader("door-1", str(tmp_path / "door-1"), 115200, now=lambda: 42.0,
                               timeout_s=0.05)
    try:
        reader.open()
        assert isinstance(reader.lines._ser, serial.Serial)  # pyserial opened the pty slave
        edges = walk(1000, A) + walk(3000, B) + [(5000, A, 1), (5090, A, 0)]
        data = b"".join(encode_edge("D1", i, ms, beam, bool(level))
                        for i, (ms, beam, level) in enumerate(edges))
        port.write(data[:37] + b"\x13\x37noise\n" + data[37:] + b"x" * 300 + b"\n"
                   + encode_heartbeat("D1", len(edges), 9000, False, False))
        got: list[DoorCrossing] = []
        wait_for(lambda: got.extend(reader.read()) or len(got) >= 2, what="2 crossings")
        assert [(c.counter, c.direction) for c in got] == [("door-1", Direction.IN),
                                                           ("door-1", Direction.OUT)]
        # dated when the beams cleared: 1.52 s of the controller's clock before the line
        # that showed the passage was over
        assert [c.t for c in got] == [pytest.approx(40.48), pytest.approx(40.48)]
        wait_for(lambda: reader.read() == [] and reader.tracker.counts.single_beam == 1,
                 what="the short break seen")
        assert reader.counters()["bad_lines"] == 3  # the cut line, the noise, the overlong
    finally:
        reader.close()
        port.unplug()


def test_unplugged_counter_raises_and_reopens_with_a_fresh_state(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "door-1")
    port.plug()
    reader = DoorCounterReader("door-1", str(tmp_path / "door-1"), 115200, now=lambda: 0.0,
                               timeout_s=0.05)
    reader.open()
    port.write(encode_edge("D1", 1, 1000, A, True))  # someone in beam A ...
    wait_for(lambda: reader.read() == [] and reader.tracker.level[A], what="beam A blocked")
    port.unplug()  # ... when the controller goes away
    with pytest.raises(serial.SerialException):
        wait_for(lambda: reader.read() and False, timeout=0.5)
    reader.close()
    port.plug()
    reader.open()
    assert not reader.tracker.level[A]  # the controller may have restarted: start clean
    edges = walk(500, B)
    port.write(b"".join(encode_edge("D1", 100 + i, ms, beam, bool(level))
                        for i, (ms, beam, level) in enumerate(edges))
               + encode_heartbeat("D1", 110, 3000, False, False))
    got: list[DoorCrossing] = []
    wait_for(lambda: got.extend(reader.read()) or got, what="a crossing after replug")
    assert [c.direction for c in got] == [Direction.OUT]
    reader.close()
    port.unplug()


def test_lines_without_a_crossing_reach_the_source_as_counted_lines(tmp_path: Path) -> None:
    # the simulator's lockstep waits until the reader has taken every line it wrote (the
    # `lines` counter, published by the source after each batch): heartbeats and a lone
    # break make no crossing, yet the source hears of them, after their batch was stamped
    import asyncio

    from drivers.base import ThreadedDriver

    async def main() -> None:
        port = PtyPort(tmp_path / "door-1")
        port.plug()
        reader = DoorCounterReader("door-1", str(tmp_path / "door-1"), 115200,
                                   now=lambda: 0.0, timeout_s=0.05)
        driver = ThreadedDriver("door:door-1", reader)
        await driver.open()
        try:
            port.write(b"".join(encode_heartbeat("D1", i, 1000 * i, False, False)
                                for i in range(5)) + encode_edge("D1", 5, 5200, A, True)
                       + b"$DHB,D1,6,6000,00*00\r\n")  # the last one damaged
            batch = await asyncio.wait_for(driver.read(), 5.0)
            while driver.counters()["lines"] < 6 or driver.counters()["bad_lines"] < 1:
                batch = await asyncio.wait_for(driver.read(), 5.0)
            assert list(batch) == [] and reader.taken == reader.fed == 6
            assert driver.counters()["lines"] == 6 and driver.counters()["bad_lines"] == 1
        finally:
            await driver.close()
            port.unplug()

    asyncio.run(main())


def test_the_documented_examples_parse() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "door-counter.md").read_text()
    examples = [line for line in doc.splitlines() if line.startswith(("$DOOR,D1", "$DHB,D1"))]
    assert len(examples) == 5
    tr = DoorTracker()
    out: list[Direction] = []
    for line in examples:
        parsed = parse_line(line.encode())
        if isinstance(parsed, BeamEdge):
            out += tr.edge(parsed.beam, parsed.blocked, parsed.ms)
        else:
            out += tr.heartbeat(parsed.a_blocked, parsed.b_blocked, parsed.ms)
    assert out == [Direction.IN]
