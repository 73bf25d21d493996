"""Canonical domain events: their types, which ones a change of an order's state gives, and
their CloudEvents 1.0 envelope.

Pure: no ERP, no store. Not how the state is read or where events go (see
`gateway.service.order_events` and `gateway.ops.event_delivery`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Annotated, Any

from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, Field, RootModel

from gateway.domain.ids import base32_prefix_lower
from gateway.domain.models import SalesOrderStatus

CLOUDEVENTS_JSON = "application/cloudevents+json"
CLOUDEVENTS_BATCH_JSON = "application/cloudevents-batch+json"
CORRELATION_EXTENSION = "correlationid"  # CloudEvents extension names: lowercase letters, digits
BACKEND_EXTENSION = "erpbackend"
SEQUENCE_EXTENSION = "sequence"  # the CloudEvents sequence extension: place in the timeline
LEGAL_ENTITY_EXTENSION = "legalentity"
# The most dead letters one page of the admin API lists (and `gateway events dead-letters` asks
# for at a time).
MAX_DEAD_LETTERS = 1000
_FORMAT = JSONFormat()


class EventType(StrEnum):
    ACCEPTED = "sales_order.accepted"
    ON_HOLD = "sales_order.on_hold"
    IN_FULFILLMENT = "sales_order.in_fulfillment"
    SHIPPED = "sales_order.shipped"
    INVOICED = "sales_order.invoiced"
    PAID = "sales_order.paid"
    CANCELLED = "sales_order.cancelled"
    SHIPMENT_CREATED = "shipment.created"
    INVOICE_CREATED = "invoice.created"


EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)

# The order's life, in the order its events are emitted; a jump forward emits each stage between.
_LIFECYCLE = (
    SalesOrderStatus.ACCEPTED,
    SalesOrderStatus.IN_FULFILLMENT,
    SalesOrderStatus.SHIPPED,
    SalesOrderStatus.INVOICED,
    SalesOrderStatus.PAID,
)
_STATUS_EVENTS = {
    SalesOrderStatus.ACCEPTED: EventType.ACCEPTED,
    SalesOrderStatus.ON_HOLD: EventType.ON_HOLD,
    SalesOrderStatus.IN_FULFILLMENT: EventType.IN_FULFILLMENT,
    SalesOrderStatus.SHIPPED: EventType.SHIPPED,
    SalesOrderStatus.INVOICED: EventType.INVOICED,
    SalesOrderStatus.PAID: EventType.PAID,
    SalesOrderStatus.CANCELLED: EventType.CANCELLED,
}


@dataclass(frozen=True)
class OrderState:
    """What the gateway knows of an order, to compare with the next change: its canonical
    status, the gateway ids of its shipments and invoices, and the furthest stage of its life
    it has reached (kept through a hold: an order released from one goes on from there)."""

    status: SalesOrderStatus
    shipments: tuple[str, ...] = ()
    invoices: tuple[str, ...] = ()
    furthest: SalesOrderStatus | None = None

    @property
    def reached(self) -> SalesOrderStatus | None:
        """The furthest stage of the order's life reached, as far as known."""
        return _furthest(self.furthest, _stage(self.status))

    def following(self, before: OrderState | None) -> OrderState:
        """This state as the one after `before`: the furthest stage reached carried on."""
        return replace(self, furthest=_furthest(before.reached if before else None, self.reached))

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "shipments": list(self.shipments),
            "invoices": list(self.invoices),
            "furthest": self.furthest.value if self.furthest else None,
        }

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> OrderState:
        furthest = snapshot.get("furthest")  # absent in snapshots of earlier versions
        return cls(
            SalesOrderStatus(snapshot["status"]),
            tuple(snapshot.get("shipments", ())),
            tuple(snapshot.get("invoices", ())),
            SalesOrderStatus(furthest) if furthest else None,
        )


@dataclass(frozen=True)
class Change:
    """One canonical event a change gives: its type and the document it is about (the order,
    or a new shipment or invoice)."""

    type: EventType
    document_id: str


def _furthest(*stages: SalesOrderStatus | None) -> SalesOrderStatus | None:
    """The latest in the order's life of `stages` (on hold, cancelled and None are none)."""
    known = [s for s in stages if s in _LIFECYCLE]
    return max(known, key=_LIFECYCLE.index) if known else None


def _stage(status: SalesOrderStatus) -> SalesOrderStatus:
    # A partial shipment is still in fulfillment for events (v1 has no such status).
    if status is SalesOrderStatus.PARTIALLY_SHIPPED:
        return SalesOrderStatus.IN_FULFILLMENT
    return status


def _status_changes(before: OrderState | None, after: SalesOrderStatus) -> list[SalesOrderStatus]:
    after = _stage(after)
    if before is not None and _stage(before.status) == after:
        return []
    if after not in _LIFECYCLE:
        return [after]  # on hold, cancelled
    reached = before.reached if before is not None else None
    start = _LIFECYCLE.index(reached) + 1 if reached is not None else 0
    end = _LIFECYCLE.index(after)
    if start > end:
        return [after]  # back to a stage (a hold released), or backwards: as it is
    return list(_LIFECYCLE[start : end + 1])


