"""Admission step: a request takes its place — its client's rate, its ERP's budget and its
idempotency key — in one store round trip, and gives back what it took on its way out.

Not the policies themselves: `ratelimit.py` and `idempotency.py` say what to ask and what the
answers mean; this step asks once, applies them in order, and settles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from starlette.responses import Response

from gateway.config.idempotency import IdempotencyPolicy
from gateway.config.rate_limits import RateLimitPolicy
from gateway.domain.errors import Category, ErpFailure, GatewayError, GatewayReferenceTaken
from gateway.observability.metrics import IDEMPOTENT_REPLAYS, RATE_LIMITED, SHED
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.idempotency import claim_request, key_reused, refusal, settled_outcome
from gateway.pipeline.ratelimit import (
    ClientBuckets,
    erp_requests,
    erp_slot,
    limit_header,
    policy_header,
    rate_limited,
    shed,
)
from gateway.pipeline.records import StaleRecord
from gateway.pipeline.releases import DELAY_S as RELEASE_DELAY_S
from gateway.pipeline.releases import PendingReleases
from gateway.store.base import (
    BucketRequest,
    ClaimRequest,
    RateDecision,
    SlotRequest,
    Store,
    StoredResponse,
    StoreUnavailable,
    XrefRecord,
)
from gateway.store.gcra import given_back
from gateway.store.journal import position

log = logging.getLogger("gateway.admission")

RenderProblem = Callable[[GatewayError, str, str], Response]
"""How the app renders a problem (error, correlation id, instance): admission stores a business
refusal as the exact bytes the client gets, so it renders with the app's one renderer."""


