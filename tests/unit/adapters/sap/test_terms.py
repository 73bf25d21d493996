"""SAP's words in canonical terms: materials, company codes, sales areas and payment-term keys
told as SKUs, legal entities and payment terms through the backend's value maps."""

from __future__ import annotations

import pytest

from gateway.adapters.sap.errors import notices_from
from gateway.adapters.sap.terms import SapTerms
from gateway.adapters.sap.value_maps import SapMaps
from gateway.config.backends import SapLegalEntity, SapValueMaps
from tests.unit.adapters.sap.samples import MAPS, TERMS


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        (
            "Customer expected price 99.00 EUR differs from the net price 149.00 EUR of "
            "material FG-GADGET2",
            "Customer expected price 99.00 EUR differs from the net price 149.00 EUR of "
            "product GADGET-2",
        ),
        ("Material FG-WIDGET1 does not exist", "Product WIDGET-1 does not exist"),
        ("FG-WIDGET1 and FG-GADGET2 only", "WIDGET-1 and GADGET-2 only"),
        (
            "Enter a tax number: customers of company code 1010 (DE) need a VAT number",
            "Enter a tax number: customers of legal entity DE01 (DE) need a VAT number",
        ),
        (
            "Sold-to party 0001000001 is not defined for sales area 1710/10/00",
            "Sold-to party 0001000001 is not defined for legal entity US01",
        ),
        ("Sales organization 1010 is blocked", "Legal entity DE01 is blocked"),
        ("Terms of payment NT30 are not defined", "Payment terms NET30 are not defined"),
        # keys the value maps do not know stay as SAP wrote them
        ("Material FG-NOPE does not exist", "Material FG-NOPE does not exist"),
        ("Company code 9999 does not exist", "Company code 9999 does not exist"),
        ("Terms of payment NT90 are not defined", "Terms of payment NT90 are not defined"),
        # a material number inside another word is no material
        ("Batch XFG-WIDGET1 and FG-WIDGET10", "Batch XFG-WIDGET1 and FG-WIDGET10"),
    ],
)
def test_sap_keys_are_told_in_canonical_terms(said: str, meant: str) -> None:
    assert TERMS.canonical_text(said) == meant


def test_a_longer_material_number_is_not_read_as_a_shorter_one_inside_it() -> None:
    maps = SapMaps.from_config(
        SapValueMaps(
            legal_entities={"DE01": SapLegalEntity(company_code="1010", sales_organization="1010")},
            payment_terms={"NET30": "NT30"},
            skus={"WIDGET": "FG-W", "WIDGET-PRO": "FG-W-PRO"},
        )
    )

    assert SapTerms(maps).canonical_text("material FG-W-PRO, material FG-W") == (
        "product WIDGET-PRO, product WIDGET"
    )


def test_warnings_in_the_sap_message_header_become_notices_in_canonical_terms() -> None:
    header = (
        '{"code":"V1/880","message":"Only 50 EA of material FG-GADGET2 can be confirmed",'
        '"severity":"warning","target":"","details":[{"code":"V1/1","message":"Delivery '
        'date moved for company code 1010","severity":"info","target":""},{"code":"V1/2",'
        '"message":"Saved","severity":"success","target":""}]}'
    )

    notices = notices_from(header, TERMS)

    assert [(n.message, n.erp_message) for n in notices] == [
        (
            "Only 50 EA of product GADGET-2 can be confirmed",
            "Only 50 EA of material FG-GADGET2 can be confirmed",
        ),
        ("Delivery date moved for legal entity DE01", "Delivery date moved for company code 1010"),
    ]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "not json",
        "[1, 2]",
        '{"severity": "warning"}',
        "[" * 5000,  # nested past the JSON parser's depth: RecursionError, not ValueError
        '{"severity": "warning", "message": ' + "[" * 900 + "]" * 900 + "}",
    ],
    ids=["none", "empty", "not json", "a list", "no message", "too deep", "nested message"],
)
def test_a_missing_or_unreadable_sap_message_header_says_nothing(header: str | None) -> None:
    assert notices_from(header, TERMS) == ()
    assert MAPS.sku_by_material  # the maps are not what made it empty
