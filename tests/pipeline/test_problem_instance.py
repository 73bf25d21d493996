"""A problem's `instance` is the request's path as the client sent it: a URI reference (RFC 9457
3.1.5), percent-escapes kept, on the domain API, the admin API and paths no route serves."""

from __future__ import annotations

import pytest

from gateway.store.memory import MemoryStore
from tests.harness import in_process_gateway


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/customers/cus_a%20b", 404),  # the handler's
        ("GET", "/v1/customers/cus_a%2Fb", 404),  # `%2F` unescaped would name another path
        ("GET", "/v2/customers/cus_%C3%A9", 404),  # not ASCII once unescaped: no URI at all
        ("GET", "/v2/no%20such/thing", 404),  # no route
        ("POST", "/v2/sales-orders/so_%22x%22/cancel", 404),
        ("GET", "/admin/transactions/tx_a%20b", 403),  # the demo CRM is no operator
    ],
)
async def test_the_instance_of_a_problem_is_the_path_as_sent(
    method: str, path: str, status: int
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.request(method, path, headers={"Idempotency-Key": "instance-1"})
    assert response.status_code == status, response.text
    assert response.json()["instance"] == path


async def test_the_instance_of_a_problem_has_no_query() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.get("/v2/customers/cus_a%20b", params={"x": "1"})
    assert response.status_code == 404, response.text
    assert response.json()["instance"] == "/v2/customers/cus_a%20b"
