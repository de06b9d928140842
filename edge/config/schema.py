"""How a config key is declared: `key(...)` on a frozen dataclass field, and the layout that
the reader, the example and the docs walk.

A section is a frozen dataclass whose fields are declared with `key()`. The field's type says
what the TOML holds: `str`, `int`, `float`, `bool`, `Path`, `X | None` (optional), `tuple[str,
...]` (an array of strings), another section dataclass (a table), `Section | None` (an
optional table) or `tuple[Section, ...]` (an array of tables). Fields without `key()` metadata
are not config keys.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


REQUIRED: Any = _Marker("REQUIRED")
NO_EXAMPLE: Any = _Marker("NO_EXAMPLE")

Derive = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
"""A default computed from the table's other values (already read) and the raw table."""


@dataclass(frozen=True)
class Key:
    """One config key: everything validation, the example and the docs need to know."""

    help: str  # what it means (docs' "meaning" column, the example's comment)
    default: Any = REQUIRED  # a value, None (optional) or REQUIRED
    derive: Derive | None = None  # a default computed from the rest of the table
    default_doc: str | None = None  # how the docs describe a derived default
    allowed: str | None = None  # "expected ..." text; generated from the rules when None
    choices: tuple[Any, ...] = ()
    range: tuple[float | None, float | None] | None = None
    unit: str | None = None  # "seconds" -> "seconds from 5 to 3600"
    pattern: str | None = None  # re.fullmatch on a string value
    check: Callable[[Any], bool] | None = None
    accepts: tuple[type, ...] | None = None  # TOML types taken (default: from the field type)
    convert: Callable[[Any], Any] | None = None  # applied after validation
    toml: str | None = None  # TOML name when it differs ("store.id" for Config.store)
    secret: bool = False  # read from the environment variable named by `<name>_env`
    example: Any = NO_EXAMPLE  # value shown in the example config (rows, for arrays)
    commented: bool = False  # shown commented out in the example config

    def valid(self, value: Any) -> bool:
        if self.choices and value not in self.choices:
            return False
        if self.range is not None:
            lo, hi = self.range
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                return False
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return False
        return self.check is None or self.check(value)

    def allowed_text(self, kind: type) -> str:
        if self.allowed is not None:
            return self.allowed
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        name = KIND_NAMES.get(kind, kind.__name__)
        if self.range is not None:
            lo, hi = (number(v) if v is not None else None for v in self.range)
            unit = self.unit or name
            if hi is None:
                return f"{unit} of at least {lo}"
            return f"{unit} from {lo} to {hi}"
        return name


KIND_NAMES: dict[type, str] = {str: "a string", int: "an integer", float: "a number",
                               bool: "true or false", Path: "a path"}


def number(v: float) -> str:
    """1024.0 -> "1024", 0.5 -> "0.5": how numbers read in messages, docs and the example."""
    return str(int(v)) if float(v).is_integer() and not isinstance(v, bool) else repr(v)


def key(help: str, default: Any = REQUIRED, *, derive: Derive | None = None,
        default_doc: str | None = None, allowed: str | None = None,
        choices: tuple[Any, ...] = (), range: tuple[float | None, float | None] | None = None,
        unit: str | None = None, pattern: str | None = None,
        check: Callable[[Any], bool] | None = None, accepts: tuple[type, ...] | None = None,
        convert: Callable[[Any], Any] | None = None, toml: str | None = None,
        secret: bool = False, example: Any = NO_EXAMPLE, commented: bool = False) -> Any:
    """Declare a config key on a dataclass field (see `Key` for what each rule does)."""
    spec = Key(help=help, default=default, derive=derive, default_doc=default_doc,
               allowed=allowed, choices=choices, range=range, unit=unit, pattern=pattern,
               check=check, accepts=accepts, convert=convert, toml=toml, secret=secret,
               example=example, commented=commented)
    return field(metadata={"key": spec}, repr=not secret)


# ------------------------------------------------------------------ layout
class Kind(Enum):
    """What a declared field holds in the TOML."""

    VALUE = "value"  # a string, number, boolean or path
    LIST = "list"  # an array of values
    TABLE = "table"  # a [table]: a section dataclass
    TABLES = "tables"  # an array of tables [[...]]: a tuple of section dataclasses


@dataclass(frozen=True)
class Spec:
    """A declared field: its TOML name, its Key, and what its type says the TOML holds."""

    name: str  # the dataclass field
    toml: str  # the name in its table
    key: Key
    kind: Kind
    type: type  # the value type, the list's item type or the section dataclass
    optional: bool

    def known(self) -> tuple[str, ...]:
        """The names this field takes in its table (a secret's is refused but known)."""
        return (self.toml, f"{self.toml}_env") if self.key.secret else (self.toml,)


@dataclass(frozen=True)
class Group:
    """A table declared by dotted names: `key(toml="store.id")` puts `id` in `[store]`."""

    name: str
    table: Table


@dataclass(frozen=True)
class Table:
    """The keys of one TOML table in declaration order (a group where its first key is)."""

    entries: tuple[Spec | Group, ...]

    def known(self) -> set[str]:
        return {n for e in self.entries
                for n in (e.known() if isinstance(e, Spec) else (e.name,))}

    def specs(self) -> list[Spec]:
        return [e for e in self.entries if isinstance(e, Spec)]


def _kind(hint: Any) -> tuple[Kind, type, bool]:
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = True, args[0]
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return (Kind.TABLES if is_dataclass(item) else Kind.LIST), item, optional
    if is_dataclass(hint):
        return Kind.TABLE, typing.cast(type, hint), optional
    return Kind.VALUE, typing.cast(type, hint), optional


@cache
def layout(cls: type) -> Table:
    """The declared keys of a section dataclass, dotted names grouped into their tables."""
    hints = typing.get_type_hints(cls)
    entries: list[Spec | Group] = []
    grouped: dict[str, list[Spec | Group]] = {}
    for f in fields(cls):
        spec_key = f.metadata.get("key")
        if not isinstance(spec_key, Key):
            continue
        kind, typ, optional = _kind(hints[f.name])
        group, _, name = (spec_key.toml or f.name).rpartition(".")
        spec = Spec(f.name, name, spec_key, kind, typ, optional)
        if not group:
            entries.append(spec)
            continue
        if group not in grouped:
            grouped[group] = []
            entries.append(Group(group, Table(())))  # placeholder, filled below
        grouped[group].append(spec)
    return Table(tuple(Group(e.name, Table(tuple(grouped[e.name])))
                       if isinstance(e, Group) else e for e in entries))
