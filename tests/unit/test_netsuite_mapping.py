"""The NetSuite mapping both ways and its error translation, pure: no network, no simulator."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.adapters.base import ErpInvoice, ErpShipment, References
from gateway.adapters.http import ErpFailure, ErpResponse
from gateway.adapters.netsuite_mapping import (
    Documents,
    Interaction,
    NetSuiteMaps,
    available_credit,
    customer_record,
    documents_needed,
    erp_customer,
    erp_invoice,
    erp_sales_order,
    erp_shipment,
    error_from_response,
    item_price,
    json_number,
    priced_quote,
    record_id_from_location,
    sales_order_record,
    sales_order_status,
    token_from_response,
)
from gateway.config.backends import NetSuiteValueMaps
from gateway.domain.errors import Category, Code, GatewayError
from gateway.domain.models import (
    AddressType,
    CreditCheck,
    CustomerCreate,
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    OrderItem,
    SalesOrderStatus,
    ShipmentStatus,
)
from tests.canonical import order_item

REPO = Path(__file__).resolve().parents[2]
REFS = References(external_ref="CRM-ACC-1001", gateway_ref="gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.fixture(scope="module")
def maps() -> NetSuiteMaps:
    raw = yaml.safe_load((REPO / "backends" / "cloud.yaml").read_text())
    return NetSuiteMaps.from_config(NetSuiteValueMaps.model_validate(raw["value_maps"]))


def customer_request(**overrides: Any) -> CustomerCreate:
    body: dict[str, Any] = {
        "external_ref": "CRM-ACC-1001",
        "legal_entity": "US01",
        "legal_name": "Acme Corp",
        "tax_id": "US-12-3456789",
        "email": "ap@acme.example",
        "currency": "USD",
        "payment_terms": "NET30",
        "credit_limit": "50000.00",
        "addresses": [
            {
                "type": AddressType.BILLING,
                "line1": "1 Main St",
                "city": "Austin",
                "postal_code": "78701",
                "region": "TX",
                "country": "US",
            }
        ],
    }
    body.update(overrides)
    return CustomerCreate.model_validate(body)


def lines(*specs: tuple[str, int, str]) -> list[OrderItem]:
    return [order_item(s, q, Decimal(p)) for s, q, p in specs]


def netsuite_error(status: int, *details: dict[str, str]) -> ErpResponse:
    body = {"type": "about:blank", "title": "Bad Request", "status": status}
    body["o:errorDetails"] = list(details)  # type: ignore[assignment]
    return ErpResponse(status, {}, json.dumps(body).encode())


def detail(path: str | None, text: str = "Refused.", code: str = "USER_ERROR") -> dict[str, str]:
    d = {"detail": text, "o:errorCode": code}
    if path is not None:
        d["o:errorPath"] = path
    return d


# --- canonical -> NetSuite ----------------------------------------------------------------------


def test_a_customer_becomes_a_netsuite_customer_with_internal_ids_from_the_value_maps(
    maps: NetSuiteMaps,
) -> None:
    record = customer_record(customer_request(), REFS, maps)
    assert record == {
        "externalId": "gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "accountNumber": "CRM-ACC-1001",
        "companyName": "Acme Corp",
        "isPerson": False,
        "email": "ap@acme.example",
        "subsidiary": {"id": "2"},
        "currency": {"id": "1"},
        "terms": {"id": "2"},
        "creditLimit": 50000.0,
        "vatRegNumber": "US-12-3456789",
        "addressBook": {
            "items": [
                {
                    "defaultBilling": True,
                    "defaultShipping": True,
                    "addressBookAddress": {
                        "addr1": "1 Main St",
                        "city": "Austin",
                        "state": "TX",
                        "zip": "78701",
                        "country": {"id": "US"},
                    },
                }
            ]
        },
    }
    # A JSON number, never a string.
    assert json.dumps(record["creditLimit"]) == "50000.0"


def test_a_customer_of_an_eu_legal_entity_goes_to_its_subsidiary_and_currency(
    maps: NetSuiteMaps,
) -> None:
    request = customer_request(legal_entity="FR01", currency="EUR", tax_id="FR123456789")
    record = customer_record(request, REFS, maps)
    assert (record["subsidiary"], record["currency"], record["vatRegNumber"]) == (
        {"id": "5"},
        {"id": "4"},
        "FR123456789",
    )


def test_optional_customer_fields_are_left_out_rather_than_sent_empty(maps: NetSuiteMaps) -> None:
    record = customer_record(
        customer_request(tax_id=None, email=None), References(None, "gw-X"), maps
    )
    assert not {"vatRegNumber", "email", "accountNumber"} & set(record)


@pytest.mark.parametrize(
    ("overrides", "code", "pointer"),
    [
        ({"payment_terms": "NET99"}, Code.INVALID_PAYMENT_TERMS, "/payment_terms"),
        ({"legal_entity": "JP01"}, Code.ERP_REJECTED, "/legal_entity"),
        ({"currency": "JPY"}, Code.ERP_REJECTED, "/currency"),
    ],
)
def test_inputs_without_a_value_map_entry_are_refused_before_calling_netsuite(
    maps: NetSuiteMaps, overrides: dict[str, str], code: Code, pointer: str
) -> None:
    with pytest.raises(GatewayError) as raised:
        customer_record(customer_request(**overrides), REFS, maps)
    assert raised.value.code is code
    assert raised.value.category is Category.BUSINESS
    assert [e.pointer for e in raised.value.errors] == [pointer]


def test_an_order_becomes_a_sales_order_with_item_ids_rates_and_both_references(
    maps: NetSuiteMaps,
) -> None:
    record = sales_order_record(
        "US01",
        "301",
        "USD",
        dt.date(2026, 12, 15),
        lines(("WIDGET-1", 3, "19.99"), ("GADGET-2", 1, "149.00")),
        References("CRM-OPP-77", "gw-ORDERREF"),
        maps,
    )
    assert record == {
        "externalId": "gw-ORDERREF",
        "otherRefNum": "CRM-OPP-77",
        "entity": {"id": "301"},
        "subsidiary": {"id": "2"},
        "currency": {"id": "1"},
        "shipDate": "2026-12-15",
        "item": {
            "items": [
                {"item": {"id": "1001"}, "quantity": 3, "rate": 19.99, "amount": 59.97},
                {"item": {"id": "1002"}, "quantity": 1, "rate": 149.0, "amount": 149.0},
            ]
        },
    }
    assert '"rate": 19.99' in json.dumps(record)


def test_every_unknown_sku_is_refused_with_a_pointer_at_its_line(maps: NetSuiteMaps) -> None:
    with pytest.raises(GatewayError) as raised:
        sales_order_record(
            "US01",
            "301",
            "USD",
            None,
            lines(("NOPE-1", 1, "1.00"), ("WIDGET-1", 1, "19.99"), ("NOPE-2", 1, "1.00")),
            REFS,
            maps,
        )
    assert raised.value.code is Code.UNKNOWN_SKU
    assert [e.pointer for e in raised.value.errors] == [
        "/items/0/product_id",
        "/items/2/product_id",
    ]
    assert "NOPE-1" in raised.value.detail and "NOPE-2" in raised.value.detail


def test_an_amount_a_json_number_cannot_carry_exactly_is_refused() -> None:
    assert json_number(Decimal("19.99"), "/x") == 19.99
    with pytest.raises(GatewayError) as raised:
        json_number(Decimal("123456789012345.6789"), "/items/0/price/amount")
    assert [e.pointer for e in raised.value.errors] == ["/items/0/price/amount"]


# --- NetSuite -> canonical ----------------------------------------------------------------------


def customer_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "links": [],
        "id": "301",
        "entityId": "CUST-000001",
        "externalId": "gw-ABC",
        "companyName": "Acme GmbH",
        "subsidiary": {"id": "4", "refName": "DE01"},
        "currency": {"id": "4", "refName": "EUR"},
        "terms": {"id": "3", "refName": "Net 45"},
        "creditLimit": 1234.5,
        "vatRegNumber": "DE123456789",
        "accountNumber": "CRM-ACC-9",
        "email": "ap@acme.example",
        "isInactive": False,
        "addressBook": {
            "items": [
                {
                    "defaultBilling": True,
                    "addressBookAddress": {
                        "addr1": "Hauptstr. 5",
                        "city": "Berlin",
                        "zip": "10115",
                        "country": {"id": "DE", "refName": "Germany"},
                    },
                }
            ]
        },
    }
    document.update(overrides)
    return document


def test_a_netsuite_customer_reads_back_in_canonical_codes(maps: NetSuiteMaps) -> None:
    customer = erp_customer(customer_document(), maps)
    assert customer.erp_id == "301"
    assert customer.document_number == "CUST-000001"
    assert customer.status is CustomerStatus.ACTIVE
    assert (customer.legal_entity, customer.currency, customer.payment_terms) == (
        "DE01",
        "EUR",
        "NET45",
    )
    assert customer.credit_limit == Decimal("1234.50")
    assert (customer.external_ref, customer.gateway_ref, customer.tax_id) == (
        "CRM-ACC-9",
        "gw-ABC",
        "DE123456789",
    )
    address = customer.addresses[0]
    assert (address.line1, address.postal_code, address.country) == (
        "Hauptstr. 5",
        "10115",
        "DE",
    )


def test_an_inactive_netsuite_customer_is_blocked(maps: NetSuiteMaps) -> None:
    assert erp_customer(customer_document(isInactive=True), maps).status is CustomerStatus.BLOCKED


def test_an_address_that_does_not_fit_the_canonical_schema_is_left_out(maps: NetSuiteMaps) -> None:
    document = customer_document()
    document["addressBook"]["items"][0]["addressBookAddress"]["state"] = "Bavaria"
    assert erp_customer(document, maps).addresses == ()


def order_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "7001",
        "tranId": "SO-000001",
        "externalId": "gw-ORDER",
        "otherRefNum": "CRM-OPP-77",
        "entity": {"id": "301", "refName": "CUST-000001 Acme"},
        "currency": {"id": "1", "refName": "USD"},
        "shipDate": "2026-12-15",
        "orderStatus": {"id": "B", "refName": "Pending Fulfillment"},
        "custbody_credit_hold": False,
        "subtotal": 208.97000000000003,
        "taxTotal": 17.24,
        "total": 226.21,
        "item": {
            "items": [
                {"item": {"id": "1001"}, "quantity": 3, "rate": 19.99, "amount": 59.97},
                {"item": {"id": "1002"}, "quantity": 1.0, "rate": 149, "amount": 149},
            ]
        },
    }
    document.update(overrides)
    return document


def test_a_sales_order_reads_back_with_exact_decimal_amounts_and_canonical_skus(
    maps: NetSuiteMaps,
) -> None:
    order = erp_sales_order(order_document(), maps, SalesOrderStatus.ACCEPTED, None)
    assert (order.erp_id, order.document_number, order.customer_erp_id) == (
        "7001",
        "SO-000001",
        "301",
    )
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.amount) for ln in order.lines] == [
        ("WIDGET-1", 3, Decimal("19.99"), Decimal("59.97")),
        ("GADGET-2", 1, Decimal("149.00"), Decimal("149.00")),
    ]
    assert str(order.net_amount) == "208.97"
    assert (order.tax_amount, order.total_amount) == (Decimal("17.24"), Decimal("226.21"))
    assert order.requested_delivery_date == dt.date(2026, 12, 15)
    assert (order.external_ref, order.gateway_ref, order.currency) == (
        "CRM-OPP-77",
        "gw-ORDER",
        "USD",
    )


def shipment(status: ShipmentStatus) -> ErpShipment:
    return ErpShipment("1", "IF-1", "7001", status, None)


IN_FULFILLMENT = SalesOrderStatus.IN_FULFILLMENT


def invoice(status: InvoiceStatus) -> ErpInvoice:
    return ErpInvoice("2", "INV-1", "7001", status, "USD", Decimal(1), Decimal(1))


@pytest.mark.parametrize(
    ("order_status", "hold", "shipments", "invoices", "expected"),
    [
        ("B", False, [], [], (SalesOrderStatus.ACCEPTED, None)),
        ("A", False, [], [], (SalesOrderStatus.ACCEPTED, None)),
        ("A", True, [], [], (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)),
        ("C", True, [], [], (SalesOrderStatus.CANCELLED, None)),
        ("H", False, [], [], (SalesOrderStatus.CANCELLED, None)),
        (
            "F",
            False,
            [shipment(ShipmentStatus.PENDING)],
            [],
            (SalesOrderStatus.IN_FULFILLMENT, None),
        ),
        ("F", False, [shipment(ShipmentStatus.SHIPPED)], [], (SalesOrderStatus.SHIPPED, None)),
        (
            "D",
            False,
            [shipment(ShipmentStatus.SHIPPED)],
            [],
            (SalesOrderStatus.PARTIALLY_SHIPPED, None),
        ),
        (
            "D",
            False,
            [shipment(ShipmentStatus.PENDING)],
            [],
            (SalesOrderStatus.IN_FULFILLMENT, None),
        ),
        ("G", False, [], [invoice(InvoiceStatus.OPEN)], (SalesOrderStatus.INVOICED, None)),
        ("G", False, [], [invoice(InvoiceStatus.PAID)], (SalesOrderStatus.PAID, None)),
        (
            "G",
            False,
            [],
            [invoice(InvoiceStatus.PAID), invoice(InvoiceStatus.OPEN)],
            (SalesOrderStatus.INVOICED, None),
        ),
    ],
)
def test_netsuite_order_states_map_to_the_closed_canonical_list(
    order_status: str,
    hold: bool,
    shipments: list[ErpShipment],
    invoices: list[ErpInvoice],
    expected: tuple[SalesOrderStatus, HoldReason | None],
) -> None:
    document = order_document(orderStatus={"id": order_status}, custbody_credit_hold=hold)
    assert sales_order_status(document, shipments, invoices) == expected


@pytest.mark.parametrize(
    ("order_status", "hold", "needed"),
    [
        ("B", False, Documents.NONE),
        ("A", True, Documents.NONE),
        ("E", False, Documents.SHIPMENTS),
        ("F", False, Documents.SHIPMENTS),
        ("G", False, Documents.INVOICES),
        ("C", False, Documents.NONE),
    ],
)
def test_only_fulfilled_or_billed_orders_need_their_documents_read(
    order_status: str, hold: bool, needed: Documents
) -> None:
    document = order_document(orderStatus={"id": order_status}, custbody_credit_hold=hold)
    assert documents_needed(document) is needed


def test_the_status_name_is_understood_when_the_letter_is_missing() -> None:
    document = order_document(orderStatus=None, status={"id": "Billed", "refName": "Billed"})
    assert documents_needed(document) is Documents.INVOICES


def test_a_fulfillment_and_an_invoice_read_back_as_shipment_and_invoice(maps: NetSuiteMaps) -> None:
    fulfillment = erp_shipment(
        {
            "id": "7002",
            "tranId": "IF-000001",
            "tranDate": "2026-12-01",
            "createdFrom": {"id": "7001"},
            "shipStatus": {"id": "C", "refName": "Shipped"},
            "item": {"items": [{"item": {"id": "1003"}, "quantity": 2}]},
        },
        maps,
    )
    assert fulfillment.status is ShipmentStatus.SHIPPED
    assert fulfillment.shipped_at == dt.date(2026, 12, 1)
    assert [(ln.sku, ln.quantity) for ln in fulfillment.lines] == [("SUPPORT-1Y", 2)]
    bill = erp_invoice(
        {
            "id": "7003",
            "tranId": "INV-000001",
            "tranDate": "2026-12-02",
            "dueDate": "2027-01-01",
            "createdFrom": {"id": "7001"},
            "currency": {"id": "4"},
            "status": {"id": "Paid In Full", "refName": "Paid In Full"},
            "subtotal": 100.1,
            "taxTotal": 19.02,
            "total": 119.12,
        },
        maps,
    )
    assert (bill.status, bill.currency, bill.sales_order_erp_id) == (
        InvoiceStatus.PAID,
        "EUR",
        "7001",
    )
    assert (bill.net_amount, bill.tax_amount, bill.total_amount) == (
        Decimal("100.10"),
        Decimal("19.02"),
        Decimal("119.12"),
    )
    assert bill.due_date == dt.date(2027, 1, 1)


def test_a_record_missing_what_the_gateway_needs_is_a_bad_response(maps: NetSuiteMaps) -> None:
    with pytest.raises(ErpFailure) as raised:
        erp_sales_order(order_document(tranId=None), maps, SalesOrderStatus.ACCEPTED, None)
    assert raised.value.code is Code.ERP_BAD_RESPONSE


# --- quotes -------------------------------------------------------------------------------------


def test_the_base_price_in_the_orders_currency_is_read_from_the_price_sublist() -> None:
    item = {
        "price": {
            "items": [
                {"currencyPage": {"id": "1"}, "priceLevel": {"id": "2"}, "price": 10},
                {"currencyPage": {"id": "4"}, "priceLevel": {"id": "1"}, "price": 18.5},
                {"currencyPage": {"id": "1"}, "priceLevel": {"id": "1"}, "price": 19.99},
            ]
        }
    }
    assert item_price(item, "1") == Decimal("19.99")
    assert item_price(item, "4") == Decimal("18.5")
    assert item_price(item, "5") is None


def test_a_quote_prices_lines_adds_tax_and_checks_credit() -> None:
    quoted = priced_quote(
        lines(("WIDGET-1", 3, "19.99"), ("GADGET-2", 1, "149.00")),
        ["1001", "1002"],
        {"1001": Decimal("19.99"), "1002": Decimal("149")},
        "USD",
        Decimal("0.0825"),
        Decimal("226.21"),
    )
    assert (quoted.net_amount, quoted.tax_amount, quoted.total_amount) == (
        Decimal("208.97"),
        Decimal("17.24"),
        Decimal("226.21"),
    )
    assert quoted.credit_check is CreditCheck.PASSED
    blocked = priced_quote(
        lines(("WIDGET-1", 3, "19.99")), ["1001"], {"1001": Decimal("19.99")}, "USD", None, None
    )
    assert blocked.credit_check is CreditCheck.PASSED  # no credit limit at all
    over = priced_quote(
        lines(("WIDGET-1", 3, "19.99")),
        ["1001"],
        {"1001": Decimal("19.99")},
        "USD",
        None,
        Decimal("59.96"),
    )
    assert over.credit_check is CreditCheck.WOULD_BLOCK


def test_a_stale_price_in_a_quote_points_at_that_lines_unit_price() -> None:
    with pytest.raises(GatewayError) as raised:
        priced_quote(
            lines(("WIDGET-1", 1, "19.99"), ("GADGET-2", 1, "99.00")),
            ["1001", "1002"],
            {"1001": Decimal("19.99"), "1002": Decimal("149.00")},
            "USD",
            None,
            None,
        )
    assert raised.value.code is Code.PRICE_MISMATCH
    assert [e.pointer for e in raised.value.errors] == ["/items/1/price/amount"]
    assert "149.00" in raised.value.errors[0].detail


def test_available_credit_is_the_limit_less_open_balance_and_unbilled_orders() -> None:
    customer = {"creditLimit": 1000, "balance": 226.21, "unbilledOrders": 100.5}
    assert available_credit(customer, "USD") == Decimal("673.29")
    assert available_credit({"balance": 5}, "USD") is None


# --- responses ----------------------------------------------------------------------------------


def test_the_created_records_id_comes_from_the_location_header() -> None:
    location = "https://1234.suitetalk.api.netsuite.com/services/rest/record/v1/salesOrder/7001"
    assert record_id_from_location(location, "salesOrder") == "7001"
    with pytest.raises(ErpFailure) as raised:
        record_id_from_location(None, "salesOrder")
    assert raised.value.code is Code.ERP_BAD_RESPONSE
    assert raised.value.ambiguous  # the record may exist: the retry must search first


def test_a_token_answer_gives_the_token_and_its_lifetime_even_as_a_string() -> None:
    body = {"access_token": "t0k", "token_type": "Bearer", "expires_in": "3600"}
    answer = ErpResponse(200, {}, json.dumps(body).encode())
    assert token_from_response(answer) == ("t0k", 3600.0)
    refused = ErpResponse(401, {}, b'{"error": "invalid_client"}')
    with pytest.raises(ErpFailure) as raised:
        token_from_response(refused)
    assert raised.value.code is Code.ERP_UNAVAILABLE
    assert "invalid_client" not in raised.value.detail


@pytest.mark.parametrize(
    ("interaction", "path", "code", "pointer"),
    [
        (
            Interaction.SALES_ORDER_CREATE,
            "item.items[0].item",
            Code.UNKNOWN_SKU,
            "/items/0/product_id",
        ),
        (
            Interaction.SALES_ORDER_CREATE,
            "item.items[2].rate",
            Code.PRICE_MISMATCH,
            "/items/2/price/amount",
        ),
        (
            Interaction.SALES_ORDER_CREATE,
            "item.items[1].quantity",
            Code.ERP_REJECTED,
            "/items/1/quantity",
        ),
        (Interaction.SALES_ORDER_CREATE, "entity", Code.CUSTOMER_NOT_FOUND, "/customer_id"),
        (
            Interaction.SALES_ORDER_CREATE,
            "subsidiary",
            Code.CUSTOMER_LEGAL_ENTITY_MISMATCH,
            "/customer_id",
        ),
        (Interaction.SALES_ORDER_CREATE, "currency", Code.ERP_REJECTED, "/currency"),
        (Interaction.CUSTOMER_CREATE, "vatRegNumber", Code.TAX_ID_REQUIRED, "/tax_id"),
        (Interaction.CUSTOMER_CREATE, "terms", Code.INVALID_PAYMENT_TERMS, "/payment_terms"),
        (Interaction.CUSTOMER_CREATE, "subsidiary", Code.ERP_REJECTED, "/legal_entity"),
        (
            Interaction.CUSTOMER_CREATE,
            "addressBook.items[0].addressBookAddress.zip",
            Code.ERP_REJECTED,
            "/addresses/0/postal_code",
        ),
    ],
)
def test_netsuite_refusals_become_business_problems_pointing_into_the_canonical_request(
    interaction: Interaction, path: str, code: Code, pointer: str
) -> None:
    text = f"Error while accessing a resource. Invalid value for {path}."
    error = error_from_response(netsuite_error(400, detail(path, text)), interaction, write=True)
    assert error.code is code
    assert error.status == 422
    assert [e.pointer for e in error.errors] == [pointer]
    assert error.detail == text  # NetSuite's words are kept for the user


def test_a_refusal_without_a_known_path_is_erp_rejected_with_netsuites_detail() -> None:
    response = netsuite_error(400, detail(None, "Something the gateway has no rule for."))
    error = error_from_response(response, Interaction.SALES_ORDER_CREATE, write=True)
    assert (error.code, error.errors) == (Code.ERP_REJECTED, [])
    assert error.detail == "Something the gateway has no rule for."


def test_a_refused_cancel_is_invalid_state() -> None:
    response = netsuite_error(400, detail("orderStatus", "You cannot cancel a billed order."))
    error = error_from_response(response, Interaction.CANCEL, write=True)
    assert error.code is Code.INVALID_STATE
    assert "billed" in error.detail


@pytest.mark.parametrize(
    ("status", "body", "code", "ambiguous"),
    [
        (500, b"{}", Code.ERP_UNAVAILABLE, True),
        (503, b"<html>down</html>", Code.ERP_UNAVAILABLE, False),
        (429, b"{}", Code.ERP_UNAVAILABLE, False),
        (400, b'{"d": {"results": [', Code.ERP_BAD_RESPONSE, False),
        (400, b'{"title": "Bad Request"}', Code.ERP_BAD_RESPONSE, False),
    ],
)
def test_technical_failures_are_retryable_problems(
    status: int, body: bytes, code: Code, ambiguous: bool
) -> None:
    error = error_from_response(
        ErpResponse(status, {}, body), Interaction.SALES_ORDER_CREATE, write=True
    )
    assert error.code is code
    assert error.retryable
    assert isinstance(error, ErpFailure) and error.ambiguous is ambiguous
