"""The schema of `policies/rate-limits.yaml`: client tiers and each ERP's capacity budget.

Not the limiting itself (see `gateway.pipeline.ratelimit` and the Store's GCRA).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.config.base import ConfigModel

# The stores' clock counts microseconds (Redis's TIME): a rate beyond a million a second has
# no emission interval left to count (on Redis every request failed), and one below a request
# per million seconds a window past what a key's expiry can hold. A burst within a 64-bit
# count, exactly (Redis returned a negative `r=` past it). Infinity is none of them.
MAX_RATE_PER_S = 1_000_000.0
MIN_RATE_PER_S = 0.000001
MAX_BURST = 1_000_000_000
# An ERP's calls in flight at once, across every gateway process: no ERP serves more (SAP's
# work processes and NetSuite's concurrency limit count in tens to hundreds), so a larger
# budget protects nothing and is a typo; past 2^53 it is not even counted exactly.
MAX_IN_FLIGHT = 10_000

# A tier's name goes into the RateLimit headers as an sf-string and into bucket keys (`:`
# separated): letters, digits, `.`, `_` and `-`.
TierName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class TierConfig(ConfigModel):
    """One client tier: a GCRA limit per client (`tiers:`)."""

    rate_per_s: Annotated[
        float,
        Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S, description="Sustained requests per second."),
    ]
    burst: Annotated[int, Field(ge=1, le=MAX_BURST, description="Requests allowed at once.")]
    partition_by: Annotated[
        list[Literal["operation", "legal_entity"]],
        Field(
            description="One bucket per client and each of these (operation, legal_entity); "
            "absent: one bucket per client."
        ),
    ] = []


class BackendBudget(ConfigModel):
    """One ERP's capacity, shared by all clients and gateway processes (`backends:`)."""

    max_rps: Annotated[
        float,
        Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S, description="Requests per second to the ERP."),
    ]
    max_in_flight: Annotated[
        int, Field(ge=1, le=MAX_IN_FLIGHT, description="ERP calls in flight at once.")
    ]


class RateLimitPolicy(ConfigModel):
    """`policies/rate-limits.yaml`: client tiers and each ERP's capacity budget."""

    tiers: Annotated[
        dict[TierName, TierConfig], Field(description="Tier name -> limit per client.")
    ]
    backends: Annotated[
        dict[str, BackendBudget],
        Field(description="Backend name -> budget; excess gets 503 with Retry-After, never waits."),
    ] = {}
    on_store_error: Annotated[
        Literal["open", "closed"],
        Field(
            description="While the store is down: `open` lets requests through (logged), "
            "`closed` answers 503."
        ),
    ] = "open"
