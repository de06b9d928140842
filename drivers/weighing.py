"""What every weighing protocol parser returns: a weight, a counted skip, or a fault reply.

Parsers never raise on bad input: a line is a `Weight` (the documented result), a `Skip`
(a reason the line was dropped, counted by the reader), or a `Fault` (the scale itself
reported overload, underload or an error, counted apart so a fault detector can see it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Protocol(StrEnum):
    """The line protocol a shelf speaks (config `shelves[].protocol`)."""

    OMO = "omo"  # the project's own shelf controller (docs/shelf-protocol.md)
    AND = "and"  # A&D standard format (FX-i, GF, EK ...)
    CAS = "cas"  # CAS continuous output (PB, ED, SW ...)
    MT_SICS = "mt-sics"  # Mettler Toledo MT-SICS, polled with SI


class Skip(StrEnum):
    """Why a line was dropped (each counted as `skipped_<reason>`)."""

    GARBLED = "garbled"  # nothing the protocol would write
    PARTIAL = "partial"  # the start of a valid line, cut short
    BAD_CHECKSUM = "bad_checksum"
    OVERLONG = "overlong"  # no line ending within the longest line the protocol writes
    UNKNOWN_UNIT = "unknown_unit"  # pieces, percent, or letters that are no mass unit
    OUT_OF_RANGE = "out_of_range"  # a field outside its documented range


class Fault(StrEnum):
    """What a scale reported instead of a weight (each counted as `fault_<kind>`)."""

    OVERLOAD = "overload"
    UNDERLOAD = "underload"
    NOT_EXECUTABLE = "not_executable"  # MT-SICS "S I": busy (e.g. taring) or not possible
    SYNTAX = "syntax"  # MT-SICS "ES": the scale did not understand the command
    TRANSMISSION = "transmission"  # MT-SICS "ET": parity or framing error on the line
    LOGICAL = "logical"  # MT-SICS "EL": the command cannot be carried out


class Unit(StrEnum):
    """Mass units a scale may report in; anything else is `Skip.UNKNOWN_UNIT`."""

    MG = "mg"
    G = "g"
    KG = "kg"
    CT = "ct"
    OZ = "oz"
    LB = "lb"


GRAMS_PER_UNIT: dict[Unit, float] = {
    Unit.MG: 0.001, Unit.G: 1.0, Unit.KG: 1000.0, Unit.CT: 0.2,
    Unit.OZ: 28.349523125, Unit.LB: 453.59237}

MAX_GRAMS = 1_000_000.0
"""The largest load any supported shelf or scale weighs (1 t); beyond is `OUT_OF_RANGE`."""


@dataclass(frozen=True)
class Weight:
    """One weight line: the value in grams, the unit the scale wrote it in, its flags."""

    grams: float
    unit: Unit
    stable: bool | None = None  # None: the protocol does not say
    net: bool | None = None  # True: net (tared), False: gross, None: not said


ParseResult = Weight | Skip | Fault

_new = object.__new__


def weight(grams: float, unit: Unit, stable: bool | None = None,
           net: bool | None = None) -> Weight:
    """`Weight(...)`, built without the frozen dataclass's per-field `object.__setattr__`
    (the scale readers' hot path, as `drivers.readings.weight_sample`): the same object."""
    w: Weight = _new(Weight)
    d = w.__dict__
    d["grams"] = grams
    d["unit"] = unit
    d["stable"] = stable
    d["net"] = net
    return w


UNIT_BY_TEXT: dict[bytes, Unit] = {u.value.encode(): u for u in Unit} | {
    u.value.upper().encode(): u for u in Unit}


def unit_of(text: bytes) -> Unit | None:
    """The mass unit written as `text` (lower or upper case, spaces around ignored), or
    None."""
    unit = UNIT_BY_TEXT.get(text)
    if unit is None:
        unit = UNIT_BY_TEXT.get(text.strip().lower())
    return unit


def to_weight(value: float, unit_text: bytes, stable: bool | None, net: bool | None = None,
              max_grams: float = MAX_GRAMS) -> ParseResult:
    """The Weight for `value` written in `unit_text`; a Skip if the unit is no mass unit or
    the weight is beyond `max_grams` either way."""
    unit = unit_of(unit_text)
    if unit is None:
        return Skip.UNKNOWN_UNIT
    grams = value * GRAMS_PER_UNIT[unit]
    if not abs(grams) <= max_grams:  # also catches nan
        return Skip.OUT_OF_RANGE
    return weight(round(grams, 6), unit, stable, net)
