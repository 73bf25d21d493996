"""ERP calls through a backend's breaker: a half-open trial is never lost, and a
request out of time neither sends anything nor counts against the ERP's health."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from gateway.adapters.base import CallContext, References
from gateway.config.backends import BreakerPolicy
from gateway.domain.errors import ErpFailure
from gateway.domain.models import CustomerCreate
from gateway.pipeline.context import RequestContext
from gateway.service.breaker import BreakerState, CircuitBreaker
from gateway.service.erp_calls import Backend, ErpCalls
from gateway.store.base import ClaimRequest, StoreUnavailable
from gateway.store.memory import MemoryStore
from tests.fake_erp import FakeErp


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


class StoreDown(MemoryStore):
    async def mark_forwarded(self, key: str, owner: str, backend: str) -> bool:
        raise StoreUnavailable()


def request_ctx(deadline_in_s: float = 10.0) -> RequestContext:
    ctx = RequestContext(request=None, spec=None)  # type: ignore[arg-type]
    ctx.deadline = time.monotonic() + deadline_in_s
    ctx.backend = "legacy"
    ctx.correlation_id = "corr-erp-calls"
    return ctx


def half_open(clock: Clock) -> CircuitBreaker:
    breaker = CircuitBreaker("legacy", BreakerPolicy(failures=1, cool_down_s=30), clock)
    breaker.failed(breaker.admit())
    clock.now += 30
    return breaker


async def read(adapter: FakeErp, call: CallContext) -> object:
    return await adapter.get_customer("1", call)


async def test_a_store_failure_before_the_trial_call_does_not_wedge_the_breaker() -> None:
    # A keyed request whose claim carries no backend is marked forwarded by the ERP call,
    # after the breaker admitted it as the half-open trial. The store is down: the request
    # fails with 503 store_unavailable, but the trial is never given back: every later call
    # to this ERP, in this process, is refused "breaker open" for good.
    clock = Clock()
    breaker = half_open(clock)
    erp = FakeErp("legacy")
    calls = ErpCalls({"legacy": Backend("legacy", erp, 5.0, breaker)}, StoreDown(), None)
    ctx = request_ctx()
    ctx.claim = ClaimRequest("crm:k1", "fp", "owner", 30.0, 86400.0, backend=None)

    with pytest.raises(StoreUnavailable):
        await calls.call(ctx, read)

    assert erp.calls == []
    assert breaker.view().state is BreakerState.HALF_OPEN
    assert breaker.admit() is True, "the next request should be the trial"


async def test_a_request_past_its_deadline_sends_nothing_and_does_not_fail_the_erp() -> None:
    # The request's own deadline is spent before its ERP call (a long wait for another copy
    # of its customer, a slow store). The call still goes to the ERP (a write here), is cut
    # at once, reported as an ambiguous ERP timeout and counted as a failure of the ERP.
    erp = FakeErp("legacy")
    erp.delay_s = 0.05
    breaker = CircuitBreaker("legacy", BreakerPolicy(failures=5, cool_down_s=30), Clock())
    calls = ErpCalls({"legacy": Backend("legacy", erp, 5.0, breaker)}, MemoryStore(), None)
    request = CustomerCreate.model_validate(
        {
            "external_ref": "CRM-1",
            "legal_entity": "DE01",
            "legal_name": "Acme",
            "currency": "EUR",
            "tax_id": "DE1",
            "payment_terms": "NET30",
            "credit_limit": Decimal("10.00"),
            "addresses": [
                {
                    "type": "billing",
                    "line1": "x",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                }
            ],
        },
        strict=False,
    )

    async def create(adapter: FakeErp, call: CallContext) -> object:
        return await adapter.create_customer(request, References("CRM-1", "gw-X"), call)

    with pytest.raises(ErpFailure):
        await calls.call(request_ctx(deadline_in_s=-1.0), create)

    assert erp.calls == [], "a write was sent to the ERP after the request's deadline"
    assert breaker.view().failures == 0, "the gateway's lateness counted against the ERP"
