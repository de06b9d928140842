"""The shelf serial protocol and reader: real ptys opened by pyserial."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.device_clock import ClockSettings
from drivers.readings import WeightSample
from drivers.shelf_serial import (
    ProtocolError,
    ShelfReader,
    checksum,
    encode_beam,
    encode_line,
    parse_beam,
    parse_line,
)
from drivers.weighing import Skip
from sim.shelf import PtyPort
from tests.sim_fixtures import wait_for


def test_line_round_trip_and_checksum() -> None:
    line = encode_line("C7", 3, -12.34, 70000)
    assert line == b"$W,C7,3,-12.3,4464*" + f"{checksum(b'W,C7,3,-12.3,4464'):02X}".encode() \
        + b"\r\n"
    r = parse_line(line)
    assert (r.controller, r.plate, r.grams, r.seq) == ("C7", 3, -12.3, 4464)


@pytest.mark.parametrize("bad", [
    b"$W,C1,1,100.0,5*00\r\n",  # wrong checksum
    b"$W,C1,1,100.0\r\n",  # missing fields
    b"\x00\xff garbage\r\n",
    b"$W,C1,100,1.0,5*" + f"{checksum(b'W,C1,100,1.0,5'):02X}".encode(),  # plate > 99
    b"",
])
def test_bad_lines_raise_protocol_error(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_line(bad)


def test_reader_opens_pty_with_pyserial_and_counts_bad_lines(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "shelf-1")
    port.plug()
    reader = ShelfReader("shelf-1", str(tmp_path / "shelf-1"), 115200, now=lambda: 42.0,
                         timeout_s=0.05)
    try:
        reader.open()
        assert isinstance(reader.lines._ser, serial.Serial)  # pyserial opened the pty slave
        good = [encode_line("C1", p, 100.0 + p, i) for i, p in enumerate((1, 2, 3, 4))]
        port.write(good[0] + good[1] + b"$W,C1,1,5.0,9*00\r\n" + b"\x13\x37noise\n"
                   + good[2] + b"x" * 300 + b"\n" + good[3])
        samples: list = []
        wait_for(lambda: samples.extend(reader.read()) or len(samples) >= 4, what="4 samples")
        assert [(s.plate, s.grams, s.seq, s.t) for s in samples] == [
            (1, 101.0, 0, 42.0), (2, 102.0, 1, 42.0), (3, 103.0, 2, 42.0), (4, 104.0, 3, 42.0)]
        assert reader.bad_total == 3
    finally:
        reader.close()
        port.unplug()


def test_the_controllers_clock_is_optional_and_checked() -> None:
    """`$W` and `$B` with the clock (uint32 ms, its checksum over it) and without it (old
    firmware); a clock beyond 2^32 - 1 is out of range, a damaged one a bad checksum."""
    line = encode_line("C1", 2, 9688.4, 117, 5234871)
    body = b"W,C1,2,9688.4,117,5234871"
    assert line == b"$" + body + b"*" + f"{checksum(body):02X}".encode() + b"\r\n"
    assert line == b"$W,C1,2,9688.4,117,5234871*27\r\n"  # the example in the protocol doc
    assert parse_line(line).ms == 5234871 and parse_line(encode_line("C1", 2, 1.0, 1)).ms is None
    assert parse_line(encode_line("C1", 2, 1.0, 1, 2**32 + 5)).ms == 5  # wraps
    assert parse_beam(encode_beam("C1", 2, 3, True, 118, 4294967295)).ms == 4294967295
    assert parse_beam(encode_beam("C1", 2, 3, True, 118)).ms is None
    too_big = b"W,C1,2,1.0,1,4294967296"
    with pytest.raises(ProtocolError) as err:
        parse_line(b"$" + too_big + b"*" + f"{checksum(too_big):02X}".encode())
    assert err.value.reason is Skip.OUT_OF_RANGE
    with pytest.raises(ProtocolError) as err:
        parse_line(line.replace(b"5234871", b"5234872"))
    assert err.value.reason is Skip.BAD_CHECKSUM


def test_the_reader_dates_lines_on_the_controllers_clock_over_a_real_pty(
        tmp_path: Path) -> None:
    """A controller writes 2 s of lines (weights and a beam edge, 50 ms apart on its clock)
    that the reader reads in one go at t = 102: each is dated on the controller's clock,
    the freshest at its arrival; the old firmware's lines on the same port are dated when
    read. Then the controller restarts its clock: counted, re-anchored. (A reader that
    does not date on the clock, the default, dates them all at 102.)"""
    port = PtyPort(tmp_path / "shelf-1")
    port.plug()
    now = [102.0]
    reader = ShelfReader("shelf-1", str(tmp_path / "shelf-1"), 115200, now=lambda: now[0],
                         timeout_s=0.05, clock=ClockSettings())
    try:
        reader.open()
        stream = b"".join(encode_line("C1", 1 + i % 3, 100.0 + i, i, 7_000_000 + 50 * i)
                          for i in range(40)) + encode_beam("C1", 2, 3, True, 40, 7_002_000)
        port.write(stream + encode_line("C9", 1, 5.0, 1))  # old firmware: no clock
        readings = _collect(reader, 42)
        dated = {(r.controller, r.seq): r.t for r in readings}
        assert [dated[("C1", i)] for i in range(41)] == pytest.approx(
            [100.0 + 0.05 * i for i in range(41)])
        assert dated[("C9", 1)] == 102.0
        now[0] = 103.0
        port.write(encode_line("C1", 1, 1.0, 41, 7_002_900) + encode_line("C1", 1, 1.0, 42, 10))
        later = _collect(reader, 2)
        assert [r.t for r in later] == pytest.approx([102.9, 103.0], abs=1e-3)  # drift_ppm
        assert reader.counters() == {"bad_lines": 0, "beam_edges": 1, "clock_dated": 43,
                                     "clock_anchors": 2, "clock_resets": 1}
    finally:
        reader.close()
        port.unplug()


def test_by_default_the_reader_dates_lines_with_the_clock_when_it_read_them() -> None:
    reader = ShelfReader("s", "loop://", 115200, now=lambda: 7.0)
    lines = [encode_line("C1", 1, 1.0, i, 1000 + 100 * i)[:-2] for i in range(5)] + [
        encode_beam("C1", 1, 2, True, 5, 1500)[:-2]]
    assert [r.t for r in reader.handle_lines(lines, 7.0)] == [7.0] * 6
    one = reader.handle(lines[0])
    assert one is not None and one.t == 7.0
    assert not any(k.startswith("clock_") for k in reader.counters())


def test_unplugged_controller_raises_and_cannot_reopen(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "shelf-1")
    port.plug()
    reader = ShelfReader("shelf-1", str(tmp_path / "shelf-1"), 115200, now=lambda: 0.0,
                         timeout_s=0.05)
    reader.open()
    port.unplug()
    with pytest.raises(serial.SerialException):
        wait_for(lambda: reader.read() and False, timeout=0.5)
    reader.close()
    with pytest.raises(serial.SerialException):
        reader.open()
    port.plug()  # back, behind the same name
    reader.open()
    port.write(encode_line("C1", 1, 1.0, 1))
    samples: list = []
    wait_for(lambda: samples.extend(reader.read()) or samples, what="a sample after replug")
    reader.close()
    port.unplug()



def _collect(reader: ShelfReader, n: int) -> list[WeightSample]:
    samples: list[WeightSample] = []
    wait_for(lambda: samples.extend(reader.read()) or len(samples) >= n, what=f"{n} samples")
    return samples


@pytest.mark.parametrize(("case", "stream", "skipped"), [
    ("noise in front on the same line",
     b"\x13\x37zz$W,C1,1,10" + encode_line("C1", 1, 101.0, 0)
     + b"garbage" + encode_line("C1", 2, 102.0, 1), {"skipped_garbled": 2,
                                                     "skipped_partial": 1}),
    ("junk after the checksum",
     encode_line("C1", 1, 101.0, 0)[:-2] + b"junk\x00\xff\r\n"
     + encode_line("C1", 2, 102.0, 1)[:-2] + b"??\r\n", {}),
    ("CR-only line endings",
     encode_line("C1", 1, 101.0, 0)[:-1] + encode_line("C1", 2, 102.0, 1)[:-1], {}),
    ("no line ending between frames",
     encode_line("C1", 1, 101.0, 0)[:-2] + encode_line("C1", 2, 102.0, 1)[:-2] + b"\n", {}),
])
def test_the_reader_resynchronises_on_the_start_of_a_frame(
        tmp_path: Path, case: str, stream: bytes, skipped: dict[str, int]) -> None:
    port = PtyPort(tmp_path / "shelf-1")
    port.plug()
    reader = ShelfReader("shelf-1", str(tmp_path / "shelf-1"), 115200, now=lambda: 1.0,
                         timeout_s=0.05)
    try:
        reader.open()
        # a third line flushes a frame whose end is only seen when the next one starts
        port.write(stream + encode_line("C1", 3, 103.0, 2))
        samples = _collect(reader, 3)
        assert [(s.plate, s.grams, s.seq) for s in samples] == [
            (1, 101.0, 0), (2, 102.0, 1), (3, 103.0, 2)], case
        counters = reader.counters()
        assert {k: v for k, v in counters.items() if k != "bad_lines"} == skipped, case
    finally:
        reader.close()
        port.unplug()


def test_an_overlong_line_is_dropped_and_a_start_byte_ends_the_noise_before_it() -> None:
    from drivers.shelf_serial import SerialLineReader
    lines = SerialLineReader("loop://", frame_start=b"$")
    good = encode_line("C1", 1, 5.0, 7)
    assert lines.feed(b"x" * 200) == [] and lines.overlong == 1
    assert lines.feed(b"yy" + good[:10]) == [b"yy"]
    assert lines.feed(good[10:]) == [good[:-2]]
    assert parse_line(good[:-2]).seq == 7


def test_bad_lines_are_counted_per_reason() -> None:
    with pytest.raises(ProtocolError) as err:
        parse_line(b"$W,C1,1,100.0,5*00")
    assert err.value.reason is Skip.BAD_CHECKSUM
    with pytest.raises(ProtocolError) as err:
        parse_line(b"$W,C1,1,10")
    assert err.value.reason is Skip.PARTIAL
    body = b"W,C1,0,1.0,5"
    with pytest.raises(ProtocolError) as err:
        parse_line(b"$" + body + b"*" + f"{checksum(body):02X}".encode())
    assert err.value.reason is Skip.OUT_OF_RANGE


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.binary(max_size=200))
def test_the_omo_parser_returns_a_report_or_a_counted_reason(data: bytes) -> None:
    try:
        r = parse_line(data)
    except ProtocolError as exc:
        assert isinstance(exc.reason, Skip)
    else:
        assert 1 <= r.plate <= 99 and 0 <= r.seq <= 65535


class _LineServer:
    """A real TCP server on loopback that writes what it is given to its one client."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.conn, _ = self.sock.accept()

    def send(self, data: bytes) -> None:
        self._thread.join(timeout=5)
        assert self.conn is not None
        self.conn.sendall(data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.sock.close()


def test_several_controllers_at_once_over_a_pty_and_socket_url(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "usb-shelf")
    port.plug()
    server = _LineServer()
    readers = [ShelfReader("shelf-a", str(tmp_path / "usb-shelf"), 115200, now=lambda: 0.0,
                           timeout_s=0.05),
               ShelfReader("shelf-b", f"socket://127.0.0.1:{server.port}", 115200,
                           now=lambda: 0.0, timeout_s=0.05)]
    try:
        for r in readers:
            r.open()
        port.write(encode_line("A", 1, 10.0, 1) + encode_line("A", 2, 20.0, 2))
        server.send(b"noise" + encode_line("B", 1, 30.0, 5)[:-1]
                    + encode_line("B", 1, 31.0, 6)[:-1])
        a, b = _collect(readers[0], 2), _collect(readers[1], 1)
        b += _collect(readers[1], 1) if len(b) < 2 else []
        assert [(s.shelf, s.controller, s.grams) for s in a] == [
            ("shelf-a", "A", 10.0), ("shelf-a", "A", 20.0)]
        # the last CR-ended frame waits for its successor or its LF
        assert [(s.shelf, s.controller, s.grams) for s in b][:1] == [("shelf-b", "B", 30.0)]
        server.send(b"\n")
        b += _collect(readers[1], 1) if len(b) < 2 else []
        assert [s.grams for s in b] == [30.0, 31.0]
        server.close()  # the controller's network adapter goes away
        with pytest.raises(serial.SerialException):
            wait_for(lambda: readers[1].read() and False, timeout=2)
    finally:
        for r in readers:
            r.close()
        server.close()
        port.unplug()


class _Writer:
    """The connection PortManager writes to: a socket's sendall."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn

    def write(self, data: bytes) -> None:
        self.conn.sendall(data)


class _PtySerial(serial.Serial):
    """A pty opened by pyserial, with the modem lines a pty lacks (TIOCMGET fails) held as a
    null-modem cable would: clear to send, data set ready; RTS and DTR changes go nowhere."""

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True


class _Rfc2217Server:
    """A real RFC 2217 server on loopback (pyserial's PortManager, as its rfc2217_server
    example), in front of a pty it opens with pyserial: a serial-to-Ethernet adapter."""

    def __init__(self, device: str) -> None:
        from serial.rfc2217 import PortManager
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.serial = _PtySerial(device, baudrate=115200, timeout=0.05)
        self.stop = threading.Event()
        self.conn: socket.socket | None = None
        self.manager_type = PortManager
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        self.conn = conn
        conn.settimeout(0.05)
        manager = self.manager_type(self.serial, _Writer(conn))
        while not self.stop.is_set():
            try:
                data = conn.recv(1024)
                if not data:
                    break
                for byte in manager.filter(data):
                    self.serial.write(byte)
            except TimeoutError:
                pass
            except OSError:
                break
            waiting = self.serial.in_waiting
            if waiting:
                conn.sendall(b"".join(manager.escape(self.serial.read(waiting))))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        if self.conn is not None:
            self.conn.close()
        self.sock.close()
        self.serial.close()


def test_an_rfc2217_url_reads_through_a_real_rfc2217_server(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "adapter")
    port.plug()
    server = _Rfc2217Server(str(tmp_path / "adapter"))
    reader = ShelfReader("shelf-1", f"rfc2217://127.0.0.1:{server.port}", 115200,
                         now=lambda: 0.0, timeout_s=0.05)
    try:
        reader.open()
        port.write(encode_line("R", 1, 11.0, 1) + b"\xff\xfe" + encode_line("R", 2, 12.0, 2))
        assert [(s.controller, s.plate, s.grams) for s in _collect(reader, 2)] == [
            ("R", 1, 11.0), ("R", 2, 12.0)]
    finally:
        reader.close()
        server.close()
        port.unplug()


def test_an_rfc2217_url_with_nothing_listening_is_refused_not_crashed() -> None:
    reader = ShelfReader("shelf-1", "rfc2217://127.0.0.1:1", 115200, now=lambda: 0.0,
                         timeout_s=0.05)
    with pytest.raises(serial.SerialException):
        reader.open()


# ---------------------------------------------------------------- fast path against careful
CONTROLLER_CHARS = "abcXYZ019_-"


def _frame(controller: str, plate: str, grams: str, seq: str, lower: bool,
           ms: str | None = None) -> bytes:
    body = f"W,{controller},{plate},{grams},{seq}{'' if ms is None else ',' + ms}".encode()
    cs = f"{checksum(body):02x}" if lower else f"{checksum(body):02X}"
    return b"$" + body + b"*" + cs.encode()


def _careful(line: bytes) -> tuple[str, int, float, int, int] | None:
    from drivers.shelf_serial import _fields
    try:
        return _fields(line)
    except ProtocolError:
        return None


def _agree(line: bytes) -> None:
    from drivers.shelf_serial import fast_samples
    samples, stamps, _ = fast_samples([line], "s", 1.0)
    careful = _careful(line)
    if samples:  # the fast path is never wrong; when unsure it says None
        fast = samples[0]
        assert careful == (fast.controller, fast.plate, fast.grams, fast.seq, stamps[0]), line
        assert (fast.shelf, fast.t, fast.stable) == ("s", 1.0, None)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(controller=st.text(CONTROLLER_CHARS, min_size=1, max_size=17),
       plate=st.integers(0, 120), grams=st.decimals(-10_000_000, 10_000_000, places=1),
       seq=st.integers(0, 70_000), zeros=st.tuples(*[st.sampled_from([0, 0, 1, 2])] * 4),
       lower=st.booleans(),
       ms=st.one_of(st.none(), st.integers(0, 2**32 + 10), st.integers(0, 9999)))
def test_the_fast_path_takes_every_frame_controllers_write_and_agrees_with_the_careful_one(
        controller: str, plate: int, grams: object, seq: int,
        zeros: tuple[int, int, int, int], lower: bool, ms: int | None) -> None:
    """Fields at and beyond their limits, sometimes with leading zeros (which the protocol's
    field widths allow, and the careful path takes), with the controller's clock or
    without it."""
    from drivers.shelf_serial import fast_sample
    sign, number = ("-", str(grams)[1:]) if str(grams).startswith("-") else ("", str(grams))
    line = _frame(controller, "0" * zeros[0] + str(plate), sign + "0" * zeros[1] + number,
                  "0" * zeros[2] + str(seq), lower,
                  None if ms is None else "0" * zeros[3] + str(ms))
    _agree(line)
    if _careful(line) is not None:
        assert fast_sample(line, "s", 1.0) is not None, line  # valid frames go fast


@settings(max_examples=600, derandomize=True, deadline=None)
@given(line=st.one_of(
    st.binary(max_size=60),
    st.tuples(st.sampled_from([encode_line("C1", 2, 9688.4, 117), encode_line("c_-9", 99, -0.4, 0),
                               encode_line("C1", 7, 1234567.8, 65535),
                               encode_line("C1", 2, 9688.4, 117, 5234871),
                               encode_line("c_-9", 99, -0.4, 0, 4294967295),
                               encode_line("C1", 7, 1234567.8, 65535, 1000)]),
              st.integers(0, 30), st.binary(min_size=1, max_size=3), st.booleans()).map(
        # a byte or three of damage somewhere in a good frame, or in place of it
        lambda x: (x[0][:-2][:x[1]] + x[2] + x[0][:-2][x[1] + (1 if x[3] else 0):])),
    st.text("$W,C1*0123456789.-+_ eEinfa", max_size=30).map(str.encode),
    st.text("0123456789,", max_size=16).map(  # anything after the seq
        lambda tail: _frame("C1", "2", "9688.4", tail, False))))
def test_the_fast_path_never_gives_a_sample_the_careful_path_would_not(line: bytes) -> None:
    _agree(line)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.lists(st.one_of(
    st.builds(lambda p, g, s, ms: encode_line("C1", p, g, s, ms), st.integers(1, 99),
              st.floats(-9999, 99999, allow_nan=False), st.integers(0, 65535),
              st.one_of(st.none(), st.integers(0, 2**32 - 1))),
    st.builds(lambda p, s, b, ms: encode_beam("C1", p, 3, b, s, ms), st.integers(1, 99),
              st.integers(0, 65535), st.booleans(),
              st.one_of(st.none(), st.integers(0, 2**32 - 1))),
    st.binary(max_size=12)), max_size=25))
def test_the_readers_batches_give_what_line_by_line_careful_parsing_gives(
        pieces: list[bytes]) -> None:
    """`handle_lines` (fast path first) and `handle` (careful only), on the same lines split
    by the same reader: the same samples, beam edges and counters (the lines with the
    controller's clock dated on it: a read at once, or a line at a time, so their times
    may differ, never after the read)."""
    from dataclasses import replace
    data = b"".join(pieces) + b"\r\n"
    batch = ShelfReader("s", "loop://", 115200, now=lambda: 0.0, clock=ClockSettings())
    careful = ShelfReader("s", "loop://", 115200, now=lambda: 0.0, clock=ClockSettings())
    lines = batch.lines.feed(data)
    assert careful.lines.feed(data) == lines
    got = batch.handle_lines(lines, 2.0)
    want = [r for r in (careful.handle(line, 2.0) for line in lines) if r is not None]
    assert [replace(r, t=0.0) for r in got] == [replace(r, t=0.0) for r in want]
    assert all(r.t <= 2.0 for r in got + want)

    def lines_counted(reader: ShelfReader) -> dict[str, int]:
        return {k: n for k, n in reader.counters().items() if not k.startswith("clock_")}
    assert lines_counted(batch) == lines_counted(careful) and batch.good == careful.good
    assert batch.clock_counters().dated == careful.clock_counters().dated


def test_the_fast_path_takes_more_controllers_plates_and_weights_than_it_remembers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path remembers the controller ids and plates (`_HEADS`) and the grams texts
    (`_GRAMS`) it has checked, up to a bound; beyond it (here 5 of each) lines are checked
    afresh, with the same samples as the careful path, bad checksums still refused."""
    from drivers import shelf_serial
    monkeypatch.setattr(shelf_serial, "_HEADS", {})
    monkeypatch.setattr(shelf_serial, "_GRAMS", {})
    monkeypatch.setattr(shelf_serial, "_MAX_HEADS", 5)
    monkeypatch.setattr(shelf_serial, "_MAX_GRAMS", 5)
    lines = [encode_line(f"C{c}", p, 1000.0 + (c * p + seq) % 17 / 10, seq)[:-2]
             for seq in range(4) for c in range(1, 5) for p in range(1, 4)]
    bad = [line[:-1] + (b"0" if line[-1:] != b"0" else b"1") for line in lines[::5]]
    fast = ShelfReader("s", "loop://", 115200, now=lambda: 0.0)
    careful = ShelfReader("s", "loop://", 115200, now=lambda: 0.0)
    for batch in (lines, bad, lines):
        got = fast.handle_lines(batch, 1.0)
        want = [r for r in (careful.handle(line, 1.0) for line in batch) if r is not None]
        assert got == want
        assert fast.counters() == careful.counters()
    assert len(shelf_serial._HEADS) == 5 and len(shelf_serial._GRAMS) <= 5
    assert fast.skipped[Skip.BAD_CHECKSUM] == len(bad) and fast.good == 2 * len(lines)