class Admit:
    """Pipeline step, last before the handler: the client's rate, the idempotency key and the
    ERP's budget, decided in one store round trip and settled on the way out."""

    def __init__(
        self,
        store: Store,
        rate_limits: RateLimitPolicy,
        idempotency: IdempotencyPolicy,
        timeouts: Mapping[str, float],
        render_problem: RenderProblem,
        releases: PendingReleases,
    ) -> None:
        self._store = store
        self._rate_limits = rate_limits
        self._idempotency = idempotency
        self._timeouts = timeouts  # each backend's timeout_s
        # How long a claim's lease runs past its request's deadline: the commit window of
        # whichever ERP the request writes to (a retry's is an earlier attempt's, any of them).
        self._longest_commit_window = max(timeouts.values(), default=0.0) + (
            idempotency.ambiguous_grace_s
        )
        self._render_problem = render_problem
        self._releases = releases
        # What is the same for every request, made once per configuration.
        self._policy_headers = {t: policy_header(t, c) for t, c in rate_limits.tiers.items()}
        self._erp_buckets = {n: erp_requests(n, b) for n, b in rate_limits.backends.items()}
        self._client_buckets = ClientBuckets(rate_limits.tiers)

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        assert ctx.entitlement is not None, "authorization runs before admission"
        ctx.admitted = True
        tier = ctx.entitlement.tier
        buckets = [self._client_buckets.of(ctx, tier)]
        budget = self._rate_limits.backends.get(ctx.backend) if ctx.backend else None
        slot = None
        erp_bucket = None
        if ctx.backend is not None and budget is not None:
            erp_bucket = self._erp_buckets[ctx.backend]
            buckets.append(erp_bucket)
            # Held to the answer: the request may work to its deadline (a wait for another
            # process's copy of its customer, then its ERP interaction), its slot with it.
            held_s = max(self._timeouts[ctx.backend], ctx.deadline - time.monotonic())
            slot = erp_slot(ctx.backend, budget, held_s)
        claim = claim_request(
            ctx, self._idempotency, ctx.backend, commit_window_s=self._longest_commit_window
        )
        if ctx.frozen is not None and claim is None:
            raise ctx.frozen  # no key, so no stored answer to replay: not worth a round trip
        # A record the records step took from its hints is read fresh in the same round trip.
        hinted = (ctx.record.gateway_id,) if ctx.record_hinted and ctx.record is not None else ()
        reads = (*hinted, *ctx.related_ids)
        back = self._releases.take()
        try:
            admission = await self._store.admit(buckets, slot, claim, reads, back)
        except StoreUnavailable:
            self._releases.restore(back)
            if ctx.frozen is not None:
                raise ctx.frozen from None  # decided without the store; no replay to look up
            # Limits may fail open (a setting); exactly-once may not: without the store, no
            # claim, so a keyed request is refused as retryable. Nor may a record's home be
            # guessed: a hinted record unchecked could send the request to where it was.
            if claim is not None or hinted or self._rate_limits.on_store_error == "closed":
                raise
            log.warning("store unavailable: request admitted without rate limits (fail-open)")
            return await call_next(ctx)

        held_slot = slot if admission.slot_taken else None
        held_claim = claim if admission.claim and admission.claim.state == "claimed" else None
        if held_claim is not None and admission.claim is not None:
            # It follows every attempt that held the key before it: its journal entry places
            # it after them, whatever the clocks of their hosts say, however it ends.
            follows = admission.claim.after_ms
            if follows is not None:
                ctx.after_ms = follows if ctx.after_ms is None else max(ctx.after_ms, follows)
        # The ERP's request budget is for requests that reach the ERP: one counted here is
        # given back if this request is refused or answered without calling the ERP.
        counted = erp_bucket if erp_bucket is not None and admission.rates[-1].allowed else None
        client_rate = admission.rates[0]
        client_counted = buckets[0] if client_rate.allowed else None
        held = _Held(held_slot, held_claim, counted, client_counted, client_rate)
        if hinted and admission.records[0] != ctx.record:
            # Decided on a stale hint: give back everything (the forwarding mark too), the
            # client's request included, and let the records step send the request through
            # again with the fresh record.
            await self._give_back(ctx, held, refund_client=True)
            raise StaleRecord(admission.records[0])
        ctx.record_hinted = False
        related = admission.records[len(hinted) :]
        if related or ctx.related_ids:  # else the context's own empty dict stands
            ctx.related = dict(zip(ctx.related_ids, related, strict=True))
        ctx.response_headers["RateLimit-Policy"] = self._policy_headers[tier]
        ctx.response_headers["RateLimit"] = limit_header(tier, client_rate)
        # In this order: the client's own limit; then a key that is not ours to run (a replay
        # or a conflict needs no ERP, so it is neither frozen nor shed); then a freeze, which
        # refuses a new attempt and a reconciling one alike (both would call the ERP); then
        # the ERP's budget.
        refused: GatewayError | Response | None = None
        if not client_rate.allowed:
            refused = rate_limited(tier, client_rate)
            RATE_LIMITED.labels(tier).inc()
        elif admission.claim is not None and held_claim is None:
            refused = refusal(admission.claim, ctx.api_version)
            if isinstance(refused, Response):
                IDEMPOTENT_REPLAYS.labels(ctx.spec.operation).inc()
        elif ctx.frozen is not None:
            refused = ctx.frozen
        elif ctx.backend is not None and slot is not None:
            erp_rate = admission.rates[1]
            slot_taken = bool(admission.slot_taken)
            if erp_rate.allowed and not slot_taken and held_claim is not None:
                try:
                    slot_taken = await self._slot_freed(slot)
                except BaseException:  # cancelled while it held the claim: given back
                    await self._give_back(ctx, held)
                    raise
                held = replace(held, slot=slot if slot_taken else None)
            if not erp_rate.allowed or not slot_taken:
                refused = shed(ctx.backend, erp_rate.retry_after_s if not erp_rate.allowed else 1)
                SHED.labels(ctx.backend).inc()
        if refused is not None:
            refund_client = isinstance(refused, GatewayError) and _not_the_clients(ctx, refused)
            await self._give_back(ctx, held, refund_client=refund_client)
            if isinstance(refused, GatewayError):
                raise refused
            return refused

        if held_claim is not None and admission.claim is not None:
            earlier = admission.claim
            if earlier.attempts > 0 and earlier.backend:
                # An earlier attempt reached this ERP with an unknown outcome: go back there
                # (even if the routes changed since) and look for its document first.
                ctx.reconcile_on = earlier.backend
            # Marked forwarded with the claim (to the routed backend; an earlier attempt's
            # stays): a request refused before it reaches an ERP takes that back when it
            # settles, so that it may be fixed and sent again as new.
            ctx.claim = held_claim
        return await self._run(ctx, call_next, held)

    async def _slot_freed(self, slot: SlotRequest) -> bool:
        """One more try at the ERP's slot, for a request that just claimed its key: the slots
        may be held for a moment by its own duplicates, which are refused (409, in progress)
        in the same round trip and give theirs back with the next one. Shed, the one request
        of them all that would run would leave only refusals; a rare path, one round trip."""
        await asyncio.sleep(2 * RELEASE_DELAY_S)  # the duplicates' releases go out meanwhile
        await self._releases.flush()
        try:
            return await self._store.acquire_slot(slot.key, slot.limit, slot.token, slot.lease_s)
        except StoreUnavailable:
            return False

    async def _run(self, ctx: RequestContext, call_next: Handler, held: _Held) -> Response:
        try:
            response = await call_next(ctx)
        except GatewayReferenceTaken:
            # The ERP holds another request's document under this key's gateway reference.
            response = await self._refused(ctx, held, key_reused())
        except GatewayError as error:
            response = await self._refused(ctx, held, error)
        except BaseException:
            # Cancelled (a shutdown past its drain), maybe once the ERP has what it was sent:
            # the key stays in progress for the commit window, as after an ambiguous timeout,
            # so that a retry does not search the ERP too soon, find nothing and submit again.
            forwarded = held.claim is not None and ctx.forwarded
            await self._give_back(ctx, held, hold_s=self._commit_window(ctx) if forwarded else 0.0)
            raise
        outcome = settled_outcome(ctx, response) if held.claim is not None else None
        bind, ctx.binding = ctx.binding, None
        if await self._settle(ctx, held, outcome, bind=bind):
            # The ERP handed back a document an earlier attempt of this request created and
            # bound (NetSuite does, for a reference it holds): answer as the retry that
            # reconciles would, with the id the document has, and settle that. The claim and
            # the ERP's slot are still held: that answer searches the ERP again.
            ctx.reconcile_on = ctx.system_of_record
            return await self._run(ctx, call_next, replace(held, erp_bucket=None))
        return response

    async def _refused(self, ctx: RequestContext, held: _Held, error: GatewayError) -> Response:
        """The stored answer to a definitive refusal; raises `error` for anything else."""
        if held.claim is not None and isinstance(error, ErpFailure) and error.ambiguous:
            # The ERP may yet commit what it received: a retry must not search it (and find
            # nothing) and submit again before then. The key stays in progress (409) meanwhile.
            await self._give_back(ctx, held, hold_s=self._commit_window(ctx))
            raise error
        if held.claim is None or error.category is Category.TECHNICAL or not ctx.forwarded:
            await self._give_back(ctx, held, refund_client=_not_the_clients(ctx, error))
            raise error
        # A business refusal from the ERP is a definitive outcome: rendered here so that the
        # stored bytes are the bytes the client gets, and replayed as they are.
        return self._render_problem(error, ctx.correlation_id, ctx.path)

    def _commit_window(self, ctx: RequestContext) -> float:
        return self._timeouts[ctx.system_of_record] + self._idempotency.ambiguous_grace_s

    async def _settle(
        self,
        ctx: RequestContext,
        held: _Held,
        outcome: StoredResponse | None,
        hold_s: float = 0.0,
        refund_client: bool = False,
        bind: XrefRecord | None = None,
    ) -> bool:
        """Whether `bind` found its document bound to another id (nothing settled then but
        the slot and the refunds). `refund_client`: the client's request is given back too."""
        refunds = [held.erp_bucket] if held.erp_bucket is not None and not ctx.forwarded else []
        if refund_client and held.client is not None:
            refunds.append(held.client)
            if ctx.entitlement is not None and "RateLimit" in ctx.response_headers:
                # Its answer tells the client the request it has back, not the one it spent.
                standing = given_back(held.client_rate, held.client.rate_per_s)
                ctx.response_headers["RateLimit"] = limit_header(ctx.entitlement.tier, standing)
        if held.claim is None:
            # No outcome to store: the client need not wait (see `releases.py`).
            assert bind is None, "only a request holding a key binds as it settles"
            self._releases.add(held.slot, refunds)
            return False
        # A claim marked forwarded at admission whose request never reached an ERP.
        unforward = held.claim.backend is not None and not ctx.forwarded
        # Where the attempt ends in its journal entry: the key's next claim follows it there.
        ctx.settled_at = time.time()
        try:
            taken = await self._store.settle(
                held.slot,
                held.claim,
                outcome,
                self._idempotency.retention_s,
                refunds,
                hold_s,
                unforward,
                bind=bind,
                position_ms=position(ctx.settled_at, ctx.after_ms),
            )
        except StoreUnavailable:
            if bind is not None:
                # The answer names a gateway id that may not be bound: not given. What was
                # held runs out with its lease; the next attempt reconciles with the ERP.
                raise
            # The answer is already decided; what was held runs out with its lease, and an
            # unstored outcome is reconciled with the ERP on the next attempt.
            log.warning("store unavailable while settling: %s", ctx.correlation_id)
            return False
        return taken is not None

    async def _give_back(
        self,
        ctx: RequestContext,
        held: _Held,
        hold_s: float = 0.0,
        refund_client: bool = False,
    ) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self._settle(ctx, held, None, hold_s, refund_client)


@dataclass(slots=True)  # not frozen: made on every request, and never changed once made
class _Held:
    """What an admitted request took and must give back on its way out."""

    slot: SlotRequest | None
    claim: ClaimRequest | None
    erp_bucket: BucketRequest | None
    client: BucketRequest | None  # the client's request, counted against its rate
    client_rate: RateDecision  # what counting it decided (its RateLimit header)


def _not_the_clients(ctx: RequestContext, error: GatewayError) -> bool:
    """Whether `error` refuses the request for the gateway's or an ERP's capacity before any
    ERP had it (a full budget, an open breaker, a freeze, the store lost mid-request): not the
    client's doing, so not counted against its rate, as a 5xx before admission is not
    (`CountRefusals`). A client shed while an ERP is overloaded keeps its quota for when it
    recovers; the ERP is protected all the same, since a shed request never reaches it."""
    return error.status >= 500 and not ctx.forwarded
