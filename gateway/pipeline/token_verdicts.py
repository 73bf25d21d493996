"""Verdicts on bearer tokens, held by the token's SHA-256 until a deadline: the authenticator's
cache of verified tokens (until their `exp`) and that of refused ones (a few seconds).

Not the verdicts themselves (see `auth`), nor the counting of failures (see `auth_failures`): a
verdict answered from here is counted as any other. Each authenticator holds its own, so a
reload judges every token anew.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

# Verified tokens held at most (a digest and a principal: a few hundred bytes each).
MAX_VERIFIED_TOKENS = 10_000
# How long a refusal is held: long enough to spare the checks of a client stuck on one bad
# token, and the second look at a token in one request; short enough that a refusal resting on
# something that may change without a reload (a JWKS key refreshed in the background) is soon
# judged again.
REFUSAL_TTL_S = 5.0
# Refused tokens held at most (a digest and a refusal: about 1 KB each, some 4 MB).
MAX_REFUSED_TOKENS = 4096

V = TypeVar("V")


def token_digest(token: str) -> bytes:
    """What a token is held by: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


@dataclass
class TokenVerdicts(Generic[V]):
    """Verdicts by token digest, each until its deadline, at most `capacity` of them: past it
    the one used least recently is forgotten, so a flood of ever new tokens cannot grow the
    process."""

    capacity: int
    # Wall-clock time, as the tokens' own claims (`exp`, `nbf`) are.
    clock: Callable[[], float] = time.time
    _held: OrderedDict[bytes, tuple[V, float]] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._held)

    def get(self, digest: bytes) -> V | None:
        """The verdict on the token of `digest`, or None (never held, or past its deadline)."""
        held = self._held.get(digest)
        if held is None:
            return None
        verdict, until = held
        if until <= self.clock():
            del self._held[digest]
            return None
        self._held.move_to_end(digest)  # used again: the last to forget
        return verdict

    def hold(self, digest: bytes, verdict: V, until: float) -> None:
        """Hold `verdict` on the token of `digest` until `until` (nothing when it is past)."""
        if until <= self.clock():
            return
        self._held[digest] = (verdict, until)
        self._held.move_to_end(digest)
        if len(self._held) > self.capacity:
            self._held.popitem(last=False)
