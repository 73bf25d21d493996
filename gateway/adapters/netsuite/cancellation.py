"""How an order is cancelled in NetSuite through REST: by closing its open lines
(`item.items[n].isClosed`), which makes it Closed (H). NetSuite's Cancel is a button of its user
interface; `orderStatus` takes only A and B (approval) from an integration. A pure function.

Not the call that sends the patch (see `adapter.py`).

NetSuite closes lines of an order it has fulfilled in part, or billed, too; the canonical
contract cancels only orders nothing has happened to yet, so the gateway refuses the others
itself (invalid_state) rather than closing what NetSuite would let it close.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.adapters.netsuite.fields import quantity_of, sublist
from gateway.adapters.netsuite.inbound import ORDER_STATUS_LABELS, order_status_code
from gateway.domain.errors import Code, GatewayError

_ENDED = frozenset({"C", "H"})  # Cancelled (in NetSuite's UI), Closed
_CANCELLABLE = frozenset({"A", "B"})  # Pending Approval, Pending Fulfillment


def closing_patch(order: Mapping[str, Any]) -> dict[str, Any] | None:
    """The PATCH body closing every open line of `order`; None when it is cancelled or closed
    already (a cancel sent again). Refuses an order the ERP has begun to fulfil or bill."""
    status = order_status_code(order)
    if status in _ENDED:
        return None
    lines = sublist(order, "item")
    fulfilled = any(quantity_of(line.get("quantityFulfilled") or 0) for line in lines)
    if status not in _CANCELLABLE or fulfilled:
        raise GatewayError(
            Code.INVALID_STATE,
            "The order cannot be cancelled: the ERP shows it as "
            f"{ORDER_STATUS_LABELS[status]}; only orders not yet fulfilled can be.",
        )
    open_lines = [line for line in lines if line.get("isClosed") is not True]
    if not open_lines:
        raise ValueError("an open order without open lines")
    return {"item": {"items": [{"line": _line(line), "isClosed": True} for line in open_lines]}}


def _line(line: Mapping[str, Any]) -> int:
    # `line` keys an item sublist line in a PATCH: the lines sent are changed, the rest kept.
    number = quantity_of(line["line"])
    if number < 0:
        raise ValueError("negative line number")
    return number
