"""The v1 domain API end to end: gateway and both ERP simulators as real processes."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.configs import ERP_TIMEOUT_S
from tests.e2e import payloads
from tests.e2e.checks import assert_business_problem, create_customer, stats

# The e2e routes: North America and FR01 on the cloud ERP, the rest on the legacy ERP.
ERP_OF = {"US01": "cloud", "FR01": "cloud", "DE01": "legacy"}


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_customer_and_order_land_in_the_routed_erp_and_read_back(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str
) -> None:
    home, other = ERP_OF[legal_entity], ({"legacy", "cloud"} - {ERP_OF[legal_entity]}).pop()
    before_home, before_other = stats(sims[home]), stats(sims[other])

    customer = create_customer(api, legal_entity)
    assert customer["id"].startswith("cus_")
    assert customer["erp_reference"]
    response = api.post(
        "/v1/sales-orders",
        json=payloads.order(legal_entity, customer["id"]),
        headers=payloads.new_key(),
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["id"].startswith("so_")
    assert order["status"] == "accepted"
    assert order["customer_id"] == customer["id"]
    assert order["net_amount"] == "208.97"
    assert response.headers["location"] == f"/v1/sales-orders/{order['id']}"

    after_home, after_other = stats(sims[home]), stats(sims[other])
    assert after_home["customers"] == before_home["customers"] + 1
    assert after_home["sales_orders"] == before_home["sales_orders"] + 1
    assert after_other["customers"] == before_other["customers"]
    assert after_other["sales_orders"] == before_other["sales_orders"]

    read_customer = api.get(f"/v1/customers/{customer['id']}").json()
    assert read_customer["erp_reference"] == customer["erp_reference"]
    assert read_customer["name"] == "Acme Corp"
    assert read_customer["legal_entity"] == legal_entity
    read_order = api.get(f"/v1/sales-orders/{order['id']}").json()
    assert read_order["erp_reference"] == order["erp_reference"]
    assert [(ln["sku"], ln["quantity"]) for ln in read_order["lines"]] == [
        ("WIDGET-1", 3),
        ("GADGET-2", 1),
    ]


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_shipments_and_invoices_get_stable_gateway_ids_after_the_erp_advances(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str
) -> None:
    customer = create_customer(api, legal_entity)
    order = api.post(
        "/v1/sales-orders",
        json=payloads.order(legal_entity, customer["id"]),
        headers=payloads.new_key(),
    ).json()
    sim = sims[ERP_OF[legal_entity]]
    advanced = sim.post("/_sim/advance", json={"to": "invoiced"})
    assert advanced.status_code == 200, advanced.text

    shipments = api.get(f"/v1/sales-orders/{order['id']}/shipments")
    assert shipments.status_code == 200, shipments.text
    items = shipments.json()["items"]
    assert len(items) == 1
    assert items[0]["id"].startswith("shp_")
    assert items[0]["sales_order_id"] == order["id"]
    assert items[0]["status"] == "shipped"
    again = api.get(f"/v1/sales-orders/{order['id']}/shipments").json()["items"]
    assert again[0]["id"] == items[0]["id"]

    invoices = api.get("/v1/invoices", params={"sales_order_id": order["id"]})
    assert invoices.status_code == 200, invoices.text
    invoice = invoices.json()["items"][0]
    assert invoice["id"].startswith("inv_")
    assert invoice["status"] == "open"
    assert invoice["net_amount"] == "208.97"
    single = api.get(f"/v1/invoices/{invoice['id']}")
    assert single.status_code == 200, single.text
    assert single.json()["erp_reference"] == invoice["erp_reference"]
    assert single.json()["sales_order_id"] == order["id"]
    assert api.get(f"/v1/sales-orders/{order['id']}").json()["status"] == "invoiced"


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_erp_business_refusals_come_back_as_business_problems_pointing_at_the_field(
    api: httpx.Client, legal_entity: str
) -> None:
    customer = create_customer(api, legal_entity)
    unknown_sku = payloads.order(
        legal_entity,
        customer["id"],
        lines=[{"sku": "NO-SUCH-SKU", "quantity": 1, "unit_price": "1.00"}],
    )
    assert_business_problem(
        api.post("/v1/sales-orders", json=unknown_sku, headers=payloads.new_key()),
        "unknown_sku",
        "/lines/0/sku",
    )
    stale_price = payloads.order(
        legal_entity,
        customer["id"],
        lines=[
            {"sku": "WIDGET-1", "quantity": 1, "unit_price": "19.99"},
            {"sku": "GADGET-2", "quantity": 1, "unit_price": "99.00"},
        ],
    )
    assert_business_problem(
        api.post("/v1/sales-orders", json=stale_price, headers=payloads.new_key()),
        "price_mismatch",
        "/lines/1/unit_price",
    )


@pytest.mark.parametrize("legal_entity", ["FR01", "DE01"])
def test_an_eu_customer_without_tax_id_is_refused_by_either_erp(
    api: httpx.Client, legal_entity: str
) -> None:
    # The e2e config moves FR01 to the cloud ERP (a wave), so each ERP judges one EU entity.
    body = payloads.customer(legal_entity)
    del body["tax_id"]
    assert_business_problem(api.post("/v1/customers", json=body), "tax_id_required", "/tax_id")


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_unknown_payment_terms_are_a_business_problem(api: httpx.Client, legal_entity: str) -> None:
    body = payloads.customer(legal_entity, payment_terms="NET99")
    assert_business_problem(
        api.post("/v1/customers", json=body), "invalid_payment_terms", "/payment_terms"
    )


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_an_order_over_the_credit_limit_is_created_on_credit_hold(
    api: httpx.Client, legal_entity: str
) -> None:
    customer = create_customer(api, legal_entity, credit_limit="100.00")
    response = api.post(
        "/v1/sales-orders",
        json=payloads.order(legal_entity, customer["id"]),
        headers=payloads.new_key(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "on_hold"
    assert response.json()["hold_reason"] == "credit"


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_an_erp_timeout_is_a_504_erp_timeout_within_the_backend_timeout(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str
) -> None:
    customer = create_customer(api, legal_entity)
    sim = sims[ERP_OF[legal_entity]]
    order_id = api.post(
        "/v1/sales-orders",
        json=payloads.order(legal_entity, customer["id"]),
        headers=payloads.new_key(),
    ).json()["id"]
    # The simulator holds its answer for 3 s: longer than the gateway waits, short enough that
    # nothing is left hanging at the end of the run.
    sim.post(
        "/_sim/faults",
        json={"mode": "timeout", "latency_ms": 3000, "operations": ["sales_orders.read"]},
    )
    started = time.monotonic()
    response = api.get(f"/v1/sales-orders/{order_id}")
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    problem = response.json()
    assert (problem["code"], problem["category"], problem["retryable"]) == (
        "erp_timeout",
        "technical",
        True,
    )
    assert elapsed < ERP_TIMEOUT_S + 0.5


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_correlation_id_and_traceparent_arrive_at_the_erp(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {
        "X-Correlation-ID": "tour-corr-" + legal_entity,
        "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
    }
    response = api.post("/v1/customers", json=payloads.customer(legal_entity), headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["x-correlation-id"] == "tour-corr-" + legal_entity
    seen = sims[ERP_OF[legal_entity]].get("/_sim/requests", params={"limit": 20}).json()
    mine = [
        r
        for r in seen["requests"]
        if r["headers"].get("x-correlation-id") == headers["X-Correlation-ID"]
    ]
    assert mine, seen
    parent = mine[-1]["headers"]["traceparent"]
    version, trace, span, flags = parent.split("-")
    assert (version, trace, flags) == ("00", trace_id, "01")
    assert span != "00f067aa0ba902b7"  # the gateway's own span is the ERP call's parent


def test_a_customer_can_be_found_by_its_crm_reference(api: httpx.Client) -> None:
    customer = create_customer(api, "DE01")
    found = api.get("/v1/customers", params={"external_ref": customer["external_ref"]})
    assert found.status_code == 200, found.text
    assert [c["id"] for c in found.json()["items"]] == [customer["id"]]
    none = api.get("/v1/customers", params={"external_ref": "NEVER-USED-REF"})
    assert none.json() == {"items": []}


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_cancelling_an_order_cancels_it_in_its_erp(api: httpx.Client, legal_entity: str) -> None:
    customer = create_customer(api, legal_entity)
    order = api.post(
        "/v1/sales-orders",
        json=payloads.order(legal_entity, customer["id"]),
        headers=payloads.new_key(),
    ).json()
    cancelled = api.post(f"/v1/sales-orders/{order['id']}/cancel", headers=payloads.new_key())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert api.get(f"/v1/sales-orders/{order['id']}").json()["status"] == "cancelled"


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_a_quote_is_priced_without_creating_anything(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str
) -> None:
    customer = create_customer(api, legal_entity)
    before = stats(sims[ERP_OF[legal_entity]])
    body = payloads.order(legal_entity, customer["id"])
    del body["external_ref"]
    response = api.post("/v1/quotes/validate", json=body)
    assert response.status_code == 200, response.text
    quote = response.json()
    assert quote["valid"] is True
    assert quote["net_amount"] == "208.97"
    assert quote["credit_check"] == "passed"
    assert stats(sims[ERP_OF[legal_entity]])["sales_orders"] == before["sales_orders"]


def test_an_order_must_use_its_customers_legal_entity(
    api: httpx.Client, sims: dict[str, httpx.Client]
) -> None:
    customer = create_customer(api, "DE01")
    before = stats(sims["legacy"])["requests"]
    response = api.post(
        "/v1/sales-orders", json=payloads.order("FR01", customer["id"]), headers=payloads.new_key()
    )
    assert_business_problem(response, "customer_legal_entity_mismatch", "/legal_entity")
    assert stats(sims["legacy"])["requests"] == before


def test_an_order_for_an_unknown_customer_is_a_business_problem(api: httpx.Client) -> None:
    response = api.post(
        "/v1/sales-orders",
        json=payloads.order("DE01", "cus_doesnotexist"),
        headers=payloads.new_key(),
    )
    assert_business_problem(response, "customer_not_found", "/customer_id")


def test_a_method_its_path_does_not_take_is_405_naming_the_methods_it_takes(
    api: httpx.Client,
) -> None:
    # Over a real socket, from `gateway serve`: the gateway's problem with Allow, for the
    # domain API (versioned or not) and the admin API; a path nothing serves stays 404.
    order = api.delete("/v1/sales-orders/so_2dqqaftr7c6byit76mlioyqxpa")
    customers = api.put("/customers")
    audit = api.post("/admin/audit")
    unknown = api.delete("/v1/nothing-here")
    assert [r.status_code for r in (order, customers, audit, unknown)] == [405, 405, 405, 404]
    assert [r.headers.get("allow") for r in (order, customers, audit, unknown)] == [
        "GET, HEAD",
        "GET, HEAD, POST",
        "GET, HEAD",
        None,
    ]
    assert {r.headers["content-type"] for r in (order, customers, audit)} == {
        "application/problem+json"
    }
    assert {r.json()["code"] for r in (order, customers, audit)} == {"method_not_allowed"}
