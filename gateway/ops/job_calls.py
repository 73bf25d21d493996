"""ERP calls of background jobs (migration jobs, ERP polling rounds): each takes a request of
the backend's budget (`rate-limits.yaml` `backends:`) as a client's request does, in the same
counts, but waits its turn instead of being shed.

Not a request's calls (see `gateway.service.erp_calls`), whose admission sheds what the budget
has no room for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

from gateway.adapters.base import CallContext
from gateway.domain.errors import Code, ErpFailure, GatewayError
from gateway.pipeline.ratelimit import take_erp_budget
from gateway.runtime import Runtime
from gateway.service.erp_calls import ErpCall

T = TypeVar("T")

_TURN_S = 0.05  # the least wait for a slot before asking again


class JobCaller:
    """ERP calls for a job: each takes a slot and a request of the backend's budget, waiting
    its turn (a job queues; it is never shed like a request), within the backend's timeout.
    Each call on the configuration of its moment: a reload during a job (a budget raised to
    speed it up) gives the rest of the job the new budget and adapter, not the retired one."""

    def __init__(self, current: Callable[[], Runtime], correlation_id: str) -> None:
        self._current = current
        self._correlation_id = correlation_id

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
        try:
            deadline = time.monotonic() + binding.timeout_s
            context = CallContext(self._correlation_id, deadline=deadline)
            async with asyncio.timeout(binding.timeout_s):
                return await call(binding.adapter, context)
        except TimeoutError as exc:
            raise ErpFailure(
                Code.ERP_TIMEOUT,
                f"{backend} did not answer in time; the outcome is unknown. Run the job again.",
                ambiguous=True,
            ) from exc
        finally:
            if slot is not None:
                with contextlib.suppress(GatewayError):
                    await runtime.store.settle(slot, None, None)
