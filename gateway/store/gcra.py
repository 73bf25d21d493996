"""The GCRA arithmetic (generic cell rate algorithm): one pure function of now and the stored TAT.

Not storage: the memory store calls `gcra`; the Redis store's Lua script mirrors it line by line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from gateway.store.base import RateDecision

# Absorbs float rounding when counting whole emission intervals (0.999999... intervals is 1).
REMAINING_EPSILON = 1e-9


@dataclass(frozen=True)
class GcraResult:
    """A decision and the theoretical arrival time (TAT) to store after it."""

    decision: RateDecision
    tat: float  # unchanged when refused: a refused request costs nothing


def gcra(now: float, tat: float | None, rate_per_s: float, burst: int) -> GcraResult:
    """Decide one request at `now` against a bucket whose stored TAT is `tat` (None: empty).

    The emission interval is 1/rate; the bucket tolerates `burst` intervals of debt, so exactly
    `burst` requests pass at once and the next passes one interval later.
    """
    if rate_per_s <= 0:
        raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
    interval = 1.0 / rate_per_s
    tolerance = interval * burst
    current = now if tat is None or tat < now else tat
    new_tat = current + interval
    allow_at = new_tat - tolerance
    if now + REMAINING_EPSILON < allow_at:  # float rounding must not cost the last request
        return GcraResult(RateDecision(False, 0, allow_at - now, current - now), current)
    remaining = math.floor((tolerance - (new_tat - now)) / interval + REMAINING_EPSILON)
    return GcraResult(RateDecision(True, max(0, remaining), 0.0, new_tat - now), new_tat)


def gcra_refund(now: float, tat: float | None, rate_per_s: float) -> float | None:
    """The TAT after giving back one request's emission interval (a request that was counted
    but never served); never earlier than `now`, and None for an empty bucket."""
    if tat is None or tat <= now:
        return None
    return max(now, tat - 1.0 / rate_per_s)


def given_back(decision: RateDecision, rate_per_s: float) -> RateDecision:
    """What an allowed `decision` says once its request is given back (`gcra_refund`): one
    request more left, the bucket full one emission interval sooner."""
    return replace(
        decision,
        remaining=decision.remaining + 1,
        reset_after_s=max(0.0, decision.reset_after_s - 1.0 / rate_per_s),
    )
