"""The app beacon keys the cloud sends (`presence.app_keys`), held in one file.

``<state_dir>/app-keys.json``, mode 0600, written atomically (the command handler and the
simulator write it with `write_app_keys`; the presence processor reads it with
`load_app_keys`)::

    {"version": 1, "rotation_s": 600.0,
     "keys": [{"id": "k-2026-11", "secret": "<base64>",
               "valid_from": "2026-11-01T00:00:00.000Z",
               "valid_until": "2026-12-01T00:00:00.000Z"}]}

Secrets never reach a log, an event or a command result: those carry key ids, validity
and counts only (`describe`). The token layout and resolution: drivers/app_beacon.py and
docs/app-beacon.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from drivers.app_beacon import DEFAULT_ROTATION_S, AppKey, AppKeyRing
from edge.events import format_time, parse_time
from edge.files import write_json_atomic

log = logging.getLogger("omo_edge.app_keys")

FILE_NAME = "app-keys.json"
FILE_VERSION = 1
FILE_MODE = 0o600
MAX_KEYS = 16
UPDATED_TYPE = "omo.presence.app_keys.updated"
COMMAND = "presence.app_keys"


class AppKeysInvalid(ValueError):
    """Key material that cannot be used; the message names the key and the rule broken,
    never the secret."""


def app_keys_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def _secret(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise AppKeysInvalid(f"{where}: the secret must be a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise AppKeysInvalid(f"{where}: the secret is not valid base64") from None


def _time(text: Any, where: str, name: str) -> float:
    if not isinstance(text, str):
        raise AppKeysInvalid(f"{where}: {name} must be an RFC 3339 date and time")
    try:
        value = parse_time(text)
    except (ValueError, OverflowError, OSError):
        raise AppKeysInvalid(f"{where}: {name} is not a valid date and time") from None
    if not math.isfinite(value):
        raise AppKeysInvalid(f"{where}: {name} is not a valid date and time")
    return value


def parse_keys(items: Sequence[Any]) -> list[AppKey]:
    """AppKeys from their JSON form (id, base64 secret, RFC 3339 validity). Raises
    AppKeysInvalid naming the first bad key (by position and id) and the rule it breaks;
    never quoting a secret."""
    if len(items) > MAX_KEYS:
        raise AppKeysInvalid(f"at most {MAX_KEYS} keys")
    keys: list[AppKey] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise AppKeysInvalid(f"key {i}: an object with a string id")
        where = f"key {i} ({item['id'][:64]!r})"
        secret = _secret(item.get("secret"), where)
        start = _time(item.get("valid_from"), where, "valid_from")
        end = _time(item.get("valid_until"), where, "valid_until")
        try:
            keys.append(AppKey(item["id"], secret, start, end))
        except ValueError as exc:
            raise AppKeysInvalid(f"key {i}: {exc}") from None
    ids = [k.id for k in keys]
    if len(set(ids)) != len(ids):
        raise AppKeysInvalid("key ids must be unique")
    return keys


def describe(ring: AppKeyRing) -> list[dict[str, str]]:
    """What may be said about the keys held: ids and validity, never secrets."""
    return [{"id": k.id, "valid_from": format_time(k.valid_from),
             "valid_until": format_time(k.valid_until)} for k in ring.keys]


def write_app_keys(state_dir: Path, ring: AppKeyRing) -> Path:
    """Replace the key file with `ring`, atomically, mode 0600; returns its path. Raises
    OSError."""
    path = app_keys_path(state_dir)
    write_json_atomic(path, {
        "version": FILE_VERSION, "rotation_s": ring.rotation_s,
        "keys": [{"id": k.id, "secret": base64.b64encode(k.secret).decode("ascii"),
                  "valid_from": format_time(k.valid_from),
                  "valid_until": format_time(k.valid_until)} for k in ring.keys]},
        mode=FILE_MODE)
    return path


def load_app_keys(state_dir: Path) -> AppKeyRing:
    """The keys in ``<state_dir>/app-keys.json``. No file gives an empty ring; an unreadable
    or corrupt one logs a warning saying what is wrong (never a secret) and gives an empty
    ring. Never raises."""
    path = app_keys_path(state_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return AppKeyRing()
    except OSError as exc:
        log.warning("app keys: cannot read %s (%s); holding no app keys", path,
                    exc.strerror or type(exc).__name__)
        return AppKeyRing()
    try:
        return _ring_from(raw)
    except AppKeysInvalid as exc:
        log.warning("app keys: %s is corrupt (%s); holding no app keys until the cloud "
                    "sends %s again", path, exc, COMMAND)
        return AppKeyRing()


def _ring_from(raw: bytes) -> AppKeyRing:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AppKeysInvalid("not JSON") from None
    if not isinstance(obj, dict) or obj.get("version") != FILE_VERSION:
        raise AppKeysInvalid(f"not a version {FILE_VERSION} key file")
    rotation = obj.get("rotation_s", DEFAULT_ROTATION_S)
    if isinstance(rotation, bool) or not isinstance(rotation, int | float) \
            or not (math.isfinite(rotation) and rotation > 0):
        raise AppKeysInvalid("rotation_s must be a positive number of seconds")
    items = obj.get("keys")
    if not isinstance(items, list):
        raise AppKeysInvalid("keys must be a list")
    return AppKeyRing(parse_keys(items), rotation_s=float(rotation))
