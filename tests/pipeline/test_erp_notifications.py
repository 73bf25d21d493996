"""A pushed ERP notification, in-process over a fake ERP: the order is read back within the
ERP's budget (`rate-limits.yaml` `backends:`), on top of which no notification goes; when the
budget has no room the notification is shed, 503 with Retry-After, and the ERP sends it again."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from gateway.api import erp_events
from gateway.pipeline.ratelimit import take_erp_budget
from gateway.runtime import Runtime
from gateway.service.breaker import BreakerState
from gateway.store.base import SlotRequest, Store
from tests.configs import write_config
from tests.conftest import Clock
from tests.harness import Gateway, WatchedReads, erp_calls_timed, in_process_gateway, open_orders

EVENTS_SECRET = "notification-budget-test-secret"
MAX_IN_FLIGHT = 2
# Breakers on (off in tests by default): two technical failures in a row open one.
BREAKER = {"attempts": 1, "enabled": "true", "failures": 2, "cool_down_s": 30}


def _budget(max_rps: float = 1000, max_in_flight: int = MAX_IN_FLIGHT) -> str:
    return f"""
tiers:
  standard: {{rate_per_s: 1000, burst: 2000}}
backends:
  legacy: {{max_rps: {max_rps}, max_in_flight: {max_in_flight}}}
  cloud: {{max_rps: 1000, max_in_flight: {MAX_IN_FLIGHT}}}
"""


def _shed_count() -> float:
    return REGISTRY.get_sample_value("gateway_shed_total", {"backend": "legacy"}) or 0.0


def _notifications(outcome: str) -> float:
    labels = {"backend": "legacy", "outcome": outcome}
    return REGISTRY.get_sample_value("gateway_erp_notifications_total", labels) or 0.0


def _pushing(gw: Gateway, delay_s: float) -> tuple[Runtime, WatchedReads]:
    """The gateway served with the legacy ERP's events secret set and its reads watched."""
    legacy = WatchedReads(gw.erps["legacy"], delay_s)
    backends = dict(gw.runtime.backends)
    backends["legacy"] = replace(backends["legacy"], adapter=legacy)
    env = {**gw.runtime.env, "LEGACY_EVENTS_SECRET": EVENTS_SECRET}
    runtime = replace(gw.runtime, backends=backends, env=env)
    gw.serve(runtime)
    return runtime, legacy


async def _notify(
    gw: Gateway,
    erp_order_id: str,
    sequence: int | str = 1,
    opening: bytes = b"",
    content_type: str | None = "application/cloudevents+json",
    secret: str = EVENTS_SECRET,
) -> httpx.Response:
    """The SAP business event saying that `erp_order_id` changed, pushed as the ERP does
    (after `opening`: a byte order mark, say; declared as `content_type`, None: undeclared)."""
    event = {
        "specversion": "1.0",
        "id": f"evt-{erp_order_id}-{sequence}",
        "source": "/default/sap.s4.beh/0000000000",
        "type": "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1",
        "datacontenttype": "application/json",
        "sequence": str(sequence),
        "data": {"SalesOrder": erp_order_id},
    }
    transport = httpx.ASGITransport(app=gw.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as erp:
        return await erp.post(
            "/erp-events/legacy",
            content=opening + json.dumps(event).encode(),
            headers={"Authorization": f"Bearer {secret}"}
            | ({} if content_type is None else {"Content-Type": content_type}),
        )


async def _hold_slots(store: Store, runtime: Runtime, count: int) -> list[SlotRequest]:
    """`count` of the legacy ERP's in-flight slots, held as clients' requests in flight do."""
    budget = runtime.rate_limits.backends["legacy"]
    held = [(await take_erp_budget(store, "legacy", budget, 30.0))[0] for _ in range(count)]
    assert all(slot is not None for slot in held)
    return [slot for slot in held if slot is not None]


async def test_a_notification_is_shed_while_clients_hold_the_erps_whole_budget(
    store: Store, tmp_path: Path
) -> None:
    async with in_process_gateway(store, write_config(tmp_path, rate_limits=_budget())) as gw:
        (order,) = await open_orders(gw, 1)
        runtime, legacy = _pushing(gw, delay_s=0.0)
        held = await _hold_slots(store, runtime, MAX_IN_FLIGHT)
        shed_before = _shed_count()
        retry_before = _notifications("retry_later")

        shed = await _notify(gw, order)
        await asyncio.sleep(0.2)  # time for any read of it still to come
        reads_while_full = legacy.calls

        for slot in held:
            await store.settle(slot, None, None)
        resent = await _notify(gw, order)

    assert shed.status_code == 503, shed.text
    assert shed.json()["code"] == "erp_unavailable"
    assert int(shed.headers["Retry-After"]) >= 1  # the ERP sends it again
    assert reads_while_full == 0  # no read on top of the clients' requests
    assert _shed_count() == shed_before + 1  # counted as every shed is
    assert _notifications("retry_later") == retry_before + 1  # a notification to send again
    assert resent.status_code == 202, resent.text
    assert resent.json() == {"outcome": "recorded", "recorded": 1}
    assert legacy.calls == 3  # the order, its shipments, its invoices


async def test_a_notification_reads_the_order_through_one_free_slot(
    store: Store, tmp_path: Path
) -> None:
    async with in_process_gateway(store, write_config(tmp_path, rate_limits=_budget())) as gw:
        (order,) = await open_orders(gw, 1)
        runtime, legacy = _pushing(gw, delay_s=0.05)
        await _hold_slots(store, runtime, MAX_IN_FLIGHT - 1)
        timed_before = erp_calls_timed("legacy", "get_sales_order", "ok", "notification")

        answer = await _notify(gw, order)

    # One request at the ERP at a time, as a client's request holds one: the notification's
    # reads go through the one slot left, none shed for the others of its own.
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"outcome": "recorded", "recorded": 1}
    assert (legacy.calls, legacy.peak) == (3, 1)
    # Timed with the ERP's other calls, as a notification's.
    assert erp_calls_timed("legacy", "get_sales_order", "ok", "notification") == timed_before + 1