def changes_between(order_id: str, before: OrderState | None, after: OrderState) -> list[Change]:
    """The events `after` gives over `before` (None: the order's first sighting), in the order
    they happened: each stage passed, a new shipment after `in_fulfillment`, a new invoice after
    `invoiced`. The same state twice gives nothing."""
    new_shipments = [s for s in after.shipments if before is None or s not in before.shipments]
    new_invoices = [i for i in after.invoices if before is None or i not in before.invoices]
    changes: list[Change] = []
    for status in _status_changes(before, after.status):
        changes.append(Change(_STATUS_EVENTS[status], order_id))
        if status is SalesOrderStatus.IN_FULFILLMENT:
            changes += [Change(EventType.SHIPMENT_CREATED, s) for s in new_shipments]
            new_shipments = []
        if status is SalesOrderStatus.INVOICED:
            changes += [Change(EventType.INVOICE_CREATED, i) for i in new_invoices]
            new_invoices = []
    changes += [Change(EventType.SHIPMENT_CREATED, s) for s in new_shipments]
    changes += [Change(EventType.INVOICE_CREATED, i) for i in new_invoices]
    return changes


def event_id(order_id: str, change: Change, position: int, run: str = "") -> str:
    """Deterministic: the same change at the same place in the order's timeline has the same id
    in every process (and is what a subscriber deduplicates by: Standard Webhooks'
    `webhook-id`). The place makes an order accepted again after a hold a new event; the `run`
    (`EventContext.run`) one at the same place of a timeline counted afresh."""
    seed = f"{order_id}\n{position}\n{change.type}\n{change.document_id}"
    if run:
        seed += f"\n{run}"
    return "evt_" + base32_prefix_lower(hashlib.sha256(seed.encode()).digest(), 26)


@dataclass(frozen=True)
class EventContext:
    """What every event of one order carries besides its data."""

    backend: str
    legal_entity: str
    correlation_id: str | None
    # Empty for the order's first timeline; once its state was dropped (its retention after
    # its last change) and it was seen again, when its places were counted afresh from 1.
    run: str = ""


def cloud_event(
    order_id: str,
    change: Change,
    data: Mapping[str, Any],
    context: EventContext,
    at: dt.datetime,
    position: int,
) -> CloudEvent:
    """The event of `change`; `position` is its place in the order's timeline (from 1), as
    the CloudEvents `sequence` extension: what a subscriber restores the order by."""
    attributes: dict[str, Any] = {
        "id": event_id(order_id, change, position, context.run),
        "source": f"/backends/{context.backend}",
        "type": change.type.value,
        "subject": change.document_id,
        "time": at,
        "datacontenttype": "application/json",
        LEGAL_ENTITY_EXTENSION: context.legal_entity,
        BACKEND_EXTENSION: context.backend,
        SEQUENCE_EXTENSION: str(position),
    }
    if context.correlation_id:
        attributes[CORRELATION_EXTENSION] = context.correlation_id
    return CloudEvent(attributes, dict(data))


def event_json(event: CloudEvent) -> str:
    """The event in the CloudEvents JSON format (structured mode)."""
    return _FORMAT.write(event).decode()


def parse_event(body: str | bytes) -> CloudEvent:
    """A CloudEvents JSON document; raises ValueError when it is not one."""
    try:
        event = _FORMAT.read(None, body)
    # RecursionError: JSON nested past the parser's depth.
    except (
        BaseCloudEventException,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        RecursionError,
    ) as exc:
        raise ValueError(f"not a CloudEvents JSON event: {exc}") from exc
    if not isinstance(event, CloudEvent):
        raise ValueError("not a CloudEvents 1.0 event")
    return event


def batch_json(bodies: Sequence[str]) -> bytes:
    """Events (each already JSON) as one CloudEvents JSON batch (an array)."""
    return ("[" + ",".join(bodies) + "]").encode()


class DomainEvent(BaseModel):
    """One event as the API and webhooks show it: a CloudEvents 1.0 event (JSON format)."""

    specversion: Annotated[str, Field(examples=["1.0"])]
    id: Annotated[str, Field(description="Unique per event; the same in every delivery of it.")]
    source: Annotated[str, Field(description="The ERP backend that reported the change.")]
    type: Annotated[str, Field(description=f"One of: {', '.join(EVENT_TYPES)}.")]
    subject: Annotated[str, Field(description="The gateway id of the order, shipment or invoice.")]
    time: Annotated[str, Field(description="When the gateway recorded it (RFC 3339).")]
    datacontenttype: str = "application/json"
    correlationid: Annotated[
        str | None,
        Field(description="The correlation id of the request that created the order."),
    ] = None
    legalentity: Annotated[str, Field(description="The order's legal entity.")]
    sequence: Annotated[
        str,
        Field(
            description="Its place in the order's timeline, from 1 (an integer as a string): "
            "what a subscriber restores the order by after retries.",
            examples=["3"],
        ),
    ]
    erpbackend: Annotated[str, Field(description="The ERP backend the order lives in.")]
    data: Annotated[
        dict[str, Any],
        Field(description="The sales order, shipment or invoice, as this API version shows it."),
    ]


class EventBatch(RootModel[list[DomainEvent]]):
    """Events in the CloudEvents JSON batch format (an array), oldest first."""
