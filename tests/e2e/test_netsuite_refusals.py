"""The cloud ERP's refusals through the gateway: in the client's terms (SKUs, legal entities),
never NetSuite's internal ids, with NetSuite's own words kept in `erp_message`."""

from __future__ import annotations

import httpx

from tests.e2e import payloads
from tests.e2e.checks import assert_business_problem, create_customer


def test_a_stale_price_names_the_sku_and_keeps_netsuites_words(api: httpx.Client) -> None:
    customer = create_customer(api, "US01")  # US01 is on the cloud ERP
    body = payloads.order(
        "US01",
        customer["id"],
        lines=[
            {"sku": "WIDGET-1", "quantity": 1, "unit_price": "19.99"},
            {"sku": "GADGET-2", "quantity": 1, "unit_price": "99.00"},
        ],
    )
    response = api.post("/v1/sales-orders", json=body, headers=payloads.new_key())
    assert_business_problem(response, "price_mismatch", "/lines/1/unit_price")
    problem = response.json()
    assert "SKU GADGET-2" in problem["detail"] and "1002" not in problem["detail"]
    assert [e["detail"] for e in problem["errors"]] == [problem["detail"]]
    assert "item 1002" in problem["erp_message"]  # what NetSuite said, for support


def test_a_missing_tax_id_names_the_legal_entity_not_the_subsidiary(api: httpx.Client) -> None:
    body = payloads.customer("FR01")  # the e2e config moves FR01 to the cloud ERP
    del body["tax_id"]
    response = api.post("/v1/customers", json=body)
    assert_business_problem(response, "tax_id_required", "/tax_id")
    problem = response.json()
    assert "legal entity FR01" in problem["detail"] and "subsidiary 5" not in problem["detail"]
    assert "subsidiary 5" in problem["erp_message"]
