"""The store app's beacon: an iBeacon whose major:minor is a rotating token.

A shopper who opted in through the store app lets the app advertise an iBeacon whose
proximity UUID is one of `ble.app_uuids` and whose 32-bit ``major << 16 | minor`` is

    token = P_k(slot mod 2**SLOT_BITS || member)

- ``member`` is the app user's member number, MEMBER_BITS (22) bits: 1 .. 4,194,303.
- ``slot = floor(t / rotation_s)`` with `t` in Unix seconds; `rotation_s` (default
  DEFAULT_ROTATION_S, 600 s) is agreed between the app and the cloud. Its low SLOT_BITS (10)
  bits fill the high bits of the plain text: ``x = (slot mod 1024) << 22 | member``.
- ``P_k`` is a keyed pseudorandom permutation of 32-bit numbers: a balanced Feistel network
  of ROUNDS (8) rounds on two 16-bit halves ``L = x >> 16``, ``R = x & 0xFFFF``; round
  ``r`` (0..7) maps ``(L, R) -> (R, L xor F(r, R))`` with
  ``F(r, R) = the first two bytes, big-endian, of HMAC-SHA256(k, bytes([r]) + R as 2 bytes
  big-endian)``. The token is ``L << 16 | R`` after the last round: major is ``L``, minor
  is ``R``.

The token changes every slot and, without the key, tokens of one member in different slots
are unrelated, so a passer-by cannot follow the phone from one slot to the next (the phone
should also rotate its random address with the token: see docs/app-beacon.md).

Resolution inverts P_k with each key valid at the reading's time and accepts when the
decoded slot is the reading's slot, or one either side (clock skew between the phone and the
edge): O(1) per key, with a small per-key cache of inverted tokens. A token that is not from
the app (or was made with another key) resolves with probability ``3 / 2**SLOT_BITS`` per
valid key, about 0.29 %; it then yields an arbitrary member number. Because the slot
counter wraps after 2**SLOT_BITS slots (7.1 days at 600 s), a member's token under one key
would repeat after that long: a key may be valid for at most that (`cycle_s`), and the
cloud should rotate keys more often (e.g. daily, overlapping by an hour). SLOT_BITS and
MEMBER_BITS trade that rate against the number of members (22 bits: 4.2 million).

Why not a library: format-preserving encryption packages on PyPI (pyffx, ff3, ...) are
unmaintained or need a domain of at least 10**6 elements and a block cipher the standard
library lacks; a Feistel network over HMAC-SHA256 (hashlib, hmac) is a few lines, is what
the app has to implement anyway, and its security for this use rests on HMAC-SHA256 alone.

The pseudonymous customer id in presence events is `customer_id(member)`: ``"m"`` followed
by the member number in lower-case base 36; the cloud maps it back with
`parse_customer_id` (``int(id[1:], 36)``).
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

MEMBER_BITS = 22
SLOT_BITS = 32 - MEMBER_BITS
MAX_MEMBER = (1 << MEMBER_BITS) - 1
ROUNDS = 8
DEFAULT_ROTATION_S = 600.0
SLOT_SKEW = 1  # slots either side of the reading's that are accepted
FALSE_RESOLUTION_RATE = (2 * SLOT_SKEW + 1) / (1 << SLOT_BITS)
"""The chance that a token not made with a key resolves with it anyway (per valid key)."""
MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 64
CACHE_PER_KEY = 4096  # inverted tokens kept per key (cleared when full)
_SLOT_MASK = (1 << SLOT_BITS) - 1
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def slot_of(t: float, rotation_s: float) -> int:
    """The rotation slot of Unix time `t`. Raises ValueError if `t` is not finite or
    `rotation_s` is not positive."""
    if not math.isfinite(t) or not (math.isfinite(rotation_s) and rotation_s > 0):
        raise ValueError("time must be finite and the rotation period positive")
    return math.floor(t / rotation_s)


def cycle_s(rotation_s: float) -> float:
    """How long a key may be valid: 2**SLOT_BITS slots, after which a member's token under
    the same key repeats (7.1 days at the default 600 s rotation)."""
    return (1 << SLOT_BITS) * rotation_s


def _round(key: bytes, r: int, half: int) -> int:
    digest = hmac.digest(key, bytes((r, half >> 8, half & 0xFF)), "sha256")
    return (digest[0] << 8) | digest[1]


def permute(key: bytes, x: int) -> int:
    """P_k(x): the keyed permutation of 32-bit numbers (the Feistel network above)."""
    left, right = x >> 16, x & 0xFFFF
    for r in range(ROUNDS):
        left, right = right, left ^ _round(key, r, right)
    return (left << 16) | right


def unpermute(key: bytes, token: int) -> int:
    """The inverse of `permute`."""
    left, right = token >> 16, token & 0xFFFF
    for r in reversed(range(ROUNDS)):
        left, right = right ^ _round(key, r, left), left
    return (left << 16) | right


def encode_token(key: bytes, member: int, t: float,
                 rotation_s: float = DEFAULT_ROTATION_S) -> tuple[int, int]:
    """The (major, minor) the app advertises for `member` at Unix time `t`. Raises
    ValueError if the member number is outside 1..MAX_MEMBER, the key is shorter than
    MIN_SECRET_BYTES, `t` is not finite or `rotation_s` not positive."""
    if not 1 <= member <= MAX_MEMBER:
        raise ValueError(f"a member number is 1..{MAX_MEMBER}")
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"an app key has at least {MIN_SECRET_BYTES} bytes")
    x = ((slot_of(t, rotation_s) & _SLOT_MASK) << MEMBER_BITS) | member
    token = permute(key, x)
    return token >> 16, token & 0xFFFF


def customer_id(member: int) -> str:
    """The pseudonymous customer id events carry: "m" + the member number in base 36.
    Raises ValueError outside 1..MAX_MEMBER."""
    if not 1 <= member <= MAX_MEMBER:
        raise ValueError(f"a member number is 1..{MAX_MEMBER}")
    digits = ""
    while member:
        member, d = divmod(member, 36)
        digits = _BASE36[d] + digits
    return "m" + digits


def parse_customer_id(text: str) -> int:
    """The member number of a `customer_id`. Raises ValueError if `text` is not one."""
    body = text[1:]
    if not text.startswith("m") or not body or body[0] == "0" \
            or any(c not in _BASE36 for c in body):
        raise ValueError("not a customer id: 'm' and a base-36 number")
    member = int(body, 36)
    if member > MAX_MEMBER:
        raise ValueError("not a customer id: the member number is too large")
    return member


@dataclass(frozen=True)
class AppKey:
    """One app beacon key, as the cloud sends it. Times are Unix seconds; the key is valid
    in [valid_from, valid_until). `secret` stays out of repr(). Raises ValueError if the
    secret is not MIN_SECRET_BYTES..MAX_SECRET_BYTES long or the validity is empty."""

    id: str
    secret: bytes = field(repr=False)
    valid_from: float
    valid_until: float

    def __post_init__(self) -> None:
        if not MIN_SECRET_BYTES <= len(self.secret) <= MAX_SECRET_BYTES:
            raise ValueError(f"key {self.id!r}: a secret has {MIN_SECRET_BYTES} to "
                             f"{MAX_SECRET_BYTES} bytes")
        if not (math.isfinite(self.valid_from) and math.isfinite(self.valid_until)
                and self.valid_from < self.valid_until):
            raise ValueError(f"key {self.id!r}: valid_from must come before valid_until")

    def valid_at(self, t: float) -> bool:
        return self.valid_from <= t < self.valid_until


class AppKeyRing:
    """The keys held at one time, and resolution of tokens to member numbers."""

    def __init__(self, keys: Iterable[AppKey] = (),
                 rotation_s: float = DEFAULT_ROTATION_S) -> None:
        """Raises ValueError if `rotation_s` is not positive, two keys share an id, or a key
        is valid for longer than `cycle_s(rotation_s)`."""
        if not (math.isfinite(rotation_s) and rotation_s > 0):
            raise ValueError("the rotation period must be positive")
        self.keys: tuple[AppKey, ...] = tuple(sorted(keys, key=lambda k: k.valid_from))
        if len({k.id for k in self.keys}) != len(self.keys):
            raise ValueError("app key ids must be unique")
        self.rotation_s = rotation_s
        longest = cycle_s(rotation_s)
        for k in self.keys:
            if k.valid_until - k.valid_from > longest:
                raise ValueError(
                    f"key {k.id!r} is valid for {(k.valid_until - k.valid_from) / 86400:.1f} "
                    f"days; at most {longest / 86400:.1f} days at a {rotation_s:g} s rotation "
                    f"(a member's token repeats after {1 << SLOT_BITS} slots)")
        self._cache: dict[str, dict[int, int]] = {k.id: {} for k in self.keys}

    def __len__(self) -> int:
        return len(self.keys)

    def keys_valid_at(self, t: float) -> list[AppKey]:
        """The keys valid at Unix time `t`, oldest first."""
        return [k for k in self.keys if k.valid_at(t)]

    def resolve(self, major: int, minor: int, t: float) -> int | None:
        """The member number behind (major, minor) heard at Unix time `t`, or None if no key
        valid then decodes it to `t`'s slot ±1. Never raises: out-of-range fields or a
        non-finite time resolve to None."""
        if not (0 <= major <= 0xFFFF and 0 <= minor <= 0xFFFF and math.isfinite(t)):
            return None
        token = (major << 16) | minor
        slot = math.floor(t / self.rotation_s) & _SLOT_MASK
        for key in self.keys:
            if not key.valid_at(t):
                continue
            cache = self._cache[key.id]
            x = cache.get(token)
            if x is None:
                if len(cache) >= CACHE_PER_KEY:
                    cache.clear()
                x = cache[token] = unpermute(key.secret, token)
            member = x & MAX_MEMBER
            skew = ((x >> MEMBER_BITS) - slot) & _SLOT_MASK
            if member and (skew <= SLOT_SKEW or skew >= (1 << SLOT_BITS) - SLOT_SKEW):
                return member
        return None
