"""Canonical requests to NetSuite records: the customer with its address book, the sales order
with its item sublist. Pure functions.

Not NetSuite's answers (see `inbound.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from gateway.adapters.base import (
    References,
)
from gateway.adapters.netsuite.fields import MOST_DECIMALS, held_line_amounts, json_number
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.adapters.prices import in_minor_units
from gateway.domain.models import (
    Address,
    AddressType,
    CustomerCreate,
    OrderItem,
)


def customer_record(
    request: CustomerCreate, refs: References, maps: NetSuiteMaps
) -> dict[str, Any]:
    """The `customer` record for a create; refuses inputs the value maps cannot translate."""
    legal = maps.legal_entity(request.legal_entity)
    currency_id = maps.currency_id(request.currency)
    terms_id = maps.terms_id(request.payment_terms)
    record: dict[str, Any] = {
        "externalId": refs.gateway_ref,
        "companyName": request.legal_name,
        "isPerson": False,
        "subsidiary": {"id": legal.subsidiary},
        "currency": {"id": currency_id},
        "terms": {"id": terms_id},
        "creditLimit": json_number(
            in_minor_units(request.credit_limit, request.currency, "/credit_limit", MOST_DECIMALS),
            "/credit_limit",
        ),
        "addressBook": {"items": _address_book(request)},
    }
    if refs.external_ref:
        # The CRM's account reference, where NetSuite keeps a customer's account number.
        record["accountNumber"] = refs.external_ref
    if request.email:
        record["email"] = request.email
    if request.tax_id:
        record["vatRegNumber"] = request.tax_id
    return record


def _address_book(request: CustomerCreate) -> list[dict[str, Any]]:
    """One address book line per canonical address, in the request's order (so NetSuite's
    `addressBook.items[n]` error paths point at `/addresses/n`); the billing address is also
    the default shipping one unless a shipping address is given."""
    ships_to_billing = request.shipping_address is None
    return [
        {
            "defaultBilling": address.type is AddressType.BILLING,
            "defaultShipping": address.type is AddressType.SHIPPING or ships_to_billing,
            "addressBookAddress": _book_address(address),
        }
        for address in request.addresses
    ]


def _book_address(address: Address) -> dict[str, Any]:
    book_address: dict[str, Any] = {
        "addr1": address.line1,
        "city": address.city,
        "zip": address.postal_code,
        "country": {"id": address.country},
    }
    if address.line2:
        book_address["addr2"] = address.line2
    if address.region:
        book_address["state"] = address.region
    return book_address


def sales_order_record(
    legal_entity: str,
    customer_erp_id: str,
    currency: str,
    requested_delivery_date: dt.date | None,
    order_items: Sequence[OrderItem],
    refs: References,
    maps: NetSuiteMaps,
) -> dict[str, Any]:
    """The `salesOrder` record for a create; refuses inputs the value maps cannot translate."""
    legal = maps.legal_entity(legal_entity)
    currency_id = maps.currency_id(currency)
    item_ids = maps.item_ids(order_items)
    amounts = held_line_amounts(order_items, currency)
    items = [
        {
            "item": {"id": item_id},
            "quantity": item.quantity,
            "rate": json_number(item.price.amount, f"/items/{i}/price/amount"),
            "amount": json_number(amount, f"/items/{i}/price/amount"),
        }
        for i, (item, item_id, amount) in enumerate(
            zip(order_items, item_ids, amounts, strict=True)
        )
    ]
    record: dict[str, Any] = {
        "externalId": refs.gateway_ref,
        "entity": {"id": customer_erp_id},
        "subsidiary": {"id": legal.subsidiary},
        "currency": {"id": currency_id},
        "item": {"items": items},
    }
    if refs.external_ref:
        record["otherRefNum"] = refs.external_ref
    if requested_delivery_date is not None:
        record["shipDate"] = requested_delivery_date.isoformat()
    return record
