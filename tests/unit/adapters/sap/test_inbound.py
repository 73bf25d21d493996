"""SAP answers to canonical results: partners, orders and statuses, deliveries, billing."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import pytest

from gateway.adapters.base import ErpSalesOrder
from gateway.adapters.sap.inbound import (
    customer_from_sap,
    invoice_from_sap,
    open_items,
    order_status,
    quote_from_sap,
    sales_order_from_sap,
    shipment_from_sap,
    with_follow_on,
)
from gateway.adapters.sap.odata import SapAnswerError
from gateway.adapters.sap.value_maps import SapMaps
from gateway.adapters.value_maps import UnmappedCodes
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
    SAMPLE_VALUE_MAPS,
    billing_entity,
    bp_entity,
    delivery_entity,
    invoice,
    pricing_element,
    simulation_entity,
    so_entity,
)


def test_a_business_partner_reads_as_a_canonical_customer() -> None:
    read = customer_from_sap(bp_entity(), MAPS)

    assert (read.erp_id, read.document_number, read.status) == (
        "0001000001",
        "0001000001",
        CustomerStatus.ACTIVE,
    )
    assert (read.legal_name, read.legal_entity, read.currency) == (
        "Acme Corporation North America",
        "DE01",
        "EUR",
    )
    assert (read.payment_terms, read.credit_limit) == ("NET15", Decimal("1000.00"))
    assert (read.tax_id, read.email) == ("DE1", "ap@acme.example")
    assert read.addresses == (
        billing(line1="Hauptstr. 5", city="Berlin", postal_code="10115", country="DE"),
    )
    assert (read.external_ref, read.gateway_ref) == ("CRM-ACC-1001", "gw-1")


@pytest.mark.parametrize(
    ("names", "legal_name"),
    [
        (("Acme Corp", ""), "Acme Corp"),
        (("Acme Corp", None), "Acme Corp"),
        (("", "Acme Corp"), "Acme Corp"),
        (("A" * 40, "B"), "A" * 40 + " B"),
        (("A" * 40, "B" * 40, "C" * 40, "D"), f"{'A' * 40} {'B' * 40} {'C' * 40} D"),
        (("Acme", "", "North", None), "Acme North"),
    ],
)
def test_a_partners_name_fields_read_joined_by_one_blank_as_sap_shows_them(
    names: tuple[str | None, ...], legal_name: str
) -> None:
    fields = {f"OrganizationBPName{n}": name for n, name in enumerate(names, 1)}
    entity = bp_entity(**fields)

    assert customer_from_sap(entity, MAPS).legal_name == legal_name


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
    # tax from the tax pricing elements (class D); the rejected item carries none
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
    assert open_items(so_entity()) == ["10"]


@pytest.mark.parametrize(
    ("quantity", "net", "price"),
    [
        ("1000.000", "123.40", "0.1234"),  # 0.1234 each: kept, not read back as 0.12
        ("3.000", "0.37", "0.1233"),  # SAP's net value is in cents: to the API's four decimals
        ("2.000", "298.00", "149.00"),
    ],
)
def test_a_unit_price_is_read_to_the_four_decimals_the_api_takes_not_to_cents(
    quantity: str, net: str, price: str
) -> None:
    item = {**so_entity()["to_Item"]["results"][0], "RequestedQuantity": quantity}
    item["NetAmount"] = net
    entity = so_entity(TotalNetAmount=net, to_Item={"results": [item]})

    [line] = sales_order_from_sap(entity, MAPS).lines

    assert (format(line.unit_price, "f"), line.amount) == (price, Decimal(net))


def test_a_newer_releases_item_tax_amount_is_read_where_it_comes() -> None:
    entity = so_entity()
    entity["to_Item"]["results"][0] = {
        **entity["to_Item"]["results"][0],
        "TaxAmount": "11.40",
        "to_PricingElement": {"__deferred": {"uri": "x"}},
    }

    assert sales_order_from_sap(entity, MAPS).tax_amount == Decimal("11.40")


def test_an_order_whose_items_bring_no_tax_has_no_tax_rather_than_a_zero() -> None:
    entity = so_entity()
    entity["to_Item"]["results"][0]["to_PricingElement"] = {"__deferred": {"uri": "x"}}

    read = sales_order_from_sap(entity, MAPS)

    assert (read.tax_amount, read.total_amount) == (None, None)


def test_numbers_sap_shows_unpadded_are_padded_in_ids_and_kept_as_shown_for_users() -> None:
    read = sales_order_from_sap(so_entity(SalesOrder="10000001", SoldToParty="17100001"), MAPS)
    customer = customer_from_sap(bp_entity(BusinessPartner="17100001"), MAPS)

    assert (read.erp_id, read.document_number, read.customer_erp_id) == (
        "0010000001",
        "10000001",
        "0017100001",
    )
    assert (customer.erp_id, customer.document_number) == ("0017100001", "17100001")


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({}, (SalesOrderStatus.ACCEPTED, None)),
        ({"TotalCreditCheckStatus": "B"}, (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)),
        ({"DeliveryBlockReason": "01"}, (SalesOrderStatus.ON_HOLD, HoldReason.DELIVERY)),
        # SAP sets the delivery status when the delivery is created: in fulfilment, whatever
        # the overall processing status says (C once delivered: billing is the delivery's)
        (
            {"OverallSDProcessStatus": "C", "OverallTotalDeliveryStatus": "C"},
            (SalesOrderStatus.IN_FULFILLMENT, None),
        ),
        ({"OverallTotalDeliveryStatus": "B"}, (SalesOrderStatus.IN_FULFILLMENT, None)),
        # a newer release's OverallDeliveryStatus, when it comes, says the same
        (
            {"OverallTotalDeliveryStatus": None, "OverallDeliveryStatus": "C"},
            (SalesOrderStatus.IN_FULFILLMENT, None),
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
    assert order_status(so_entity(**statuses), MAPS) == expected


def fulfilment(*movements: str, fully: bool = True, invoices: Any = ()) -> SalesOrderStatus:
    order: ErpSalesOrder = sales_order_from_sap(so_entity(OverallTotalDeliveryStatus="C"), MAPS)
    return with_follow_on(order, movements, list(invoices), fully_delivered=fully).status


def test_an_order_in_fulfilment_is_shipped_only_when_its_deliveries_goods_are_issued() -> None:
    assert fulfilment("A", "A") is SalesOrderStatus.IN_FULFILLMENT
    assert fulfilment("C", "A") is SalesOrderStatus.PARTIALLY_SHIPPED
    assert fulfilment("C", "C", fully=False) is SalesOrderStatus.PARTIALLY_SHIPPED
    assert fulfilment("C", "C") is SalesOrderStatus.SHIPPED


def test_a_billed_order_is_paid_only_when_every_live_invoice_is_cleared() -> None:
    paid, open_, cancelled = (
        invoice(InvoiceStatus.PAID),
        invoice(InvoiceStatus.OPEN),
        invoice(InvoiceStatus.CANCELLED),
    )

    assert fulfilment("C", invoices=[paid]) is SalesOrderStatus.PAID
    assert fulfilment("C", invoices=[paid, cancelled]) is SalesOrderStatus.PAID
    assert fulfilment("C", invoices=[paid, open_]) is SalesOrderStatus.INVOICED
    assert fulfilment("C", invoices=[cancelled]) is SalesOrderStatus.SHIPPED


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


def test_a_simulation_reads_totals_and_credit_from_its_navigations() -> None:
    passed = quote_from_sap(simulation_entity(), MAPS)
    blocked = quote_from_sap(
        simulation_entity(to_Credit={"SalesOrder": "", "TotalCreditCheckStatus": "B"}), MAPS
    )

    assert (passed.net_amount, passed.tax_amount, passed.total_amount) == (
        Decimal("59.97"),
        Decimal("11.39"),
        Decimal("71.36"),
    )
    assert [(ln.sku, ln.amount) for ln in passed.lines] == [("WIDGET-1", Decimal("59.97"))]
    assert passed.credit_check is CreditCheck.PASSED
    assert blocked.credit_check is CreditCheck.WOULD_BLOCK


def test_a_simulation_without_its_pricing_navigation_is_no_quote() -> None:
    with pytest.raises(SapAnswerError, match="to_Pricing"):
        quote_from_sap(simulation_entity(to_Pricing=None), MAPS)


def test_a_billing_document_of_a_service_sending_total_tax_amount_still_has_its_tax() -> None:
    document = billing_entity(TotalTaxAmount="19.00")
    del document["TaxAmount"]

    assert invoice_from_sap(document).tax_amount == Decimal("19.00")


def _order_in(currency: str, quantity: str, net: str, tax: str) -> dict[str, Any]:
    item = {**so_entity()["to_Item"]["results"][0], "RequestedQuantity": quantity}
    item["NetAmount"] = net
    item["to_PricingElement"] = {"results": [pricing_element("B", net), pricing_element("D", tax)]}
    return so_entity(TransactionCurrency=currency, TotalNetAmount=net, to_Item={"results": [item]})


@pytest.mark.parametrize(
    ("currency", "quantity", "net", "tax", "price", "total"),
    [
        ("JPY", "10.000", "1490", "119", "149", "1609"),  # no minor unit: no decimals
        ("KWD", "10.000", "12.000", "0.960", "1.200", "12.960"),  # three decimals
        ("EUR", "10.000", "12.00", "0.96", "1.20", "12.96"),
    ],
)
def test_an_orders_unit_price_tax_and_total_have_its_currencys_decimals(
    currency: str, quantity: str, net: str, tax: str, price: str, total: str
) -> None:
    read = sales_order_from_sap(_order_in(currency, quantity, net, tax), MAPS)

    [line] = read.lines
    shown = [format(a, "f") for a in (line.unit_price, read.tax_amount, read.total_amount) if a]
    assert shown == [price, tax, total]


def test_a_yen_order_whose_items_are_all_rejected_has_a_tax_of_zero_yen() -> None:
    entity = _order_in("JPY", "10.000", "1490", "119")
    entity["to_Item"]["results"][0]["SalesDocumentRjcnReason"] = "10"

    tax = sales_order_from_sap(entity, MAPS).tax_amount

    assert tax is not None and format(tax, "f") == "0"


def counting_maps() -> tuple[SapMaps, list[str]]:
    """MAPS with every unmapped code's kind counted into the list."""
    counted: list[str] = []
    maps = SapMaps.from_config(SAMPLE_VALUE_MAPS, UnmappedCodes("legacy", counted.append))
    return maps, counted


