"""ERP calls through their backend's circuit breaker: only the ERP's answer is a verdict on its
health. A refusal the adapter makes before sending anything (a SKU its value maps do not know)
neither closes a half-open breaker nor breaks a run of failures."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from gateway.adapters.base import CallContext, CustomerContext, References
from gateway.adapters.http import ErpResponse
from gateway.config.backends import BreakerPolicy
from gateway.domain.errors import Code, ErpFailure, GatewayError, RefusedBeforeSending
from gateway.pipeline.context import RequestContext
from gateway.service.breaker import BreakerState, CircuitBreaker
from gateway.service.erp_calls import Backend, ErpCalls
from gateway.store.memory import MemoryStore
from tests.canonical import order_item
from tests.fake_transport import FakeTransport, SentRequest, json_response
from tests.unit.adapters.fakes import context, csrf_answer, netsuite_adapter, sap_adapter

SAP_UNKNOWN_MATERIAL = {
    "error": {"code": "V1/392", "message": {"lang": "en", "value": "Material does not exist"}}
}


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def request_ctx() -> RequestContext:
    ctx = RequestContext(request=None, spec=None)  # type: ignore[arg-type]
    ctx.deadline = time.monotonic() + 10
    ctx.backend = "legacy"
    ctx.correlation_id = "corr-breaker"
    return ctx


def legacy_calls(transport: FakeTransport, breaker: CircuitBreaker) -> ErpCalls:
    backend = Backend("legacy", sap_adapter(transport), 5.0, breaker)
    return ErpCalls({"legacy": backend}, MemoryStore(), None)


def order_of(sku: str, legal_entity: str = "DE01") -> Any:
    async def create(adapter: Any, call: CallContext) -> Any:
        return await adapter.create_sales_order(
            legal_entity,
            CustomerContext("0001000001", legal_entity),
            "EUR" if legal_entity == "DE01" else "USD",
            None,
            [order_item(sku, 1, Decimal("19.99"), "EUR")],
            References(None, "gw-BREAKER"),
            call,
        )

    return create


async def read_order(adapter: Any, call: CallContext) -> Any:
    return await adapter.get_sales_order("0010000001", call)


def half_open(clock: Clock) -> CircuitBreaker:
    breaker = CircuitBreaker("legacy", BreakerPolicy(failures=1, cool_down_s=30), clock)
    breaker.failed(breaker.admit())  # the ERP failed: open
    clock.now += 30  # cool-down over: the next call is the trial
    return breaker


async def test_a_refusal_before_anything_is_sent_does_not_close_a_half_open_breaker() -> None:
    clock = Clock()
    breaker = half_open(clock)
    transport = FakeTransport()

    with pytest.raises(GatewayError) as refused:
        await legacy_calls(transport, breaker).call(request_ctx(), order_of("NO-SUCH-SKU"))

    assert refused.value.code is Code.UNKNOWN_SKU
    assert transport.sent == []  # the ERP was not asked
    assert breaker.view().state is BreakerState.HALF_OPEN
    assert breaker.admit() is True  # the next request is the trial


async def test_a_refusal_the_erp_answers_closes_a_half_open_breaker() -> None:
    clock = Clock()
    breaker = half_open(clock)
    transport = FakeTransport([csrf_answer(), json_response(400, SAP_UNKNOWN_MATERIAL)])

    with pytest.raises(GatewayError) as refused:
        await legacy_calls(transport, breaker).call(request_ctx(), order_of("WIDGET-1"))

    assert refused.value.code is Code.UNKNOWN_SKU
    assert breaker.view().state is BreakerState.CLOSED  # the ERP answered: it is up


async def test_refusals_before_sending_do_not_keep_a_failing_erp_from_opening_the_breaker() -> None:
    def down(sent: SentRequest) -> ErpResponse:
        raise ErpFailure(Code.ERP_UNAVAILABLE, "The ERP is unreachable.")

    breaker = CircuitBreaker("legacy", BreakerPolicy(failures=3, cool_down_s=30), Clock())
    calls = legacy_calls(FakeTransport(responder=down), breaker)

    for _ in range(2):  # a failure, a request with a typo'd SKU, a failure, and again
        with pytest.raises(ErpFailure):
            await calls.call(request_ctx(), read_order)
        with pytest.raises(GatewayError):
            await calls.call(request_ctx(), order_of("NO-SUCH-SKU"))
    assert breaker.view().state is BreakerState.CLOSED  # 2 failures in a row, threshold 3

    with pytest.raises(ErpFailure):
        await calls.call(request_ctx(), read_order)
    assert breaker.view().state is BreakerState.OPEN


@pytest.mark.parametrize(
    ("adapter_of", "legal_entity"), [(sap_adapter, "DE01"), (netsuite_adapter, "US01")]
)
async def test_both_adapters_refuse_an_unknown_sku_before_sending_anything(
    adapter_of: Any, legal_entity: str
) -> None:
    transport = FakeTransport()

    with pytest.raises(RefusedBeforeSending) as refused:
        await order_of("NO-SUCH-SKU", legal_entity)(adapter_of(transport), context())

    assert (refused.value.code, refused.value.status) == (Code.UNKNOWN_SKU, 422)
    assert transport.sent == []


async def test_a_refusal_before_sending_leaves_the_request_not_forwarded() -> None:
    # Not forwarded, its refusal is not kept under the Idempotency-Key: the client corrects
    # the SKU and sends the order again under the same key. An ERP's own refusal is kept.
    calls = legacy_calls(FakeTransport(), CircuitBreaker("legacy", BreakerPolicy(), Clock()))
    ctx = request_ctx()
    with pytest.raises(RefusedBeforeSending):
        await calls.call(ctx, order_of("NO-SUCH-SKU"))
    assert ctx.forwarded is False

    answered = FakeTransport([csrf_answer(), json_response(400, SAP_UNKNOWN_MATERIAL)])
    calls = legacy_calls(answered, CircuitBreaker("legacy", BreakerPolicy(), Clock()))
    ctx = request_ctx()
    with pytest.raises(GatewayError):
        await calls.call(ctx, order_of("WIDGET-1"))
    assert ctx.forwarded is True
