"""The recording format: gzip-compressed JSON lines.

    {"format": "omo-edge.recording", "version": 1, "store": "...", "device": "...",
     "started_at": 1767225600.0, "omo_edge": "0.1.0"}
    ["ble", t, receiver, rssi, address_hash, [[company_id, "hex"], ...],
     [["service uuid", "hex"], ...], ["advertised uuid", ...], tx_power or null]
    ["weight", t, shelf, controller, plate, grams, seq]
    ["door", t, counter, "in" | "out"]
    {"end": t, "readings": {"ble": n, ...}, "dropped": n}

The first line is the header, the last the footer; each line between is one reading, with
its time in epoch seconds of the daemon's clock. BLE addresses are the driver's keyed hashes,
never raw addresses, and frames are never recorded. A file cut short (a recorder killed, a
full disk) is read up to the cut and reported as truncated; a line that does not parse is
counted and skipped.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from drivers.readings import (
    BeamEdge,
    BleAdvert,
    Direction,
    DoorCrossing,
    Reading,
    WeightSample,
)

FORMAT = "omo-edge.recording"
VERSION = 1


class RecordingError(ValueError):
    """The file is not a recording this version can read (the message says why)."""


class BadLine(ValueError):
    """One line of a recording that does not parse."""


@dataclass(frozen=True)
class Header:
    store: str
    device: str
    started_at: float
    omo_edge: str = ""

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "version": VERSION, "store": self.store,
                           "device": self.device, "started_at": self.started_at,
                           "omo_edge": self.omo_edge}, separators=(",", ":"))


@dataclass
class Tally:
    """What a recording holds, or what a reader found in one."""

    readings: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    bad_lines: int = 0
    end: float | None = None
    truncated: bool = False

    def count(self, kind: str) -> None:
        self.readings[kind] = self.readings.get(kind, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.readings.values())


def encode(reading: Reading) -> str:
    """One reading as one line (without the newline). Raises TypeError for a frame."""
    r = reading
    if isinstance(r, BleAdvert):
        obj: list[Any] = ["ble", r.t, r.receiver, r.rssi, r.address_hash,
                          [[k, v.hex()] for k, v in r.manufacturer_data],
                          [[k, v.hex()] for k, v in r.service_data], list(r.service_uuids),
                          r.tx_power]
    elif isinstance(r, WeightSample):
        obj = ["weight", r.t, r.shelf, r.controller, r.plate, r.grams, r.seq]
    elif isinstance(r, DoorCrossing):
        obj = ["door", r.t, r.counter, str(r.direction)]
    elif isinstance(r, BeamEdge):
        obj = ["beam", r.t, r.shelf, r.controller, r.plate, r.lane, r.broken, r.seq]
    else:
        raise TypeError(f"{type(r).__name__} readings are not recorded")
    return json.dumps(obj, separators=(",", ":"))


def kind_name(reading: Reading) -> str:
    return {BleAdvert: "ble", WeightSample: "weight", DoorCrossing: "door",
            BeamEdge: "beam"}.get(
        type(reading), "frame")


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise BadLine("not a finite number")
    return float(v)


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadLine("not an integer")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise BadLine("not a string")
    return v


def decode(obj: Any) -> Reading:
    """The reading a parsed line holds; raises BadLine."""
    if not isinstance(obj, list) or not obj:
        raise BadLine("not a reading")
    try:
        match obj[0]:
            case "ble":
                _, t, rx, rssi, addr, mfr, svc, uuids, tx = obj
                return BleAdvert(
                    receiver=_str(rx), t=_num(t), rssi=_int(rssi), address_hash=_str(addr),
                    manufacturer_data=tuple((_int(k), bytes.fromhex(_str(v))) for k, v in mfr),
                    service_data=tuple((_str(k), bytes.fromhex(_str(v))) for k, v in svc),
                    service_uuids=tuple(_str(u) for u in uuids),
                    tx_power=None if tx is None else _int(tx))
            case "weight":
                _, t, shelf, controller, plate, grams, seq = obj
                return WeightSample(shelf=_str(shelf), controller=_str(controller),
                                    plate=_int(plate), grams=_num(grams), seq=_int(seq),
                                    t=_num(t))
            case "beam":
                _, t, shelf, controller, plate, lane, broken, seq = obj
                if not isinstance(broken, bool):
                    raise BadLine("not a boolean")
                return BeamEdge(shelf=_str(shelf), controller=_str(controller),
                                plate=_int(plate), lane=_int(lane), broken=broken,
                                seq=_int(seq), t=_num(t))
            case "door":
                _, t, counter, direction = obj
                return DoorCrossing(counter=_str(counter), t=_num(t),
                                    direction=Direction(_str(direction)))
    except (ValueError, TypeError) as exc:  # wrong arity, bad hex, unknown direction
        raise BadLine(str(exc) or type(exc).__name__) from None
    raise BadLine("unknown reading kind")


def parse_header(line: str) -> Header:
    try:
        obj = json.loads(line)
    except ValueError:
        raise RecordingError("not an omo-edge recording (no header line)") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise RecordingError("not an omo-edge recording (no header line)")
    if obj.get("version") != VERSION:
        raise RecordingError(f"recording format version {obj.get('version')!r}; this omo-edge "
                             f"reads version {VERSION}")
    try:
        return Header(store=_str(obj["store"]), device=_str(obj["device"]),
                      started_at=_num(obj["started_at"]), omo_edge=str(obj.get("omo_edge", "")))
    except (KeyError, BadLine) as exc:
        raise RecordingError(f"the recording's header is damaged ({exc})") from None


class RecordingReader:
    """Reads a recording: `header` at once, then `readings()`; `tally` fills as it goes.
    Raises RecordingError if the file is missing or is not a recording."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # the reader owns the file until close()
            self._fh: IO[str] = gzip.open(path, "rt", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise RecordingError(f"{path}: {exc.strerror or exc}") from None
        try:
            self.header = parse_header(self._fh.readline())
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            self._fh.close()
            raise RecordingError(f"{path}: not a gzip'd omo-edge recording ({exc})") from None
        except RecordingError as exc:
            self._fh.close()
            raise RecordingError(f"{path}: {exc}") from None
        self.tally = Tally()

    def readings(self) -> Iterator[Reading]:
        t = self.tally
        try:
            for line in self._fh:
                try:
                    obj = json.loads(line)
                except ValueError:
                    t.bad_lines += 1
                    continue
                if isinstance(obj, dict):
                    if "end" in obj:
                        t.end = _num(obj["end"]) if _valid_num(obj["end"]) else t.end
                        t.dropped = obj.get("dropped", 0) if isinstance(
                            obj.get("dropped"), int) else 0
                    continue
                try:
                    reading = decode(obj)
                except BadLine:
                    t.bad_lines += 1
                    continue
                t.count(kind_name(reading))
                yield reading
        except (OSError, EOFError, zlib.error, UnicodeDecodeError):
            t.truncated = True  # cut short: keep what was read
        if t.end is None:
            t.truncated = True

    def close(self) -> None:
        self._fh.close()


def _valid_num(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


class RecordingWriter:
    """Writes a recording: the header at once, then lines, then the footer on `close(end)`."""

    def __init__(self, path: Path, header: Header) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # the writer owns the file until close()
        self._fh: IO[str] = gzip.open(path, "wt", encoding="utf-8",  # noqa: SIM115
                                      compresslevel=6)
        self._fh.write(header.to_json() + "\n")
        self.tally = Tally()
        self.bytes_in = 0

    def write(self, reading: Reading) -> None:
        self.write_line(encode(reading), kind_name(reading))

    def write_line(self, line: str, kind: str) -> None:
        """A line already encoded by `encode` (the recording socket sends them so)."""
        self._fh.write(line + "\n")
        self.bytes_in += len(line) + 1
        self.tally.count(kind)

    def close(self, end: float) -> None:
        self.tally.end = end
        self._fh.write(json.dumps({"end": end, "readings": self.tally.readings,
                                   "dropped": self.tally.dropped},
                                  separators=(",", ":")) + "\n")
        self._fh.close()
