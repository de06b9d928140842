"""The shelf serial protocol and reader: real ptys opened by pyserial."""

from __future__ import annotations

from pathlib import Path

import pytest
import serial

from drivers.shelf_serial import (
    ProtocolError,
    ShelfReader,
    checksum,
    encode_line,
    parse_line,
)
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

