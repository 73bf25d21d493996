"""The GCRA arithmetic (generic cell rate algorithm): one pure function of now and the stored TAT.

Not storage: the memory store calls `gcra`; the Redis store's Lua script mirrors it line by line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from gateway.store.base import RateDecision

# Absorbs float rounding in times (seconds): Redis's clock is seconds since 1970, where a float
# steps by 2**-22 s, so `now + interval - now` may miss the interval by 0.12 µs, which cost the
# last request of a burst or one from `remaining`. Half a microsecond: above that rounding,
# below the emission interval of the highest rate a tier may have (a million a second).
CLOCK_EPSILON_S = 0.5e-6


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
    if now + CLOCK_EPSILON_S < allow_at:  # float rounding must not cost the last request
        return GcraResult(RateDecision(False, 0, allow_at - now, current - now), current)
    remaining = math.floor((tolerance - (new_tat - now) + CLOCK_EPSILON_S) / interval)
    return GcraResult(RateDecision(True, max(0, remaining), 0.0, new_tat - now), new_tat)


def gcra_refund(now: float, tat: float | None, rate_per_s: float) -> float | None:
    """The TAT after giving back one request's emission interval (a request that was counted
    but never served); never earlier than `now`, and None for an empty bucket."""
    if tat is None or tat <= now:
        return None
    return max(now, tat - 1.0 / rate_per_s)


def given_back(decision: RateDecision, rate_per_s: float) -> RateDecision:
    """What an allowed `decision` says once its request is given back (`gcra_refund`): one
    request more left, the bucket full one emission interval sooner (full now, give or take
    the float rounding `CLOCK_EPSILON_S` absorbs)."""
    reset_after_s = decision.reset_after_s - 1.0 / rate_per_s
    return replace(
        decision,
        remaining=decision.remaining + 1,
        reset_after_s=reset_after_s if reset_after_s > CLOCK_EPSILON_S else 0.0,
    )
