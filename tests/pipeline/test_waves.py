"""A wave through the pipeline: new CA01 orders move at the wave's second, writes are refused
while a freeze holds (503 with Retry-After to its end), reads never are, and a client granted
`gateway:debug` sees each decision. The gateway's clock is injected, never waited for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from gateway.store.base import Store
from gateway.store.journal import JournalQuery
from tests.configs import ERP_TIMEOUT_S, write_config
from tests.conftest import Clock as ConftestClock
from tests.e2e import payloads
from tests.fake_erp import FakeErp
from tests.harness import in_process_gateway

WAVE = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC).timestamp()
RULES = """  - id: ca01-wave
    match: {legal_entities: [CA01]}
    backend: cloud
    effective_from: 2026-12-01T06:00:00Z
"""
FREEZES = """freezes:
  - id: ca01-cutover
    legal_entities: [CA01]
    from: 2026-12-01T05:45:00Z
    until: 2026-12-01T06:00:00Z
    reason: CA01 is moving to the cloud ERP
"""
SHORT_GRACE = """
lease_s: 30
ambiguous_grace_s: 0.1
operations: {sales_orders.create: required, sales_orders.cancel: required}
"""
DEBUG_CLIENT = """
  - id: crm-plain
    scopes: [customers:write, customers:read, sales_orders:write, sales_orders:read]
    legal_entities: "*"
    rate_limit: standard
  - id: crm-debug
    scopes: [customers:write, customers:read, sales_orders:write, sales_orders:read,
             gateway:debug]
    legal_entities: "*"
    rate_limit: standard
