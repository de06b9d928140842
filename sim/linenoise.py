"""Line noise on a simulated serial line, the same for every simulated controller."""

from __future__ import annotations

import random


def garble(line: bytes, rng: random.Random) -> bytes:
    """`line` damaged one of three ways: a flipped bit (the checksum no longer matches), noise
    before the report on a line of its own, or the line cut short."""
    kind = rng.randrange(3)
    if kind == 0:
        i = rng.randrange(1, len(line) - 5)
        return line[:i] + bytes([line[i] ^ (1 << rng.randrange(7))]) + line[i + 1:]
    if kind == 1:
        return bytes(rng.randrange(1, 255) for _ in range(rng.randrange(1, 12))) + b"\n" + line
    return line[: rng.randrange(3, len(line) - 3)] + b"\r\n"
