"""How the gateway calls an ERP: through the backend's circuit breaker, timed by backend, ERP
operation, outcome and origin. A request's calls within the backend's timeout and the request's
one deadline, with its trace headers, its idempotency key marked as forwarded before the first
call; the calls no client's request makes (an ERP's notification read back, polling, migration
jobs: `background_call`) within the backend's timeout.

Not the adapters (they speak each ERP's API); this binds a call to its backend and deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from gateway.adapters.base import CallContext, ErpAdapter
from gateway.config.rate_limits import BackendBudget
from gateway.domain.errors import (
    Code,
    ErpFailure,
    GatewayError,
    GatewayReferenceTaken,
    RefusedBeforeSending,
)
from gateway.observability.metrics import ERP_CALL_SECONDS_BY, NO_OPERATION, SHED
from gateway.observability.spans import Telemetry, erp_span
from gateway.pipeline.context import RequestContext
from gateway.pipeline.ratelimit import erp_requests, shed, take_erp_budget
from gateway.service.breaker import CircuitBreaker
from gateway.store.base import Store, StoreUnavailable

T = TypeVar("T")

ErpCall = Callable[[ErpAdapter, CallContext], Awaitable[T]]


class Origin(StrEnum):
    """Who an ERP call is made for: the `origin` label of its metric."""

    CLIENT = "client"  # a client's request
    NOTIFICATION = "notification"  # an ERP's change notification, read back
    POLLING = "polling"  # a polling round of an ERP that cannot push
    MIGRATION = "migration"  # a migration job's copy
    SHADOW = "shadow"  # a shadow sample's call (see `gateway.service.shadow`)


class Caller(Protocol):
    """Runs one ERP call on a backend, within whatever deadline and budget its user keeps."""

    def __call__(self, backend: str, call: ErpCall[T]) -> Awaitable[T]: ...


@dataclass(frozen=True)
class Backend:
    """One configured ERP backend: its name, its adapter, its `timeout_s` and its breaker."""

    name: str
    adapter: ErpAdapter
    timeout_s: float
    breaker: CircuitBreaker


def timeouts_of(backends: Mapping[str, Backend]) -> dict[str, float]:
    """Each backend's `timeout_s`, by name."""
    return {name: backend.timeout_s for name, backend in backends.items()}


def call_context(ctx: RequestContext, deadline: float) -> CallContext:
    """What an ERP call carries: correlation id, our span's traceparent, the deadline."""
    trace = ctx.trace
    return CallContext(
        correlation_id=ctx.correlation_id,
        traceparent=trace.outgoing() if trace else None,
        tracestate=trace.tracestate if trace else None,
        deadline=deadline,
    )


