"""The version changes one by one: each upgrades a v1 request and downgrades a v2 response."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.domain import models as v2
from gateway.domain.operations import Operation
from gateway.domain.versions import (
    CHANGES,
    VERSIONS,
    changelog,
    downgrade_response,
    upgrade_request,
    v2_customer_names_and_addresses,
    v2_order_items_and_money,
)
from gateway.domain.versions import v1_models as v1

ADDRESS = {"line1": "1 Main St", "city": "Austin", "postal_code": "78701", "country": "US"}
V1_CUSTOMER = {
    "external_ref": "CRM-ACC-1001",
    "legal_entity": "US01",
    "name": "Acme Corp",
    "currency": "USD",
    "payment_terms": "NET30",
    "credit_limit": "50000.00",
    "address": ADDRESS,
}
V1_ORDER = {
    "external_ref": "CRM-OPP-77",
    "legal_entity": "US01",
    "customer_id": "cus_abc",
    "currency": "USD",
    "requested_delivery_date": "2026-12-15",
    "lines": [{"sku": "WIDGET-1", "quantity": 3, "unit_price": "19.99"}],
}


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def v2_customer(**overrides: Any) -> dict[str, Any]:
    customer = {
        "id": "cus_abc",
        "status": "active",
        "erp_reference": "1001",
        "external_ref": "CRM-ACC-1001",
        "legal_entity": "US01",
        "legal_name": "Acme Corp",
        "display_name": "Acme",
        "currency": "USD",
        "payment_terms": "NET30",
        "credit_limit": "50000.00",
        "addresses": [
            {**ADDRESS, "type": "shipping", "line1": "9 Dock Rd"},
            {**ADDRESS, "type": "billing"},
        ],
    }
    return {**customer, **overrides}


def v2_order(**overrides: Any) -> dict[str, Any]:
    order = {
        "id": "so_abc",
        "status": "accepted",
        "erp_reference": "SO-1",
        "external_ref": "CRM-OPP-77",
        "legal_entity": "US01",
        "customer_id": "cus_abc",
        "currency": "USD",
        "requested_delivery_date": "2026-12-15",
        "items": [
            {
                "product_id": "WIDGET-1",
                "quantity": 3,
                "price": money("19.99"),
                "amount": money("59.97"),
            }
        ],
        "net_amount": money("59.97"),
        "tax_amount": None,
        "total_amount": money("59.97"),
    }
    return {**order, **overrides}


def test_the_registry_orders_every_version_and_each_change_documents_itself() -> None:
    assert VERSIONS == ("v1", "v2")
    text = changelog()
    for change in CHANGES["v2"]:
        assert change.title and change.description.strip()
        assert f"### {change.title}" in text
    assert text.index("## v2") < text.index("## v1")


def test_a_v1_customer_request_upgrades_to_a_valid_v2_request_with_a_billing_address() -> None:
    upgraded = upgrade_request("v1", Operation.CUSTOMERS_CREATE, V1_CUSTOMER)

    request = v2.CustomerCreate.model_validate_json(json.dumps(upgraded))
    assert request.legal_name == "Acme Corp"
    assert request.billing_address.city == "Austin"
    assert [a.type for a in request.addresses] == [v2.AddressType.BILLING]


def test_a_v2_customer_downgrades_to_v1_showing_its_billing_address_and_no_display_name() -> None:
    shown = downgrade_response("v1", Operation.CUSTOMERS_READ, 200, v2_customer())

    customer = v1.Customer.model_validate(shown)
    assert customer.name == "Acme Corp"
    assert customer.address == v2.Address(**ADDRESS)
    assert "display_name" not in shown and "legal_name" not in shown


def test_a_customer_round_trips_v1_to_v2_and_back_unchanged() -> None:
    upgraded = upgrade_request("v1", Operation.CUSTOMERS_CREATE, V1_CUSTOMER)
    stored = v2_customer(
        legal_name=upgraded["legal_name"], addresses=upgraded["addresses"], display_name=None
    )

    shown = downgrade_response("v1", Operation.CUSTOMERS_CREATE, 201, stored)

    assert {k: shown[k] for k in V1_CUSTOMER} == V1_CUSTOMER


def test_a_page_of_customers_downgrades_item_by_item() -> None:
    page = {"items": [v2_customer(), v2_customer(addresses=[])]}

    shown = downgrade_response("v1", Operation.CUSTOMERS_READ, 200, page)

    assert [c["address"] for c in shown["items"]] == [ADDRESS, None]


@pytest.mark.parametrize(
    ("v2_pointer", "v1_pointer"),
    [
        ("/legal_name", "/name"),
        ("/addresses/0/city", "/address/city"),
        ("/addresses/1", "/address"),
        ("/addresses", "/address"),
        ("/tax_id", "/tax_id"),
    ],
)
def test_customer_problems_point_at_v1_fields(v2_pointer: str, v1_pointer: str) -> None:
    assert v2_customer_names_and_addresses.downgrade_pointer(v2_pointer) == v1_pointer


def test_a_v1_order_upgrades_to_items_priced_in_the_orders_currency() -> None:
    upgraded = upgrade_request("v1", Operation.SALES_ORDERS_CREATE, V1_ORDER)

    request = v2.SalesOrderCreate.model_validate_json(json.dumps(upgraded))
    [item] = request.items
    assert (item.product_id, item.quantity, str(item.price.amount)) == ("WIDGET-1", 3, "19.99")
    assert item.price.currency == "USD"


def test_an_order_round_trips_v1_to_v2_and_back_with_string_amounts() -> None:
    shown = downgrade_response("v1", Operation.SALES_ORDERS_READ, 200, v2_order())

    order = v1.SalesOrder.model_validate(shown)
    assert [(ln.sku, ln.quantity, str(ln.unit_price), str(ln.amount)) for ln in order.lines] == [
        ("WIDGET-1", 3, "19.99", "59.97")
    ]
    assert (shown["net_amount"], shown["tax_amount"], shown["total_amount"]) == (
        "59.97",
        None,
        "59.97",
    )
    assert {k: shown[k] for k in ("currency", "customer_id", "external_ref")} == {
        k: V1_ORDER[k] for k in ("currency", "customer_id", "external_ref")
    }


def test_a_partially_shipped_order_is_in_fulfillment_in_v1_and_other_statuses_stay() -> None:
    partial = downgrade_response(
        "v1", Operation.SALES_ORDERS_READ, 200, v2_order(status="partially_shipped")
    )
    shipped = downgrade_response("v1", Operation.SALES_ORDERS_READ, 200, v2_order(status="shipped"))

    assert (partial["status"], shipped["status"]) == ("in_fulfillment", "shipped")
    assert v1.SalesOrder.model_validate(partial).status is v1.SalesOrderStatus.IN_FULFILLMENT


def test_quotes_shipments_and_invoices_downgrade_to_v1_shapes() -> None:
    quote = {
        "valid": True,
        "legal_entity": "US01",
        "customer_id": "cus_abc",
        "currency": "USD",
        "items": v2_order()["items"],
        "net_amount": money("59.97"),
        "tax_amount": money("0.00"),
        "total_amount": money("59.97"),
        "credit_check": "passed",
    }
    shipments = {
        "items": [
            {
                "id": "shp_1",
                "sales_order_id": "so_abc",
                "status": "shipped",
                "erp_reference": "80000001",
                "items": [{"product_id": "WIDGET-1", "quantity": 3}],
            }
        ]
    }
    invoice = {
        "id": "inv_1",
        "sales_order_id": "so_abc",
        "status": "open",
        "erp_reference": "90000001",
        "currency": "USD",
        "net_amount": money("59.97"),
        "tax_amount": None,
        "total_amount": money("59.97"),
    }

    v1_quote = downgrade_response("v1", Operation.QUOTES_VALIDATE, 200, quote)
    v1_shipments = downgrade_response("v1", Operation.SHIPMENTS_READ, 200, shipments)
    v1_invoices = downgrade_response("v1", Operation.INVOICES_READ, 200, {"items": [invoice]})

    assert v1.QuoteResult.model_validate(v1_quote).lines[0].sku == "WIDGET-1"
    assert v1.Shipment.model_validate(v1_shipments["items"][0]).lines[0].sku == "WIDGET-1"
    assert str(v1.Invoice.model_validate(v1_invoices["items"][0]).total_amount) == "59.97"
    assert v1_invoices["items"][0]["total_amount"] == "59.97"


@pytest.mark.parametrize(
    ("v2_pointer", "v1_pointer"),
    [
        ("/items/0/product_id", "/lines/0/sku"),
        ("/items/2/price/amount", "/lines/2/unit_price"),
        ("/items/2/price/currency", "/lines/2/unit_price"),
        ("/items/1/quantity", "/lines/1/quantity"),
        ("/items/1", "/lines/1"),
        ("/items", "/lines"),
        ("/customer_id", "/customer_id"),
    ],
)
def test_order_problems_point_at_v1_fields(v2_pointer: str, v1_pointer: str) -> None:
    assert v2_order_items_and_money.downgrade_pointer(v2_pointer) == v1_pointer


def test_a_v2_problem_downgrades_its_pointers_and_nothing_else() -> None:
    problem = {
        "type": "https://gateway.example/problems/price-mismatch",
        "status": 422,
        "code": "price_mismatch",
        "correlation_id": "c-1",
        "errors": [{"pointer": "/items/0/price/amount", "detail": "Stale."}],
    }

    shown = downgrade_response("v1", Operation.SALES_ORDERS_CREATE, 422, problem)

    assert shown == {**problem, "errors": [{"pointer": "/lines/0/unit_price", "detail": "Stale."}]}


def test_the_newest_version_passes_bodies_through_untouched() -> None:
    order = v2_order(status="partially_shipped")
    assert downgrade_response("v2", Operation.SALES_ORDERS_READ, 200, order) is order
    assert upgrade_request("v2", Operation.SALES_ORDERS_CREATE, V1_ORDER) is V1_ORDER
