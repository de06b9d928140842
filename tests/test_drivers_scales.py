"""Commercial scales (A&D, CAS, MT-SICS): lines as those scales write them, fuzzed parsers,
and the reader through a real pty opened by pyserial."""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.readings import WeightSample
from drivers.scales import MT_POLL, PARSERS, ScaleReader, parse_and, parse_cas, parse_mt_sics
from drivers.weighing import MAX_GRAMS, Fault, Protocol, Skip, Unit, Weight
from edge.config import ConfigError, parse
from sim.shelf import PtyPort
from tests.sim_fixtures import wait_for

# A&D standard format (FX-i / GF / EK manuals, "data format examples"): 15 characters then
# CR LF; sign and 8 characters of data with leading zeros; 3 characters of unit.
AND_LINES = [
    (b"ST,+00123.45  g", Weight(123.45, Unit.G, True)),
    (b"US,-00018.39  g", Weight(-18.39, Unit.G, False)),
    (b"ST,+001.2345 kg", Weight(1234.5, Unit.KG, True)),
    (b"ST,+0002.500 lb", Weight(1133.980925, Unit.LB, True)),
    (b"ST,+00000.00  g", Weight(0.0, Unit.G, True)),
    (b"OL,+9999999E+19", Fault.OVERLOAD),
    (b"OL,-9999999E+19", Fault.UNDERLOAD),
    (b"QT,+00000012 PC", Skip.UNKNOWN_UNIT),
    (b"ST,+00012.50  %", Skip.UNKNOWN_UNIT),
    (b"ST,+00012.50 mo", Skip.UNKNOWN_UNIT),
    (b"ST,+0012", Skip.PARTIAL),
    (b"ST,+99999999 kg", Skip.OUT_OF_RANGE),
    (b"ST,+0.0.1.2  g", Skip.GARBLED),
    (b"ST,+  123.45  g", Weight(123.45, Unit.G, True)),  # spaces for leading zeros
    (b"ST,+001 23.4  g", Skip.GARBLED),
    (b"\x00\xfe\x13", Skip.GARBLED),
    (b"\xffST,+00123.45  g", Weight(123.45, Unit.G, True)),  # noise in front
    # GX-A / GF-A communication manual, 7-2 "Weighing data format": "ST,+00123.45  g"
    (b"ST,+01234.56  g", Weight(1234.56, Unit.G, True)),
    # EK-L manual, 9-2 "Data format": percentage "ST,+00123.4  %" skipped; out of range
    # written with nines, not "E+19"
    (b"ST,+000123.4  %", Skip.UNKNOWN_UNIT),
    (b"OL,+999999.9  g", Fault.OVERLOAD),
    (b"OL,-99999999 PC", Fault.UNDERLOAD),
    # GC series manual, 16.2 "A&D standard format": kilograms, and the comparator's result as
    # a second header
    (b"ST,+0001.234 kg", Weight(1234.0, Unit.KG, True)),
    (b"ST,OK,+0001.234 kg", Weight(1234.0, Unit.KG, True)),
    (b"US,HI,-0001.234 kg", Weight(-1234.0, Unit.KG, False)),
    (b"QT,OK,+00001234 PC", Skip.UNKNOWN_UNIT),
    # ounces and pounds, 3-character unit right-aligned (EK-L unit list: " oz", " lb")
    (b"ST,+0012.345 oz", Weight(349.974863, Unit.OZ, True)),
    (b"US,-0001.500 lb", Weight(-680.388555, Unit.LB, False)),
]

