"""A request the server's shutdown cut off (its drain ran out of time, `GatewayServer`) is
answered 503 `gateway_busy`, counted and logged as every request is; any other cancellation
of a request goes on as it came, answered by nobody. The server's side, and the retry of a
write on another gateway, are in tests/e2e/test_serve_stop_log.py."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client import REGISTRY

from gateway.observability.logging import access_log
from gateway.pipeline.cut_off import mark_cut_off
from gateway.store.journal import JournalQuery
from gateway.store.memory import MemoryStore
from tests.conftest import AccessLines
from tests.e2e import payloads
from tests.harness import Gateway, in_process_gateway


def _answered(operation: str, status: str, backend: str) -> float:
    labels = {"operation": operation, "status": status, "backend": backend}
    return REGISTRY.get_sample_value("gateway_request_duration_seconds_count", labels) or 0.0


async def _held_read(gw: Gateway, api: httpx.AsyncClient) -> tuple[asyncio.Task[Any], str]:
    """A customer read the cloud ERP holds (until cancelled), in a task of its own, once it is
    at the ERP; and its correlation id."""
    created = await api.post("/v1/customers", json=payloads.customer("US01"))
    assert created.status_code == 201, created.text
    at_erp = asyncio.Event()

    async def held(*_: Any) -> None:
        at_erp.set()
        await asyncio.Event().wait()  # never set: the ERP holds the read

    gw.erps["cloud"].get_customer = held  # type: ignore[method-assign, assignment]
    correlation_id = "held-read"
    read = asyncio.create_task(
        api.get(
            f"/v1/customers/{created.json()['id']}", headers={"X-Correlation-ID": correlation_id}
        )
    )
    await at_erp.wait()
    return read, correlation_id


async def test_a_read_the_shutdown_cut_off_is_answered_503_counted_and_logged(
    access_lines: AccessLines,
) -> None:
    before = _answered("customers.read", "503", "cloud")
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        read, correlation_id = await _held_read(gw, api)
        mark_cut_off([read])
        read.cancel()
        answer = await read
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert (answer.headers["retry-after"], answer.headers["connection"]) == ("1", "close")
    assert answer.headers["x-correlation-id"] == correlation_id
    problem = answer.json()
    assert (problem["code"], problem["category"], problem["retryable"]) == (
        "gateway_busy",
        "technical",
        True,
    )
    assert problem["detail"].startswith("The gateway is stopping"), problem
    assert "Idempotency-Key" not in problem["detail"]  # a read: sent again as it is
    assert _answered("customers.read", "503", "cloud") == before + 1
    access_log.stop()
    [line] = [e for e in access_lines.entries if e.get("correlation_id") == correlation_id]
    assert (line["status"], line["operation"]) == (503, "customers.read")


async def test_any_other_cancellation_of_a_request_is_not_answered(
    access_lines: AccessLines,
) -> None:
    before = _answered("customers.read", "503", "cloud")
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        read, correlation_id = await _held_read(gw, api)
        read.cancel()  # not by the server's shutdown: not marked
        await asyncio.wait([read])
    assert read.cancelled()
    assert _answered("customers.read", "503", "cloud") == before
    access_log.stop()
    assert not [e for e in access_lines.entries if e.get("correlation_id") == correlation_id]


async def test_a_request_outside_the_domain_api_the_shutdown_cut_off_is_answered_503(
    access_lines: AccessLines,
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        pinged = asyncio.Event()

        async def held() -> None:
            pinged.set()
            await asyncio.Event().wait()  # the store never answers (within the readiness 1 s)

        gw.runtime.store.ping = held  # type: ignore[method-assign]
        ready = asyncio.create_task(api.get("/readyz", headers={"X-Correlation-ID": "held"}))
        await pinged.wait()
        mark_cut_off([ready])
        ready.cancel()
        answer = await ready
    assert answer.status_code == 503
    assert answer.json()["code"] == "gateway_busy"
    assert (answer.headers["retry-after"], answer.headers["connection"]) == ("1", "close")
    assert answer.headers["x-correlation-id"] == "held"
    access_log.stop()
    [line] = [e for e in access_lines.entries if e.get("correlation_id") == "held"]
    assert (line["status"], line["path"]) == (503, "/readyz")


async def test_a_write_cut_off_at_the_erp_is_journaled_unknown_and_its_key_stays_in_progress(
    access_lines: AccessLines,
) -> None:
    """As after an ambiguous ERP timeout: the journal says the attempt failed with its outcome
    unknown, and the same key is refused 409 while the ERP may still commit what it was sent
    (a retry then reconciles: tests/e2e/test_serve_stop_log.py)."""
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        created = await api.post("/v1/customers", json=payloads.customer("US01"))
        at_erp = asyncio.Event()

        async def held(*_: Any) -> None:
            at_erp.set()
            await asyncio.Event().wait()  # the ERP has the order, its answer held

        gw.erps["cloud"].create_sales_order = held  # type: ignore[method-assign, assignment]
        body = payloads.order("US01", created.json()["id"])
        key = payloads.new_key()
        write = asyncio.create_task(api.post("/v1/sales-orders", json=body, headers=key))
        await at_erp.wait()
        mark_cut_off([write])
        write.cancel()
        answer = await write
        again = await api.post("/v1/sales-orders", json=body, headers=key)
        await gw.runtime.journal.flush()
        page = await gw.runtime.store.journal.page(JournalQuery(limit=10))
    assert answer.status_code == 503
    problem = answer.json()
    assert problem["code"] == "gateway_busy"
    assert "Retry the same request with the same Idempotency-Key" in problem["detail"]
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "idempotency_in_progress"
    [entry] = [e for e in page.items if e["operation"] == "sales_orders.create"]
    assert (entry["status"], entry["http_status"], entry["outcome_unknown"]) == (
        "failed",
        503,
        True,
    ), entry
    assert entry["error"]["code"] == "gateway_busy"
