"""The generic reader: walks a section dataclass's declared keys over a parsed TOML table,
builds the frozen dataclass and collects every problem (key, bad value, what is allowed)
instead of stopping at the first."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge.config.schema import REQUIRED, Group, Kind, Spec, Table, layout

ENV_NAME = r"[A-Z_][A-Z0-9_]*"
ENV_ALLOWED = "an environment variable name such as OMO_EDGE_BROKER_PASSWORD"


def closest(word: str, options: set[str]) -> str | None:
    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return found[0] if found else None


class Reader:
    """Reads sections from nested tables and collects problems instead of raising."""

    def __init__(self, env: Mapping[str, str], require_secrets: bool = True) -> None:
        self.problems: list[str] = []
        self.env = env
        self.require_secrets = require_secrets

    # -------------------------------------------------------------- messages
    def bad(self, key: str, value: Any, allowed: str) -> None:
        shown = repr(value) if not isinstance(value, dict) else "a table"
        self.problems.append(f"{key} = {shown}: expected {allowed}")

    def unknown(self, table: Mapping[str, Any], known: set[str], prefix: str) -> None:
        for k in table:
            if k not in known:
                near = closest(k, known)
                hint = f" (did you mean {near!r}?)" if near else ""
                allowed = ", ".join(sorted(known))
                self.problems.append(f"{prefix}{k}: unknown key{hint}; allowed: {allowed}")

    # -------------------------------------------------------------- sections
    def section(self, cls: type, raw: Mapping[str, Any], prefix: str = "") -> Any:
        """Build `cls` from `raw`; a bad or missing value is None (and a problem)."""
        values: dict[str, Any] = {}
        self._table(layout(cls), raw, prefix, values)
        return cls(**values)

    def _table(self, table: Table, raw: Mapping[str, Any], prefix: str,
               values: dict[str, Any]) -> None:
        self.unknown(raw, table.known(), prefix)
        derived: list[Spec] = []
        for entry in table.entries:
            if isinstance(entry, Group):
                sub = self._sub(raw, entry.name, prefix + entry.name)
                self._table(entry.table, sub, f"{prefix}{entry.name}.", values)
            elif entry.key.derive is not None and entry.toml not in raw:
                derived.append(entry)
            else:
                values[entry.name] = self._field(entry, raw, prefix + entry.toml)
        for spec in derived:  # after the rest of the table: they are computed from it
            assert spec.key.derive is not None
            values[spec.name] = spec.key.derive(values, raw)

    def _sub(self, raw: Mapping[str, Any], name: str, key: str) -> dict[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            self.bad(key, value, "a table")
            return {}
        return value

    def _field(self, spec: Spec, raw: Mapping[str, Any], key: str) -> Any:
        if spec.key.secret:
            return self._secret(raw, spec.toml, key)
        if spec.kind is Kind.TABLE:
            if spec.optional and spec.toml not in raw:
                return None
            return self.section(spec.type, self._sub(raw, spec.toml, key), key + ".")
        if spec.kind is Kind.TABLES:
            return tuple(self.section(spec.type, t, f"{key}[{i}].")
                         for i, t in enumerate(self._tables(raw, spec.toml, key)))
        if spec.toml not in raw:
            if spec.key.default is REQUIRED:
                self.problems.append(f"{key}: missing; expected {self._allowed(spec)}")
                return None
            return spec.key.default
        if spec.kind is Kind.LIST:
            return self._list(spec, raw[spec.toml], key)
        return self._value(spec, raw[spec.toml], key)

    def _tables(self, raw: Mapping[str, Any], name: str, key: str) -> list[dict[str, Any]]:
        value = raw.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.bad(key, value, f"an array of tables ([[{key}]])")
            return []
        return value

    # -------------------------------------------------------------- values
    def _allowed(self, spec: Spec) -> str:
        return spec.key.allowed_text(spec.type)

    def _value(self, spec: Spec, value: Any, key: str) -> Any:
        accepts = spec.key.accepts or _ACCEPTS.get(spec.type, (spec.type,))
        ok = isinstance(value, accepts) and (bool in accepts or not isinstance(value, bool))
        if ok and spec.type is float:
            value = float(value)
        if ok and spec.type is Path and "\0" in value:
            self.problems.append(f"{key} = {value!r}: a path cannot contain a NUL character")
            return None
        if not ok or not spec.key.valid(value):
            self.bad(key, value, self._allowed(spec))
            return None
        if spec.key.convert is not None:
            return spec.key.convert(value)
        return spec.type(value) if spec.type in (str, Path) else value

    def _list(self, spec: Spec, value: Any, key: str) -> Any:
        if not isinstance(value, list):
            self.bad(key, value, f"an array, each {self._allowed(spec)}")
            return None
        return tuple(self._value(spec, item, key + "[]") for item in value)

    def _secret(self, raw: Mapping[str, Any], name: str, key: str) -> str | None:
        env_name = raw.get(f"{name}_env")
        if env_name is not None and not (isinstance(env_name, str)
                                         and re.fullmatch(ENV_NAME, env_name)):
            self.bad(f"{key}_env", env_name, ENV_ALLOWED)
            env_name = None
        if name in raw:
            self.problems.append(
                f"{key}: secrets are not read from the config file; put it in an environment "
                f"variable and name it with {key}_env"
            )
        if env_name is None:
            return None
        if env_name not in self.env:
            if self.require_secrets:
                self.problems.append(
                    f"{key}_env = {env_name!r}: that environment variable is not set")
            return None
        return self.env[env_name]


_ACCEPTS: dict[type, tuple[type, ...]] = {float: (int, float), Path: (str,)}
