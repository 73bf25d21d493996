"""v1 and v2 over the same records, end to end against both ERP simulators: what one version
writes the other reads, and each version's problems point at its own fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e import payloads
from tests.e2e.checks import assert_business_problem

ERP_OF = {"US01": "cloud", "DE01": "legacy"}
SHIPPING = {"line1": "9 Dock Rd", "city": "Austin", "postal_code": "78702", "country": "US"}


def v2_customer(legal_entity: str, **overrides: Any) -> dict[str, Any]:
    body = payloads.customer(legal_entity)
    body["legal_name"] = body.pop("name")
    body["addresses"] = [{**body.pop("address"), "type": "billing"}]
    return {**body, **overrides}


def v2_order(legal_entity: str, customer_id: str, **overrides: Any) -> dict[str, Any]:
    body = payloads.order(legal_entity, customer_id)
    currency = body["currency"]
    body["items"] = [
        {
            "product_id": line["sku"],
            "quantity": line["quantity"],
            "price": {"amount": line["unit_price"], "currency": currency},
        }
        for line in body.pop("lines")
    ]
    return {**body, **overrides}


def shown(address: dict[str, Any] | None) -> dict[str, Any]:
    """An address as sent: the fields the response left empty dropped."""
    assert address is not None
    return {k: v for k, v in address.items() if v is not None}


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_a_customer_written_through_either_version_reads_through_the_other(
    api: httpx.Client, legal_entity: str
) -> None:
    shipping = {**SHIPPING, "country": payloads.ADDRESSES[legal_entity]["country"]}
    addresses = [
        {**payloads.ADDRESSES[legal_entity], "type": "billing"},
        {**shipping, "type": "shipping"},
    ]
    by_v2 = created(api.post("/v2/customers", json=v2_customer(legal_entity, addresses=addresses)))
    by_v1 = created(api.post("/v1/customers", json=payloads.customer(legal_entity)))

    as_v1 = api.get(f"/v1/customers/{by_v2['id']}").json()
    as_v2 = api.get(f"/v2/customers/{by_v1['id']}").json()

    assert [shown(a) for a in by_v2["addresses"]] == addresses  # the ERP kept both
    assert as_v1["name"] == by_v2["legal_name"] == "Acme Corp"
    assert shown(as_v1["address"]) == payloads.ADDRESSES[legal_entity]  # the billing address
    assert as_v2["legal_name"] == by_v1["name"]
    assert [shown(a) for a in as_v2["addresses"]] == [
        {**payloads.ADDRESSES[legal_entity], "type": "billing"}
    ]


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_an_order_written_through_either_version_reads_through_the_other_with_its_money(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str
) -> None:
    customer = created(api.post("/v2/customers", json=v2_customer(legal_entity)))
    currency = payloads.CURRENCIES[legal_entity]
    by_v2 = created(
        api.post(
            "/v2/sales-orders",
            json=v2_order(legal_entity, customer["id"]),
            headers=payloads.new_key(),
        )
    )
    by_v1 = created(
        api.post(
            "/v1/sales-orders",
            json=payloads.order(legal_entity, customer["id"]),
            headers=payloads.new_key(),
        )
    )

    as_v1 = api.get(f"/v1/sales-orders/{by_v2['id']}").json()
    as_v2 = api.get(f"/v2/sales-orders/{by_v1['id']}").json()

    assert [(ln["sku"], ln["unit_price"], ln["amount"]) for ln in as_v1["lines"]] == [
        ("WIDGET-1", "19.99", "59.97"),
        ("GADGET-2", "149.00", "149.00"),
    ]
    assert as_v1["net_amount"] == "208.97"

    def money(amount: str) -> dict[str, str]:
        return {"amount": amount, "currency": currency}

    assert [(i["product_id"], i["price"], i["amount"]) for i in as_v2["items"]] == [
        ("WIDGET-1", money("19.99"), money("59.97")),
        ("GADGET-2", money("149.00"), money("149.00")),
    ]
    assert as_v2["net_amount"] == money("208.97")

    assert sims[ERP_OF[legal_entity]].post("/_sim/advance", json={"to": "invoiced"}).is_success
    v1_shipments = api.get(f"/v1/sales-orders/{by_v2['id']}/shipments").json()["items"]
    v2_shipments = api.get(f"/v2/sales-orders/{by_v2['id']}/shipments").json()["items"]
    v1_invoices = api.get("/v1/invoices", params={"sales_order_id": by_v2["id"]}).json()["items"]
    v2_invoices = api.get("/v2/invoices", params={"sales_order_id": by_v2["id"]}).json()["items"]

    assert v1_shipments[0]["id"] == v2_shipments[0]["id"]
    assert {ln["sku"] for ln in v1_shipments[0]["lines"]} == {"WIDGET-1", "GADGET-2"}
    assert {i["product_id"] for i in v2_shipments[0]["items"]} == {"WIDGET-1", "GADGET-2"}
    assert v1_invoices[0]["net_amount"] == "208.97"
    assert v2_invoices[0]["net_amount"] == money("208.97")


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_erp_refusals_point_at_each_versions_own_fields(
    api: httpx.Client, legal_entity: str
) -> None:
    customer = created(api.post("/v2/customers", json=v2_customer(legal_entity)))
    v2_body = v2_order(legal_entity, customer["id"])
    v2_body["items"][1]["product_id"] = "NOPE-1"
    v1_body = payloads.order(legal_entity, customer["id"])
    v1_body["lines"][1]["unit_price"] = "99.00"

    v2 = api.post("/v2/sales-orders", json=v2_body, headers=payloads.new_key())
    v1 = api.post("/v1/sales-orders", json=v1_body, headers=payloads.new_key())

    assert_business_problem(v2, "unknown_sku", "/items/1/product_id")
    assert_business_problem(v1, "price_mismatch", "/lines/1/unit_price")
    assert v2.headers["API-Version"] == "v2" and v1.headers["API-Version"] == "v1"


def test_a_display_name_is_kept_by_the_legacy_erp(api: httpx.Client) -> None:
    customer = created(api.post("/v2/customers", json=v2_customer("DE01", display_name="Acme")))
    assert api.get(f"/v2/customers/{customer['id']}").json()["display_name"] == "Acme"
