"""The example config and the docs' configuration reference, generated from the declarations.

`python -m edge.config.render --write` rewrites edge/example-config.toml and the generated part
of docs/operations.md in a source checkout; `--check` exits 1 if either is out of date. The
tests fail when they differ from what the declarations generate.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from edge.config.model import Config
from edge.config.reader import ENV_ALLOWED
from edge.config.schema import NO_EXAMPLE, REQUIRED, Group, Kind, Spec, Table, layout, number

WIDTH = 99
COLUMN = 33  # where an example line's comment starts
DOCS_BEGIN = ("<!-- config-reference: generated from edge/config/model.py by "
              "`python -m edge.config.render --write`; do not edit by hand -->")
DOCS_END = "<!-- end of config-reference -->"

HEADER = """\
# omo-edge store config: /etc/omo-edge/config.toml
#
#   omo-edge config check   validates this file (exit 2, listing every problem with its key)
#   omo-edge doctor         checks the hardware and the broker it names
#
# Every key is shown, with what it means, what is allowed and its default. A commented-out key
# is optional or derived from others (its comment says how); unknown keys are errors. Secrets
# never go in this file: a *_env key names an environment variable, which systemd reads from
# /etc/omo-edge/env (mode 0600). Names and paths below are examples: edit them.
"""


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return number(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def _plain(text: str) -> str:
    return text.replace("`", "")


def _toml_name(spec: Spec) -> str:
    return f"{spec.toml}_env" if spec.key.secret else spec.toml


def _allowed(spec: Spec) -> str:
    if spec.key.secret:
        return ENV_ALLOWED
    allowed = spec.key.allowed_text(spec.type)
    return f"an array, each {allowed}" if spec.kind is Kind.LIST else allowed


def _default(spec: Spec) -> str:
    """How the default reads in the docs (markdown); "required" when there is none."""
    k = spec.key
    if k.default_doc is not None:
        return k.default_doc
    if k.default is REQUIRED and k.derive is None:
        return "required"
    if k.default is None or k.secret:
        return "none"
    return f"`{toml_value(k.default)}`"


def _meaning(spec: Spec) -> str:
    if spec.key.secret:
        return f"{spec.key.help}; `{spec.toml}` itself is refused"
    return spec.key.help


def _values(table: Table) -> list[Spec]:
    return [s for s in table.specs() if s.kind in (Kind.VALUE, Kind.LIST)]


def _subtables(table: Table) -> list[Spec | Group]:
    return [e for e in table.entries
            if isinstance(e, Group) or e.kind in (Kind.TABLE, Kind.TABLES)]


# ---------------------------------------------------------------- the example config
def example_config(root: type = Config) -> str:
    """The complete commented example config (`omo-edge config example`)."""
    out = [HEADER.rstrip("\n")]
    _example_table(layout(root), "", {}, full=True, commented=False, out=out)
    return "\n".join(out) + "\n"


def _comment_lines(text: str, prefix: str = "# ") -> list[str]:
    return [prefix + line for line in _wrap(text, WIDTH - len(prefix))]


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False)


def _example_table(table: Table, path: str, row: Mapping[str, Any], *, full: bool,
                   commented: bool, out: list[str]) -> None:
    for spec in _values(table):
        out += _example_line(spec, f"{path}.{spec.toml}".lstrip("."), row, full=full,
                             commented=commented)
    for entry in _subtables(table):
        if isinstance(entry, Group):
            sub = f"{path}.{entry.name}".lstrip(".")
            out += ["", f"[{sub}]"]
            _example_table(entry.table, sub, row.get(entry.name, {}), full=full,
                           commented=commented, out=out)
            continue
        sub = f"{path}.{entry.toml}".lstrip(".")
        given = row.get(entry.toml, entry.key.example if full else NO_EXAMPLE)
        if entry.kind is Kind.TABLE:
            hide = commented or entry.optional
            out.append("")
            if full:
                out += _comment_lines(_plain(entry.key.help))
            out.append(("# " if hide else "") + f"[{sub}]")
            _example_table(layout(entry.type), sub, given if isinstance(given, dict) else {},
                           full=full, commented=hide, out=out)
            continue
        rows = given if isinstance(given, list) else []
        if full and rows:
            out += ["", *_comment_lines(_plain(entry.key.help))]
        for i, item in enumerate(rows):
            out += ([] if full and i == 0 else [""]) + [f"[[{sub}]]"]
            _example_table(layout(entry.type), sub, item, full=full and i == 0,
                           commented=commented, out=out)


def _example_line(spec: Spec, path: str, row: Mapping[str, Any], *, full: bool,
                  commented: bool) -> list[str]:
    name = _toml_name(spec)
    if not full:
        return [f"{name} = {toml_value(row[spec.toml])}"] if spec.toml in row else []
    k = spec.key
    if spec.toml in row:
        value = row[spec.toml]
    elif k.example is not NO_EXAMPLE:
        value = k.example
    elif k.default not in (REQUIRED, None) and k.derive is None:
        value = k.default
    else:
        raise ValueError(f"{path}: declare an example= for the example config")
    hide = commented or k.secret or (spec.toml not in row and (k.default is None or k.commented))
    text = f"{_plain(k.help)}; {_allowed(spec)}; "
    default = _default(spec)
    if default == "required":
        text += default
    else:
        text += ("default: " if k.default_doc else "default ") + _plain(default)
    if k.secret:
        text += f" (set it in /etc/omo-edge/env, then uncomment; {spec.toml} itself is refused)"
    assignment = ("# " if hide else "") + f"{name} = {toml_value(value)}"
    chunks = _wrap(text, WIDTH - COLUMN - 2)
    pad = " " * COLUMN + "# "
    if len(assignment) < COLUMN:
        return [assignment.ljust(COLUMN) + "# " + chunks[0], *(pad + c for c in chunks[1:])]
    return [assignment, *(pad + c for c in chunks)]


# ---------------------------------------------------------------- the docs
def docs_reference(root: type = Config) -> str:
    """The configuration reference tables of docs/operations.md, between the markers."""
    out = [DOCS_BEGIN]
    for marker, help, table in _docs_tables(layout(root), ""):
        out += ["", f"### `{marker}`", ""]
        if help:
            out += [help, ""]
        out += ["| key | default | allowed | meaning |", "|---|---|---|---|"]
        for spec in _values(table):
            cells = [f"`{_toml_name(spec)}`", _default(spec), _docs_allowed(spec),
                     _meaning(spec)]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out += ["", DOCS_END]
    return "\n".join(out) + "\n"


def _docs_allowed(spec: Spec) -> str:
    if spec.key.secret:
        return "the name of an environment variable that is set (`[A-Z_][A-Z0-9_]*`)"
    if spec.key.choices:
        return ", ".join(f"`{toml_value(c)}`" for c in spec.key.choices)
    return _allowed(spec)


def _docs_tables(table: Table, path: str) -> Iterator[tuple[str, str | None, Table]]:
    """(heading, intro, table) for every TOML table with keys of its own, depth first."""
    for entry in _subtables(table):
        if isinstance(entry, Group):
            sub = f"{path}.{entry.name}".lstrip(".")
            yield f"[{sub}]", None, entry.table
            yield from _docs_tables(entry.table, sub)
            continue
        sub = f"{path}.{entry.toml}".lstrip(".")
        inner = layout(entry.type)
        marker = f"[[{sub}]]" if entry.kind is Kind.TABLES else f"[{sub}]"
        yield marker, entry.key.help, inner
        yield from _docs_tables(inner, sub)


# ---------------------------------------------------------------- writing the files
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_FILE = ROOT / "edge" / "example-config.toml"
DOCS_FILE = ROOT / "docs" / "operations.md"


def docs_with_reference(text: str) -> str:
    """`text` (docs/operations.md) with the generated part replaced by the current one."""
    before, found, rest = text.partition(DOCS_BEGIN)
    _, found_end, after = rest.partition(DOCS_END + "\n")
    if not (found and found_end):
        raise ValueError(f"docs/operations.md: the markers {DOCS_BEGIN!r} ... {DOCS_END!r} "
                         "are missing")
    return before + docs_reference() + after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.config.render", description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the files")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    if not (args.write or args.check):
        print(example_config(), end="")
        return 0
    wanted = {EXAMPLE_FILE: example_config(),
              DOCS_FILE: docs_with_reference(DOCS_FILE.read_text(encoding="utf-8"))}
    stale = [p for p, text in wanted.items() if p.read_text(encoding="utf-8") != text]
    if args.write:
        for p in stale:
            p.write_text(wanted[p], encoding="utf-8")
            print(f"wrote {p}")
        return 0
    for p in stale:
        print(f"{p}: out of date; run python -m edge.config.render --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
