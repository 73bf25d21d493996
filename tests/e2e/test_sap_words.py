"""What SAP says reaches the CRM in its terms, end to end through the gateway: warnings SAP
sends with a success as `warnings`, refusals naming SKUs and legal entities, never materials or
company codes, with SAP's own words kept in `erp_message`."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e import payloads
from tests.e2e.checks import assert_business_problem, create_customer

AVAILABILITY_WARNING = (
    "Only 50 EA of product GADGET-2 can be confirmed for the requested delivery date; "
    "10 EA will be confirmed later"
)


def over_availability(customer_id: str) -> dict[str, object]:
    return payloads.order(
        "DE01", customer_id, lines=[{"sku": "GADGET-2", "quantity": 60, "unit_price": "149.00"}]
    )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_warning_sap_sends_with_a_quote_and_an_order_reaches_the_crm_as_warnings(
    api: httpx.Client, version: str
) -> None:
    customer = create_customer(api, "DE01")
    body = over_availability(customer["id"])
    quote_body = {k: v for k, v in body.items() if k != "external_ref"}

    quote = api.post("/v1/quotes/validate", json=quote_body)
    order = api.post("/v1/sales-orders", json=body, headers=payloads.new_key())
    read = api.get(f"/{version}/sales-orders/{order.json()['id']}")

    assert quote.status_code == 200, quote.text
    assert order.status_code == 201, order.text
    for answer in (quote.json(), order.json()):
        [warning] = answer["warnings"]
        assert warning["message"] == AVAILABILITY_WARNING
        assert "material FG-GADGET2" in warning["erp_message"]
    # SAP says it once, with the create; a read of the order has nothing new to say
    assert read.json()["warnings"] == []


def test_a_stale_price_names_the_sku_and_keeps_saps_words(api: httpx.Client) -> None:
    customer = create_customer(api, "DE01")
    body = payloads.order(
        "DE01", customer["id"], lines=[{"sku": "GADGET-2", "quantity": 1, "unit_price": "99.00"}]
    )

    response = api.post("/v1/sales-orders", json=body, headers=payloads.new_key())

    assert_business_problem(response, "price_mismatch", "/lines/0/unit_price")
    problem = response.json()
    said = "Customer expected price 99.00 EUR differs from the net price 149.00 EUR of"
    assert problem["errors"][0]["detail"] == f"{said} product GADGET-2"
    assert problem["detail"] == f"{said} product GADGET-2"
    assert problem["erp_message"] == f"{said} material FG-GADGET2"


def test_a_missing_tax_id_names_the_legal_entity_and_keeps_saps_words(api: httpx.Client) -> None:
    body = payloads.customer("DE01")
    del body["tax_id"]

    response = api.post("/v1/customers", json=body)

    assert_business_problem(response, "tax_id_required", "/tax_id")
    problem = response.json()
    assert problem["errors"][0]["detail"] == (
        "Enter a tax number: customers of legal entity DE01 (DE) need a VAT registration number"
    )
    assert "company code 1010" in problem["erp_message"]
    assert "1010" not in problem["detail"]