@pytest.mark.parametrize(
    ("credit", "expected"),
    [
        ("", (SalesOrderStatus.ACCEPTED, None)),  # not checked
        ("A", (SalesOrderStatus.ACCEPTED, None)),  # checked, OK
        ("B", (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)),  # checked, not OK
        ("C", (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)),  # not OK, only partly released
        ("D", (SalesOrderStatus.ACCEPTED, None)),  # released by a credit representative
    ],
)
def test_sap_credit_statuses_that_block_an_order_read_as_on_hold(
    credit: str, expected: tuple[SalesOrderStatus, HoldReason | None]
) -> None:
    maps, counted = counting_maps()

    read = sales_order_from_sap(so_entity(TotalCreditCheckStatus=credit), maps)

    assert (read.status, read.hold_reason) == expected
    assert counted == ["sku"]  # the sample's rejected FG-UNMAPPED item, nothing for the status


def test_a_credit_status_the_gateway_does_not_know_holds_the_order_and_is_reported() -> None:
    maps, counted = counting_maps()

    read = sales_order_from_sap(so_entity(TotalCreditCheckStatus="X"), maps)
    quote = quote_from_sap(
        simulation_entity(to_Credit={"SalesOrder": "", "TotalCreditCheckStatus": "X"}), maps
    )

    assert (read.status, read.hold_reason) == (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)
    assert quote.credit_check is CreditCheck.WOULD_BLOCK
    assert counted.count("credit_status") == 2


