"""Domain events of sales orders: an ERP's notification that an order changed becomes the
canonical events of that change, recorded once, in order, with their deliveries; and the
events read back (an order's timeline, the log after a cursor) as an API version shows them.

Whatever ERP notified, the order is read where it lives (with its shipments and invoices),
within that ERP's budget, and its canonical state compared with the last one applied: a
duplicate or stale notification (its ERP sequence not above the last applied) gives nothing, a
repeated state gives nothing, a jump gives every stage between. An order whose last applied
state the store dropped (its retention after its last change) is taken as it is when seen
again: nothing, its later changes counted afresh (`EventContext.run`). Not the HTTP ingress (see
`gateway.api.erp_events`) nor the sending of deliveries (see `gateway.ops.event_delivery`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from gateway.config.events import SubscriptionsPolicy
from gateway.domain.errors import Code, GatewayError
from gateway.domain.events import (
    EventContext,
    OrderState,
    changes_between,
    cloud_event,
    event_json,
)
from gateway.domain.operations import REQUIRED_SCOPE, Kind, Operation
from gateway.domain.versions import LATEST, downgrade_response
from gateway.observability.event_metrics import EVENTS_RECORDED
from gateway.pipeline.entitlements import Entitlement
from gateway.service.erp_calls import Caller
from gateway.service.views import invoice_view, sales_order_view, shipment_view
from gateway.service.xrefs import xref_for_erp_document
from gateway.store.base import Store, XrefRecord
from gateway.store.events import DocumentState, EventRetention, NewEvent
from gateway.store.journal import JournalQuery

log = logging.getLogger("gateway.events")

_COMMIT_TRIES = 5  # a commit loses only to a concurrent change of the same order: read again
_JOURNAL_LAG_S = 5.0  # how long a new order's creating request may be missing from the journal
_JOURNAL_PAGES = 5  # pages of the journal searched for the order's creating request
_DATA_OPERATION = {
    "sales_order": Operation.SALES_ORDERS_READ,
    "shipment": Operation.SHIPMENTS_READ,
    "invoice": Operation.INVOICES_READ,
}


@dataclass(frozen=True)
class Observed:
    """What one notification did: how many events it recorded, or why none."""

    recorded: int
    reason: str  # "recorded", "unchanged", "stale", "unknown_order"


@dataclass(frozen=True)
class Subscribers:
    """The subscriptions compiled against the clients' entitlements: who gets which event."""

    policy: SubscriptionsPolicy
    entitlements: Mapping[str, Entitlement]

    def of(self, event_type: str, legal_entity: str) -> tuple[str, ...]:
        """The subscriptions an event goes to: its type wanted, its legal entity wanted, and
        one the owning client may see: its legal entity, and its data's scope (an invoice's
        needs `invoices:read`); a client absent from clients.yaml sees nothing."""
        scope = event_scope(event_type)
        chosen = []
        for sub in self.policy.subscriptions:
            entitlement = self.entitlements.get(sub.client)
            if entitlement is None or not entitlement.may_act_for(legal_entity):
                continue
            if scope not in entitlement.scopes:
                continue
            if sub.legal_entities != "*" and legal_entity not in sub.legal_entities:
                continue
            if any(fnmatchcase(event_type, glob) for glob in sub.types):
                chosen.append(sub.id)
        return tuple(chosen)