"""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def wave_config(tmp_path: Path, **policies: str) -> Path:
    config = write_config(tmp_path, clients=DEBUG_CLIENT, **policies)
    routes = config / "routes.yaml"
    text = routes.read_text().replace("\nrules:\n", "\nrules:\n" + RULES, 1)
    routes.write_text(text.replace("freezes: []\n", FREEZES, 1))
    return config


async def _order(api: httpx.AsyncClient, customer_id: str) -> httpx.Response:
    return await api.post(
        "/v1/sales-orders", json=payloads.order("CA01", customer_id), headers=payloads.new_key()
    )


async def _timed_out(
    api: httpx.AsyncClient,
    erp: FakeErp,
    clock: ConftestClock,
    body: dict[str, Any],
    key: dict[str, str],
    *,
    made: bool,
) -> None:
    """One attempt of the order whose answer never comes (504): `erp` made the order (`made`)
    or never did; then past the commit window, so that a retry reconciles."""
    erp.commit_late = True
    first = await api.post("/v1/sales-orders", json=body, headers=key)
    assert first.status_code == 504, first.text
    erp.commit_late = False
    if made:
        erp.commit_pending()
    else:
        erp.pending.clear()
    await clock.advance(ERP_TIMEOUT_S + 0.2)  # past the commit window


async def test_new_orders_move_at_the_waves_second_and_old_ones_stay_home(
    store: Store, tmp_path: Path
) -> None:
    clock = Clock(WAVE - 3600)
    async with (
        in_process_gateway(store, wave_config(tmp_path), clock=clock) as gw,
        gw.client() as api,
    ):
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        before = await _order(api, customer["id"])
        assert before.status_code == 201, before.text
        clock.now = WAVE
        after = await _order(api, customer["id"])
        assert after.status_code == 201, after.text
        assert len(legacy.orders) == 1 and len(cloud.orders) == 1
        legacy.calls.clear()
        cloud.calls.clear()
        assert (await api.get(f"/v1/sales-orders/{before.json()['id']}")).status_code == 200
        assert legacy.calls == ["get_sales_order"] and cloud.calls == []


async def test_a_frozen_write_is_503_with_retry_after_and_reads_go_on(
    store: Store, tmp_path: Path
) -> None:
    clock = Clock(WAVE - 3600)
    async with (
        in_process_gateway(store, wave_config(tmp_path), clock=clock) as gw,
        gw.client() as api,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        clock.now = WAVE - 100.5
        frozen = await _order(api, customer["id"])
        assert frozen.status_code == 503
        problem = frozen.json()
        assert (problem["code"], problem["category"], problem["retryable"]) == (
            "legal_entity_frozen",
            "technical",
            True,
        )
        assert "CA01 is moving to the cloud ERP" in problem["detail"]
        assert frozen.headers["retry-after"] == "101"
        assert not any(erp.orders for erp in gw.erps.values())
        read = await api.get(f"/v1/customers/{customer['id']}")
        assert read.status_code == 200
        other = await api.post("/v1/customers", json=payloads.customer("DE01"))
        assert other.status_code == 201  # another legal entity is not frozen
        # The same request, retried after Retry-After, goes through (to the cloud ERP by now).
        clock.now = WAVE
        retried = await api.post(
            "/v1/sales-orders",
            json=payloads.order("CA01", customer["id"]),
            headers=dict(frozen.request.headers),
        )
        assert retried.status_code == 201, retried.text
        assert len(gw.erps["cloud"].orders) == 1


async def test_a_retry_of_an_order_answered_before_the_freeze_gets_its_answer_during_it(
    store: Store, tmp_path: Path
) -> None:
    # A CRM lost the 201 of an order placed just before the cutover and retries it during the
    # freeze: the stored answer writes nothing, so it is replayed; a new order is still frozen.
    clock = Clock(WAVE - 901)
    async with (
        in_process_gateway(store, wave_config(tmp_path), clock=clock) as gw,
        gw.client() as api,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        body, key = payloads.order("CA01", customer["id"]), payloads.new_key()
        first = await api.post("/v1/sales-orders", json=body, headers=key)
        assert first.status_code == 201, first.text
        clock.now = WAVE - 600
        retried = await api.post("/v1/sales-orders", json=body, headers=key)
        assert retried.status_code == 201, retried.text
        assert retried.headers["idempotent-replayed"] == "true"
        assert retried.content == first.content
        new = await _order(api, customer["id"])
        assert (new.status_code, new.json()["code"]) == (503, "legal_entity_frozen")
        assert new.headers["retry-after"] == "600"
        unkeyed = await api.post("/v1/customers", json=payloads.customer("CA01"))
        assert (unkeyed.status_code, unkeyed.json()["code"]) == (503, "legal_entity_frozen")
        assert len(gw.erps["legacy"].orders) == 1 and len(gw.erps["legacy"].customers) == 1


async def test_an_order_of_unknown_outcome_is_not_reconciled_during_a_freeze_but_after_it(
    store: Store, clock: ConftestClock, tmp_path: Path
) -> None:
    # An attempt timed out after the ERP committed; its retry would search the ERP by the
    # gateway reference, but no ERP is called for a frozen legal entity until the freeze ends.
    gateway_clock = Clock(WAVE - 901)
    config = wave_config(tmp_path, idempotency=SHORT_GRACE)
    async with (
        in_process_gateway(store, config, clock=gateway_clock) as gw,
        gw.client() as api,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        legacy = gw.erps["legacy"]
        legacy.fail_after_commit = True
        body, key = payloads.order("CA01", customer["id"]), payloads.new_key()
        first = await api.post("/v1/sales-orders", json=body, headers=key)
        assert first.status_code == 504, first.text
        legacy.fail_after_commit = False
        await clock.advance(ERP_TIMEOUT_S + 0.2)  # past the commit window
        gateway_clock.now = WAVE - 600
        legacy.calls.clear()
        frozen = await api.post("/v1/sales-orders", json=body, headers=key)
        assert (frozen.status_code, frozen.json()["code"]) == (503, "legal_entity_frozen")
        assert frozen.headers["retry-after"] == "600"
        assert legacy.calls == []
        gateway_clock.now = WAVE
        retried = await api.post("/v1/sales-orders", json=body, headers=key)
        assert retried.status_code == 201, retried.text
        assert "find_sales_order" in legacy.calls
        assert len(legacy.orders) == 1 and not gw.erps["cloud"].orders


async def test_a_freeze_whose_glob_covers_reads_still_lets_an_order_be_read(
    store: Store, tmp_path: Path
) -> None:
    config = wave_config(tmp_path)
    routes = config / "routes.yaml"
    routes.write_text(
        routes.read_text().replace(
            "    legal_entities: [CA01]\n    from:",
            "    legal_entities: [CA01]\n    operations: [sales_orders.*]\n    from:",
            1,
        )
    )
    clock = Clock(WAVE - 3600)
    async with in_process_gateway(store, config, clock=clock) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        order = await _order(api, customer["id"])
        assert order.status_code == 201, order.text
        clock.now = WAVE - 100
        assert (await _order(api, customer["id"])).status_code == 503
        read = await api.get(f"/v1/sales-orders/{order.json()['id']}")
        assert read.status_code == 200, read.text
        assert read.json()["id"] == order.json()["id"]


async def test_only_a_client_granted_debug_sees_the_routing_decision(
    store: Store, tmp_path: Path
) -> None:
    clock = Clock(WAVE)
    async with (
        in_process_gateway(store, wave_config(tmp_path), clock=clock) as gw,
        gw.client("crm-plain") as plain_client,
        gw.client("crm-debug") as debug,
    ):
        created = await debug.post("/v1/customers", json=payloads.customer("CA01"))
        assert created.status_code == 201
        assert created.headers["x-route-rule"] == "ca01-wave"
        assert created.headers["x-gateway-backend"] == "cloud"
        plain = await plain_client.post("/v1/customers", json=payloads.customer("CA01"))
        assert plain.status_code == 201
        assert "x-route-rule" not in plain.headers and "x-gateway-backend" not in plain.headers
        order = await _order(debug, created.json()["id"])
        read = await debug.get(f"/v1/sales-orders/{order.json()['id']}")
        assert (read.headers["x-route-rule"], read.headers["x-gateway-backend"]) == (
            "home",
            "cloud",
        )


async def test_a_frozen_writes_retry_after_counts_to_the_end_of_a_following_freeze(
    store: Store, tmp_path: Path
) -> None:
    """Sign-off follows the cutover without a gap: a client told to come back when the first
    freeze ends would be refused again then."""
    config = wave_config(tmp_path)
    routes = config / "routes.yaml"
    following = """  - id: ca01-signoff
    legal_entities: [CA01]
    from: 2026-12-01T06:00:00Z
    until: 2026-12-01T06:30:00Z
    reason: CA01's cutover is being signed off
