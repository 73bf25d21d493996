"""ERPs that misbehave, end to end: wrong shapes, pages from a proxy, oversized, truncated,
dripping or dropped answers. The client always gets a technical problem it may retry (never a
500), and a write is still made exactly once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e import payloads
from tests.e2e.checks import create_customer, new_order, retry_while_in_progress

ERP_OF = {"US01": "cloud", "DE01": "legacy"}


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


# --- connections that fail: dropped, reset, cut short, dripping, or a proxy's page -------------

# Each connection fault, and the problem the client gets for it.
CONNECTION_FAULTS = {
    "drop": ({"mode": "drop"}, 502, "erp_bad_response"),
    "reset": ({"mode": "reset"}, 502, "erp_bad_response"),
    "truncated": ({"mode": "truncated"}, 502, "erp_bad_response"),
    "slow_drip": ({"mode": "slow_drip"}, 504, "erp_timeout"),
    "html": ({"mode": "html", "status": 502}, 503, "erp_unavailable"),
}
# aiohttp sends an idempotent request once more on a connection that closed or reset under it
# (RFC 9112 9.3.1); nothing else in the gateway repeats a call to the ERP.
READ_ATTEMPTS = {"drop": 2, "reset": 2}
ORDER_PATH = {"cloud": "/salesOrder", "legacy": "/A_SalesOrder"}


def attempts(sim: httpx.Client, method: str, erp: str, correlation_id: str) -> int:
    """How many times the ERP saw the request's call to its sales orders."""
    log = sim.get("/_sim/requests", params={"limit": 100}).json()["requests"]
    return sum(
        1
        for r in log
        if r["method"] == method
        and ORDER_PATH[erp] in r["path"]
        and r["headers"].get("x-correlation-id") == correlation_id
    )


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
@pytest.mark.parametrize("mode", CONNECTION_FAULTS)
def test_a_read_whose_connection_fails_is_a_retryable_technical_problem(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str, mode: str
) -> None:
    fault, status, code = CONNECTION_FAULTS[mode]
    order = new_order(api, legal_entity)
    erp = ERP_OF[legal_entity]
    sims[erp].post("/_sim/faults", json={**fault, "operations": ["sales_orders.read"]})
    correlation_id = f"chaos-read-{mode}-{legal_entity}"

    response = api.get(
        f"/v1/sales-orders/{order['id']}", headers={"X-Correlation-ID": correlation_id}
    )

    assert_technical(response, status, code)
    assert attempts(sims[erp], "GET", erp, correlation_id) == READ_ATTEMPTS.get(mode, 1)
    sims[erp].delete("/_sim/faults")
    assert api.get(f"/v1/sales-orders/{order['id']}").status_code == 200


@pytest.mark.parametrize(
    ("mode", "legal_entity"),
    [
        ("drop", "DE01"),
        ("reset", "US01"),
        ("truncated", "US01"),  # NetSuite's 204 answer cut in its headers
        ("truncated", "DE01"),  # SAP's 201 answer cut in its body
        ("slow_drip", "DE01"),
        ("html", "US01"),
    ],
)
def test_a_create_whose_connection_fails_is_retryable_and_makes_exactly_one_order(
    api: httpx.Client, sims: dict[str, httpx.Client], mode: str, legal_entity: str
) -> None:
    fault, status, code = CONNECTION_FAULTS[mode]
    erp = ERP_OF[legal_entity]
    sim = sims[erp]
    customer = create_customer(api, legal_entity)
    body = payloads.order(legal_entity, customer["id"])
    key = payloads.new_key()
    correlation_id = f"chaos-create-{mode}-{key['Idempotency-Key']}"
    before = sim.get("/_sim/stats").json()["sales_orders"]
    sim.post("/_sim/faults", json={**fault, "operations": ["sales_orders.create"]})

    first = api.post(
        "/v1/sales-orders", json=body, headers={**key, "X-Correlation-ID": correlation_id}
    )

    assert_technical(first, status, code)
    assert attempts(sim, "POST", erp, correlation_id) == 1  # a write is never sent twice
    sim.delete("/_sim/faults")
    retry = retry_while_in_progress(api, body, key)
    assert retry.status_code == 201, retry.text
    assert sim.get("/_sim/stats").json()["sales_orders"] == before + 1
    replay = api.post("/v1/sales-orders", json=body, headers=key)
    assert (replay.content, replay.headers["idempotent-replayed"]) == (retry.content, "true")
