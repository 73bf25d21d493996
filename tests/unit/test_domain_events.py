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
    event_id,
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


def test_a_hold_set_and_released_twice_gives_each_event_its_own_id() -> None:
    # SAP: a delivery block set on an accepted order (on hold), removed (accepted), set again.
    # Subscribers deduplicate by the event id: the second accepted is an event of its own.
    timeline = [OrderState(S.ACCEPTED), OrderState(S.ON_HOLD)] * 2
    before: OrderState | None = None
    ids: list[str] = []
    for state in timeline:
        after = state.following(before)
        for change in changes_between(ORDER, before, after):
            ids.append(event_id(ORDER, change, len(ids) + 1))
        before = after
    assert len(ids) == 4 and len(set(ids)) == 4


def test_an_order_released_from_a_hold_goes_on_from_the_stage_it_had_reached() -> None:
    accepted = OrderState(S.ACCEPTED).following(None)
    held = OrderState(S.ON_HOLD).following(accepted)
    released = OrderState(S.IN_FULFILLMENT, ("shp_1",)).following(held)
    assert types(held, released) == ["sales_order.in_fulfillment", "shipment.created"]
    # Kept through the store: the snapshot carries the stage reached.
    assert OrderState.from_snapshot(held.to_snapshot()) == held
    # A snapshot of an earlier version (no stage kept): a hold released as before.
    earlier = {"status": "on_hold", "shipments": [], "invoices": []}
    assert types(OrderState.from_snapshot(earlier), OrderState(S.ACCEPTED)) == [
        "sales_order.accepted"
    ]


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
    elsewhere = event_json(cloud_event(ORDER, change, {"id": ORDER}, context, at, 5))
    assert json.loads(elsewhere)["id"] != document["id"]  # at another place: another event
    assert parse_event(body).get_id() == document["id"]
