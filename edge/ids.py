"""Time-ordered unique event ids (UUID version 7, RFC 9562)."""

from __future__ import annotations

import os
import threading
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_event_id(epoch_ms: int) -> str:
    """A UUIDv7 string: 48 bits of milliseconds, then a 12-bit counter, then random bits.

    Ids made in one process are strictly increasing even within one millisecond
    and even if the clock steps back (the last millisecond is reused).
    """
    global _last_ms, _counter
    with _lock:
        if epoch_ms > _last_ms:
            _last_ms = epoch_ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count up
        else:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand
    return str(uuid.UUID(int=value))


def new_boot_id() -> str:
    """A random id for one run of the daemon."""
    return uuid.uuid4().hex
