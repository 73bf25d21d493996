"""The journal step in-process: which requests become transactions, how an answer becomes a
state and a category, what the business metrics count, and what spans and /metrics carry."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from gateway.observability.spans import telemetry_with
from gateway.store.base import Store
from gateway.store.journal import JournalQuery
from gateway.store.memory import MemoryStore
from tests.conftest import PrefixedRedisStore
from tests.e2e import payloads
from tests.harness import Gateway, in_process_gateway


async def entries(gw: Gateway) -> list[dict[str, object]]:
    await gw.runtime.journal.flush()
    page = await gw.runtime.store.journal.page(JournalQuery(limit=200))
    return page.items


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_writes_and_quotes_are_journaled_and_reads_are_not() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        assert (await api.get(f"/v1/customers/{customer['id']}")).status_code == 200
        order = await api.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert order.status_code == 201
        journaled = await entries(gw)
    operations = sorted(str(e["operation"]) for e in journaled)
    assert operations == ["customers.create", "sales_orders.create"]
    created = next(e for e in journaled if e["operation"] == "sales_orders.create")
    assert created["status"] == "accepted"
    assert created["gateway_id"] == order.json()["id"]
    assert created["erp_document"] == order.json()["erp_reference"]
    assert (created["legal_entity"], created["backend"], created["client"]) == (
        "US01",
        "cloud",
        "crm-demo",
    )
    assert created["rule"] and created["config_version"] == gw.runtime.config.version
    states = [s["state"] for s in created["states"]]  # type: ignore[union-attr]
    assert states == ["received", "routed", "submitted", "accepted"]


async def test_a_refusal_by_the_gateway_is_a_rejection_with_its_code() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post(
            "/v1/sales-orders",
            json={**payloads.order("US01", "cus_x"), "currency": "XX"},
            headers=payloads.new_key(),
        )
        assert response.status_code == 400
        (entry,) = await entries(gw)
    assert entry["status"] == "rejected"
    assert entry["error"] == {
        "category": "validation",
        "code": "validation_failed",
        "detail": response.json()["detail"],
    }
    assert [s["state"] for s in entry["states"]] == ["received", "rejected"]  # type: ignore[union-attr]


@pytest.mark.redis
async def test_a_body_nested_too_deep_is_journaled_without_it_and_holds_up_no_entry(
    redis_store: PrefixedRedisStore,
) -> None:
    # Nested 300 deep: refused as no JSON, and an entry that kept it could never be written.
    deep = '{"legal_entity": "US01", "x": ' + "[" * 300 + "]" * 300 + "}"
    headers = {**payloads.new_key(), "Content-Type": "application/json"}
    async with in_process_gateway(redis_store.store) as gw, gw.client() as api:
        refused = await api.post("/v1/sales-orders", content=deep, headers=headers)
        assert refused.status_code == 400
        assert (await api.post("/v1/customers", json=payloads.customer("US01"))).status_code == 201
        assert await gw.runtime.journal.flush()
        journaled = await entries(gw)
    by_operation = {e["operation"]: e for e in journaled}
    assert sorted(by_operation) == ["customers.create", "sales_orders.create"]
    rejected = by_operation["sales_orders.create"]
    assert rejected["status"] == "rejected"
    assert rejected["request"]["body"] is None  # type: ignore[index]


async def test_a_body_nested_just_short_of_orjsons_limit_keeps_its_entry() -> None:
    # 253 deep: orjson writes the body alone, but not the entry, which keeps it two levels
    # down (`request.body`): the entry is kept, without the body, rather than dropped.
    deep = "[" * 253 + "]" * 253
    headers = {**payloads.new_key(), "Content-Type": "application/json"}
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        refused = await api.post("/v1/sales-orders", content=deep, headers=headers)
        assert refused.status_code == 400
        assert await gw.runtime.journal.flush()
        journaled = await entries(gw)
    assert [e["operation"] for e in journaled] == ["sales_orders.create"]
    assert journaled[0]["request"]["body"] is None  # type: ignore[index]


async def test_an_erp_failure_is_an_open_exception_until_a_retry_succeeds() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        body = payloads.order("US01", customer["id"])
        key = payloads.new_key()
        gw.erps["cloud"].fail_after_commit = True
        failed = await api.post("/v1/sales-orders", json=body, headers=key)
        assert failed.status_code == 504
        await gw.runtime.journal.flush()
        assert (await gw.runtime.store.journal.open_exceptions(0))["gt_24h"] == 0
        now_open = await gw.runtime.store.journal.open_exceptions(time.time())
        assert now_open["lt_1h"] == 1
        gw.erps["cloud"].fail_after_commit = False
        metrics = (await api.get("/metrics")).text
        assert re.search(r'gateway_open_exceptions\{age="lt_1h"\} 1\.0', metrics)


def orders(outcome: str) -> float:
    return sample("gateway_orders_total", legal_entity="DE01", backend="legacy", outcome=outcome)


async def test_orders_and_customers_are_counted_by_legal_entity_backend_and_outcome() -> None:
    where = {"legal_entity": "DE01", "backend": "legacy"}
    accepted, rejected = orders("accepted"), orders("rejected")
    customers = sample("gateway_customers_created_total", **where)
    timed = sample("gateway_order_acceptance_seconds_count", **where)
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        body = payloads.order("DE01", customer["id"])
        ok = await api.post("/v1/sales-orders", json=body, headers=payloads.new_key())
        assert ok.status_code == 201
        gw.erps["legacy"].unknown_skus.add("GADGET-2")  # the ERP refuses what it does not sell
        refused = await api.post("/v1/sales-orders", json=body, headers=payloads.new_key())
        assert refused.status_code == 422
        exposition = (await api.get("/metrics")).text
    assert (orders("accepted"), orders("rejected")) == (accepted + 1, rejected + 1)
    assert sample("gateway_customers_created_total", **where) == customers + 1
    assert sample("gateway_order_acceptance_seconds_count", **where) == timed + 1
    for name in (
        "gateway_request_duration_seconds_bucket",
        "gateway_erp_call_duration_seconds_bucket",
        "gateway_orders_total",
        "gateway_breaker_state",
    ):
        assert name in exposition


async def test_the_server_span_names_the_legal_entity_backend_rule_and_journal_entry() -> None:
    exporter = InMemorySpanExporter()
    telemetry = telemetry_with(SimpleSpanProcessor(exporter))
    async with in_process_gateway(MemoryStore(), telemetry=telemetry) as gw, gw.client() as api:
        response = await api.post("/v1/customers", json=payloads.customer("US01"))
        assert response.status_code == 201
        (entry,) = await entries(gw)
    server = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert server.attributes is not None
    assert server.attributes["gateway.legal_entity"] == "US01"
    assert server.attributes["gateway.backend"] == "cloud"
    assert server.attributes["gateway.route.rule"] == entry["rule"]
    assert server.attributes["gateway.journal.id"] == entry["id"]


async def test_a_retry_on_a_host_whose_clock_is_behind_settles_what_it_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three gateway hosts on one store, their wall clocks apart: A's 30 s ahead of B's, C's
    # 10 s. A create fails on A; its retries under the same Idempotency-Key run after it, one
    # after the other (each one's claim of the key follows the one before), first on C, then
    # on B, though their clocks say they ended earlier. Each retry's outcome is the
    # transaction's, whatever the clocks: C's failure, then B's success (the entry accepted,
    # no open exception, nothing a replay would create a second time).
    real_time = time.time

    async with (
        in_process_gateway(store, clock=lambda: time.time()) as host_a,
        in_process_gateway(store, clock=lambda: time.time()) as host_c,
        in_process_gateway(store, clock=lambda: time.time()) as host_b,
        host_a.client() as api_a,
        host_c.client() as api_c,
        host_b.client() as api_b,
        host_b.client("ops-admin") as ops,
    ):
        body, key = payloads.customer("DE01"), payloads.new_key()
        failed: list[httpx.Response] = []
        for host, api, ahead_s in ((host_a, api_a, 30.0), (host_c, api_c, 10.0)):
            host.erps["legacy"].unavailable = {"create_customer"}
            with monkeypatch.context() as host_time:
                host_time.setattr(time, "time", lambda ahead_s=ahead_s: real_time() + ahead_s)
                failed.append(await api.post("/v1/customers", json=body, headers=key))
                assert failed[-1].status_code == 503, failed[-1].text
                assert await host.runtime.journal.flush()
        entry = await journal_entry(ops, failed[0])
        assert entry["correlation_id"] == failed[1].headers["x-correlation-id"]

        created = await api_b.post("/v1/customers", json=body, headers=key)
        assert created.status_code == 201, created.text
        assert await host_b.runtime.journal.flush()
        entry = await journal_entry(ops, failed[0])
        assert (entry["status"], entry["gateway_id"]) == ("accepted", created.json()["id"])
        assert entry["attempts"] == 3
        later = real_time() + 90
        assert sum((await store.journal.open_exceptions(later)).values()) == 0
        replayed = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={})
        assert replayed.status_code == 422, replayed.text


async def journal_entry(ops: httpx.AsyncClient, answered: httpx.Response) -> dict[str, Any]:
    """The transaction an answer belongs to, found by the answer's correlation id."""
    correlation_id = answered.headers["x-correlation-id"]
    listed = await ops.get("/admin/transactions", params={"correlation_id": correlation_id})
    (entry,) = listed.json()["items"]
    return entry  # type: ignore[no-any-return]
