"""Tokens refused lately, by their SHA-256, with their refusal: held a few seconds so that a bad
token sent again, or read twice in one request, is not verified again.

Not the verified tokens' cache, nor the counting of failures (see `auth`): a refusal answered
from here is counted as any other. Each authenticator has its own, so a reload judges anew.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

# Long enough to spare the checks of a client stuck on one bad token, and of the second look at a
# token in one request; short enough that a refusal resting on something that may change without
# a reload (a JWKS key refreshed in the background) is soon judged again.
REFUSAL_TTL_S = 5.0
# Tokens held at most (a digest and a refusal: about 1 KB each, some 4 MB); past it the least
# recently refused is forgotten, so a flood of ever new bad tokens cannot grow the process.
MAX_REFUSED_TOKENS = 4096

R = TypeVar("R")


@dataclass
class RefusedTokens(Generic[R]):
    """Refusals by token digest, each until `REFUSAL_TTL_S` after it was made, or sooner."""

    ttl_s: float = REFUSAL_TTL_S
    capacity: int = MAX_REFUSED_TOKENS
    # Wall-clock time, as the tokens' own claims (`nbf`) are.
    clock: Callable[[], float] = time.time
    _held: OrderedDict[bytes, tuple[R, float]] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._held)

    def refusal(self, digest: bytes) -> R | None:
        """The refusal the token of `digest` got lately, or None."""
        held = self._held.get(digest)
        if held is None:
            return None
        refusal, until = held
        if until <= self.clock():
            del self._held[digest]
            return None
        self._held.move_to_end(digest)  # refused again: the last to forget
        return refusal

    def remember(self, digest: bytes, refusal: R, valid_from: float | None = None) -> None:
        """Hold the token's `refusal`, but not from `valid_from` on: when it may be accepted
        (a token not valid yet)."""
        now = self.clock()
        until = now + self.ttl_s if valid_from is None else min(now + self.ttl_s, valid_from)
        if until <= now:
            return
        self._held[digest] = (refusal, until)
        self._held.move_to_end(digest)
        if len(self._held) > self.capacity:
            self._held.popitem(last=False)