class ErpCalls:
    """The ERP calls of every request served by one runtime."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        store: Store,
        telemetry: Telemetry | None,
        budgets: Mapping[str, BackendBudget] | None = None,
    ) -> None:
        self._backends = backends
        self._store = store
        self._telemetry = telemetry
        self._budgets: Mapping[str, BackendBudget] = budgets or {}  # rate-limits.yaml `backends:`

    def timeouts(self) -> dict[str, float]:
        """Each backend's `timeout_s`, by name."""
        return timeouts_of(self._backends)

    def call(
        self, ctx: RequestContext, call: ErpCall[T], backend: str | None = None
    ) -> Coroutine[Any, Any, T]:
        """Run an ERP call on `backend` (default: the request's system of record) within the
        request's one ERP deadline for that backend: `timeout_s` from the request's first call
        to it (so a search and a create, or a read and a cancel, share it), and never past the
        request's own deadline. Within that ERP's budget too: admission took a share of it for
        the ERP the request was routed to; a call on any other (a customer's copy reads it
        where it is, a retry reconciles where an earlier attempt went, a lookup is routed to
        none) takes its own for its duration (`budgeted`)."""
        name = backend or ctx.system_of_record
        if name == ctx.backend:  # a plain function: one coroutine a call on this, the usual path
            return self._call(ctx, call, name)
        return self._budgeted_call(ctx, call, name)

    async def _budgeted_call(self, ctx: RequestContext, call: ErpCall[T], name: str) -> T:
        async with self.budgeted(name) as share:
            return await self._call(ctx, call, name, share)

    async def _call(
        self, ctx: RequestContext, call: ErpCall[T], name: str, share: BudgetShare | None = None
    ) -> T:
        binding = self._backends[name]
        started = time.monotonic()
        deadline = ctx.erp_deadlines.get(name) or min(ctx.deadline, started + binding.timeout_s)
        if deadline <= started:
            # Out of time before sending (a wait for a customer's copy, say): nothing reached
            # the ERP, so the outcome is known, and the ERP's health is not in question.
            ERP_CALL_SECONDS_BY.labels(name, NO_OPERATION, "late", Origin.CLIENT).observe(0.0)
            raise ErpFailure(
                Code.ERP_TIMEOUT,
                "The request ran out of time before the gateway could call the ERP; nothing "
                "was sent. Retry it.",
                ambiguous=False,
            )
        trial = _admitted(binding, Origin.CLIENT)  # an open breaker refuses before sending
        forwarded_before = ctx.forwarded
        if not ctx.forwarded and ctx.claim is not None and ctx.claim.backend is None:
            # From here on the outcome may be the ERP's: a retry under this key reconciles
            # with this ERP first instead of submitting blindly. (A claim admission marked
            # forwarded already, with the backend it was routed to, needs no second mark.)
            try:
                await self._store.mark_forwarded(ctx.claim.key, ctx.claim.owner, name)
            except BaseException:
                binding.breaker.abandoned(trial)  # nothing sent: the next call is the trial
                raise
        ctx.forwarded = True
        if ctx.submitted_at is None:
            ctx.submitted_at = time.time()
        ctx.erp_deadlines.setdefault(name, deadline)
        if share is not None:
            share.sent = True  # from here on the call may reach the ERP
        judged = _Judged(binding, trial, Origin.CLIENT, started)
        telemetry = self._telemetry
        try:
            with judged:
                # Timed here, not in a coroutine of its own: every resumption of the call
                # passes through each coroutine it is awaited by.
                adapter = judged.adapter
                call_ctx = call_context(ctx, deadline)
                try:
                    if telemetry is None or ctx.span is None:
                        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                            return await call(adapter, call_ctx)
                    with erp_span(telemetry, ctx.span, name) as traceparent:
                        traced = replace(call_ctx, traceparent=traceparent)
                        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                            return await call(adapter, traced)
                except TimeoutError as exc:
                    raise ErpFailure(
                        Code.ERP_TIMEOUT,
                        "The ERP did not answer in time; the outcome is unknown. Retry the same "
                        "request with the same Idempotency-Key.",
                        ambiguous=True,
                    ) from exc
        except RefusedBeforeSending:
            # Nor did the request reach the ERP: a refusal before forwarding is not kept under
            # its key (the client fixes the SKU and sends it again under the same key).
            ctx.forwarded = forwarded_before
            if share is not None:
                share.sent = False
            raise

    @contextlib.asynccontextmanager
    async def budgeted(self, backend: str) -> AsyncIterator[BudgetShare]:
        """One request of `backend`'s budget (a rate token and an in-flight slot) for the
        duration of one call no admission took it for; 503, as admission sheds, when it has
        no room. The slot goes back at the end, and the rate token too if the call never
        reached the ERP (`BudgetShare.sent`): the budget is for requests that reach it, as
        admission's is."""
        share = BudgetShare()
        budget = self._budgets.get(backend)
        if budget is None:
            yield share
            return
        timeout_s = self._backends[backend].timeout_s
        slot, rate = await take_erp_budget(self._store, backend, budget, timeout_s)
        if slot is None:
            SHED.labels(backend).inc()  # a 503 for the ERP's budget, as admission's are
            raise shed(backend, rate.retry_after_s if not rate.allowed else 1)
        try:
            yield share
        finally:
            refunds = [] if share.sent else [erp_requests(backend, budget)]
            with contextlib.suppress(StoreUnavailable):  # else it runs out with its lease
                await self._store.settle(slot, None, None, refunds=refunds)

    def caller(self, ctx: RequestContext) -> Caller:
        """ERP calls on any backend, on behalf of `ctx` (its deadlines, trace, forwarding)."""
        return _RequestCaller(self, ctx)

    def unadmitted_caller(self, correlation_id: str) -> Caller:
        """ERP calls of a request that admission did not take a share of the budget for (an
        ERP's notification, read back): one at a time, as an admitted request holds one slot,
        each with its own share (`budgeted`, so 503 when the budget has no room) and within
        the backend's `timeout_s`. The request is answered with the first failure (a shed):
        the calls still waiting their turn then fail with it at once, taking no share."""
        return _UnadmittedCaller(self, correlation_id)

    async def unadmitted_call(self, backend: str, call: ErpCall[T], correlation_id: str) -> T:
        """One call of `unadmitted_caller`'s, within its own share of `backend`'s budget."""
        binding = self._backends[backend]
        async with self.budgeted(backend) as share:
            return await background_call(binding, call, correlation_id, Origin.NOTIFICATION, share)

    async def found_or_created(
        self, ctx: RequestContext, find: ErpCall[T | None], create: ErpCall[T]
    ) -> T:
        """The document an earlier attempt of this request created, when that attempt's outcome
        is unknown (`earlier_attempt`); otherwise, or if no ERP has it, a new one."""
        found = await self.earlier_attempt(ctx, find)
        return found if found is not None else await self.call(ctx, create)

    async def earlier_attempt(self, ctx: RequestContext, find: ErpCall[T | None]) -> T | None:
        """The document an earlier attempt of this request made, when that attempt's outcome
        is unknown (`ctx.reconcile`): searched in the ERP it reached and, if a wave has moved
        the request's legal entity since, in the ERP the rules route it to now (an attempt
        after the wave may have made it there). Found in neither, the request makes a new
        record, which goes where new records go now, never into the ERP the legal entity has
        left: `ctx.reconcile_on` moves to the routed ERP, and so does the ERP the key records
        (a later retry searches there first, even if the wave is undone meanwhile)."""
        if not ctx.reconcile:
            return None
        found = await self.call(ctx, find)
        routed = ctx.backend
        if found is None and routed is not None and routed != ctx.reconcile_on:
            ctx.reconcile_on = routed
            found = await self.call(ctx, find)
            if found is None and ctx.claim is not None:
                await self._store.move_forwarded(ctx.claim.key, ctx.claim.owner, routed)
        return found


