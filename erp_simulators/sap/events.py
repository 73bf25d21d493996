"""SAP S/4HANA business events for sales orders, as the Event Mesh delivers them to a webhook:
CloudEvents JSON (`sap.s4.beh.salesorder.v1.SalesOrder.Created.v1` / `Changed.v1`) carrying the
document key, authenticated with the subscriber's shared secret as a bearer token.

Not the order itself (the subscriber reads it through API_SALES_ORDER_SRV to learn what
changed). The `sequence` extension is the order's LastChangeDateTime in microseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from erp_simulators.notifications import Notification
from erp_simulators.sap.records import Ledger

EVENT_SOURCE = "/default/sap.s4.beh/S4SIMCLNT100"
_TYPE = "sap.s4.beh.salesorder.v1.SalesOrder.{}.v1"


class SalesOrderEvents:
    """The orders changed since the last look, as business events."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._seen: dict[str, int] = {}

    def baseline(self) -> None:
        self._seen = {n: o.changed_us for n, o in self._ledger.orders.items()}

    def changes(self, secret: str) -> list[Notification]:
        notifications = []
        for number, order in self._ledger.orders.items():
            before = self._seen.get(number)
            if before == order.changed_us:
                continue
            self._seen[number] = order.changed_us
            event = {
                "specversion": "1.0",
                "type": _TYPE.format("Created" if before is None else "Changed"),
                "source": EVENT_SOURCE,
                "id": str(uuid.uuid4()),
                "time": dt.datetime.fromtimestamp(order.changed_us / 1e6, dt.UTC).isoformat(),
                "datacontenttype": "application/json",
                "sequence": str(order.changed_us),
                "data": {"SalesOrder": number, "SalesOrderType": order.order_type},
            }
            notifications.append(
                Notification(
                    json.dumps(event).encode(),
                    {
                        "Content-Type": "application/cloudevents+json",
                        "Authorization": f"Bearer {secret}",
                    },
                )
            )
        return notifications