# CAS continuous output (PB / ED / SW): "ST,GS,+  1.234kg": stability, gross/net, sign and
# 7 characters of data with spaces for leading zeros, 2 characters of unit.
CAS_LINES = [
    (b"ST,GS,+  1.234kg", Weight(1234.0, Unit.KG, True, False)),
    (b"US,NT,-  0.120kg", Weight(-120.0, Unit.KG, False, True)),
    (b"ST,NT,+  123.4 g", Weight(123.4, Unit.G, True, True)),
    (b"ST,GS,+  2.500lb", Weight(1133.980925, Unit.LB, True, False)),
    (b"OL,GS,+  0.000kg", Fault.OVERLOAD),
    (b"OL,NT,-  0.000kg", Fault.UNDERLOAD),
    (b"ST,GS,+    12pc", Skip.UNKNOWN_UNIT),
    (b"ST,GS,+  1.2", Skip.PARTIAL),
    (b"ST,GS", Skip.GARBLED),
    (b"ST,GS,+9999999kg", Skip.OUT_OF_RANGE),
    # "CAS 22 bytes" (CI-600D manual 10-1, PDI manual 8-2-1, NT-200 manual 14): header, gross
    # or net, device id (ASCII "1" = 0x31), lamp status byte (bit 7 set), comma, 8 bytes of
    # data ("13.5 kg" is "000013.5"), a blank, "kg"
    (b"ST,GS,1\xc4,000013.5 kg", Weight(13500.0, Unit.KG, True, False)),
    (b"US,NT,1\x86,-00002.5 kg", Weight(-2500.0, Unit.KG, False, True)),
    (b"OL,GS,1\x84,999999.9 kg", Fault.OVERLOAD),
    (b"ST,GS,1\xc4,000013.5  t", Skip.UNKNOWN_UNIT),  # tonnes: beyond any shelf
    # "18 bytes for AND" of the same indicators: header, gross or net, 8 bytes of data, unit
    (b"ST,GS,+00013.5kg", Weight(13500.0, Unit.KG, True, False)),
    (b"ST,NT,0000.250kg", Weight(250.0, Unit.KG, True, True)),
    # CAS-style indicators with a space for "+" and a comma before the unit (e.g. Tiger TI-02-P
    # manual 7.1: sign, 7 characters of weight, comma, unit)
    (b"US,NT,   1.234,kg", Weight(1234.0, Unit.KG, False, True)),
    (b"ST,GS,-  0.500,lb", Weight(-226.796185, Unit.LB, True, False)),
]

# MT-SICS (Mettler Toledo reference manual): "S S" + weight right-aligned in 10 characters
# + unit; "S D" dynamic; errors "S I", "S +", "S -", "ES", "ET", "EL".
MT_LINES = [
    (b"S S     123.45 g", Weight(123.45, Unit.G, True)),
    (b"S D     -12.30 g", Weight(-12.3, Unit.G, False)),
    (b"S S     0.5000 kg", Weight(500.0, Unit.KG, True)),
    (b"S S     1.2500 lb", Weight(566.990463, Unit.LB, True)),
    (b"S S         12 PCS", Skip.UNKNOWN_UNIT),
    (b"S I", Fault.NOT_EXECUTABLE),
    (b"S +", Fault.OVERLOAD),
    (b"S -", Fault.UNDERLOAD),
    (b"ES", Fault.SYNTAX),
    (b"ET", Fault.TRANSMISSION),
    (b"EL", Fault.LOGICAL),
    (b"S S     12", Skip.PARTIAL),
    (b"hello", Skip.GARBLED),
    (b"S S  9999999.9 kg", Skip.OUT_OF_RANGE),
    # AT / AL-IC operating instructions, MT-SICS: "S S 100.00 g" for a stable weight; the
    # reference manual's weight response: ID, status, the weight right-aligned in 10
    # characters (sign directly before the digits), a blank, the unit
    (b"S S     100.00 g", Weight(100.0, Unit.G, True)),
    (b"S S    -0.0012 kg", Weight(-1.2, Unit.KG, True)),
    (b"S D   12.34567 lb", Weight(5599.901715, Unit.LB, False)),
    (b"S S      12.34 oz", Weight(349.833115, Unit.OZ, True)),
    (b"S D     0.1234 ozt", Skip.UNKNOWN_UNIT),  # troy ounces: not a unit we convert
    (b"\x00S S     100.00 g", Weight(100.0, Unit.G, True)),  # noise from a plug-in
]


@pytest.mark.parametrize(("parser", "line", "expected"), [
    *((parse_and, line, e) for line, e in AND_LINES),
    *((parse_cas, line, e) for line, e in CAS_LINES),
    *((parse_mt_sics, line, e) for line, e in MT_LINES),
])
def test_each_format_as_the_scales_write_it(parser: object, line: bytes,
                                            expected: object) -> None:
    assert callable(parser)
    assert parser(line) == expected


ALPHABET = "STUSOLQTGSNTDIE,+-. 0123456789gkblPC%\r\n\x00\xff"


