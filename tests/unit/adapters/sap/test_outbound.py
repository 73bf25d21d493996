"""Canonical requests to SAP payloads: business partner and sales order deep inserts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from gateway.adapters.base import References
from gateway.adapters.sap.inbound import customer_from_sap
from gateway.adapters.sap.outbound import customer_payload, sales_order_payload
from gateway.domain.errors import Code
from tests.canonical import billing, order_item
from tests.unit.adapters.sap.samples import LINES, MAPS, REFS, bp_entity, customer, raised


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
    name = "A" * 40 + " " + "B" * 25
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
    assert "OrganizationBPName3" not in payload
    assert "to_BusinessPartnerTax" not in payload
    assert "BusinessPartnerIDByExtSystem" not in payload
    [row] = payload["to_BusinessPartnerAddress"]["results"]
    assert (row["StreetSuffixName"], row["Region"]) == ("Suite 5", "TX")
    assert "to_EmailAddress" not in row


SAP_NAME_FIELDS = tuple(f"OrganizationBPName{n}" for n in range(1, 5))
IBM_DE = "International Business Machines Corporation Deutschland Holding GmbH & Co. KG"


def sap_name_fields(legal_name: str) -> tuple[str, ...]:
    """The name fields the partner payload fills, in order (those it leaves out, not)."""
    payload = customer_payload(customer(legal_name=legal_name), REFS, MAPS)
    return tuple(payload[field] for field in SAP_NAME_FIELDS if field in payload)


@pytest.mark.parametrize(
    ("legal_name", "parts"),
    [
        (
            "Acme Corporation International Holdings North America",
            ("Acme Corporation International Holdings", "North America"),
        ),
        ("A" * 39 + " " + "B" * 20, ("A" * 39, "B" * 20)),  # the blank at position 40
        ("A" * 40 + " " + "B" * 20, ("A" * 40, "B" * 20)),  # the blank at position 41
        ("Acme  Corporation " + "B" * 30, ("Acme  Corporation", "B" * 30)),
        (
            IBM_DE,  # no blank at positions 36 to 40: two fields would cut "Corporation"
            ("International Business Machines", "Corporation Deutschland Holding GmbH &", "Co. KG"),
        ),
        ("A" * 30 + " " + "B" * 30 + " " + "C" * 18, ("A" * 30, "B" * 30, "C" * 18)),
        ("A" * 20 + "  " + "B" * 15 + " " + "C" * 20, ("A" * 20 + "  " + "B" * 15, "C" * 20)),
        # SAP drops only a field's trailing blanks: a run of blanks goes on at the next field
        ("A" * 20 + "  " + "B" * 25, ("A" * 20, " " + "B" * 25)),
        (
            "Acme  Widgets  International  Holdings  Ltd",
            ("Acme  Widgets  International  Holdings", " Ltd"),
        ),
    ],
)
def test_a_long_name_is_wrapped_between_words_over_sap_name_fields(
    legal_name: str, parts: tuple[str, ...]
) -> None:
    assert sap_name_fields(legal_name) == parts


@pytest.mark.parametrize(
    "legal_name",
    [
        "Acme Corp",
        "A" * 40,
        "A" * 39 + " " + "B" * 40,
        "A" * 40 + " " + "B" * 39,
        "Acme Corporation International Holdings North America",
        "Acme  Corporation " + "B" * 30,
        IBM_DE,
        "A" * 30 + " " + "B" * 30 + " " + "C" * 18,
        "A" * 25 + " " + "B" * 25 + " " + "C" * 28,  # 80 characters: the most the API takes
        " ".join("A" * 9 for _ in range(8)),
        "A" * 20 + "  " + "B" * 15 + " " + "C" * 20,
        "A" * 20 + "  " + "B" * 25,
        "Acme  Widgets  International  Holdings  Ltd",
    ],
)
def test_a_name_reads_back_unchanged_from_the_name_fields_sap_keeps(legal_name: str) -> None:
    parts = sap_name_fields(legal_name)
    filled = parts + ("",) * (len(SAP_NAME_FIELDS) - len(parts))
    kept = bp_entity(  # SAP keeps no blanks at the end of a field
        **{field: part.rstrip(" ") for field, part in zip(SAP_NAME_FIELDS, filled, strict=True)}
    )

    assert all(len(part) <= 40 for part in parts)
    assert customer_from_sap(kept, MAPS).legal_name == legal_name


@pytest.mark.parametrize(
    ("legal_name", "said"),
    [
        ("A" * 45 + " Ltd", "A" * 45),
        ("Acme " + "B" * 41, "B" * 41),
        # a run of blanks across where a field would have to end: no field may end in one
        ("A" * 30 + " " * 15 + "B" * 30, "no blank"),
    ],
)
def test_a_name_sap_name_fields_cannot_keep_whole_is_refused_before_sending(
    legal_name: str, said: str
) -> None:
    error = raised(customer_payload, customer(legal_name=legal_name), REFS, MAPS)

    assert (error.status, error.code) == (422, Code.ERP_REJECTED)
    assert [e.pointer for e in error.errors] == ["/legal_name"]
    assert said in error.detail
    assert "40 characters" in error.detail
    assert "SAP" not in error.detail and "OrganizationBPName" not in error.detail


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


@pytest.mark.parametrize(("currency", "limit"), [("JPY", "50000.5"), ("EUR", "50000.001")])
def test_a_credit_limit_finer_than_its_currency_is_refused_at_credit_limit(
    currency: str, limit: str
) -> None:
    error = raised(
        customer_payload, customer(currency=currency, credit_limit=Decimal(limit)), REFS, MAPS
    )

    assert (error.code, error.status, [e.pointer for e in error.errors]) == (
        Code.ERP_REJECTED,
        422,
        ["/credit_limit"],
    )
    assert currency in error.detail


def test_a_credit_limit_in_whole_minor_units_is_sent_as_written() -> None:
    payload = customer_payload(
        customer(currency="KWD", credit_limit=Decimal("1000.125")), REFS, MAPS
    )

    assert payload["YY1_CreditLimit_bus"] == "1000.125"
