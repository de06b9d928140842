"""Read a config file or a parsed TOML document into a validated `Config`."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge.config import rules
from edge.config.errors import ConfigError
from edge.config.model import Config
from edge.config.reader import Reader


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


def load(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
         require_secrets: bool = True) -> Config:
    """Read and validate a config file; raise ConfigError on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: no such file (pass --config PATH)"], str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{p}: cannot read: {exc}"], str(p)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(p)) from None
    return parse(raw, env=env, source_path=str(p), require_secrets=require_secrets)