@pytest.mark.parametrize("protocol", [Protocol.AND, Protocol.CAS, Protocol.MT_SICS])
@settings(max_examples=400, derandomize=True, deadline=None)
@given(data=st.one_of(st.binary(max_size=80),
                      st.text(ALPHABET, max_size=40).map(lambda s: s.encode("latin-1"))))
def test_every_parser_returns_a_documented_result_or_a_counted_skip(
        protocol: Protocol, data: bytes) -> None:
    r = PARSERS[protocol](data, MAX_GRAMS)
    assert isinstance(r, Weight | Skip | Fault)
    if isinstance(r, Weight):
        assert abs(r.grams) <= MAX_GRAMS and r.unit in Unit


def _open(tmp_path: Path, protocol: Protocol, **kw: object) -> tuple[PtyPort, ScaleReader]:
    port = PtyPort(tmp_path / "scale")
    port.plug()
    reader = ScaleReader("scale-1", str(tmp_path / "scale"), 9600, protocol,
                         now=lambda: 5.0, timeout_s=0.05, **kw)  # type: ignore[arg-type]
    reader.open()
    assert isinstance(reader.lines._ser, serial.Serial)
    return port, reader


def _collect(reader: ScaleReader, n: int) -> list[WeightSample]:
    samples: list[WeightSample] = []
    wait_for(lambda: samples.extend(reader.read()) or len(samples) >= n, what=f"{n} samples")
    return samples


def test_an_and_scale_through_a_pty_counts_faults_skips_and_unit_changes(
        tmp_path: Path) -> None:
    port, reader = _open(tmp_path, Protocol.AND, plate=1, unit=Unit.G)
    try:
        port.write(b"ST,+00123.45  g\r\n" b"\x13US,+00120.00  g\r\n" b"OL,+9999999E+19\r\n"
                   b"ST,+000.5000 kg\r" b"QT,+00000012 PC\r\n" b"ST,+001\r\n"
                   b"ST,+00100.00  g\r\n")
        samples = _collect(reader, 4)
        assert [(s.shelf, s.controller, s.plate, s.grams, s.seq, s.stable, s.t)
                for s in samples] == [
            ("scale-1", "scale-1", 1, 123.45, 0, True, 5.0),
            ("scale-1", "scale-1", 1, 120.0, 1, False, 5.0),
            ("scale-1", "scale-1", 1, 500.0, 2, True, 5.0),
            ("scale-1", "scale-1", 1, 100.0, 3, True, 5.0)]
        assert reader.counters() == {"bad_lines": 2, "skipped_unknown_unit": 1,
                                     "skipped_partial": 1, "fault_overload": 1,
                                     "unit_changes": 1}
    finally:
        reader.close()
        port.unplug()


def test_a_cas_scale_through_a_pty(tmp_path: Path) -> None:
    port, reader = _open(tmp_path, Protocol.CAS, unit=Unit.KG)
    try:
        port.write(b"ST,GS,+  1.234kg\r\nUS,NT,+  0.100kg\r\nOL,GS,+  0.000kg\r\n"
                   b"ST,GS,+  1.200kg\r\n")
        samples = _collect(reader, 3)
        assert [(s.grams, s.stable) for s in samples] == [
            (1234.0, True), (100.0, False), (1200.0, True)]
        assert reader.counters() == {"bad_lines": 0, "fault_overload": 1}
    finally:
        reader.close()
        port.unplug()


def test_a_7_bit_even_parity_cas_indicator_through_a_pty(tmp_path: Path) -> None:
    # a CAS indicator's "AND 18 bytes" output is sent with 7 data bits and even parity:
    # pyserial opens the port that way (a Linux pty keeps 8 bits without parity whatever it
    # is told, so the bits on the wire are a real UART's business), and its lines read as
    # usual
    port, reader = _open(tmp_path, Protocol.CAS, unit=Unit.KG, bytesize=7, parity="even")
    try:
        ser = reader.lines._ser
        assert ser is not None and (ser.bytesize, ser.parity) == (7, serial.PARITY_EVEN)
        port.write(b"ST,NT,+00013.5kg\r\nUS,GS,+00012.0kg\r\n")
        assert [(s.grams, s.stable) for s in _collect(reader, 2)] == [
            (13500.0, True), (12000.0, False)]
    finally:
        reader.close()
        port.unplug()
    with pytest.raises(ValueError, match="7 or 8 bits"):
        ScaleReader("s", "loop://", 9600, Protocol.CAS, now=lambda: 0.0, bytesize=6)


