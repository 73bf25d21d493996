"""Gateway identifiers and the deterministic gateway reference sent to the ERPs.

Not the cross-reference itself (see `gateway.store`); only how ids and references are made.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading

from gateway.domain.operations import Kind

GATEWAY_REF_PREFIX = "gw-"
GATEWAY_REF_LENGTH = 29  # "gw-" + 26: fits SAP's 35-character reference fields
GATEWAY_ID_CHARS = 26  # a gateway id's random characters, after its kind's prefix
# The longest id a path may name. The longest the gateway issues is a customer's, 34 characters
# (`cus_`, the random characters, the 4 digits of its bucket); the bound leaves room for a
# longer form without letting a client make the gateway look up, or echo, kilobytes.
MAX_GATEWAY_ID_LENGTH = 64


class _RandomPool:
    """Random bytes from the OS (as `secrets` takes them), fetched 4 KiB at a time: every
    request needs several ids, and one system call per id shows in a profile."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._pool = b""
        self._at = 0
        self._filled = 0  # len(self._pool)
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            at = self._at
            end = at + count
            if end > self._filled:
                self._filled = max(self._size, count)
                self._pool, at, end = os.urandom(self._filled), 0, count
            self._at = end
            return self._pool[at:end]


_random = _RandomPool()


def random_bytes(count: int) -> bytes:
    """`count` bytes from the OS's cryptographic random source, never handed out twice."""
    return _random.take(count)


def random_hex(count: int) -> str:
    return _random.take(count).hex()


def new_uuid4() -> str:
    """A random (version 4) UUID, as text."""
    raw = bytearray(_random.take(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648
# Each 5-bit value (a byte 0-31) to its character, upper or lower case.
_UPPER = bytes.maketrans(bytes(range(32)), _BASE32.encode())
_LOWER = bytes.maketrans(bytes(range(32)), _BASE32.lower().encode())
_SPREAD_BYTES = 20  # 160 bits: 32 characters, as many as a prefix is spread for


def _spread_steps() -> tuple[tuple[int, int, int], ...]:
    """How 160 bits are spread 5 to a byte (`_spread`): halve every lane of bits until each
    holds 5 (80 bits to each 128-bit lane, 40 to each 64-bit lane, ..., 5 to each byte), each
    halving a mask of the lanes' low halves, a mask of their high halves and the shift that
    moves the high halves up into lanes of their own."""
    steps = []
    payload, lane = 8 * _SPREAD_BYTES, 256
    while payload > 5:
        half, narrower = payload // 2, lane // 2
        low = high = 0
        for at in range(0, 256, lane):
            low |= ((1 << half) - 1) << at
            high |= ((1 << (payload - half)) - 1) << (at + half)
        steps.append((low, high, narrower - half))
        payload, lane = half, narrower
    return tuple(steps)


_SPREAD = _spread_steps()


def _spread(data: bytes) -> bytes:
    """The first 20 bytes of `data` (zero bits after, if short), 5 bits to a byte (0-31): 32
    bytes, the first from the first 5 bits."""
    chunk = data[:_SPREAD_BYTES]
    n = int.from_bytes(chunk, "big") << 8 * (_SPREAD_BYTES - len(chunk))
    for low, high, shift in _SPREAD:
        n = (n & low) | ((n & high) << shift)
    return n.to_bytes(32, "big")


def base32_prefix(data: bytes, chars: int) -> str:
    """The first `chars` characters of `data` in base32 (RFC 4648, upper case), encoding only
    the bytes they come from (each 5 bytes make 8 characters on their own). Up to 32
    characters (an id's 26, the request path's), the bytes are read as one integer, spread 5
    bits to a byte by a few masks and shifts (`_spread`) and translated to characters in one
    call: the standard library's encoder goes 5 bytes at a time through a table of 1,024 byte
    strings, which costs a request several cache misses. Beyond that, the standard library's,
    with zero bits after data too short for `chars` (no `=` padding)."""
    if chars <= 32:
        return _spread(data)[:chars].translate(_UPPER).decode()
    size = 5 * -(-chars // 8)  # 8 characters per 5 bytes
    return base64.b32encode(data[:size].ljust(size, b"\0")).decode("ascii")[:chars]


def base32_prefix_lower(data: bytes, chars: int) -> str:
    """`base32_prefix(data, chars).lower()`, without the second string: ids are lower case."""
    if chars > 32:
        return base32_prefix(data, chars).lower()
    return _spread(data)[:chars].translate(_LOWER).decode()


def new_gateway_id(kind: Kind) -> str:
    """A fresh, unguessable gateway id such as `so_6x2m...` (128 random bits, lowercase base32)."""
    return kind.prefix + base32_prefix_lower(_random.take(16), GATEWAY_ID_CHARS)


def gateway_reference(client_id: str, idempotency_key: str | None, gateway_id: str) -> str:
    """The unique, deterministic reference the ERP stores with the document.

    From the client and its idempotency key when there is one (so a retry after the gateway lost
    its state still finds the same document), else from the gateway id.
    """
    # Length-prefixed, so that no two (client, key) pairs give the same seed: without it,
    # client "ab" with key "c" and client "a" with key "bc" would share a reference (and one
    # could be handed the other's document by an ERP that deduplicates on it).
    seed = (
        f"{len(client_id)}:{client_id}{idempotency_key}"
        if idempotency_key is not None
        else gateway_id
    )
    return GATEWAY_REF_PREFIX + base32_prefix(hashlib.sha256(seed.encode("utf-8")).digest(), 26)
