"""Canonical requests to NetSuite records: customers and sales orders, refused before sending
when a value map lacks an entry."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from gateway.adapters.base import References
from gateway.adapters.netsuite.fields import json_number
from gateway.adapters.netsuite.outbound import customer_record, sales_order_record
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.domain.errors import Category, Code, GatewayError
from tests.unit.adapters.netsuite.samples import REFS, customer_request, lines


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
