"""The SAP mapping both ways, and SAP's refusals as canonical problems: pure, no network."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gateway.adapters.base import ErpInvoice, ErpSalesOrder, References
from gateway.adapters.http import ErpFailure
from gateway.adapters.sap_mapping import (
    SapAnswerError,
    SapMaps,
    Subject,
    customer_from_sap,
    customer_payload,
    date_of,
    entity_of,
    entity_path,
    equals_filter,
    error_from_sap,
    invoice_from_sap,
    odata_date,
    open_item_etags,
    order_status,
    quote_from_sap,
    results_of,
    sales_order_from_sap,
    sales_order_payload,
    shipment_from_sap,
    technical_error,
    with_payment,
)
from gateway.config.backends import SapLegalEntity, SapValueMaps
from gateway.domain.errors import Code, GatewayError
from gateway.domain.models import (
    CreditCheck,
    CustomerCreate,
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    SalesOrderStatus,
    ShipmentStatus,
)
from tests.canonical import billing, order_item

MAPS = SapMaps.from_config(
    SapValueMaps(
        legal_entities={
            "US01": SapLegalEntity(company_code="1710", sales_organization="1710"),
            "DE01": SapLegalEntity(company_code="1010", sales_organization="1010"),
        },
        payment_terms={"NET15": "NT15", "NET30": "NT30"},
        skus={"WIDGET-1": "FG-WIDGET1", "GADGET-2": "FG-GADGET2"},
    )
)
REFS = References(external_ref="CRM-ACC-1001", gateway_ref="gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ")
LINES = [
    order_item("WIDGET-1", 3, Decimal("19.99")),
    order_item("GADGET-2", 1, Decimal("149.00")),
]


def customer(**overrides: Any) -> CustomerCreate:
    fields: dict[str, Any] = {
        "external_ref": "CRM-ACC-1001",
        "legal_entity": "DE01",
        "legal_name": "Acme Corp",
        "tax_id": "DE123456789",
        "email": "ap@acme.example",
        "currency": "EUR",
        "payment_terms": "NET30",
        "credit_limit": Decimal("50000.00"),
        "addresses": [
            billing(line1="Hauptstr. 5", city="Berlin", postal_code="10115", country="DE")
        ],
    }
    fields.update(overrides)
    return CustomerCreate(**fields)


def sap_error(*details: tuple[str, str, str]) -> dict[str, Any]:
    code, message, _ = details[0]
    return {
        "error": {
            "code": code,
            "message": {"lang": "en", "value": message},
            "innererror": {
                "errordetails": [
                    {"code": c, "message": m, "target": t, "severity": "error"}
                    for c, m, t in details
                ]
            },
        }
    }


def raised(call: Any, *args: Any) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        call(*args)
    return caught.value


# --- canonical -> SAP -------------------------------------------------------------------------


def test_a_customer_becomes_a_business_partner_with_customer_data_in_its_company_code() -> None:
    payload = customer_payload(customer(), REFS, MAPS)

    assert payload["BusinessPartnerCategory"] == "2"
    assert payload["OrganizationBPName1"] == "Acme Corp"
    assert "OrganizationBPName2" not in payload
    assert payload["BusinessPartnerIDByExtSystem"] == "CRM-ACC-1001"
    assert payload["YY1_GatewayRef_SDH"] == REFS.gateway_ref
    assert payload["YY1_CreditLimit_bus"] == "50000.00"
    assert payload["to_BusinessPartnerTax"] == {
        "results": [{"BPTaxType": "DE0", "BPTaxNumber": "DE123456789"}]
    }
    company = payload["to_Customer"]["to_CustomerCompany"]["results"]
    area = payload["to_Customer"]["to_CustomerSalesArea"]["results"]
    assert company == [{"CompanyCode": "1010", "PaymentTerms": "NT30"}]
    assert area == [
        {
            "SalesOrganization": "1010",
            "DistributionChannel": "10",
            "Division": "00",
            "Currency": "EUR",
            "CustomerPaymentTerms": "NT30",
        }
    ]


def test_a_long_name_spills_into_the_second_name_field_and_optional_fields_stay_out() -> None:
    name = "A" * 40 + "B" * 25
    address = billing(
        line1="1 Main St",
        line2="Suite 5",
        city="Austin",
        postal_code="78701",
        region="TX",
        country="US",
    )
    payload = customer_payload(
        customer(
            legal_name=name, tax_id=None, email=None, legal_entity="US01", addresses=[address]
        ),
        References(external_ref=None, gateway_ref="gw-x"),
        MAPS,
    )

    assert (payload["OrganizationBPName1"], payload["OrganizationBPName2"]) == ("A" * 40, "B" * 25)
    assert "to_BusinessPartnerTax" not in payload
    assert "BusinessPartnerIDByExtSystem" not in payload
    [row] = payload["to_BusinessPartnerAddress"]["results"]
    assert (row["StreetSuffixName"], row["Region"]) == ("Suite 5", "TX")
    assert "to_EmailAddress" not in row


def test_payment_terms_without_a_map_entry_are_invalid_payment_terms() -> None:
    error = raised(customer_payload, customer(payment_terms="NET99"), REFS, MAPS)

    assert (error.code, [e.pointer for e in error.errors]) == (
        Code.INVALID_PAYMENT_TERMS,
        ["/payment_terms"],
    )
    assert "NET15, NET30" in error.detail


def test_a_legal_entity_without_a_map_entry_is_erp_rejected_at_legal_entity() -> None:
    error = raised(customer_payload, customer(legal_entity="GB01"), REFS, MAPS)

    assert (error.code, [e.pointer for e in error.errors]) == (Code.ERP_REJECTED, ["/legal_entity"])
    assert "GB01" in error.detail


def test_an_order_becomes_a_deep_insert_with_expected_prices_and_both_references() -> None:
    payload = sales_order_payload(
        MAPS.legal_entity("US01"), "0001000042", "USD", dt.date(2026, 12, 15), LINES, MAPS, REFS
    )

    assert payload["SoldToParty"] == "0001000042"
    assert payload["SalesOrganization"] == "1710"
    assert payload["PurchaseOrderByCustomer"] == "CRM-ACC-1001"
    assert payload["YY1_GatewayRef_SDH"] == REFS.gateway_ref
    assert payload["RequestedDeliveryDate"] == "/Date(1797292800000)/"
    items = payload["to_Item"]["results"]
    assert [(i["SalesOrderItem"], i["Material"], i["RequestedQuantity"]) for i in items] == [
        ("10", "FG-WIDGET1", "3"),
        ("20", "FG-GADGET2", "1"),
    ]
    assert items[1]["to_PricingElement"]["results"] == [
        {"ConditionType": "EDI1", "ConditionRateValue": "149.00", "ConditionCurrency": "USD"}
    ]


def test_a_quote_payload_carries_no_references_and_no_date_when_none_is_asked() -> None:
    payload = sales_order_payload(MAPS.legal_entity("DE01"), "1", "EUR", None, LINES, MAPS)

    assert not {"PurchaseOrderByCustomer", "YY1_GatewayRef_SDH", "RequestedDeliveryDate"} & set(
        payload
    )


def test_every_unmapped_sku_is_reported_at_its_own_line() -> None:
    lines = [
        order_item("NOPE-1", 1, Decimal("1")),
        LINES[0],
        order_item("NOPE-2", 1, Decimal("1")),
    ]

    error = raised(sales_order_payload, MAPS.legal_entity("DE01"), "1", "EUR", None, lines, MAPS)

    assert error.code is Code.UNKNOWN_SKU
    assert [e.pointer for e in error.errors] == ["/items/0/product_id", "/items/2/product_id"]
    assert "NOPE-1, NOPE-2" in error.detail


def test_keys_and_filters_are_odata_string_literals_with_quotes_doubled() -> None:
    assert entity_path("/x/A_SalesOrder", SalesOrder="1") == "/x/A_SalesOrder('1')"
    assert (
        entity_path("/x/A_SalesOrderItem", SalesOrder="1", SalesOrderItem="10")
        == "/x/A_SalesOrderItem(SalesOrder='1',SalesOrderItem='10')"
    )
    assert equals_filter("PurchaseOrderByCustomer", "O'Brien") == (
        "PurchaseOrderByCustomer eq 'O''Brien'"
    )


def test_dates_round_trip_through_edm_datetime() -> None:
    day = dt.date(2026, 2, 28)
    assert date_of(odata_date(day)) == day
    assert date_of("/Date(1797292800000+0000)/") == dt.date(2026, 12, 15)
    assert date_of(None) is None
    with pytest.raises(SapAnswerError):
        date_of("2026-12-15")


# --- SAP -> canonical -------------------------------------------------------------------------


def bp_entity(**overrides: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "__metadata": {"uri": "http://sap/A_BusinessPartner('0001000001')"},
        "BusinessPartner": "0001000001",
        "BusinessPartnerCategory": "2",
        "OrganizationBPName1": "A" * 40,
        "OrganizationBPName2": "B",
        "BusinessPartnerIDByExtSystem": "CRM-ACC-1001",
        "BusinessPartnerIsBlocked": False,
        "YY1_GatewayRef_SDH": "gw-1",
        "YY1_CreditLimit_bus": "1000.00",
        "to_BusinessPartnerAddress": {
            "results": [
                {
                    "StreetName": "Hauptstr. 5",
                    "StreetSuffixName": "",
                    "CityName": "Berlin",
                    "PostalCode": "10115",
                    "Region": "",
                    "Country": "DE",
                    "to_EmailAddress": {"results": [{"EmailAddress": "ap@acme.example"}]},
                }
            ]
        },
        "to_BusinessPartnerTax": {"results": [{"BPTaxType": "DE0", "BPTaxNumber": "DE1"}]},
        "to_Customer": {
            "to_CustomerCompany": {"results": [{"CompanyCode": "1010", "PaymentTerms": "NT15"}]},
            "to_CustomerSalesArea": {
                "results": [
                    {"SalesOrganization": "1010", "Currency": "EUR", "CustomerPaymentTerms": "NT15"}
                ]
            },
        },
    }
    entity.update(overrides)
    return entity


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


def so_entity(**overrides: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "SalesOrder": "0010000001",
        "SoldToParty": "0001000001",
        "TransactionCurrency": "EUR",
        "TotalNetAmount": "208.97",
        "RequestedDeliveryDate": "/Date(1797292800000)/",
        "PurchaseOrderByCustomer": "CRM-OPP-77",
        "YY1_GatewayRef_SDH": "gw-2",
        "OverallSDProcessStatus": "A",
        "OverallDeliveryStatus": "A",
        "TotalCreditCheckStatus": "A",
        "OverallSDDocumentRejectionSts": "A",
        "DeliveryBlockReason": "",
        "to_Item": {
            "results": [
                {
                    "__metadata": {"etag": 'W/"e10"'},
                    "SalesOrderItem": "10",
                    "Material": "FG-WIDGET1",
                    "RequestedQuantity": "3.000",
                    "NetPriceAmount": "19.99",
                    "NetAmount": "59.97",
                    "TaxAmount": "11.39",
                    "SalesDocumentRjcnReason": "",
                },
                {
                    "__metadata": {"etag": 'W/"e20"'},
                    "SalesOrderItem": "20",
                    "Material": "FG-UNMAPPED",
                    "RequestedQuantity": "2.000",
                    "NetAmount": "298.00",
                    "TaxAmount": "56.62",
                    "SalesDocumentRjcnReason": "10",
                },
            ]
        },
    }
    entity.update(overrides)
    return entity


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


def invoice(status: InvoiceStatus) -> ErpInvoice:
    return ErpInvoice("9", "9", "1", status, "EUR", Decimal(1), Decimal(1))


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
    delivery: dict[str, Any] = {
        "DeliveryDocument": "0080000001",
        "OverallGoodsMovementStatus": "A",
        "ActualGoodsMovementDate": None,
        "to_DeliveryDocumentItem": {
            "results": [
                {
                    "Material": "FG-GADGET2",
                    "ActualDeliveryQuantity": "2.000",
                    "ReferenceSDDocument": "0010000001",
                }
            ]
        },
    }
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
    document = {
        "BillingDocument": "0090000001",
        "TransactionCurrency": "EUR",
        "TotalNetAmount": "100.00",
        "TotalTaxAmount": "19.00",
        "TotalGrossAmount": "119.00",
        "BillingDocumentDate": "/Date(1797292800000)/",
        "to_Item": {"results": [{"SalesDocument": "0010000001"}]},
        **fields,
    }

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


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"d": None},
        {"d": {"results": []}},
        {"error": {}},
    ],
)
def test_an_answer_without_an_entity_envelope_is_unreadable(body: Any) -> None:
    with pytest.raises(SapAnswerError):
        entity_of(body)


def test_an_answer_without_a_collection_is_unreadable_and_a_bad_amount_too() -> None:
    assert results_of({"d": {"results": [{"a": 1}]}}) == [{"a": 1}]
    with pytest.raises(SapAnswerError):
        results_of({"d": {"SalesOrder": "1"}})
    with pytest.raises(SapAnswerError):
        sales_order_from_sap(so_entity(TotalNetAmount=208.97), MAPS)  # a float, not Edm.Decimal


# --- SAP errors -> problems -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detail", "subject", "code", "pointer"),
    [
        (("V1/392", "Material X does not exist", "/to_Item(20)/Material"),
         Subject.SALES_ORDER, Code.UNKNOWN_SKU, "/items/1/product_id"),
        (("V1/841", "Expected price differs",
          "/to_Item(10)/to_PricingElement(EDI1)/ConditionRateValue"),
         Subject.SALES_ORDER, Code.PRICE_MISMATCH, "/items/0/price/amount"),
        (("V1/501", "Quantity not valid", "/to_Item(30)/RequestedQuantity"),
         Subject.SALES_ORDER, Code.ERP_REJECTED, "/items/2/quantity"),
        (("V1/302", "Sold-to party does not exist", "SoldToParty"),
         Subject.SALES_ORDER, Code.CUSTOMER_NOT_FOUND, "/customer_id"),
        (("V1/324", "Sold-to party not in sales area", "SoldToParty"),
         Subject.SALES_ORDER, Code.CUSTOMER_LEGAL_ENTITY_MISMATCH, "/customer_id"),
        (("CVI_API/012", "Enter a tax number", "/to_BusinessPartnerTax/BPTaxNumber"),
         Subject.CUSTOMER, Code.TAX_ID_REQUIRED, "/tax_id"),
        (("CVI_API/011", "Terms NT90 not defined",
          "/to_Customer/to_CustomerCompany('1010')/PaymentTerms"),
         Subject.CUSTOMER, Code.INVALID_PAYMENT_TERMS, "/payment_terms"),
        (("/IWBEP/CM_MGW_RT/004", "Value too long", "BusinessPartnerIDByExtSystem"),
         Subject.CUSTOMER, Code.ERP_REJECTED, "/external_ref"),
        (("/IWBEP/CM_MGW_RT/004", "Value too long", "/to_BusinessPartnerAddress/CityName"),
         Subject.CUSTOMER, Code.ERP_REJECTED, "/addresses/0/city"),
        (("CVI_API/012", "Enter a tax number", ""),
         Subject.CUSTOMER, Code.TAX_ID_REQUIRED, "/tax_id"),
        (("ZZ/999", "Something SAP-specific", "SomeField"),
         Subject.CUSTOMER, Code.ERP_REJECTED, ""),
    ],
)  # fmt: skip
def test_sap_refusals_become_business_problems_pointing_into_the_canonical_request(
    detail: tuple[str, str, str], subject: Subject, code: Code, pointer: str
) -> None:
    error = error_from_sap(sap_error(detail), subject)

    assert (error.code, error.status, error.retryable) == (code, 422, False)
    assert [(e.pointer, e.detail) for e in error.errors] == [(pointer, detail[1])]
    assert error.detail == detail[1]


def test_several_sap_details_keep_every_pointer_and_message() -> None:
    price_target = "/to_Item(20)/to_PricingElement(EDI1)/ConditionRateValue"
    body = sap_error(
        ("V1/392", "Material FG-X does not exist", "/to_Item(10)/Material"),
        ("V1/841", "Expected price 99.00 differs from 149.00", price_target),
    )

    error = error_from_sap(body, Subject.SALES_ORDER)

    assert error.code is Code.UNKNOWN_SKU
    assert [e.pointer for e in error.errors] == ["/items/0/product_id", "/items/1/price/amount"]
    assert error.detail == "Material FG-X does not exist; Expected price 99.00 differs from 149.00"


def test_a_refused_cancel_is_invalid_state_with_sap_words() -> None:
    body = sap_error(("V1/446", "Item 10 cannot be rejected: delivery exists", "X"))

    error = error_from_sap(body, Subject.CANCEL)

    assert (error.code, error.errors) == (Code.INVALID_STATE, [])
    assert "delivery exists" in error.detail


def test_an_envelope_without_details_uses_its_top_level_message() -> None:
    body = {"error": {"code": "V1/392", "message": {"lang": "en", "value": "No material"}}}

    error = error_from_sap(body, Subject.SALES_ORDER)

    assert (error.code, error.detail) == (Code.UNKNOWN_SKU, "No material")


def test_a_body_that_is_no_sap_envelope_is_unreadable() -> None:
    with pytest.raises(SapAnswerError):
        error_from_sap({"message": "nope"}, Subject.CUSTOMER)


@pytest.mark.parametrize(
    ("status", "write", "code", "ambiguous"),
    [
        (500, True, Code.ERP_UNAVAILABLE, False),
        (503, False, Code.ERP_UNAVAILABLE, False),
        (429, False, Code.ERP_UNAVAILABLE, False),
        (401, False, Code.ERP_UNAVAILABLE, False),
        (504, True, Code.ERP_TIMEOUT, True),
        (504, False, Code.ERP_TIMEOUT, False),
        (405, True, Code.ERP_BAD_RESPONSE, False),
    ],
)
def test_technical_statuses_become_retryable_technical_problems(
    status: int, write: bool, code: Code, ambiguous: bool
) -> None:
    error = technical_error(status, write=write, retry_after="3")

    assert isinstance(error, ErpFailure)
    assert (error.code, error.ambiguous, error.retryable) == (code, ambiguous, True)
    assert error.headers == ({} if code is Code.ERP_BAD_RESPONSE else {"Retry-After": "3"})


def test_reverse_maps_translate_sap_keys_back_to_canonical_codes() -> None:
    assert MAPS.legal_entity_by_company_code == {"1710": "US01", "1010": "DE01"}
    assert MAPS.terms_by_key == {"NT15": "NET15", "NT30": "NET30"}
    assert MAPS.sku_by_material == {"FG-WIDGET1": "WIDGET-1", "FG-GADGET2": "GADGET-2"}
