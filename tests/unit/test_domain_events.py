"""Which canonical events a change of an order's state gives, and their CloudEvents envelope."""

from __future__ import annotations

import datetime as dt
import json

from gateway.domain.events import (
    Change,
    EventContext,
    EventType,
    OrderState,
    changes_between,
    cloud_event,
    event_json,
    parse_event,
)
from gateway.domain.models import SalesOrderStatus as S

ORDER = "so_1"


def types(before: OrderState | None, after: OrderState) -> list[str]:
    return [c.type.value for c in changes_between(ORDER, before, after)]


def test_a_new_order_is_accepted_or_on_hold() -> None:
    assert types(None, OrderState(S.ACCEPTED)) == ["sales_order.accepted"]
    assert types(None, OrderState(S.ON_HOLD)) == ["sales_order.on_hold"]


def test_the_same_state_twice_gives_nothing() -> None:
    state = OrderState(S.SHIPPED, ("shp_1",))
    assert types(state, state) == []


def test_a_jump_forward_gives_each_stage_and_new_documents_in_order() -> None:
    after = OrderState(S.PAID, ("shp_1",), ("inv_1",))
    assert types(OrderState(S.ACCEPTED), after) == [
        "sales_order.in_fulfillment",
        "shipment.created",
        "sales_order.shipped",
        "sales_order.invoiced",
        "invoice.created",
        "sales_order.paid",
    ]


def test_a_released_hold_is_accepted_and_a_cancel_is_cancelled() -> None:
    assert types(OrderState(S.ON_HOLD), OrderState(S.ACCEPTED)) == ["sales_order.accepted"]
    assert types(OrderState(S.ACCEPTED), OrderState(S.CANCELLED)) == ["sales_order.cancelled"]


def test_a_partial_shipment_counts_as_in_fulfillment() -> None:
    partial = OrderState(S.PARTIALLY_SHIPPED, ("shp_1",))
    assert types(OrderState(S.IN_FULFILLMENT), partial) == ["shipment.created"]


def test_the_envelope_is_cloudevents_json_with_our_extensions() -> None:
    change = Change(EventType.SHIPPED, ORDER)
    context = EventContext("legacy", "DE01", "corr-1")
    at = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    body = event_json(cloud_event(ORDER, change, {"id": ORDER}, context, at, 4))
    document = json.loads(body)
    assert document["specversion"] == "1.0"
    assert (document["type"], document["subject"], document["data"]) == (
        "sales_order.shipped",
        ORDER,
        {"id": ORDER},
    )
    assert (document["correlationid"], document["legalentity"]) == ("corr-1", "DE01")
    assert document["sequence"] == "4"
    again = event_json(cloud_event(ORDER, change, {"id": ORDER}, context, at, 4))
    assert json.loads(again)["id"] == document["id"]  # the same change: the same id
    assert parse_event(body).get_id() == document["id"]
