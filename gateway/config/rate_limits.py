"""The schema of `policies/rate-limits.yaml`: client tiers, each ERP's capacity budget, and the
limit on each client address's authentication failures.

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

# The authentication failures an address may have before it is refused, and over how long they
# are forgotten, when rate-limits.yaml says nothing (see `AuthFailuresConfig`).
DEFAULT_AUTH_FAILURES = 100
DEFAULT_AUTH_FAILURE_WINDOW_S = 60
MAX_AUTH_FAILURE_WINDOW_S = 86_400  # a day: a longer lockout is a ban, an operator's decision
# At most a million a second, as a tier's rate (see MAX_RATE_PER_S) even over a 1 s window.
MAX_AUTH_FAILURES = 1_000_000

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


class AuthFailuresConfig(ConfigModel):
    """The authentication failures (401s) one client address may have (`auth_failures:`): past
    `max_failures` at once, its requests are refused 429 before any token check, and it gets
    one more try each `window_s / max_failures` seconds (GCRA: it may fail `max_failures`
    times in any `window_s`). Counted in each gateway process, not across them."""

    enabled: Annotated[
        bool, Field(description="false: failures are never counted nor any address refused.")
    ] = True
    max_failures: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_AUTH_FAILURES,
            description="Authentication failures one address may have at once, and in any window.",
        ),
    ] = DEFAULT_AUTH_FAILURES
    window_s: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_AUTH_FAILURE_WINDOW_S,
            description="Seconds over which an address's failures are forgotten.",
        ),
    ] = DEFAULT_AUTH_FAILURE_WINDOW_S

    @property
    def rate_per_s(self) -> float:
        """The failures an address is given back a second."""
        return self.max_failures / self.window_s


class RateLimitPolicy(ConfigModel):
    """`policies/rate-limits.yaml`: client tiers, each ERP's capacity budget, and the limit on
    each client address's authentication failures."""

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
    auth_failures: Annotated[
        AuthFailuresConfig,
        Field(
            description="Authentication failures one client address may have before its "
            "requests are refused 429 without a token check; on by default (100 a minute)."
        ),
    ] = AuthFailuresConfig()