def test_a_partly_released_credit_block_fails_a_simulation_s_credit_check() -> None:
    quote = quote_from_sap(
        simulation_entity(to_Credit={"SalesOrder": "", "TotalCreditCheckStatus": "C"}), MAPS
    )

    assert quote.credit_check is CreditCheck.WOULD_BLOCK


def test_an_unmapped_material_shows_as_sap_s_number_is_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    maps, counted = counting_maps()

    with caplog.at_level(logging.WARNING, logger="gateway.adapters"):
        first = sales_order_from_sap(so_entity(), maps)
        sales_order_from_sap(so_entity(), maps)

    assert [line.sku for line in first.lines] == ["WIDGET-1", "FG-UNMAPPED"]
    assert counted == ["sku", "sku"]
    warnings = [r for r in caplog.records if r.getMessage() == "ERP code not in the value maps"]
    assert [(r.backend, r.kind, r.erp_code) for r in warnings] == [  # type: ignore[attr-defined]
        ("legacy", "sku", "FG-UNMAPPED")
    ]


def test_unmapped_payment_terms_and_company_code_read_as_none_and_are_reported() -> None:
    maps, counted = counting_maps()
    partner = bp_entity(
        to_Customer={
            "to_CustomerCompany": {"results": [{"CompanyCode": "9999", "PaymentTerms": "ZB90"}]},
            "to_CustomerSalesArea": {"results": [{"SalesOrganization": "9999"}]},
        }
    )

    read = customer_from_sap(partner, maps)

    assert (read.payment_terms, read.legal_entity) == (None, None)
    assert sorted(counted) == ["legal_entity", "payment_terms"]