async def test_a_storm_of_notifications_reads_the_erp_within_its_budget(
    store: Store, tmp_path: Path
) -> None:
    async with in_process_gateway(store, write_config(tmp_path, rate_limits=_budget())) as gw:
        orders = await open_orders(gw, 5)
        _, legacy = _pushing(gw, delay_s=0.05)
        shed_before = _shed_count()

        storm = await asyncio.gather(*(_notify(gw, order) for order in orders))
        reads_left = legacy.at_once
        shed = [
            order for order, answer in zip(orders, storm, strict=True) if answer.status_code == 503
        ]
        resent = [await _notify(gw, order) for order in shed]  # as the ERP sends them again

    assert legacy.peak <= MAX_IN_FLIGHT, legacy.peak  # not three reads per notification
    assert reads_left == 0  # a shed notification leaves no read of it behind
    assert {a.status_code for a in storm} <= {202, 503}
    assert shed and all(int(a.headers["Retry-After"]) >= 1 for a in storm if a.status_code == 503)
    assert _shed_count() == shed_before + len(shed)
    recorded = [a.json() for a in storm if a.status_code == 202] + [a.json() for a in resent]
    assert recorded == [{"outcome": "recorded", "recorded": 1}] * len(orders)


async def test_a_notifications_reads_spend_the_erps_requests_per_second(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    # Three requests a second, a burst of three: one notification's three reads.
    config_dir = write_config(tmp_path, rate_limits=_budget(max_rps=3, max_in_flight=8))
    async with in_process_gateway(store, config_dir) as gw:
        first, second = await open_orders(gw, 2)
        runtime, legacy = _pushing(gw, delay_s=0.0)
        await clock.advance(1.0)  # the burst the orders' creation spent, whole again
        budget = runtime.rate_limits.backends["legacy"]

        answered = await _notify(gw, first)
        client = (await take_erp_budget(store, "legacy", budget, 30.0))[0]
        shed = await _notify(gw, second)

    assert answered.status_code == 202, answered.text
    assert legacy.calls == 3
    assert client is None  # the notification spent what clients' requests would have
    assert shed.status_code == 503, shed.text
    assert shed.json()["code"] == "erp_unavailable"


async def test_a_notification_while_the_erps_breaker_is_open_reads_nothing_and_is_sent_again(
    store: Store, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, resilience=BREAKER, rate_limits=_budget())
    async with in_process_gateway(store, config_dir) as gw:
        first, second, third = await open_orders(gw, 3)
        runtime, _ = _pushing(gw, delay_s=0.0)
        legacy = gw.erps["legacy"]
        legacy.down = True
        legacy.calls.clear()
        retry_before = _notifications("retry_later")

        failed = [await _notify(gw, first), await _notify(gw, second)]
        reads_failed = list(legacy.calls)
        breaker = runtime.backends["legacy"].breaker.view()
        refused = await _notify(gw, third)

    # The notifications' failed reads count toward the ERP's breaker as clients' do; once it
    # is open, a notification reads nothing and is answered as a client's request would be.
    assert [answer.status_code for answer in failed] == [503, 503]
    assert reads_failed == ["get_sales_order"] * 2
    assert breaker.state is BreakerState.OPEN
    assert refused.status_code == 503, refused.text
    assert (refused.json()["code"], refused.json().get("backend_state")) == (
        "erp_unavailable",
        "breaker_open",
    )
    assert int(refused.headers["Retry-After"]) >= 1  # the ERP sends it again
    assert legacy.calls == reads_failed
    assert _notifications("retry_later") == retry_before + 3  # each one to be sent again


async def test_a_notification_opening_with_a_byte_order_mark_is_read_as_json(
    store: Store, tmp_path: Path
) -> None:
    async with in_process_gateway(store, write_config(tmp_path, rate_limits=_budget())) as gw:
        (order,) = await open_orders(gw, 1)
        _pushing(gw, delay_s=0.0)

        answer = await _notify(gw, order, opening=b"\xef\xbb\xbf")

    assert answer.status_code == 202, answer.text
    assert answer.json() == {"outcome": "recorded", "recorded": 1}


async def test_a_notification_the_backend_does_not_send_is_refused_and_counted(
    store: Store, tmp_path: Path
) -> None:
    async with in_process_gateway(store, write_config(tmp_path, rate_limits=_budget())) as gw:
        (order,) = await open_orders(gw, 1)
        _, legacy = _pushing(gw, delay_s=0.0)
        invalid_before = _notifications("invalid")

        refused = await _notify(gw, order, sequence="not-a-number")

    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["pointer"] == "/sequence"
    assert legacy.calls == 0
    assert _notifications("invalid") == invalid_before + 1


@pytest.mark.parametrize(
    "content_type", ["image/png", "text/plain", None, "application/json; charset=latin-1"]
)
async def test_a_notification_whose_body_is_not_declared_json_is_refused_unread(
    store: Store, tmp_path: Path, content_type: str | None
) -> None:
    # The gateway never guesses what a body is: an ERP's notification declared as anything but
    # JSON (or undeclared) is 415, as a client's request is, and reads nothing from the ERP.
    async with in_process_gateway(store, write_config(tmp_path, rate_limits=_budget())) as gw:
        (order,) = await open_orders(gw, 1)
        _, legacy = _pushing(gw, delay_s=0.0)
        invalid_before = _notifications("invalid")

        refused = await _notify(gw, order, content_type=content_type)

    assert refused.status_code == 415, refused.text
    assert refused.json()["code"] == "unsupported_media_type"
    assert refused.headers["Accept-Post"] == "application/json"
    assert legacy.calls == 0
    assert _notifications("invalid") == invalid_before + 1


@pytest.mark.parametrize("content_type", ["application/json", "application/cloudevents+json"])
async def test_a_notification_declared_as_json_is_read(
    store: Store, tmp_path: Path, content_type: str
) -> None:
    async with in_process_gateway(store, write_config(tmp_path, rate_limits=_budget())) as gw:
        (order,) = await open_orders(gw, 1)
        _pushing(gw, delay_s=0.0)

        answer = await _notify(gw, order, content_type=content_type)

    assert answer.status_code == 202, answer.text


async def test_an_unauthenticated_notification_is_401_whatever_its_content_type(
    store: Store, tmp_path: Path
) -> None:
    # The secret is checked first: a caller without it learns nothing of what the intake takes.
    async with in_process_gateway(store, write_config(tmp_path, rate_limits=_budget())) as gw:
        (order,) = await open_orders(gw, 1)
        _pushing(gw, delay_s=0.0)

        refused = await _notify(gw, order, content_type="image/png", secret="a-guess")

    assert refused.status_code == 401, refused.text


async def test_a_notification_that_fails_unforeseen_is_counted_as_an_error(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A defect while a notification is handled answers 500 (the ERP sends it again); the
    # metric counted it in no outcome, so an operator saw nothing but the ERP's resends.
    async with in_process_gateway(store, write_config(tmp_path)) as gw:
        _pushing(gw, 0.0)
        (erp_order_id,) = await open_orders(gw, 1)

        def broken(*_: object) -> object:
            raise RuntimeError("a defect")

        monkeypatch.setattr(erp_events, "order_events", broken)
        before = _notifications("error")
        answer = await _notify(gw, erp_order_id)
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert _notifications("error") == before + 1
