"""Rate-limit step: GCRA per client tier, and each ERP's capacity budget across all clients.

Not the algorithm's storage (see `gateway.store`); this decides keys, limits and headers.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierConfig(_Model):
    rate_per_s: Annotated[float, Field(gt=0)]
    burst: Annotated[int, Field(ge=1)]


class BackendBudget(_Model):
    max_rps: Annotated[float, Field(gt=0)]
    max_in_flight: Annotated[int, Field(ge=1)]


class RateLimitPolicy(_Model):
    """`policies/rate-limits.yaml`."""

    tiers: dict[str, TierConfig]
    backends: dict[str, BackendBudget] = {}
