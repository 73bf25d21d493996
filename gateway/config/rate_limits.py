"""The schema of `policies/rate-limits.yaml`: client tiers and each ERP's capacity budget.

Not the limiting itself (see `gateway.pipeline.ratelimit` and the Store's GCRA).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.config.base import ConfigModel


class TierConfig(ConfigModel):
    rate_per_s: Annotated[float, Field(gt=0)]
    burst: Annotated[int, Field(ge=1)]
    # The bucket is per client; optionally per client and operation and/or legal entity.
    partition_by: list[Literal["operation", "legal_entity"]] = []


class BackendBudget(ConfigModel):
    max_rps: Annotated[float, Field(gt=0)]
    max_in_flight: Annotated[int, Field(ge=1)]


class RateLimitPolicy(ConfigModel):
    """`policies/rate-limits.yaml`."""

    tiers: dict[str, TierConfig]
    backends: dict[str, BackendBudget] = {}
    # When the store is down: "open" lets requests through (logged), "closed" answers 503.
    on_store_error: Literal["open", "closed"] = "open"
