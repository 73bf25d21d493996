"""Version change v1 -> v2: a customer's `name` becomes `legal_name` (plus an optional
`display_name`), and its one `address` becomes a list of typed `addresses`.

Not other resources' changes; each change module keeps to its own fields.
"""

from __future__ import annotations

import re

from gateway.domain.operations import Operation
from gateway.domain.versions.documents import (
    Document,
    each_resource,
    is_problem,
    with_pointers,
)

title = "Customers: legal and display names, typed addresses"
description = """\
- `name` is now `legal_name`; a new optional `display_name` (up to 20 characters) is the short
  name people search by.
- `address` is now `addresses`: a list of up to two addresses, each with a `type` of `billing`
  or `shipping`. A billing address is required; it is the ERP's main address.
- In v1, `address` shows the billing address (or the first one) and `display_name` is not shown.
- Problems point at the new fields (`/legal_name`, `/addresses/0/city`).
"""

_OPERATIONS = frozenset({Operation.CUSTOMERS_CREATE, Operation.CUSTOMERS_READ})
_ADDRESS_POINTER = re.compile(r"^/addresses(?:/\d+)?(?=/|$)")
_NAME_POINTER = re.compile(r"^/(?:legal_name|display_name)(?=/|$)")


def upgrade_request(operation: Operation, body: Document) -> Document:
    if operation is not Operation.CUSTOMERS_CREATE:
        return body
    upgraded = {k: v for k, v in body.items() if k not in ("name", "address")}
    upgraded["legal_name"] = body["name"]
    upgraded["addresses"] = [{**body["address"], "type": "billing"}]
    return upgraded


def downgrade_response(operation: Operation, status: int, body: Document) -> Document:
    if operation not in _OPERATIONS:
        return body
    if is_problem(status):
        return with_pointers(body, downgrade_pointer)
    return each_resource(body, _v1_customer)


def downgrade_pointer(pointer: str) -> str:
    pointer = _NAME_POINTER.sub("/name", pointer)
    return _ADDRESS_POINTER.sub("/address", pointer)


def _v1_customer(customer: Document) -> Document:
    addresses = customer.get("addresses") or []
    shown = next((a for a in addresses if a.get("type") == "billing"), None)
    if shown is None and addresses:
        shown = addresses[0]
    v1: Document = {}
    for key, value in customer.items():
        if key == "legal_name":
            v1["name"] = value
        elif key == "addresses":
            v1["address"] = {k: v for k, v in shown.items() if k != "type"} if shown else None
        elif key != "display_name":
            v1[key] = value
    return v1
