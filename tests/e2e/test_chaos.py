"""ERPs that misbehave, end to end: wrong shapes, pages from a proxy, oversized, truncated,
dripping or dropped answers. The client always gets a technical problem it may retry (never a
500), and a write is still made exactly once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e import payloads
from tests.e2e.checks import create_customer

ERP_OF = {"US01": "cloud", "DE01": "legacy"}


def new_order(api: httpx.Client, legal_entity: str) -> dict[str, Any]:
    customer = create_customer(api, legal_entity)
    response = api.post(
        "/v1/sales-orders",
        json=payloads.order(legal_entity, customer["id"]),
        headers=payloads.new_key(),
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def assert_technical(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["code"], problem["category"], problem["retryable"]) == (
        code,
        "technical",
        True,
    )


@pytest.mark.parametrize(
    ("legal_entity", "fault"),
    [
        ("US01", {"mode": "malformed", "omit": ["orderStatus", "status"]}),
        ("US01", {"mode": "malformed", "body": {}}),
        ("DE01", {"mode": "malformed", "body": {"d": None}}),
        ("DE01", {"mode": "malformed", "omit": ["SalesOrder"]}),
    ],
    ids=["cloud order without status", "cloud {}", "legacy d null", "legacy order without id"],
)
def test_an_erp_answering_200_with_the_wrong_shape_is_a_retryable_502(
    api: httpx.Client,
    sims: dict[str, httpx.Client],
    legal_entity: str,
    fault: dict[str, Any],
) -> None:
    order = new_order(api, legal_entity)
    sim = sims[ERP_OF[legal_entity]]
    sim.post("/_sim/faults", json={**fault, "operations": ["sales_orders.read"]}).raise_for_status()

    assert_technical(api.get(f"/v1/sales-orders/{order['id']}"), 502, "erp_bad_response")

    sim.delete("/_sim/faults")
    assert api.get(f"/v1/sales-orders/{order['id']}").status_code == 200


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_a_404_page_from_a_proxy_for_a_known_order_is_a_retryable_502_not_a_not_found(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str
) -> None:
    order = new_order(api, legal_entity)
    sim = sims[ERP_OF[legal_entity]]
    fault = {"mode": "html", "status": 404, "operations": ["sales_orders.read"]}
    sim.post("/_sim/faults", json=fault).raise_for_status()

    assert_technical(api.get(f"/v1/sales-orders/{order['id']}"), 502, "erp_bad_response")


def test_a_legacy_answer_of_null_for_a_known_order_is_a_retryable_502_not_a_not_found(
    api: httpx.Client, legacy: httpx.Client
) -> None:
    order = new_order(api, "DE01")
    fault = {"mode": "malformed", "body": None, "operations": ["sales_orders.read"]}
    legacy.post("/_sim/faults", json=fault).raise_for_status()

    assert_technical(api.get(f"/v1/sales-orders/{order['id']}"), 502, "erp_bad_response")


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_an_order_the_erp_itself_says_is_gone_is_still_a_404(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str
) -> None:
    order = new_order(api, legal_entity)
    sim = sims[ERP_OF[legal_entity]]
    fault = {"mode": "error", "status": 404, "operations": ["sales_orders.read"]}
    sim.post("/_sim/faults", json=fault).raise_for_status()

    response = api.get(f"/v1/sales-orders/{order['id']}")

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
