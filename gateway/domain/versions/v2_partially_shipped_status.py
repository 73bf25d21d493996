"""Version change v1 -> v2: sales orders gain the status `partially_shipped`.

Not other order fields (see `v2_order_items_and_money.py`).
"""

from __future__ import annotations

from gateway.domain.operations import Operation
from gateway.domain.versions.documents import Document, is_problem

title = "Sales orders: the `partially_shipped` status"
description = """\
- A sales order some of whose goods have shipped, but not all, is `partially_shipped`.
- v1's closed status list has no such value: v1 shows these orders as `in_fulfillment`.
"""

_ORDER_OPERATIONS = frozenset(
    {Operation.SALES_ORDERS_CREATE, Operation.SALES_ORDERS_READ, Operation.SALES_ORDERS_CANCEL}
)
_V1_STATUS = {"partially_shipped": "in_fulfillment"}


def upgrade_request(operation: Operation, body: Document) -> Document:
    return body  # no request carries a status


def downgrade_response(operation: Operation, status: int, body: Document) -> Document:
    if operation not in _ORDER_OPERATIONS or is_problem(status):
        return body
    order_status = body.get("status")
    if order_status in _V1_STATUS:
        return {**body, "status": _V1_STATUS[order_status]}
    return body
