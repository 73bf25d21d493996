"""A path id longer than any id the gateway issues names no record: 404 at once, its problem
echoing a bounded prefix of it, with nothing looked up, journaled or sent to an ERP."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.domain.ids import MAX_GATEWAY_ID_LENGTH
from gateway.store.journal import JournalQuery
from gateway.store.memory import MemoryStore
from tests.harness import in_process_gateway

LONG = 5000


class CountedLookups(MemoryStore):
    """A memory store that counts the cross-reference lookups made of it."""

    lookups = 0

    async def get_xref(self, gateway_id: str) -> Any:
        self.lookups += 1
        return await super().get_xref(gateway_id)


@pytest.mark.parametrize(
    ("method", "path", "id_"),
    [
        ("GET", "/v2/customers/{}", "C" * LONG),
        ("GET", "/v2/customers/{}", "cus_" + "c" * LONG),
        ("GET", "/v1/sales-orders/{}/shipments", "so_" + "s" * LONG),
        ("GET", "/invoices/{}", "inv_" + "i" * LONG),
        ("POST", "/v2/sales-orders/{}/cancel", "so_" + "s" * LONG),
    ],
)
async def test_a_path_id_longer_than_any_gateway_id_is_404_echoing_a_bounded_prefix(
    method: str, path: str, id_: str
) -> None:
    store = CountedLookups()
    async with in_process_gateway(store) as gw, gw.client() as api:
        response = await api.request(
            method, path.format(id_), headers={"Idempotency-Key": "long-id-1"}
        )
        assert await gw.runtime.journal.flush()
        journaled = await store.journal.page(JournalQuery(limit=10))
    assert response.status_code == 404, response.text
    problem = response.json()
    assert problem["code"] == "not_found"
    assert id_[:MAX_GATEWAY_ID_LENGTH] + "…" in problem["detail"]
    assert len(problem["detail"]) < 2 * MAX_GATEWAY_ID_LENGTH
    # The request's own URI, as sent: a cut one would name another resource.
    assert problem["instance"] == path.format(id_)
    assert store.lookups == 0
    assert all(not erp.calls for erp in gw.erps.values())
    assert journaled.items == []


async def test_an_unknown_id_of_a_gateway_ids_length_is_looked_up_and_echoed_whole() -> None:
    store = CountedLookups()
    unknown = "so_" + "x" * (MAX_GATEWAY_ID_LENGTH - 3)
    async with in_process_gateway(store) as gw, gw.client() as api:
        response = await api.get(f"/v2/sales-orders/{unknown}")
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == f"No sales order {unknown}."
    assert store.lookups == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/customers/{}/nothing"),  # no route: the path is echoed
        ("POST", "/erp-events/{}"),  # no such backend: open to anyone, before any secret
    ],
)
async def test_a_long_path_no_route_serves_is_404_echoing_a_bounded_prefix(
    method: str, path: str
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.request(method, path.format("x" * LONG), content=b"{}")
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert "xxxxxxxx…" in detail
    assert len(detail) < 400
