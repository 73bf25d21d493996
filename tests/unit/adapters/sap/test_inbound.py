"""SAP answers to canonical results: partners, orders and statuses, deliveries, billing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gateway.adapters.base import ErpSalesOrder
from gateway.adapters.sap.inbound import (
    customer_from_sap,
    invoice_from_sap,
    open_item_etags,
    order_status,
    quote_from_sap,
    sales_order_from_sap,
    shipment_from_sap,
    with_payment,
)
from gateway.domain.models import (
    CreditCheck,
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    SalesOrderStatus,
    ShipmentStatus,
)
from tests.canonical import billing
from tests.unit.adapters.sap.samples import (
    MAPS,
    billing_entity,
    bp_entity,
    delivery_entity,
    invoice,
    so_entity,
)


def test_a_business_partner_reads_as_a_canonical_customer() -> None:
    read = customer_from_sap(bp_entity(), MAPS)

    assert (read.erp_id, read.document_number, read.status) == (
        "0001000001",
        "0001000001",
        CustomerStatus.ACTIVE,
    )
    assert (read.legal_name, read.legal_entity, read.currency) == ("A" * 40 + "B", "DE01", "EUR")
    assert (read.payment_terms, read.credit_limit) == ("NET15", Decimal("1000.00"))
    assert (read.tax_id, read.email) == ("DE1", "ap@acme.example")
    assert read.addresses == (
        billing(line1="Hauptstr. 5", city="Berlin", postal_code="10115", country="DE"),
    )
    assert (read.external_ref, read.gateway_ref) == ("CRM-ACC-1001", "gw-1")


def test_a_blocked_partner_without_expanded_data_reads_with_what_sap_sent() -> None:
    read = customer_from_sap(
        bp_entity(
            BusinessPartnerIsBlocked=True,
            to_BusinessPartnerAddress={"__deferred": {"uri": "x"}},
            to_BusinessPartnerTax={"__deferred": {"uri": "x"}},
            to_Customer={"__deferred": {"uri": "x"}},
            YY1_CreditLimit_bus=None,
        ),
        MAPS,
    )

    assert read.status is CustomerStatus.BLOCKED
    assert (read.legal_entity, read.currency, read.payment_terms) == (None, None, None)
    assert (read.tax_id, read.email, read.addresses, read.credit_limit) == (None, None, (), None)


def test_a_sales_order_reads_with_lines_amounts_and_references() -> None:
    read = sales_order_from_sap(so_entity(), MAPS)

    assert [(ln.sku, ln.quantity, ln.unit_price, ln.amount) for ln in read.lines] == [
        ("WIDGET-1", 3, Decimal("19.99"), Decimal("59.97")),
        ("FG-UNMAPPED", 2, Decimal("149.00"), Decimal("298.00")),  # price from the net amount
    ]
    # the rejected item carries no tax
    assert (read.net_amount, read.tax_amount, read.total_amount) == (
        Decimal("208.97"),
        Decimal("11.39"),
        Decimal("220.36"),
    )
    assert read.requested_delivery_date == dt.date(2026, 12, 15)
    assert (read.external_ref, read.gateway_ref, read.customer_erp_id) == (
        "CRM-OPP-77",
        "gw-2",
        "0001000001",
    )
    assert open_item_etags(so_entity()) == [("10", 'W/"e10"')]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({}, (SalesOrderStatus.ACCEPTED, None)),
        ({"TotalCreditCheckStatus": "B"}, (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)),
        ({"DeliveryBlockReason": "01"}, (SalesOrderStatus.ON_HOLD, HoldReason.DELIVERY)),
        (
            {"OverallSDProcessStatus": "B", "OverallDeliveryStatus": "B"},
            (SalesOrderStatus.IN_FULFILLMENT, None),
        ),
        (
            {"OverallSDProcessStatus": "B", "OverallDeliveryStatus": "C"},
            (SalesOrderStatus.SHIPPED, None),
        ),
        (
            {"OverallSDProcessStatus": "C", "OverallDeliveryStatus": "C"},
            (SalesOrderStatus.INVOICED, None),
        ),
        (
            {"OverallSDDocumentRejectionSts": "C", "OverallSDProcessStatus": "C"},
            (SalesOrderStatus.CANCELLED, None),
        ),
        ({"OverallSDDocumentRejectionSts": "B"}, (SalesOrderStatus.ACCEPTED, None)),
    ],
)
def test_sap_header_statuses_map_to_the_closed_list_of_order_statuses(
    statuses: dict[str, str], expected: tuple[SalesOrderStatus, HoldReason | None]
) -> None:
    assert order_status(so_entity(**statuses)) == expected


def test_an_invoiced_order_is_paid_only_when_every_live_invoice_is_cleared() -> None:
    invoiced: ErpSalesOrder = sales_order_from_sap(
        so_entity(OverallSDProcessStatus="C", OverallDeliveryStatus="C"), MAPS
    )

    assert with_payment(invoiced, [invoice(InvoiceStatus.PAID)]).status is SalesOrderStatus.PAID
    assert (
        with_payment(
            invoiced, [invoice(InvoiceStatus.PAID), invoice(InvoiceStatus.CANCELLED)]
        ).status
        is SalesOrderStatus.PAID
    )
    assert (
        with_payment(invoiced, [invoice(InvoiceStatus.PAID), invoice(InvoiceStatus.OPEN)]).status
        is SalesOrderStatus.INVOICED
    )
    assert with_payment(invoiced, []).status is SalesOrderStatus.INVOICED


def test_a_delivery_reads_as_pending_until_goods_are_issued() -> None:
    delivery = delivery_entity()
    pending = shipment_from_sap(delivery, MAPS)
    shipped = shipment_from_sap(
        {**delivery, "OverallGoodsMovementStatus": "C", "ActualGoodsMovementDate": "/Date(0)/"},
        MAPS,
    )

    assert (pending.status, pending.shipped_at) == (ShipmentStatus.PENDING, None)
    assert (shipped.status, shipped.shipped_at) == (ShipmentStatus.SHIPPED, dt.date(1970, 1, 1))
    assert (shipped.sales_order_erp_id, shipped.lines[0].sku, shipped.lines[0].quantity) == (
        "0010000001",
        "GADGET-2",
        2,
    )


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"InvoiceClearingStatus": "A"}, InvoiceStatus.OPEN),
        ({"InvoiceClearingStatus": "C"}, InvoiceStatus.PAID),
        (
            {"InvoiceClearingStatus": "C", "BillingDocumentIsCancelled": True},
            InvoiceStatus.CANCELLED,
        ),
    ],
)
def test_a_billing_document_reads_as_open_paid_or_cancelled(
    fields: dict[str, Any], status: InvoiceStatus
) -> None:
    document = billing_entity(**fields)

    read = invoice_from_sap(document)

    assert read.status is status
    assert (read.net_amount, read.tax_amount, read.total_amount) == (
        Decimal("100.00"),
        Decimal("19.00"),
        Decimal("119.00"),
    )
    assert (read.sales_order_erp_id, read.invoice_date) == ("0010000001", dt.date(2026, 12, 15))


def test_a_simulation_reads_as_a_quote_with_its_credit_check() -> None:
    simulation = so_entity(TotalNetAmount="59.97", TotalTaxAmount="11.39", TotalGrossAmount="71.36")

    passed = quote_from_sap(simulation, MAPS)
    blocked = quote_from_sap({**simulation, "TotalCreditCheckStatus": "B"}, MAPS)

    assert (passed.net_amount, passed.tax_amount, passed.total_amount) == (
        Decimal("59.97"),
        Decimal("11.39"),
        Decimal("71.36"),
    )
    assert passed.credit_check is CreditCheck.PASSED
    assert blocked.credit_check is CreditCheck.WOULD_BLOCK
