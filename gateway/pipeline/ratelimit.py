"""Rate limits: GCRA per client tier, and each ERP's capacity budget across all clients.

The buckets and slots a request needs, the headers and the refusals; the admission step asks
the Store, which runs the GCRA arithmetic (`gateway.store.gcra`), and `CountRefusals` counts the
requests refused before admission. The policy file's schema is `gateway.config.rate_limits`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from starlette.responses import Response

from gateway.config.rate_limits import BackendBudget, RateLimitPolicy, TierConfig
from gateway.domain.errors import QUOTA_EXCEEDED_TYPE, Code, GatewayError
from gateway.domain.ids import random_hex
from gateway.observability.metrics import RATE_LIMITED
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.store.base import BucketRequest, RateDecision, SlotRequest, Store, StoreUnavailable

_ERP_LEASE_MARGIN_S = 5.0
# Client buckets kept made (see `ClientBuckets`): clients x operations x legal entities, and
# forgotten all at once past this many.
_CLIENT_BUCKETS = 4096


def policy_header(tier: str, config: TierConfig) -> str:
    """`RateLimit-Policy` for a tier: quota = burst, window = time to refill it from empty."""
    window = math.ceil(config.burst / config.rate_per_s)
    return f'"{tier}";q={config.burst};w={window}'


def limit_header(tier: str, decision: RateDecision) -> str:
    return f'"{tier}";r={decision.remaining};t={math.ceil(decision.reset_after_s)}'


def retry_after(seconds: float) -> str:
    """`Retry-After` for a delay: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))


def client_bucket(ctx: RequestContext, tier: str, config: TierConfig) -> BucketRequest:
    """The client's GCRA bucket: per client, optionally per operation and legal entity."""
    parts = ["rl", tier, ctx.client_id]
    if "operation" in config.partition_by:
        parts.append(ctx.spec.operation)
    if "legal_entity" in config.partition_by:
        parts.append(ctx.legal_entity or "-")
    return BucketRequest(":".join(parts), config.rate_per_s, config.burst)


class ClientBuckets:
    """Each client's bucket (`client_bucket`), made once for each operation and legal entity
    it asks for and kept: a bucket is immutable, and the same for every such request."""

    def __init__(self, tiers: Mapping[str, TierConfig], size: int = _CLIENT_BUCKETS) -> None:
        self._tiers = tiers
        self._size = size
        self._buckets: dict[tuple[str, str, str, str | None], BucketRequest] = {}

    def of(self, ctx: RequestContext, tier: str) -> BucketRequest:
        key = (tier, ctx.client_id, ctx.spec.operation, ctx.legal_entity)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._size:
                self._buckets.clear()
            bucket = self._buckets[key] = client_bucket(ctx, tier, self._tiers[tier])
        return bucket


def erp_requests(backend: str, budget: BackendBudget) -> BucketRequest:
    """An ERP's requests-per-second budget, shared by every client."""
    return BucketRequest(f"erp:{backend}:rps", budget.max_rps, max(1, math.ceil(budget.max_rps)))


def erp_slot(backend: str, budget: BackendBudget, held_s: float) -> SlotRequest:
    """One of an ERP's in-flight slots, for work that may hold it `held_s`: a lease that
    outlives that work (never renewed, it must), and frees the slot soon after if the process
    holding it dies."""
    lease_s = held_s + _ERP_LEASE_MARGIN_S
    return SlotRequest(f"erp:{backend}:in-flight", budget.max_in_flight, random_hex(16), lease_s)


async def take_erp_budget(
    store: Store, backend: str, budget: BackendBudget, timeout_s: float, *, reserve: float = 0.0
) -> tuple[SlotRequest | None, RateDecision]:
    """One request's worth of an ERP's budget for work no client request admits (migration
    jobs, shadow samples), in one round trip: the slot held when the rate and a slot were both
    had (give it back with `Store.settle`), else None, with what was taken given back; and the
    rate's decision (its `retry_after_s`). With a `reserve` (a share of the budget), the work
    is admitted only while that share of the burst and of the slots stays free for clients:
    the clients' own bucket and slots, asked against a smaller burst and limit."""
    bucket = erp_requests(backend, budget)
    slot = erp_slot(backend, budget, timeout_s)
    if reserve > 0:  # at least one of each kept free
        bucket = replace(bucket, burst=bucket.burst - math.ceil(bucket.burst * reserve))
        slot = replace(slot, limit=slot.limit - math.ceil(slot.limit * reserve))
    if bucket.burst < 1 or slot.limit < 1:  # the whole budget is the clients'
        return None, RateDecision(False, 0, 1.0 / budget.max_rps, 0.0)
    admission = await store.admit([bucket], slot, None)
    rate = admission.rates[0]
    if rate.allowed and admission.slot_taken:
        return slot, rate
    held = slot if admission.slot_taken else None
    await store.settle(held, None, None, refunds=[bucket] if rate.allowed else [])
    return None, rate


def rate_limited(tier: str, decision: RateDecision) -> GatewayError:
    return GatewayError(
        Code.RATE_LIMITED,
        f"Rate limit of tier {tier!r} exceeded; retry after the indicated delay.",
        headers={"Retry-After": retry_after(decision.retry_after_s)},
        extra={"violated-policies": [tier]},
        type_uri=QUOTA_EXCEEDED_TYPE,
    )


def shed(backend: str, retry_after_s: float) -> GatewayError:
    """503 for a request an ERP's budget has no room for: shed at once, never queued."""
    return GatewayError(
        Code.ERP_UNAVAILABLE,
        f"The {backend} ERP is at capacity; retry shortly with the same request.",
        headers={"Retry-After": retry_after(retry_after_s)},
    )


class CountRefusals:
    """Pipeline step, right after authentication: a request refused before admission (a 403, a
    404 for an id the client may not see, a 400) still counts against its client's rate, so
    that refusals cannot be asked for without limit (each costs a token check and a lookup);
    over the rate, the answer is the 429. A store round trip for refusals only: admitted
    requests are counted in admission's."""

    def __init__(self, store: Store, rate_limits: RateLimitPolicy) -> None:
        self._store = store
        self._rate_limits = rate_limits

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        try:
            return await call_next(ctx)
        except GatewayError as error:
            entitlement = ctx.entitlement
            if ctx.admitted or entitlement is None or error.status >= 500:
                raise
            tier = entitlement.tier
            tier_config = self._rate_limits.tiers[tier]
            bucket = client_bucket(ctx, tier, tier_config)
            try:
                decision = await self._store.rate_limit(bucket.key, bucket.rate_per_s, bucket.burst)
            except StoreUnavailable:
                raise error from None  # the refusal stands; it is just not counted
            # Counted, so told: the refusal or its 429 carries the client's limit as an
            # admitted request's answer does (admission sets them only once it runs).
            ctx.response_headers["RateLimit-Policy"] = policy_header(tier, tier_config)
            ctx.response_headers["RateLimit"] = limit_header(tier, decision)
            if decision.allowed:
                raise
            RATE_LIMITED.labels(tier).inc()
            raise rate_limited(tier, decision) from None
