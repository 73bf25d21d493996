"""Rate-limit step: GCRA per client tier, and each ERP's capacity budget across all clients.

Not the algorithm's storage (see `gateway.store`); this decides keys, limits and headers.
"""

from __future__ import annotations

import contextlib
import logging
import math
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from gateway.domain.errors import QUOTA_EXCEEDED_TYPE, Code, GatewayError
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.entitlements import entitlement_for
from gateway.store.base import RateDecision, StoreUnavailable


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierConfig(_Model):
    rate_per_s: Annotated[float, Field(gt=0)]
    burst: Annotated[int, Field(ge=1)]
    # The bucket is per client; optionally per client and operation and/or legal entity.
    partition_by: list[Literal["operation", "legal_entity"]] = []


class BackendBudget(_Model):
    max_rps: Annotated[float, Field(gt=0)]
    max_in_flight: Annotated[int, Field(ge=1)]


class RateLimitPolicy(_Model):
    """`policies/rate-limits.yaml`."""

    tiers: dict[str, TierConfig]
    backends: dict[str, BackendBudget] = {}
    # When the store is down: "open" lets requests through (logged), "closed" answers 503.
    on_store_error: Literal["open", "closed"] = "open"


# -- behaviour -----------------------------------------------------------------------------

log = logging.getLogger("gateway.ratelimit")
_ERP_LEASE_MARGIN_S = 5.0


def policy_header(tier: str, config: TierConfig) -> str:
    """`RateLimit-Policy` for a tier: quota = burst, window = time to refill it from empty."""
    window = math.ceil(config.burst / config.rate_per_s)
    return f'"{tier}";q={config.burst};w={window}'


def limit_header(tier: str, decision: RateDecision) -> str:
    return f'"{tier}";r={decision.remaining};t={math.ceil(decision.reset_after_s)}'


def _retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def _bucket_key(ctx: RequestContext, tier: str, config: TierConfig) -> str:
    parts = ["rl", tier, ctx.client_id]
    if "operation" in config.partition_by:
        parts.append(ctx.spec.operation)
    if "legal_entity" in config.partition_by:
        parts.append(ctx.legal_entity or "-")
    return ":".join(parts)


class RateLimit:
    """Pipeline step: the client's tier (GCRA); headers on every limited response; 429 beyond."""

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        runtime = ctx.runtime
        tier = entitlement_for(ctx).tier
        config = runtime.rate_limits.tiers[tier]
        try:
            decision = await runtime.store.rate_limit(
                _bucket_key(ctx, tier, config), config.rate_per_s, config.burst
            )
        except StoreUnavailable:
            if runtime.rate_limits.on_store_error == "closed":
                raise
            log.warning("rate limit skipped: store unavailable (fail-open)")
            return await call_next(ctx)
        ctx.response_headers["RateLimit-Policy"] = policy_header(tier, config)
        ctx.response_headers["RateLimit"] = limit_header(tier, decision)
        if not decision.allowed:
            raise GatewayError(
                Code.RATE_LIMITED,
                f"Rate limit of tier {tier!r} exceeded; retry after the indicated delay.",
                headers={"Retry-After": _retry_after(decision.retry_after_s)},
                extra={"violated-policies": [tier]},
                type_uri=QUOTA_EXCEEDED_TYPE,
            )
        return await call_next(ctx)


def _shed(backend: str, retry_after_s: float) -> GatewayError:
    return GatewayError(
        Code.ERP_UNAVAILABLE,
        f"The {backend} ERP is at capacity; retry shortly with the same request.",
        headers={"Retry-After": _retry_after(retry_after_s)},
    )


class ErpBudget:
    """Pipeline step: each ERP's budget across all clients (requests per second and in flight).

    Excess is shed at once with 503 and Retry-After, never queued. An in-flight slot is a lease,
    so one held by a process that died is freed when the lease runs out.
    """

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        runtime = ctx.runtime
        backend = ctx.backend
        budget = runtime.rate_limits.backends.get(backend) if backend else None
        if backend is None or budget is None:
            return await call_next(ctx)
        store = runtime.store
        token = uuid.uuid4().hex
        slot_key = f"erp:{backend}:in-flight"
        lease_s = runtime.backend(backend).timeout_s + _ERP_LEASE_MARGIN_S
        try:
            rate = await store.rate_limit(
                f"erp:{backend}:rps", budget.max_rps, max(1, math.ceil(budget.max_rps))
            )
            if not rate.allowed:
                raise _shed(backend, rate.retry_after_s)
            if not await store.acquire_slot(slot_key, budget.max_in_flight, token, lease_s):
                raise _shed(backend, 1.0)
        except StoreUnavailable:
            if runtime.rate_limits.on_store_error == "closed":
                raise
            log.warning("ERP budget skipped: store unavailable (fail-open)")
            return await call_next(ctx)
        try:
            return await call_next(ctx)
        finally:
            with contextlib.suppress(StoreUnavailable):
                await store.release_slot(slot_key, token)
