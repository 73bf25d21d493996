"""An order whose event state the store dropped (`events.documents.retention_s` after its last
change) and that an ERP notifies again, in-process over a fake ERP: its state then is taken as
it is, nothing it recorded before is recorded again, and what changes later is recorded under
ids no earlier event has."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from gateway.domain.models import SalesOrderStatus
from gateway.service.erp_calls import ErpCalls
from gateway.service.order_events import Observed, OrderEvents, Subscribers
from gateway.store.base import Store
from gateway.store.events import DocumentState, EventRetention
from tests.harness import Gateway, in_process_gateway, open_orders

RETENTION = EventRetention(document_s=3600)


def observer(gw: Gateway, at: float) -> OrderEvents:
    """What a notification arriving at `at` goes through."""
    runtime = gw.runtime
    erp = ErpCalls(runtime.backends, runtime.store, None, runtime.rate_limits.backends)
    subscribers = Subscribers(runtime.config.subscriptions, runtime.entitlements)
    return OrderEvents(
        runtime.store, subscribers, RETENTION, erp.unadmitted_caller("test"), clock=lambda: at
    )


def set_status(gw: Gateway, erp_id: str, status: SalesOrderStatus) -> None:
    orders = gw.erps["legacy"].orders
    orders[erp_id] = replace(orders[erp_id], status=status)


async def test_an_order_seen_again_after_its_state_was_dropped_records_nothing_twice(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw:
        (erp_id,) = await open_orders(gw, 1)
        now = time.time()
        assert await observer(gw, now).observe("legacy", erp_id, 1) == Observed(1, "recorded")
        set_status(gw, erp_id, SalesOrderStatus.ON_HOLD)
        assert await observer(gw, now + 1).observe("legacy", erp_id, 2) == Observed(1, "recorded")
        before = await store.events.log(None, 100)
        earlier = [json.loads(e) for e in before.events]
        order_id = earlier[0]["subject"]

        # Past the retention a commit of another document drops the order's state.
        later = now + 1 + RETENTION.document_s + 1
        assert await store.events.commit("d:another", 0, DocumentState(1, {}), [], later, RETENTION)
        assert await store.events.document_state(order_id) == DocumentState()

        # Notified again, unchanged: taken as it is; nothing recorded as if it were new.
        again = await observer(gw, later).observe("legacy", erp_id, 3)
        assert again == Observed(0, "unchanged")
        assert (await store.events.log(before.cursor, 100)).events == []

        # Released from its hold: that change, under an id no earlier event of it has.
        set_status(gw, erp_id, SalesOrderStatus.ACCEPTED)
        released = await observer(gw, later + 1).observe("legacy", erp_id, 4)
        assert released == Observed(1, "recorded")
        (event,) = [json.loads(e) for e in (await store.events.log(before.cursor, 100)).events]
        assert (event["type"], event["subject"]) == ("sales_order.accepted", order_id)
        assert event["id"] not in {e["id"] for e in earlier}