def test_the_serial_format_is_configured_per_shelf() -> None:
    cfg = _config("cas", 1)
    shelf = parse(cfg, env={}).shelves[0]
    assert (shelf.bytesize, shelf.parity) == (8, "none")  # 8N1 unless the scale says other
    cfg["shelves"][0] |= {"bytesize": 7, "parity": "even"}  # type: ignore[index]
    shelf = parse(cfg, env={}).shelves[0]
    assert (shelf.bytesize, shelf.parity) == (7, "even")
    cfg["shelves"][0] |= {"bytesize": 6, "parity": "mark"}  # type: ignore[index]
    with pytest.raises(ConfigError) as err:
        parse(cfg, env={})
    assert any("shelves[0].bytesize" in p for p in err.value.problems), err.value.problems
    assert any("shelves[0].parity" in p for p in err.value.problems), err.value.problems


class _SicsScale:
    """Answers every SI on the pty's master side with the next reply, as an MT-SICS balance."""

    def __init__(self, port: PtyPort, replies: list[bytes]) -> None:
        self.port = port
        self.replies = list(replies)
        self.polls = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        pending = b""
        while not self.stop.is_set() and self.port.master is not None:
            ready, _, _ = select.select([self.port.master], [], [], 0.05)
            if not ready:
                continue
            try:
                pending += os.read(self.port.master, 256)
            except OSError:
                continue
            while MT_POLL in pending:
                pending = pending[pending.index(MT_POLL) + len(MT_POLL):]
                self.polls += 1
                if self.replies:
                    self.port.write(self.replies.pop(0) + b"\r\n")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def test_an_mt_sics_scale_is_polled_with_si_and_replugged(tmp_path: Path) -> None:
    port, reader = _open(tmp_path, Protocol.MT_SICS, poll_hz=50.0)
    scale = _SicsScale(port, [b"S S     123.45 g", b"S D     110.00 g", b"S I", b"S +",
                              b"ES", b"S S     0.1000 kg"])
    try:
        samples = _collect(reader, 3)
        assert [(s.grams, s.stable) for s in samples] == [
            (123.45, True), (110.0, False), (100.0, True)]
        assert scale.polls >= 6 and reader.polls >= scale.polls
        c = reader.counters()
        assert (c["fault_not_executable"], c["fault_overload"], c["fault_syntax"]) == (1, 1, 1)
        scale.close()  # the balance stops answering: its polls go unanswered
        silent = reader.counters()["unanswered_polls"]
        wait_for(lambda: reader.read() or reader.counters()["unanswered_polls"] >= silent + 3,
                 what="unanswered polls")
        port.unplug()
        with pytest.raises(serial.SerialException):  # unplugged: raises, the source reconnects
            wait_for(lambda: reader.read() and False, timeout=1)
        reader.close()
        port.plug()
        reader.open()
        scale = _SicsScale(port, [b"S S     99.00 g"])
        assert [s.grams for s in _collect(reader, 1)] == [99.0]
    finally:
        scale.close()
        reader.close()
        port.unplug()


def test_omo_is_not_a_scale_protocol() -> None:
    with pytest.raises(ValueError):
        ScaleReader("s", "loop://", 9600, Protocol.OMO, now=lambda: 0.0)


def _config(protocol: str, plates: int) -> dict[str, object]:
    return {"store": {"id": "tokyo-01", "device": "edge-01", "timezone": "Asia/Tokyo"},
            "zones": [{"id": "snacks", "kind": "shelf"}],
            "shelves": [{"id": "scale-1", "port": "/dev/ttyUSB0", "zone": "snacks",
                         "protocol": protocol, "unit": "kg", "poll_hz": 10,
                         "plates": [{"id": f"p{i}", "sku": "4901234567890",
                                     "unit_grams": 120} for i in range(plates)]}]}


