"""Read a config file or a parsed TOML document into a validated `Config`."""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from edge.config import rules
from edge.config.errors import ConfigError
from edge.config.model import Config
from edge.config.reader import Reader

T = TypeVar("T")


def parse(raw: Mapping[str, Any], *, env: Mapping[str, str] | None = None,
          source_path: str | None = None, require_secrets: bool = True) -> Config:
    """Validate a parsed TOML document; raise ConfigError listing every problem.
    With `require_secrets` False (read-only commands: status, events, doctor) a secret whose
    environment variable is not set is None instead of a problem."""
    reader = Reader(os.environ if env is None else env, require_secrets)
    config: Config = reader.section(Config, raw)
    for rule in rules.ALL:
        reader.problems += rule(config)
    if reader.problems:
        raise ConfigError(reader.problems, source_path)
    return replace(config, source_path=source_path)


def defaults(cls: type[T]) -> T:
    """The config section `cls` (e.g. `Journey`) with every key at its declared default, for
    a part built without a config file (tests, tools): the defaults live in one place.
    Raises ConfigError naming the keys that have no default."""
    reader = Reader({}, require_secrets=False)
    section: T = reader.section(cls, {})
    if reader.problems:
        raise ConfigError(reader.problems, None)
    return section


MAX_CONFIG_BYTES = 1 << 20
MAX_DEPTH = 32


def read_bounded(path: Path, limit: int) -> bytes:
    """Read a regular file of at most `limit` bytes. The file type is checked on the open
    descriptor (opened non-blocking, so a FIFO cannot hang us) before anything is read:
    a FIFO, a device such as /dev/zero or a directory is refused, never read. Raises
    OSError, or ValueError naming the problem."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
                    "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                    "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise ValueError(f"is {kind}, not a regular file")
        if st.st_size > limit:
            raise ValueError(f"is {st.st_size} bytes, more than the {limit} allowed")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 65536):
            total += len(chunk)
            if total > limit:
                raise ValueError(f"is more than the {limit} bytes allowed")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _depth_ok(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def load(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
         require_secrets: bool = True) -> Config:
    """Read and validate a config file; raise ConfigError on any problem."""
    p = Path(path)
    if "\0" in str(p):
        raise ConfigError([f"{str(p)!r}: a path cannot contain a NUL character"], repr(str(p)))
    try:
        text = read_bounded(p, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: no such file (pass --config PATH)"], str(p)) from None
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror or exc}"], str(p)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{p}: cannot read: not UTF-8 text ({exc.reason} at byte "
                           f"{exc.start})"], str(p)) from None
    except ValueError as exc:
        raise ConfigError([f"{p}: cannot read: it {exc}"], str(p)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(p)) from None
    except RecursionError:
        raise ConfigError([f"not valid TOML: arrays or tables nested too deeply (at most "
                           f"{MAX_DEPTH} levels)"], str(p)) from None
    if not _depth_ok(raw, MAX_DEPTH):
        raise ConfigError([f"arrays or tables nested too deeply (at most {MAX_DEPTH} levels)"],
                          str(p))
    return parse(raw, env=env, source_path=str(p), require_secrets=require_secrets)
