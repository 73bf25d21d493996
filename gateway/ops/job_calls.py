"""ERP calls of background jobs (migration jobs, ERP polling rounds): each takes a request of
the backend's budget (`rate-limits.yaml` `backends:`) as a client's request does, in the same
counts, but waits its turn instead of being shed; and goes through the backend's circuit breaker
as a client's does (`background_call`): while it is open the call is refused at once, sending
nothing, and a call's failure counts toward opening it.

Not a request's calls (see `gateway.service.erp_calls`), whose admission sheds what the budget
has no room for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from gateway.domain.errors import Code, ErpFailure, GatewayError
from gateway.pipeline.ratelimit import erp_requests, take_erp_budget
from gateway.runtime import Runtime
from gateway.service.breaker import refused_by_breaker
from gateway.service.erp_calls import BudgetShare, ErpCall, Origin, background_call

T = TypeVar("T")

_TURN_S = 0.05  # the least wait for a slot before asking again


class JobCaller:
    """ERP calls for a job: each takes a slot and a request of the backend's budget, waiting
    its turn (a job queues; it is never shed like a request), within the backend's timeout and
    through its breaker, timed as `origin`'s. Each call on the configuration of its moment: a
    reload during a job (a budget raised to speed it up) gives the rest of the job the new
    budget and adapter, not the retired one."""

    def __init__(self, current: Callable[[], Runtime], correlation_id: str, origin: Origin) -> None:
        self._current = current
        self._correlation_id = correlation_id
        self._origin = origin

    async def __call__(self, backend: str, call: ErpCall[T]) -> T:
        runtime = self._current()
        binding = runtime.backends.get(backend)
        if binding is None:
            raise GatewayError(
                Code.INVALID_STATE,
                f"Backend {backend} is no longer configured; the job cannot go on there.",
            )
        budget = runtime.rate_limits.backends.get(backend)
        slot = None
        if budget is not None:
            while True:  # a job waits its turn; it is never shed
                slot, rate = await take_erp_budget(
                    runtime.store, backend, budget, binding.timeout_s
                )
                if slot is not None:
                    break
                await asyncio.sleep(max(rate.retry_after_s, _TURN_S))
        share = BudgetShare()
        try:
            return await background_call(binding, call, self._correlation_id, self._origin, share)
        except ErpFailure as failure:
            raise replace(failure, detail=_for_a_job(backend, failure)) from failure
        finally:
            if slot is not None:
                # The request per second back too when nothing reached the ERP (its breaker
                # open, a refusal before sending), as a client's request gives it back.
                refunds = [] if share.sent or budget is None else [erp_requests(backend, budget)]
                with contextlib.suppress(GatewayError):
                    await runtime.store.settle(slot, None, None, refunds=refunds)


def _for_a_job(backend: str, failure: ErpFailure) -> str:
    """What a job's failed call tells the operator: what to do is run the job again."""
    if refused_by_breaker(failure):
        return (
            f"The {backend} ERP is failing; the gateway stopped calling it for a while (its "
            f"circuit breaker is open, for {failure.headers.get('Retry-After', '?')} s more). "
            "Run the job again once it has recovered."
        )
    if failure.code is Code.ERP_TIMEOUT:
        return f"{failure.detail} Run the job again."
    return failure.detail
