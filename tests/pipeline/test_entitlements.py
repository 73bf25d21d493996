"""Entitlements: scopes per operation, legal entities per client; no ERP call when refused."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from gateway.domain.events import Change, EventContext, EventType, cloud_event, event_json
from gateway.store.base import Store
from gateway.store.events import DocumentState, EventRetention, NewEvent
from tests.configs import write_config
from tests.e2e import payloads
from tests.harness import in_process_gateway, token_for


async def test_a_write_for_a_legal_entity_the_client_may_not_act_for_is_403_without_erp_call(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client("crm-emea") as emea:
        # crm-emea is read-only and limited to DE01, FR01, GB01.
        response = await emea.post("/v1/customers", json=payloads.customer("US01"))
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
        assert all(not erp.calls for erp in gw.erps.values())


US01_WRITER = """
  - id: crm-us
    scopes: [customers:write, customers:read, sales_orders:write, sales_orders:read]
    legal_entities: [US01]
    rate_limit: standard
"""


async def test_a_writer_for_one_legal_entity_gets_403_for_another_without_erp_call(
    store: Store, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, clients=US01_WRITER)
    async with (
        in_process_gateway(store, config_dir) as gw,
        gw.client() as demo,
        gw.client("crm-us") as us,
    ):
        de_customer = (await demo.post("/v1/customers", json=payloads.customer("DE01"))).json()
        calls_before = {name: list(erp.calls) for name, erp in gw.erps.items()}
        refused = [
            await us.post("/v1/customers", json=payloads.customer("DE01")),
            await us.post(
                "/v1/sales-orders",
                json=payloads.order("DE01", de_customer["id"]),
                headers=payloads.new_key(),
            ),
        ]
        for response in refused:
            assert response.status_code == 403, response.text
            assert response.json()["code"] == "forbidden"
            assert "DE01" in response.json()["detail"]
        assert {name: erp.calls for name, erp in gw.erps.items()} == calls_before
        allowed = await us.post("/v1/customers", json=payloads.customer("US01"))
        assert allowed.status_code == 201, allowed.text


async def test_an_unknown_legal_entity_is_refused_naming_only_those_the_client_may_act_for(
    store: Store, tmp_path: Path
) -> None:
    # The 400's list of known legal entities is a client's to see only where it may act: a
    # client for US01 learns nothing of the others from a mistyped code.
    config_dir = write_config(tmp_path, clients=US01_WRITER)
    async with (
        in_process_gateway(store, config_dir) as gw,
        gw.client() as demo,
        gw.client("crm-us") as us,
    ):
        mine = await us.post(
            "/v1/customers", json={**payloads.customer("US01"), "legal_entity": "XX99"}
        )
        everyone = await demo.post(
            "/v1/customers", json={**payloads.customer("US01"), "legal_entity": "XX99"}
        )
    assert mine.status_code == everyone.status_code == 400, mine.text
    (error,) = mine.json()["errors"]
    assert error["pointer"] == "/legal_entity"
    assert error["detail"] == "Unknown legal entity; known: US01."
    listed = everyone.json()["errors"][0]["detail"]
    assert all(code in listed for code in ("DE01", "SG01", "US01")), listed


async def test_a_write_without_the_scope_is_403_insufficient_scope(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client("crm-emea") as emea:
        response = await emea.post("/v1/customers", json=payloads.customer("DE01"))
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
        assert all(not erp.calls for erp in gw.erps.values())


async def test_a_record_in_a_legal_entity_the_client_may_not_see_is_404(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as demo, gw.client("crm-emea") as emea:
        created = await demo.post("/v1/customers", json=payloads.customer("US01"))
        assert created.status_code == 201, created.text
        calls_before = {name: list(erp.calls) for name, erp in gw.erps.items()}
        hidden = await emea.get(f"/v1/customers/{created.json()['id']}")
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "not_found"
        unknown = await emea.get("/v1/customers/cus_doesnotexist")
        assert unknown.status_code == 404
        assert hidden.json()["detail"].split()[0] == unknown.json()["detail"].split()[0]
        assert {name: erp.calls for name, erp in gw.erps.items()} == calls_before


US01_READER = """
  - id: crm-us
    scopes: [customers:read, sales_orders:read, sales_orders:write, shipments:read,
             invoices:read]
    legal_entities: [US01]
    rate_limit: standard
