"""NetSuite records to canonical results: customers, orders and their status, fulfillments,
invoices; a record missing what the gateway needs is a bad response."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from gateway.adapters.base import ErpInvoice, ErpShipment
from gateway.adapters.netsuite.inbound import (
    documents_needed,
    erp_customer,
    erp_invoice,
    erp_sales_order,
    erp_shipment,
    sales_order_status,
)
from gateway.adapters.netsuite.records import Documents
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.adapters.value_maps import UnmappedCodes
from gateway.domain.errors import Code, ErpFailure
from gateway.domain.models import (
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    SalesOrderStatus,
    ShipmentStatus,
)
from tests.unit.adapters.netsuite.samples import (
    customer_document,
    fulfillment_document,
    invoice,
    invoice_document,
    order_document,
    shipment,
)


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


@pytest.mark.parametrize(
    ("rate", "amount", "price"),
    [
        (0.1234, 123.4, "0.1234"),  # the four decimals a request may carry: kept
        (0.123, 123, "0.123"),
        (0.12345, 123.45, "0.1235"),  # more than the API has: rounded to its four
        (149, 149000, "149.00"),  # never fewer than the currency's cents
    ],
)
def test_a_line_rate_reads_back_with_its_own_decimals_not_rounded_to_cents(
    maps: NetSuiteMaps, rate: float, amount: float, price: str
) -> None:
    line = {"item": {"id": "1001"}, "quantity": 1000, "rate": rate, "amount": amount}
    record = order_document(subtotal=amount, item={"items": [line]})

    [read] = erp_sales_order(record, maps, SalesOrderStatus.ACCEPTED, None).lines

    assert (format(read.unit_price, "f"), read.amount) == (
        price,
        Decimal(str(amount)).quantize(Decimal("0.01")),
    )


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
    fulfillment = erp_shipment(fulfillment_document(), maps)
    assert fulfillment.status is ShipmentStatus.SHIPPED
    assert fulfillment.shipped_at == dt.date(2026, 12, 1)
    assert [(ln.sku, ln.quantity) for ln in fulfillment.lines] == [("SUPPORT-1Y", 2)]
    bill = erp_invoice(invoice_document(), maps)
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


def test_a_record_missing_what_the_gateway_needs_is_refused_naming_the_field(
    maps: NetSuiteMaps,
) -> None:
    # The adapter's answer boundary turns this into erp_bad_response (see test_answers.py).
    with pytest.raises(KeyError, match="tranId"):
        erp_sales_order(order_document(tranId=None), maps, SalesOrderStatus.ACCEPTED, None)


@pytest.mark.parametrize("quantity", ["1E+999999999", "NaN", 1e300, True, None])
def test_a_quantity_no_sales_document_can_hold_is_refused_at_once(
    maps: NetSuiteMaps, quantity: Any
) -> None:
    lines = {"items": [{"item": {"id": "1001"}, "quantity": quantity, "rate": 1, "amount": 1}]}
    with pytest.raises((TypeError, ValueError)):
        erp_sales_order(order_document(item=lines), maps, SalesOrderStatus.ACCEPTED, None)


def counting(maps: NetSuiteMaps) -> tuple[NetSuiteMaps, list[str]]:
    """`maps` with every unmapped code's kind counted into the list."""
    counted: list[str] = []
    return replace(maps, unmapped=UnmappedCodes("cloud", counted.append)), counted


def test_an_unmapped_item_shows_as_netsuite_s_name_is_counted_and_logged_once(
    maps: NetSuiteMaps, caplog: pytest.LogCaptureFixture
) -> None:
    maps, counted = counting(maps)
    line = {"item": {"id": "2001", "refName": "FREIGHT"}, "quantity": 1, "rate": 5, "amount": 5}
    record = order_document(subtotal=5, item={"items": [line]})

    with caplog.at_level(logging.WARNING, logger="gateway.adapters"):
        [read] = erp_sales_order(record, maps, SalesOrderStatus.ACCEPTED, None).lines
        erp_sales_order(record, maps, SalesOrderStatus.ACCEPTED, None)

    assert read.sku == "FREIGHT"
    assert counted == ["sku", "sku"]
    warnings = [r for r in caplog.records if r.getMessage() == "ERP code not in the value maps"]
    assert [(r.backend, r.kind, r.erp_code) for r in warnings] == [  # type: ignore[attr-defined]
        ("cloud", "sku", "2001")
    ]


def test_unmapped_terms_and_subsidiary_read_as_none_and_are_reported(
    maps: NetSuiteMaps,
) -> None:
    maps, counted = counting(maps)
    document = customer_document(
        terms={"id": "9", "refName": "Net 90"},
        subsidiary={"id": "99", "refName": "Japan"},
    )

    read = erp_customer(document, maps)

    assert (read.payment_terms, read.legal_entity, read.currency) == (None, None, "EUR")
    assert sorted(counted) == ["legal_entity", "payment_terms"]


def test_an_unmapped_currency_not_read_from_netsuite_is_a_bad_response_never_its_name(
    maps: NetSuiteMaps,
) -> None:
    maps, counted = counting(maps)
    document = customer_document(currency={"id": "99", "refName": "Swiss Franc"})

    assert maps.currencies_to_read([document, document]) == ["99"]
    with pytest.raises(ErpFailure) as raised:
        erp_customer(document, maps)

    assert raised.value.code is Code.ERP_BAD_RESPONSE
    assert "Swiss Franc" not in raised.value.detail
    assert counted == ["currency"]