class OrderEvents:
    def __init__(
        self,
        store: Store,
        subscribers: Subscribers,
        retention: EventRetention,
        caller: Caller,
        clock: Any = time.time,
    ) -> None:
        """`caller` makes the ERP reads, each within the ERP's budget: a polling round's wait
        their turn, a notification's are shed when the budget has no room."""
        self._store = store
        self._subscribers = subscribers
        self._retention = retention
        self._clock = clock
        self._caller = caller

    async def observe(self, backend: str, erp_order_id: str, sequence: int) -> Observed:
        """An ERP says its sales order `erp_order_id` changed at `sequence`: record the
        canonical events of the change. ERP failures raise GatewayError (the ERP retries)."""
        record = await self._store.get_xref_by_erp(backend, Kind.SALES_ORDER, erp_order_id)
        if record is None:
            return await self._unknown(backend, erp_order_id)
        for _ in range(_COMMIT_TRIES):
            state = await self._store.events.document_state(record.gateway_id)
            snapshot = state.snapshot or {}
            if snapshot.get("backend") == backend and sequence <= state.sequence:
                return Observed(0, "stale")
            observed = await self._apply(backend, record, sequence, state)
            if observed is not None:
                return observed
        return Observed(0, "stale")  # others kept changing it: their commits have it

    async def _unknown(self, backend: str, erp_order_id: str) -> Observed:
        """An order the xref does not know: one created outside the gateway (ignored), or one
        whose creation through the gateway has not finished (its gateway reference is in the
        ERP already, its xref not yet): the ERP is to send the notification again."""
        order = await self._caller(
            backend, lambda adapter, ctx: adapter.get_sales_order(erp_order_id, ctx)
        )
        if order is not None and order.gateway_ref:
            raise GatewayError(
                Code.ERP_UNAVAILABLE,
                "The order's creation through the gateway has not finished; send the "
                "notification again.",
                headers={"Retry-After": "1"},
            )
        return Observed(0, "unknown_order")

    def _fresh(self, record: XrefRecord) -> bool:
        return bool(record.created_at) and self._clock() - record.created_at < _JOURNAL_LAG_S

    def _state_may_be_dropped(self, record: XrefRecord) -> bool:
        """Whether an order without a state may have had one the store dropped: created a
        retention ago or more (a state goes its retention after its last change, which is no
        earlier than the order's creation; a record without its time counts as old)."""
        return bool(self._clock() - record.created_at >= self._retention.document_s)

    async def _apply(
        self, backend: str, record: XrefRecord, sequence: int, state: DocumentState
    ) -> Observed | None:
        before = OrderState.from_snapshot(state.snapshot) if state.snapshot else None
        read = await self._read(backend, record)
        if read is None:
            return Observed(0, "unknown_order")  # the ERP no longer has it
        order, documents = read
        after = OrderState(
            order["status_enum"],
            tuple(d["id"] for d in documents if d["kind"] == "shipment"),
            tuple(d["id"] for d in documents if d["kind"] == "invoice"),
        ).following(before)
        correlation_id = (state.snapshot or {}).get("correlation_id")
        if correlation_id is None:
            correlation_id = await self._originating_correlation_id(record)
            if correlation_id is None and before is None and self._fresh(record):
                # The journal is written in batches: the creating request's entry may be a
                # moment behind its order. The ERP sends the notification again shortly.
                raise GatewayError(
                    Code.ERP_UNAVAILABLE,
                    "The order's creation is not journaled yet; send the notification again.",
                    headers={"Retry-After": "1"},
                )
        run = str((state.snapshot or {}).get("run", ""))
        if state.snapshot is None and self._state_may_be_dropped(record):
            # What it recorded before is unknown: re-recording it as a new order's would send
            # the subscribers its past again. Taken as it is; later changes counted afresh.
            changes = []
            run = str(int(self._clock() * 1000))  # when: no id of an earlier run repeats
        else:
            changes = changes_between(record.gateway_id, before, after)
        context = EventContext(backend, record.legal_entity, correlation_id, run)
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        data_of = {d["id"]: d["data"] for d in documents}
        events = []
        recorded = int((state.snapshot or {}).get("events", 0))
        for position, change in enumerate(changes, recorded + 1):
            data = order["data"] if change.document_id == record.gateway_id else None
            data = data if data is not None else data_of[change.document_id]
            event = cloud_event(record.gateway_id, change, data, context, now, position)
            events.append(
                NewEvent(
                    event.get_id(),
                    record.gateway_id,
                    event_json(event),
                    self._subscribers.of(change.type.value, record.legal_entity),
                )
            )
        snapshot = {
            **after.to_snapshot(),
            "backend": backend,
            "correlation_id": correlation_id,
            "events": recorded + len(events),
            **({"run": run} if run else {}),
        }
        new_state = DocumentState(sequence, snapshot)
        if not await self._store.events.commit(
            record.gateway_id, state.sequence, new_state, events, self._clock(), self._retention
        ):
            return None
        for change in changes:
            EVENTS_RECORDED.labels(change.type.value).inc()
        return Observed(len(events), "recorded" if events else "unchanged")

    async def _read(
        self, backend: str, record: XrefRecord
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The order as the newest version shows it, and its shipments and invoices."""
        erp_id = record.erp_id
        order, shipments, invoices = await asyncio.gather(
            self._caller(backend, lambda adapter, ctx: adapter.get_sales_order(erp_id, ctx)),
            self._caller(backend, lambda adapter, ctx: adapter.list_shipments(erp_id, ctx)),
            self._caller(backend, lambda adapter, ctx: adapter.list_invoices(erp_id, ctx)),
        )
        if order is None:
            return None
        view = sales_order_view(order, record)
        documents: list[dict[str, Any]] = []
        for shipment in shipments:
            xref = await xref_for_erp_document(
                self._store, Kind.SHIPMENT, record, shipment.erp_id, shipment.document_number
            )
            data = shipment_view(shipment, xref).model_dump(mode="json")
            documents.append({"kind": "shipment", "id": xref.gateway_id, "data": data})
        for invoice in invoices:
            xref = await xref_for_erp_document(
                self._store, Kind.INVOICE, record, invoice.erp_id, invoice.document_number
            )
            data = invoice_view(invoice, xref).model_dump(mode="json")
            documents.append({"kind": "invoice", "id": xref.gateway_id, "data": data})
        return {"status_enum": view.status, "data": view.model_dump(mode="json")}, documents

    async def _originating_correlation_id(self, record: XrefRecord) -> str | None:
        """The correlation id of the request that created the order, from the journal."""
        cursor = None
        for _ in range(_JOURNAL_PAGES):
            page = await self._store.journal.page(
                JournalQuery(
                    operation=Operation.SALES_ORDERS_CREATE.value,
                    legal_entity=record.legal_entity,
                    cursor=cursor,
                    limit=200,
                )
            )
            for entry in page.items:
                if entry.get("gateway_id") == record.gateway_id:
                    found = entry.get("correlation_id")
                    return str(found) if found else None
            cursor = page.next_cursor
            if cursor is None:
                return None
        return None


class EventLog:
    """The recorded events as the API shows them."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def timeline(
        self, order_id: str, version: str, granted: Callable[[str], bool]
    ) -> list[str]:
        """The order's events as `version` shows them (CloudEvents JSON, oldest first), those
        whose data's scope is `granted` (a shipment's needs `shipments:read`)."""
        bodies = await self._store.events.timeline(order_id)
        return [
            as_version(body, version)
            for body in bodies
            if granted(event_scope(json.loads(body).get("type")))
        ]

    async def log(
        self,
        after: str | None,
        limit: int,
        entitlement: Entitlement,
        version: str,
        granted: Callable[[str], bool],
    ) -> tuple[list[str], str]:
        """Events after the cursor that the client may see (their legal entity, their data's
        scope `granted`), and the cursor to continue from. Raises `BadCursor`."""
        page = await self._store.events.log(after, limit)
        visible = []
        for body in page.events:
            event = json.loads(body)
            if entitlement.may_act_for(str(event.get("legalentity"))) and granted(
                event_scope(event.get("type"))
            ):
                visible.append(as_version(body, version))
        return visible, page.cursor


def event_scope(event_type: Any) -> str:
    """The scope that shows an event's data: its resource's read scope (`sales_order.*` needs
    `sales_orders:read`, `invoice.created` `invoices:read`)."""
    kind = str(event_type or "").split(".", 1)[0]
    return REQUIRED_SCOPE[_DATA_OPERATION.get(kind, Operation.SALES_ORDERS_READ)]


def as_version(body: str, version: str) -> str:
    """An event (newest schema) with its data as `version` shows that resource."""
    if version == LATEST:
        return body
    event = json.loads(body)
    kind = str(event.get("type", "")).split(".", 1)[0]
    operation = _DATA_OPERATION.get(kind)
    if operation is not None and isinstance(event.get("data"), dict):
        event["data"] = downgrade_response(version, operation, 200, event["data"])
    return json.dumps(event, separators=(",", ":"))
