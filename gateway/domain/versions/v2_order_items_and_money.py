"""Version change v1 -> v2: order `lines` become `items` (`sku` -> `product_id`, `unit_price` ->
`price: {amount, currency}`) and amounts become money objects, in orders, quotes and documents.

Not the status list (see `v2_partially_shipped_status.py`).
"""

from __future__ import annotations

import re
from typing import Any

from gateway.domain.operations import Operation
from gateway.domain.versions.documents import (
    Document,
    each_resource,
    is_problem,
    with_pointers,
)

title = "Orders, quotes, shipments and invoices: items and money"
description = """\
- Sales orders and quotes: `lines` is now `items`; in each item `sku` is now `product_id` and
  `unit_price` (a string) is now `price: {"amount": "19.99", "currency": "USD"}`. The price's
  currency must be the order's currency.
- Responses show every amount as money: `{"amount": "59.97", "currency": "USD"}` (the item's
  `amount`, the order's, quote's and invoice's `net_amount`, `tax_amount`, `total_amount`).
- Shipments: `lines` is now `items`, with `product_id` instead of `sku`.
- Problems point at the new fields (`/items/0/product_id`, `/items/0/price/amount`).
"""

_REQUESTS = frozenset({Operation.SALES_ORDERS_CREATE, Operation.QUOTES_VALIDATE})
_PRICED = frozenset(
    {
        Operation.SALES_ORDERS_CREATE,
        Operation.SALES_ORDERS_READ,
        Operation.SALES_ORDERS_CANCEL,
        Operation.QUOTES_VALIDATE,
    }
)
_MONEY_FIELDS = ("net_amount", "tax_amount", "total_amount")
_ITEM_POINTER = re.compile(r"^/items(?:/(\d+)(?:/(product_id|price|quantity|amount))?)?(?=/|$)")
_V1_FIELDS = {"product_id": "sku", "price": "unit_price", "quantity": "quantity"}


def upgrade_request(operation: Operation, body: Document) -> Document:
    if operation not in _REQUESTS:
        return body
    upgraded = {k: v for k, v in body.items() if k != "lines"}
    currency = body["currency"]
    upgraded["items"] = [
        {
            "product_id": line["sku"],
            "quantity": line["quantity"],
            "price": {"amount": line["unit_price"], "currency": currency},
        }
        for line in body["lines"]
    ]
    return upgraded


def downgrade_response(operation: Operation, status: int, body: Document) -> Document:
    if operation in _PRICED:
        if is_problem(status):
            return with_pointers(body, downgrade_pointer)
        return _v1_priced(body)
    if is_problem(status):
        return body
    if operation is Operation.SHIPMENTS_READ:
        return each_resource(body, _v1_shipment)
    if operation is Operation.INVOICES_READ:
        return each_resource(body, _amounts_as_strings)
    return body


def downgrade_pointer(pointer: str) -> str:
    match = _ITEM_POINTER.match(pointer)
    if match is None:
        return pointer
    index, field = match.groups()
    v1 = "/lines" if index is None else f"/lines/{index}"
    if field is not None:
        v1 += "/" + _V1_FIELDS.get(field, field)
        return v1  # a v1 line's fields are leaves: nothing below `unit_price`
    return v1 + pointer[match.end() :]


def _amount(money: Any) -> Any:
    return money.get("amount") if isinstance(money, dict) else money


def _amounts_as_strings(resource: Document) -> Document:
    return {k: _amount(v) if k in _MONEY_FIELDS else v for k, v in resource.items()}


def _v1_priced(resource: Document) -> Document:
    v1 = _amounts_as_strings(resource)
    if "items" in v1:
        v1 = _renamed(v1, "items", "lines")
        v1["lines"] = [
            {
                "sku": item["product_id"],
                "quantity": item["quantity"],
                "unit_price": _amount(item["price"]),
                "amount": _amount(item["amount"]),
            }
            for item in resource["items"]
        ]
    return v1


def _v1_shipment(shipment: Document) -> Document:
    v1 = _renamed(shipment, "items", "lines")
    v1["lines"] = [
        {"sku": item["product_id"], "quantity": item["quantity"]} for item in shipment["items"]
    ]
    return v1


def _renamed(resource: Document, old: str, new: str) -> Document:
    """`resource` with key `old` renamed `new`, in place in the key order."""
    return {(new if k == old else k): v for k, v in resource.items()}