def test_a_commercial_scale_shelf_has_exactly_one_plate() -> None:
    shelf = parse(_config("mt-sics", 1), env={}).shelves[0]
    assert (shelf.protocol, shelf.unit, shelf.poll_hz) == ("mt-sics", "kg", 10)
    with pytest.raises(ConfigError) as err:
        parse(_config("and", 2), env={})
    assert any("shelves[0].protocol = 'and': a commercial scale weighs a single plate" in p
               for p in err.value.problems), err.value.problems
    with pytest.raises(ConfigError) as err:
        parse(_config("sartorius", 1), env={})
    assert any("shelves[0].protocol" in p for p in err.value.problems)
    assert len(parse(_config("omo", 3), env={}).shelves[0].plates) == 3


def test_the_shelf_bench_measures_each_protocol_and_takes_a_later_stage() -> None:
    from edge.bench_shelf import STAGES, run

    def detect(protocol: Protocol, data: bytes) -> tuple[float, int]:
        rate, samples = STAGES["parse"](protocol, data)
        return rate / 2, samples

    result = run(2000, 3, {**STAGES, "detect": detect}, repeat=2)
    assert result["stage"] == "detect" and result["bench"] == "shelf"
    assert set(result["protocols"]) == {p.value for p in Protocol}
    for row in result["protocols"].values():
        assert 1980 <= row["parse_samples"] <= 2000  # 0.2 % of the lines damaged
        assert row["ceiling_per_s"] > 0 and row["detect_per_s"] > 0
        assert row["parse_cpu_per_s"] > 0 and row["detect_cpu_per_s"] > 0
    assert result["ratio"] == round(result["samples_per_s"] / result["ceiling_per_s"], 3)
    omo = result["protocols"]["omo"]
    assert result["detect_over_parse"] == round(omo["detect_per_s"] / omo["parse_per_s"], 3)
    assert result["cpu_samples_per_s"] == omo["detect_cpu_per_s"] and result["repeat"] == 2
    assert "cores" in result["machine"]


def test_the_daemon_reads_a_scale_by_its_protocol_and_reconnects_after_an_unplug(
        tmp_path: Path) -> None:
    import asyncio

    from edge.daemon import Daemon
    from tests.core_fixtures import minimal_config
    from tests.waiting import await_until

    port = PtyPort(tmp_path / "scale")
    port.plug()
    config = minimal_config(
        tmp_path, zones=[{"id": "snacks", "kind": "shelf"}],
        shelves=[{"id": "scale-1", "port": str(tmp_path / "scale"), "zone": "snacks",
                  "protocol": "cas", "unit": "kg", "baudrate": 9600,
                  "plates": [{"id": "p1", "sku": "4901234567890", "unit_grams": 120}]}])
    daemon = Daemon(config, status_every_s=0.05)
    samples: list[WeightSample] = []
    daemon.services.readings.subscribe_callback(WeightSample, samples.append)
    sensor = "shelf:scale-1"

    def fed(line: bytes, n: int) -> bool:
        port.write(line)  # a continuous scale writes on and on
        return len(samples) >= n

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop, handle_signals=False))
        try:
            await await_until(lambda: fed(b"ST,GS,+  1.234kg\r\nOL,GS,+  0.000kg\r\n", 2),
                              what="samples from the scale")
            port.unplug()
            await await_until(lambda: not daemon.services.sensors.online(sensor),
                              what="the scale offline")
            port.plug()
            n = len(samples)
            await await_until(lambda: fed(b"US,NT,+  0.500kg\r\n", n + 1),
                              what="samples after the replug")
            counters = daemon.supervisor.states[sensor].counters
            assert counters["disconnects"] == 1 and counters["fault_overload"] >= 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)

    try:
        asyncio.run(go())
    finally:
        port.unplug()
    assert {(s.shelf, s.plate, s.grams, s.stable) for s in samples} == {
        ("scale-1", 1, 1234.0, True), ("scale-1", 1, 500.0, False)}


def test_the_fast_weight_builder_makes_the_same_weight() -> None:
    from drivers.weighing import weight
    w = weight(12.5, Unit.KG, True, False)
    assert w == Weight(12.5, Unit.KG, True, False) and hash(w) == hash(Weight(12.5, Unit.KG,
                                                                               True, False))
    assert repr(w) == repr(Weight(12.5, Unit.KG, True, False))
