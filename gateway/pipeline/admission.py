"""Admission step: a request takes its place — its client's rate, its ERP's budget and its
idempotency key — in one store round trip, and gives back what it took on its way out.

Not the policies themselves: `ratelimit.py` and `idempotency.py` say what to ask and what the
answers mean; this step asks once, applies them in order, and settles.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from gateway.api.problems import problem_response
from gateway.domain.errors import Category, GatewayError
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.entitlements import entitlement_for
from gateway.pipeline.idempotency import claim_request, refusal, settled_outcome
from gateway.pipeline.ratelimit import (
    client_bucket,
    erp_requests,
    erp_slot,
    limit_header,
    policy_header,
    rate_limited,
    shed,
)
from gateway.store.base import ClaimRequest, SlotRequest, StoredResponse, StoreUnavailable

log = logging.getLogger("gateway.admission")


class Admit:
    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        runtime = ctx.runtime
        tier = entitlement_for(ctx).tier
        tier_config = runtime.rate_limits.tiers[tier]
        buckets = [client_bucket(ctx, tier, tier_config)]
        budget = runtime.rate_limits.backends.get(ctx.backend) if ctx.backend else None
        slot = None
        if ctx.backend is not None and budget is not None:
            buckets.append(erp_requests(ctx.backend, budget))
            slot = erp_slot(ctx.backend, budget, runtime.backend(ctx.backend).timeout_s)
        claim = claim_request(ctx)
        try:
            admission = await runtime.store.admit(buckets, slot, claim)
        except StoreUnavailable:
            # Limits may fail open (a setting); exactly-once may not: without the store, no
            # claim, so a keyed request is refused as retryable.
            if claim is not None or runtime.rate_limits.on_store_error == "closed":
                raise
            log.warning("store unavailable: request admitted without rate limits (fail-open)")
            return await call_next(ctx)

        held_slot = slot if admission.slot_taken else None
        held_claim = claim if admission.claim and admission.claim.state == "claimed" else None
        client_rate = admission.rates[0]
        ctx.response_headers["RateLimit-Policy"] = policy_header(tier, tier_config)
        ctx.response_headers["RateLimit"] = limit_header(tier, client_rate)
        # In this order: the client's own limit; then a key that is not ours to run (a replay
        # or a conflict needs no ERP, so it is never shed); then the ERP's budget.
        refused: GatewayError | Response | None = None
        if not client_rate.allowed:
            refused = rate_limited(tier, client_rate)
        elif admission.claim is not None and held_claim is None:
            refused = refusal(admission.claim)
        elif ctx.backend is not None and slot is not None:
            erp_rate = admission.rates[1]
            if not erp_rate.allowed or not admission.slot_taken:
                refused = shed(ctx.backend, erp_rate.retry_after_s if not erp_rate.allowed else 1)
        if refused is not None:
            await _give_back(ctx, held_slot, held_claim)
            if isinstance(refused, GatewayError):
                raise refused
            return refused

        if held_claim is not None and admission.claim is not None:
            earlier = admission.claim
            if earlier.attempts > 0 and earlier.backend:
                # An earlier attempt reached this ERP with an unknown outcome: go back there
                # (even if the routes changed since) and look for its document first.
                ctx.backend = earlier.backend
                ctx.reconcile = True
            ctx.before_forward = _marker(ctx, held_claim)
        return await _run(ctx, call_next, held_slot, held_claim)


def _marker(ctx: RequestContext, claim: ClaimRequest) -> Callable[[str], Awaitable[None]]:
    """Marks the key as forwarded just before the first ERP call (not at admission: a request
    refused before it reaches an ERP may be fixed and sent again under the same key)."""

    async def mark(backend: str) -> None:
        await ctx.runtime.store.mark_forwarded(claim.key, claim.owner, backend)

    return mark


async def _run(
    ctx: RequestContext,
    call_next: Handler,
    slot: SlotRequest | None,
    claim: ClaimRequest | None,
) -> Response:
    try:
        response = await call_next(ctx)
    except GatewayError as error:
        if claim is None or error.category is Category.TECHNICAL or not ctx.forwarded:
            await _give_back(ctx, slot, claim)
            raise
        # A business refusal from the ERP is a definitive outcome: rendered here so that the
        # stored bytes are the bytes the client gets, and replayed as they are.
        response = problem_response(error, ctx.correlation_id, ctx.request.url.path)
        response.headers.update(error.headers)
    except BaseException:
        await _give_back(ctx, slot, claim)
        raise
    outcome = settled_outcome(ctx, response) if claim is not None else None
    await _settle(ctx, slot, claim, outcome)
    return response


async def _settle(
    ctx: RequestContext,
    slot: SlotRequest | None,
    claim: ClaimRequest | None,
    outcome: StoredResponse | None,
) -> None:
    if slot is None and claim is None:
        return
    try:
        await ctx.runtime.store.settle(slot, claim, outcome, ctx.runtime.idempotency.retention_s)
    except StoreUnavailable:
        # The answer is already decided; what was held runs out with its lease, and an
        # unstored outcome is reconciled with the ERP on the next attempt.
        log.warning(
            "store unavailable while settling", extra={"correlation_id": ctx.correlation_id}
        )


async def _give_back(
    ctx: RequestContext, slot: SlotRequest | None, claim: ClaimRequest | None
) -> None:
    with contextlib.suppress(StoreUnavailable):
        await _settle(ctx, slot, claim, None)
