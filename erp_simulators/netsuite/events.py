"""NetSuite record-change notifications for sales orders, as a user-event script (afterSubmit)
posts them: the record type, its internal id and the kind of change, signed with HMAC-SHA256
over the body (`X-Signature: sha256=<hex>`).

Not the record (the subscriber reads it through the REST record API to learn what changed).
`sequence` counts the account's changes: a later change has a larger one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import uuid

from erp_simulators.netsuite.books import Books
from erp_simulators.netsuite.records import SalesOrder
from erp_simulators.notifications import Notification


def _fingerprint(books: Books, order: SalesOrder) -> tuple[object, ...]:
    return (
        order.status,
        order.credit_hold,
        tuple((f, books.fulfillments[f].ship_status) for f in order.fulfillment_ids),
        tuple((i, books.invoices[i].status) for i in order.invoice_ids),
        tuple(line.is_closed for line in order.lines),
    )


class RecordChanges:
    """The sales orders changed since the last look, as record-change notifications."""

    def __init__(self, books: Books) -> None:
        self._books = books
        self._seen: dict[str, tuple[object, ...]] = {}
        self._sequence = itertools.count(1)

    def baseline(self) -> None:
        self._seen = {i: _fingerprint(self._books, o) for i, o in self._books.sales_orders.items()}

    def changes(self, secret: str) -> list[Notification]:
        notifications = []
        for internal_id, order in self._books.sales_orders.items():
            now = _fingerprint(self._books, order)
            before = self._seen.get(internal_id)
            if before == now:
                continue
            self._seen[internal_id] = now
            body = json.dumps(
                {
                    "eventId": str(uuid.uuid4()),
                    "eventType": "create" if before is None else "edit",
                    "recordType": "salesOrder",
                    "recordId": internal_id,
                    "sequence": next(self._sequence),
                    "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                }
            ).encode()
            signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            notifications.append(
                Notification(
                    body,
                    {"Content-Type": "application/json", "X-Signature": f"sha256={signature}"},
                )
            )
        return notifications