"""
    routes.write_text(routes.read_text().replace(FREEZES, FREEZES + following, 1))
    clock = Clock(WAVE - 3600)
    async with in_process_gateway(store, config, clock=clock) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        clock.now = WAVE - 100.5
        frozen = await _order(api, customer["id"])
        assert frozen.status_code == 503
        assert "freeze ca01-cutover" in frozen.json()["detail"]
        assert frozen.headers["retry-after"] == str(1800 + 101)
        clock.now = WAVE + 1
        still = await _order(api, customer["id"])
        assert still.status_code == 503 and "freeze ca01-signoff" in still.json()["detail"]
        assert still.headers["retry-after"] == "1799"


async def test_an_order_lost_before_the_wave_is_made_where_the_wave_sends_it(
    store: Store, clock: ConftestClock, tmp_path: Path
) -> None:
    # The attempt before the cutover timed out and the legacy ERP never made the order; its
    # retry after the wave finds nothing there, so the order is new: it goes to the cloud ERP,
    # as every other new CA01 order does, never into the ERP the legal entity has left.
    gateway_clock = Clock(WAVE - 3600)
    config = wave_config(tmp_path, idempotency=SHORT_GRACE)
    async with (
        in_process_gateway(store, config, clock=gateway_clock) as gw,
        gw.client("crm-debug") as api,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        body, key = payloads.order("CA01", customer["id"]), payloads.new_key()
        await _timed_out(api, legacy, clock, body, key, made=False)
        gateway_clock.now = WAVE
        legacy.calls.clear()
        retried = await api.post("/v1/sales-orders", json=body, headers=key)
        assert retried.status_code == 201, retried.text
        assert legacy.calls[0] == "find_sales_order"  # searched where the attempt went
        assert "create_sales_order" not in legacy.calls  # (its customer read there, to copy)
        assert not legacy.orders and len(cloud.orders) == 1
        assert retried.headers["x-gateway-backend"] == "cloud"
        read = await api.get(f"/v1/sales-orders/{retried.json()['id']}")
        assert (read.status_code, read.headers["x-gateway-backend"]) == (200, "cloud")
        assert read.json()["erp_reference"] == next(iter(cloud.orders.values())).document_number


async def test_a_retry_after_the_wave_finds_the_order_a_retry_after_the_wave_left_unknown(
    store: Store, clock: ConftestClock, tmp_path: Path
) -> None:
    # Before the wave: the legacy ERP never made it. After: the cloud ERP made it, but its
    # answer was lost. The third attempt searches both and finds it in the cloud ERP.
    gateway_clock = Clock(WAVE - 3600)
    config = wave_config(tmp_path, idempotency=SHORT_GRACE)
    async with (
        in_process_gateway(store, config, clock=gateway_clock) as gw,
        gw.client() as api,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        body, key = payloads.order("CA01", customer["id"]), payloads.new_key()
        await _timed_out(api, legacy, clock, body, key, made=False)
        gateway_clock.now = WAVE
        await _timed_out(api, cloud, clock, body, key, made=True)  # its answer lost
        third = await api.post("/v1/sales-orders", json=body, headers=key)
        assert third.status_code == 201, third.text
        assert not legacy.orders and len(cloud.orders) == 1
        (order,) = cloud.orders.values()
        assert third.json()["erp_reference"] == order.document_number


async def test_a_customer_lost_before_the_wave_is_made_where_the_wave_sends_it(
    store: Store, clock: ConftestClock, tmp_path: Path
) -> None:
    gateway_clock = Clock(WAVE - 3600)
    keyed = SHORT_GRACE.replace("sales_orders.cancel: required", "customers.create: required")
    config = wave_config(tmp_path, idempotency=keyed)
    async with (
        in_process_gateway(store, config, clock=gateway_clock) as gw,
        gw.client() as api,
    ):
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        body, key = payloads.customer("CA01"), payloads.new_key()
        legacy.fail_after_commit = True
        first = await api.post("/v1/customers", json=body, headers=key)
        assert first.status_code == 504, first.text
        legacy.fail_after_commit = False
        legacy.customers.clear()  # what it received was never committed after all
        await clock.advance(ERP_TIMEOUT_S + 0.2)
        gateway_clock.now = WAVE
        retried = await api.post("/v1/customers", json=body, headers=key)
        assert retried.status_code == 201, retried.text
        assert not legacy.customers and len(cloud.customers) == 1
        (made,) = cloud.customers.values()
        assert retried.json()["erp_reference"] == made.document_number


async def test_a_retry_after_the_wave_found_in_the_legacy_erp_says_it_was_served_there(
    store: Store, clock: ConftestClock, tmp_path: Path
) -> None:
    # The attempt before the cutover was made in the legacy ERP, its answer lost; the retry
    # after the wave answers with it, from the legacy ERP: so say the debug headers and the
    # journal, not the wave's rule and the cloud ERP that had nothing to do with it.
    gateway_clock = Clock(WAVE - 3600)
    config = wave_config(tmp_path, idempotency=SHORT_GRACE)
    async with (
        in_process_gateway(store, config, clock=gateway_clock) as gw,
        gw.client("crm-debug") as api,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        legacy.fail_after_commit = True
        body, key = payloads.order("CA01", customer["id"]), payloads.new_key()
        assert (await api.post("/v1/sales-orders", json=body, headers=key)).status_code == 504
        legacy.fail_after_commit = False
        await clock.advance(ERP_TIMEOUT_S + 0.2)
        gateway_clock.now = WAVE
        retried = await api.post("/v1/sales-orders", json=body, headers=key)
        assert retried.status_code == 201, retried.text
        assert len(legacy.orders) == 1 and not cloud.orders
        assert (retried.headers["x-gateway-backend"], retried.headers["x-route-rule"]) == (
            "legacy",
            "home",
        )
        await gw.runtime.journal.flush()
        page = await gw.runtime.store.journal.page(JournalQuery(limit=50))
        (entry,) = [e for e in page.items if e["gateway_id"] == retried.json()["id"]]
        assert (entry["backend"], entry["rule"]) == ("legacy", "home")


async def test_a_retry_after_the_wave_is_undone_finds_the_order_a_retry_during_it_made(
    store: Store, clock: ConftestClock, tmp_path: Path
) -> None:
    # Before the wave: the legacy ERP never made it. During the wave: the cloud ERP made it,
    # its answer lost. The wave is then undone (its cutover moved later): the third attempt,
    # routed to the legacy ERP again, must find the order in the cloud ERP, not make a second.
    gateway_clock = Clock(WAVE - 3600)
    config = wave_config(tmp_path, idempotency=SHORT_GRACE)
    async with (
        in_process_gateway(store, config, clock=gateway_clock) as gw,
        gw.client() as api,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("CA01"))).json()
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        body, key = payloads.order("CA01", customer["id"]), payloads.new_key()
        await _timed_out(api, legacy, clock, body, key, made=False)
        gateway_clock.now = WAVE
        await _timed_out(api, cloud, clock, body, key, made=True)  # its answer lost
        gateway_clock.now = WAVE - 3600  # the wave undone: CA01 is routed to the legacy ERP
        third = await api.post("/v1/sales-orders", json=body, headers=key)
        assert third.status_code == 201, third.text
        assert not legacy.orders and len(cloud.orders) == 1
        (order,) = cloud.orders.values()
        assert third.json()["erp_reference"] == order.document_number
