"""NetSuite's refusals in canonical terms: internal ids back to legal entities, SKUs, payment
terms and currencies through the value maps."""

from __future__ import annotations

import pytest

from gateway.adapters.netsuite.messages import canonical_text
from gateway.adapters.netsuite.value_maps import NetSuiteMaps

PREFIX = "Error while accessing a resource. "


@pytest.mark.parametrize(
    ("said", "path", "pointer", "canonical"),
    [
        (
            "You have entered an Invalid Field Value 1002 for the following field: "
            "item.items[1].item",
            "item.items[1].item",
            "/items/1/product_id",
            "Invalid value GADGET-2 for the SKU",
        ),
        (
            "You have entered an Invalid Field Value 3 for the following field: subsidiary.",
            "subsidiary",
            "/legal_entity",
            "Invalid value CA01 for the legal entity.",
        ),
        (
            "You have entered an Invalid Field Value 2 for the following field: terms",
            "terms",
            "/payment_terms",
            "Invalid value NET30 for the payment terms",
        ),
        (
            "You have entered an Invalid Field Value 4 for the following field: currency",
            "currency",
            "/currency",
            "Invalid value EUR for the currency",
        ),
        (
            "You have entered an Invalid Field Value 999999 for the following field: entity",
            "entity",
            "/customer_id",
            "Invalid value for the customer",
        ),
        (
            "Invalid entity reference key 301 for subsidiary 3.",
            "subsidiary",
            "/customer_id",
            "The customer is not set up in legal entity CA01.",
        ),
        (
            "Invalid item reference key 1003 for subsidiary 7.",
            "item.items[0].item",
            "/items/0/product_id",
            "SKU SUPPORT-1Y is not sold in legal entity SG01.",
        ),
        (
            "The rate 99.00 of item 1002 on line 2 differs from its Base Price of 149.00 EUR.",
            "item.items[1].rate",
            "/items/1/price/amount",
            "The rate 99.00 of SKU GADGET-2 on line 2 differs from its Base Price of 149.00 EUR.",
        ),
        (
            "Please enter value(s) for: VAT Registration Number. Customers of subsidiary 4 "
            "(DE) must have one.",
            "vatRegNumber",
            "/tax_id",
            "Please enter value(s) for: VAT Registration Number. Customers of legal entity "
            "DE01 (DE) must have one.",
        ),
        (
            "Invalid value for the resource or sub-resource field 'item.items[0].quantity'.",
            "item.items[0].quantity",
            "/items/0/quantity",
            "Invalid value for the resource or sub-resource field '/items/0/quantity'.",
        ),
    ],
)
def test_netsuites_words_name_canonical_codes_never_internal_ids(
    maps: NetSuiteMaps, said: str, path: str, pointer: str, canonical: str
) -> None:
    assert canonical_text(PREFIX + said, maps, path, pointer) == canonical


def test_an_id_the_value_maps_do_not_know_is_left_out_or_left_alone(maps: NetSuiteMaps) -> None:
    unknown = "You have entered an Invalid Field Value 42 for the following field: subsidiary"
    assert canonical_text(unknown, maps) == "Invalid value for the legal entity"
    # Numbers that are not ids (amounts, line numbers) are never touched.
    said = "The amount 59.97 on line 2 is not quantity times rate (59.98)."
    assert canonical_text(said, maps) == said
    assert canonical_text("Customers of subsidiary 42 need one.", maps) == (
        "Customers of subsidiary 42 need one."
    )
