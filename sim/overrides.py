"""`omo-edge sim --set section.key=value`: override world parameters, validated like config.

The sections are the parameter dataclasses of `sim.world`: `world` (`Params`' own fields),
`ble`, `shelf`, `camera` and `door`. Each field declares its default, its bounds and its help text
(`sim.world.param`); this module parses values against that declaration, names an unknown
section or key with the closest one, says what a wrong value should be, and renders the
table in docs/sim.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from sim.world import BleParams, CameraParams, DoorParams, Params, ShelfParams

Value = float | int | tuple[float, ...] | tuple[int, ...]

SECTIONS: dict[str, type[Any]] = {
    "world": Params, "ble": BleParams, "shelf": ShelfParams, "camera": CameraParams,
    "door": DoorParams}
NESTED = ("ble", "shelf", "camera", "door")  # Params fields that hold a section of their own


class ParamError(ValueError):
    """One or more bad `--set` assignments; `problems` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclasses.dataclass(frozen=True)
class Spec:
    key: str  # section.key
    kind: type[float] | type[int]  # of the number, or of each item of a tuple
    items: int  # 0 for a number, else the tuple's length
    bounds: tuple[tuple[float, float], ...]  # one per item (one for a number)
    ordered: bool
    default: Value
    help: str

    def allowed(self) -> str:
        one, many = ("an integer", "integers") if self.kind is int else ("a number", "numbers")
        if not self.items:
            lo, hi = self.bounds[0]
            return f"{one} from {_num(lo)} to {_num(hi)}"
        if len(set(self.bounds)) == 1:
            lo, hi = self.bounds[0]
            each = f"{many} from {_num(lo)} to {_num(hi)}"
        else:
            each = f"{many} in " + ", ".join(f"{_num(lo)}..{_num(hi)}" for lo, hi in self.bounds)
        order = ", the second not below the first" if self.ordered else ""
        return f"{self.items} comma-separated {each}{order}"


def _num(x: float) -> str:
    return f"{x:g}"


def _fields(section: str) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(SECTIONS[section])
            if not (section == "world" and f.name in NESTED)}


def specs() -> dict[str, Spec]:
    """Every parameter, `section.key` -> its declaration, in declaration order."""
    out: dict[str, Spec] = {}
    for section, cls in SECTIONS.items():
        defaults = cls()
        for name, f in _fields(section).items():
            default = getattr(defaults, name)
            bounds = f.metadata["bounds"]
            if isinstance(default, tuple):
                items = len(default)
                kind: type[float] | type[int] = int if all(
                    isinstance(v, int) for v in default) else float
                per = tuple(bounds) if isinstance(bounds[0], tuple) else (bounds,) * items
            else:
                items = 0
                kind = int if isinstance(default, int) else float
                per = (bounds,)
            out[f"{section}.{name}"] = Spec(
                f"{section}.{name}", kind, items, tuple((float(lo), float(hi)) for lo, hi in per),
                bool(f.metadata["ordered"]), default, str(f.metadata["help"]))
    return out


def _closest(word: str, options: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return found[0] if found else None


def _number(text: str, kind: type[float] | type[int]) -> float | int | None:
    text = text.strip()
    try:
        if kind is int:
            return int(text)
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_value(spec: Spec, text: str) -> Value:
    """The typed value of `text` for `spec`; ValueError says what is allowed."""
    bad = ValueError(f"{spec.key} = {text!r}: expected {spec.allowed()}")
    parts = text.split(",") if spec.items else [text]
    if len(parts) != max(1, spec.items):
        raise bad
    values = [_number(p, spec.kind) for p in parts]
    numbers = [v for v in values if v is not None]
    if len(numbers) != len(values):
        raise bad
    for v, (lo, hi) in zip(numbers, spec.bounds, strict=True):
        if not lo <= v <= hi:
            raise bad
    if spec.ordered and numbers[1] < numbers[0]:
        raise bad
    if not spec.items:
        return numbers[0]
    if spec.kind is int:
        return tuple(int(v) for v in numbers)
    return tuple(float(v) for v in numbers)


def parse_sets(assignments: Iterable[str]) -> dict[str, Value]:
    """`section.key=value` strings -> {section.key: value}; a later one for the same key
    wins. Raises ParamError naming every bad assignment."""
    known = specs()
    problems: list[str] = []
    out: dict[str, Value] = {}
    for text in assignments:
        key, eq, value = text.partition("=")
        key = key.strip()
        section, dot, name = key.partition(".")
        if not eq or not dot or not section or not name:
            problems.append(f"{text!r}: expected section.key=value, e.g. ble.miss=0.3")
            continue
        if section not in SECTIONS:
            near = _closest(section, SECTIONS)
            hint = f" (did you mean {near!r}?)" if near else ""
            problems.append(f"{key}: unknown section {section!r}{hint}; sections: "
                            + ", ".join(SECTIONS))
            continue
        if key not in known:
            names = list(_fields(section))
            near = _closest(name, names)
            hint = f" (did you mean '{section}.{near}'?)" if near else ""
            problems.append(f"{key}: unknown key{hint}; {section} has: " + ", ".join(names))
            continue
        try:
            out[key] = parse_value(known[key], value)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ParamError(problems)
    return out


def apply(params: Params, values: Mapping[str, Value]) -> Params:
    """`params` with the overrides (from parse_sets) applied."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Value]] = {}
    for key, value in values.items():
        section, _, name = key.partition(".")
        if section == "world":
            top[name] = value
        else:
            nested.setdefault(section, {})[name] = value
    for section, changes in nested.items():
        top[section] = dataclasses.replace(getattr(params, section), **changes)
    return dataclasses.replace(params, **top)


def _show(value: Value) -> str:
    if isinstance(value, tuple):
        return ",".join(_num(v) for v in value)
    return _num(value)


def parameter_table() -> str:
    """The markdown table of every parameter, as docs/sim.md has it."""
    rows = ["| parameter | default | allowed | what |", "|---|---|---|---|"]
    for spec in specs().values():
        rows.append(f"| `{spec.key}` | `{_show(spec.default)}` | {spec.allowed()} | "
                    f"{spec.help} |")
    return "\n".join(rows)
