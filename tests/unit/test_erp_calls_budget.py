"""ERP calls on an ERP other than the one admission took a share of the budget of: each takes
its own share (`ErpCalls.budgeted`), is shed as admission sheds when there is none, and gives
back what it took, the rate token too when nothing reached the ERP."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from gateway.adapters.base import CallContext
from gateway.config.backends import BreakerPolicy
from gateway.config.rate_limits import BackendBudget
from gateway.domain.errors import Code, ErpFailure, GatewayError, RefusedBeforeSending
from gateway.pipeline.context import RequestContext
from gateway.pipeline.ratelimit import erp_requests
from gateway.service.breaker import CircuitBreaker
from gateway.service.erp_calls import Backend, ErpCalls
from gateway.store.base import Store
from tests.fake_erp import FakeErp
from tests.harness import erp_calls_timed

# One request a budget: a token once in 1000 s, so a token taken is not back by itself.
ONE_REQUEST = BackendBudget(max_rps=0.001, max_in_flight=1)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def request_ctx(deadline_in_s: float = 10.0) -> RequestContext:
    ctx = RequestContext(request=None, spec=None)  # type: ignore[arg-type]
    ctx.deadline = time.monotonic() + deadline_in_s
    ctx.backend = "legacy"  # admission took legacy's share; cloud is another ERP
    ctx.correlation_id = "corr-erp-budget"
    return ctx


def backend(name: str, erp: FakeErp, breaker: CircuitBreaker | None = None) -> Backend:
    breaker = breaker or CircuitBreaker(name, BreakerPolicy(failures=1, cool_down_s=30), Clock())
    return Backend(name, erp, 5.0, breaker)


async def read(adapter: FakeErp, call: CallContext) -> object:
    return await adapter.get_customer("1", call)


def shed_count(name: str) -> float:
    return REGISTRY.get_sample_value("gateway_shed_total", {"backend": name}) or 0.0


async def test_a_call_on_another_erp_shed_for_its_budget_is_counted_as_shed(store: Store) -> None:
    cloud = FakeErp("cloud")
    backends = {"legacy": backend("legacy", FakeErp("legacy")), "cloud": backend("cloud", cloud)}
    calls = ErpCalls(backends, store, None, {"cloud": ONE_REQUEST})
    bucket = erp_requests("cloud", ONE_REQUEST)
    assert (await store.rate_limit(bucket.key, bucket.rate_per_s, bucket.burst)).allowed
    before = shed_count("cloud")

    with pytest.raises(GatewayError) as shed:
        await calls.call(request_ctx(), read, "cloud")

    assert shed.value.code is Code.ERP_UNAVAILABLE
    assert cloud.calls == []
    assert shed_count("cloud") == before + 1  # gateway_shed_total: 503s for an ERP's budget


async def test_a_call_on_another_erp_that_sends_nothing_gives_its_rate_token_back(
    store: Store,
) -> None:
    # The other ERP's breaker is open in this process: the call is refused before anything
    # is sent. The budget is for requests that reach the ERP, as admission's is.
    clock = Clock()
    open_breaker = CircuitBreaker("cloud", BreakerPolicy(failures=1, cool_down_s=30), clock)
    open_breaker.failed(open_breaker.admit())
    cloud = FakeErp("cloud")
    legacy = backend("legacy", FakeErp("legacy"))
    refusing = ErpCalls(
        {"legacy": legacy, "cloud": backend("cloud", cloud, open_breaker)},
        store,
        None,
        {"cloud": ONE_REQUEST},
    )
    with pytest.raises(ErpFailure) as refused:
        await refusing.call(request_ctx(), read, "cloud")
    assert refused.value.code is Code.ERP_UNAVAILABLE  # breaker open
    assert cloud.calls == []

    # Another process, whose breaker is closed, has the ERP's one request of the budget.
    elsewhere = ErpCalls(
        {"legacy": legacy, "cloud": backend("cloud", cloud)}, store, None, {"cloud": ONE_REQUEST}
    )
    await elsewhere.call(request_ctx(), read, "cloud")
    assert cloud.calls == ["get_customer"]


async def test_a_call_on_another_erp_out_of_time_gives_its_rate_token_back(store: Store) -> None:
    cloud = FakeErp("cloud")
    backends = {"legacy": backend("legacy", FakeErp("legacy")), "cloud": backend("cloud", cloud)}
    calls = ErpCalls(backends, store, None, {"cloud": ONE_REQUEST})

    with pytest.raises(ErpFailure) as late:
        await calls.call(request_ctx(deadline_in_s=-1.0), read, "cloud")
    assert late.value.code is Code.ERP_TIMEOUT and not late.value.ambiguous

    await calls.call(request_ctx(), read, "cloud")
    assert cloud.calls == ["get_customer"]


async def test_a_call_on_another_erp_that_reached_it_keeps_its_rate_token_spent(
    store: Store,
) -> None:
    cloud = FakeErp("cloud")
    backends = {"legacy": backend("legacy", FakeErp("legacy")), "cloud": backend("cloud", cloud)}
    calls = ErpCalls(backends, store, None, {"cloud": ONE_REQUEST})

    await calls.call(request_ctx(), read, "cloud")
    with pytest.raises(GatewayError) as shed:
        await calls.call(request_ctx(), read, "cloud")
    assert shed.value.code is Code.ERP_UNAVAILABLE
    assert cloud.calls == ["get_customer"]


async def refuse(adapter: FakeErp, call: CallContext) -> object:
    raise RefusedBeforeSending(Code.UNKNOWN_SKU, "refused by the adapter before sending")


async def test_a_notifications_read_that_sends_nothing_gives_its_rate_token_back(
    store: Store,
) -> None:
    # A notification's reads (`unadmitted_caller`) were admitted by no one: each takes its own
    # share of the budget, and, when nothing reached the ERP, gives its token back.
    cloud = FakeErp("cloud")
    calls = ErpCalls({"cloud": backend("cloud", cloud)}, store, None, {"cloud": ONE_REQUEST})

    with pytest.raises(RefusedBeforeSending):
        await calls.unadmitted_caller("corr-refused")("cloud", refuse)
    await calls.unadmitted_caller("corr-read")("cloud", read)

    assert cloud.calls == ["get_customer"]
    with pytest.raises(GatewayError) as shed:  # that read spent the one request
        await calls.unadmitted_caller("corr-shed")("cloud", read)
    assert shed.value.code is Code.ERP_UNAVAILABLE
    assert cloud.calls == ["get_customer"]


async def test_a_clients_call_is_timed_as_a_clients(store: Store) -> None:
    cloud = FakeErp("cloud")
    backends = {"legacy": backend("legacy", FakeErp("legacy")), "cloud": backend("cloud", cloud)}
    calls = ErpCalls(backends, store, None, {"cloud": ONE_REQUEST})
    before = erp_calls_timed("cloud", "get_customer", "ok", "client")

    await calls.call(request_ctx(), read, "cloud")

    assert erp_calls_timed("cloud", "get_customer", "ok", "client") == before + 1