"""
# Each way a client names a record by its gateway id, on each kind of path.
ADDRESSED = [
    ("GET", "/v1/customers/{customer}"),
    ("GET", "/v2/customers/{customer}"),
    ("GET", "/customers/{customer}"),
    ("GET", "/v1/sales-orders/{order}"),
    ("POST", "/v1/sales-orders/{order}/cancel"),
    ("GET", "/v1/sales-orders/{order}/shipments"),
    ("GET", "/v1/sales-orders/{order}/events"),
    ("GET", "/v1/invoices?sales_order_id={order}"),
]


@pytest.mark.parametrize(("method", "path"), ADDRESSED)
async def test_a_record_of_another_legal_entity_reads_as_one_that_does_not_exist(
    store: Store, tmp_path: Path, method: str, path: str
) -> None:
    # Word for word: a detail that named only the unknown id would tell a client for US01
    # which gateway ids exist in the other legal entities.
    async with (
        in_process_gateway(store, write_config(tmp_path, clients=US01_READER)) as gw,
        gw.client() as demo,
        gw.client("crm-us") as us,
    ):
        customer = (await demo.post("/v1/customers", json=payloads.customer("DE01"))).json()
        order = await demo.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", customer["id"]),
            headers=payloads.new_key(),
        )
        ids = {"customer": customer["id"], "order": order.json()["id"]}
        unknown = {name: f"{value.split('_')[0]}_doesnotexist" for name, value in ids.items()}
        hidden = await us.request(method, path.format(**ids), headers=payloads.new_key())
        missing = await us.request(method, path.format(**unknown), headers=payloads.new_key())
    assert hidden.status_code == missing.status_code == 404, hidden.text
    expected = missing.json()["detail"]
    for name, gateway_id in ids.items():
        expected = expected.replace(unknown[name], gateway_id)
    assert hidden.json()["detail"] == expected


@pytest.mark.parametrize("path", ["/admin/config", "/admin/config/reload"])
async def test_admin_endpoints_need_the_admin_scope(store: Store, path: str) -> None:
    method = "POST" if path.endswith("reload") else "GET"
    async with in_process_gateway(store) as gw, gw.client() as demo, gw.client("ops-admin") as ops:
        refused = await demo.request(method, path)
        assert refused.status_code == 403
        assert 'scope="gateway:admin"' in refused.headers["www-authenticate"]
        assert (await ops.request(method, path)).status_code == 200


async def test_an_unregistered_client_is_403(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client("stranger") as stranger:
        response = await stranger.get("/v1/customers", params={"external_ref": "X"})
        assert response.status_code == 403


async def test_a_refusal_for_a_missing_scope_does_not_depend_on_whether_the_record_exists(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as demo, gw.client("crm-emea") as emea:
        customer = (await demo.post("/v1/customers", json=payloads.customer("US01"))).json()
        order = await demo.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer["id"]),
            headers=payloads.new_key(),
        )
        headers = payloads.new_key()
        existing = await emea.post(f"/v1/sales-orders/{order.json()['id']}/cancel", headers=headers)
        missing = await emea.post("/v1/sales-orders/so_doesnotexist/cancel", headers=headers)
        assert existing.status_code == missing.status_code == 403
        assert existing.json()["detail"] == missing.json()["detail"]


async def test_an_admin_token_narrowed_to_other_scopes_is_refused(store: Store) -> None:
    async with in_process_gateway(store) as gw:
        narrowed = token_for("ops-admin", scope="customers:read")
        async with gw.client("ops-admin") as ops:
            response = await ops.get(
                "/admin/config", headers={"Authorization": f"Bearer {narrowed}"}
            )
        assert response.status_code == 403


@pytest.mark.parametrize("scope", ["", " "])
async def test_an_admin_token_with_an_empty_scope_claim_is_refused(
    store: Store, scope: str
) -> None:
    async with in_process_gateway(store) as gw:
        empty = token_for("ops-admin", scope=scope)
        async with gw.client("ops-admin") as ops:
            response = await ops.get("/admin/config", headers={"Authorization": f"Bearer {empty}"})
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_a_token_without_a_scope_claim_gets_its_clients_scopes(store: Store) -> None:
    async with in_process_gateway(store) as gw:
        unscoped = token_for("ops-admin")
        async with gw.client("ops-admin") as ops:
            response = await ops.get(
                "/admin/config", headers={"Authorization": f"Bearer {unscoped}"}
            )
        assert response.status_code == 200


ORDERS_ONLY = """
  - id: crm-orders
    scopes: [sales_orders:read]
    legal_entities: [DE01]
    rate_limit: standard
"""


async def test_an_invoice_in_the_events_needs_invoices_read_as_the_invoice_does(
    store: Store, tmp_path: Path
) -> None:
    # A client refused GET /invoices for want of invoices:read does not read the same invoice
    # as the data of an invoice.created event, polled or in the order's timeline.
    async with (
        in_process_gateway(store, write_config(tmp_path, clients=ORDERS_ONLY)) as gw,
        gw.client() as demo,
        gw.client("crm-orders") as orders_only,
    ):
        customer = (await demo.post("/v1/customers", json=payloads.customer("DE01"))).json()
        order = await demo.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", customer["id"]),
            headers=payloads.new_key(),
        )
        order_id = order.json()["id"]
        context = EventContext("legacy", "DE01", None)
        at = dt.datetime.now(dt.UTC)
        invoice = {"id": "inv_1", "sales_order_id": order_id, "total": "12345.67"}
        events = [
            cloud_event(
                order_id, Change(EventType.ACCEPTED, order_id), {"id": order_id}, context, at, 1
            ),
            cloud_event(
                order_id, Change(EventType.INVOICE_CREATED, "inv_1"), invoice, context, at, 2
            ),
        ]
        recorded = [NewEvent(e.get_id(), order_id, event_json(e)) for e in events]
        assert await store.events.commit(
            order_id, 0, DocumentState(1, {}), recorded, time.time(), EventRetention()
        )
        assert (
            await orders_only.get("/v2/invoices", params={"sales_order_id": order_id})
        ).status_code == 403
        polled = await orders_only.get("/v2/events")
        timeline = await orders_only.get(f"/v2/sales-orders/{order_id}/events")
        everything = await demo.get(f"/v2/sales-orders/{order_id}/events")
    for answer in (polled, timeline):
        assert answer.status_code == 200
        seen = [event["type"] for event in answer.json() if event["subject"] in (order_id, "inv_1")]
        assert seen == ["sales_order.accepted"]
    assert [e["type"] for e in everything.json()] == ["sales_order.accepted", "invoice.created"]
