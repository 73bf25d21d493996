"""Admission step: a request takes its place — its client's rate, its ERP's budget and its
idempotency key — in one store round trip, and gives back what it took on its way out.

Not the policies themselves: `ratelimit.py` and `idempotency.py` say what to ask and what the
answers mean; this step asks once, applies them in order, and settles.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response

from gateway.adapters.http import ErpFailure
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
from gateway.store.base import (
    BucketRequest,
    ClaimRequest,
    SlotRequest,
    StoredResponse,
    StoreUnavailable,
)

log = logging.getLogger("gateway.admission")


class Admit:
    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        runtime = ctx.runtime
        tier = entitlement_for(ctx).tier
        tier_config = runtime.rate_limits.tiers[tier]
        buckets = [client_bucket(ctx, tier, tier_config)]
        budget = runtime.rate_limits.backends.get(ctx.backend) if ctx.backend else None
        slot = None
        erp_bucket = None
        if ctx.backend is not None and budget is not None:
            erp_bucket = erp_requests(ctx.backend, budget)
            buckets.append(erp_bucket)
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
        # The ERP's request budget is for requests that reach the ERP: one counted here is
        # given back if this request is refused or answered without calling the ERP.
        counted = erp_bucket if erp_bucket is not None and admission.rates[-1].allowed else None
        held = _Held(held_slot, held_claim, counted)
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
            await _give_back(ctx, held)
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
        return await _run(ctx, call_next, held)


def _marker(ctx: RequestContext, claim: ClaimRequest) -> Callable[[str], Awaitable[None]]:
    """Marks the key as forwarded just before the first ERP call (not at admission: a request
    refused before it reaches an ERP may be fixed and sent again under the same key)."""

    async def mark(backend: str) -> None:
        await ctx.runtime.store.mark_forwarded(claim.key, claim.owner, backend)

    return mark


@dataclass(frozen=True)
class _Held:
    """What an admitted request took and must give back on its way out."""

    slot: SlotRequest | None
    claim: ClaimRequest | None
    erp_bucket: BucketRequest | None


async def _run(ctx: RequestContext, call_next: Handler, held: _Held) -> Response:
    claim = held.claim
    try:
        response = await call_next(ctx)
    except GatewayError as error:
        if claim is not None and isinstance(error, ErpFailure) and error.ambiguous:
            # The ERP may yet commit what it received: a retry must not search it (and find
            # nothing) and submit again before then. The key stays in progress (409) meanwhile.
            await _give_back(ctx, held, hold_s=_commit_window(ctx))
            raise
        if claim is None or error.category is Category.TECHNICAL or not ctx.forwarded:
            await _give_back(ctx, held)
            raise
        # A business refusal from the ERP is a definitive outcome: rendered here so that the
        # stored bytes are the bytes the client gets, and replayed as they are.
        response = problem_response(error, ctx.correlation_id, ctx.request.url.path)
        response.headers.update(error.headers)
    except BaseException:
        await _give_back(ctx, held)
        raise
    outcome = settled_outcome(ctx, response) if claim is not None else None
    await _settle(ctx, held, outcome)
    return response


def _commit_window(ctx: RequestContext) -> float:
    runtime = ctx.runtime
    assert ctx.backend is not None
    return runtime.backend(ctx.backend).timeout_s + runtime.idempotency.ambiguous_grace_s


async def _settle(
    ctx: RequestContext, held: _Held, outcome: StoredResponse | None, hold_s: float = 0.0
) -> None:
    refunds = [held.erp_bucket] if held.erp_bucket is not None and not ctx.forwarded else []
    if held.slot is None and held.claim is None and not refunds:
        return
    try:
        await ctx.runtime.store.settle(
            held.slot, held.claim, outcome, ctx.runtime.idempotency.retention_s, refunds, hold_s
        )
    except StoreUnavailable:
        # The answer is already decided; what was held runs out with its lease, and an
        # unstored outcome is reconciled with the ERP on the next attempt.
        log.warning("store unavailable while settling: %s", ctx.correlation_id)


async def _give_back(ctx: RequestContext, held: _Held, hold_s: float = 0.0) -> None:
    with contextlib.suppress(StoreUnavailable):
        await _settle(ctx, held, None, hold_s)