async def background_call(
    binding: Backend,
    call: ErpCall[T],
    correlation_id: str,
    origin: Origin,
    share: BudgetShare | None = None,
) -> T:
    """One ERP call no client's request makes, within `binding`'s `timeout_s`: through its
    breaker as a request's calls go (refused at once, 503 with Retry-After, while it is open;
    its outcome counting toward it alike) and timed by `origin`. `share` (its own share of the
    ERP's budget, if it took one) is marked sent once the call may reach the ERP."""
    started = time.monotonic()
    trial = _admitted(binding, origin)
    if share is not None:
        share.sent = True  # from here on the call may reach the ERP
    judged = _Judged(binding, trial, origin, started)
    context = CallContext(correlation_id, deadline=started + binding.timeout_s)
    try:
        with judged:
            try:
                async with asyncio.timeout(binding.timeout_s):
                    return await call(judged.adapter, context)
            except TimeoutError as exc:
                raise ErpFailure(
                    Code.ERP_TIMEOUT,
                    f"{binding.name} did not answer in time; the outcome is unknown.",
                    ambiguous=True,
                ) from exc
    except RefusedBeforeSending:
        if share is not None:
            share.sent = False
        raise


def _admitted(binding: Backend, origin: Origin) -> bool:
    """The breaker's leave for one call (True: the half-open trial), or its refusal (503
    erp_unavailable with Retry-After), timed as a call that sent nothing."""
    try:
        return binding.breaker.admit()
    except ErpFailure:
        ERP_CALL_SECONDS_BY.labels(binding.name, NO_OPERATION, "breaker_open", origin).observe(0.0)
        raise


class _Judged:
    """One call the breaker admitted, as it runs (`with`): its outcome given to the breaker
    and timed by backend, the ERP operation it used, outcome and origin. A technical failure
    counts against the ERP; an answer, a refusal too, for it; a refusal the adapter made
    before sending anything, or a call abandoned (the client left), neither way, a half-open
    trial then freeing its place for the next call."""

    __slots__ = ("_binding", "_named", "_origin", "_started", "_trial")

    def __init__(self, binding: Backend, trial: bool, origin: Origin, started: float) -> None:
        self._binding = binding
        self._trial = trial
        self._origin = origin
        self._started = started
        self._named = _Named(binding.adapter)

    @property
    def adapter(self) -> ErpAdapter:
        return self._named  # an ErpAdapter to its calls: every attribute is the adapter's

    def __enter__(self) -> _Judged:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        breaker = self._binding.breaker
        if error is None:
            breaker.succeeded(self._trial)
            outcome = "ok"
        elif isinstance(error, ErpFailure):
            breaker.failed(self._trial)
            outcome = error.code.value.removeprefix("erp_")
        elif isinstance(error, RefusedBeforeSending):
            breaker.abandoned(self._trial)  # the ERP said nothing of its health
            outcome = "rejected"
        elif isinstance(error, GatewayError | GatewayReferenceTaken):
            breaker.succeeded(self._trial)  # the ERP answered: a refusal is not a failure
            outcome = "rejected"
        else:
            breaker.abandoned(self._trial)
            outcome = "abandoned"
        ERP_CALL_SECONDS_BY.labels(
            self._binding.name, self._named.used, outcome, self._origin
        ).observe(time.monotonic() - self._started)


@dataclass
class BudgetShare:
    """A call's own share of an ERP's budget (`ErpCalls.budgeted`): `sent` once the call may
    have reached the ERP (an open breaker, a request out of time or a refusal before sending
    leave it False)."""

    sent: bool = False


class _RequestCaller:
    def __init__(self, erp: ErpCalls, ctx: RequestContext) -> None:
        self._erp = erp
        self._ctx = ctx

    async def __call__(self, backend: str, call: ErpCall[T]) -> T:
        return await self._erp.call(self._ctx, call, backend)


class _UnadmittedCaller:
    def __init__(self, erp: ErpCalls, correlation_id: str) -> None:
        self._erp = erp
        self._correlation_id = correlation_id
        self._turn = asyncio.Lock()  # one call at the ERP at a time
        self._failed: GatewayError | None = None

    async def __call__(self, backend: str, call: ErpCall[T]) -> T:
        async with self._turn:
            if self._failed is not None:
                raise self._failed  # the request is answered with it: nothing more to ask
            try:
                return await self._erp.unadmitted_call(backend, call, self._correlation_id)
            except GatewayError as error:
                self._failed = error
                raise


class _Named:
    """The adapter as a call sees it, remembering which of its operations the call used (the
    ERP operation label of the call's metric)."""

    __slots__ = ("_adapter", "used")

    def __init__(self, adapter: ErpAdapter) -> None:
        self._adapter = adapter
        self.used = "none"

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if callable(attribute):
            self.used = name
        return attribute
