"""A record lives where it was created: reads and cancels go to its home ERP, whatever the
routes say for new records after a migration wave."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from gateway.config.routes import RoutesConfig
from gateway.routing.rules import compile_routes
from gateway.store.base import Binding, ErpDocument, Store
from tests.configs import write_config
from tests.e2e import payloads
from tests.harness import Gateway, in_process_gateway


def _move_de01_to_cloud(gw: Gateway, replicate: str = "on_demand") -> None:
    routes = gw.runtime.config.routes.model_dump(by_alias=True)
    routes["rules"].insert(
        0, {"id": "de01-wave", "match": {"legal_entities": ["DE01"]}, "backend": "cloud"}
    )
    routes["replicate_customers"] = replicate
    table = compile_routes(RoutesConfig.model_validate(routes))
    gw.serve(replace(gw.runtime, routing=table))


async def _new_de01_order(api: httpx.AsyncClient) -> tuple[dict[str, Any], str]:
    """A DE01 customer and an order for it, created in the legacy ERP: the customer as
    answered, and the order's id."""
    customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
    created = await api.post(
        "/v1/sales-orders",
        json=payloads.order("DE01", customer["id"]),
        headers=payloads.new_key(),
    )
    assert created.status_code == 201, created.text
    order_id: str = created.json()["id"]
    return customer, order_id


async def _move_order_to_cloud(
    gw: Gateway, store: Store, order_id: str, erp_id: str, document_number: str
) -> None:
    """What a migration in another process does: the legacy ERP's one order now lives in the
    cloud ERP under `erp_id`, and the xref says so (this process's hint does not know)."""
    legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
    (erp_order,) = legacy.orders.values()
    moved = replace(erp_order, erp_id=erp_id, document_number=document_number)
    cloud.orders[moved.erp_id] = moved
    del legacy.orders[erp_order.erp_id]
    home = ErpDocument("cloud", moved.erp_id, moved.document_number)
    (outcome,) = await store.bind_documents([Binding(order_id, home, home=True)])
    assert outcome.record is not None and outcome.record.backend == "cloud"


async def test_reads_and_cancels_go_to_the_records_home_after_a_wave(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer, order_id = await _new_de01_order(api)
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        assert len(legacy.orders) == 1

        _move_de01_to_cloud(gw)
        read = await api.get(f"/v1/sales-orders/{order_id}")
        assert read.status_code == 200
        cancel = await api.post(f"/v1/sales-orders/{order_id}/cancel", headers=payloads.new_key())
        assert cancel.status_code == 200, cancel.text
        assert cancel.json()["status"] == "cancelled"
        assert legacy.calls.count("get_sales_order") == 1
        assert "cancel_sales_order" in legacy.calls
        assert cloud.calls == []

        # New DE01 records follow the new route; the order's customer is copied there first.
        for _ in range(2):
            placed = await api.post(
                "/v1/sales-orders",
                json=payloads.order("DE01", customer["id"]),
                headers=payloads.new_key(),
            )
            assert placed.status_code == 201, placed.text
        assert len(cloud.orders) == 2
        assert len(cloud.customers) == 1  # copied once, for the first order only
        (copy,) = cloud.customers.values()
        assert copy.legal_name == customer["name"]
        assert {o.customer_erp_id for o in cloud.orders.values()} == {copy.erp_id}
        fresh = await api.post("/v1/customers", json=payloads.customer("DE01"))
        assert fresh.status_code == 201
        assert len(cloud.customers) == 2


async def test_with_copies_off_an_order_for_a_customer_not_yet_moved_is_422(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        _move_de01_to_cloud(gw, replicate="off")
        refused = await api.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "customer_not_found"
        assert "migrated first" in refused.json()["detail"]
        assert not gw.erps["cloud"].customers and not gw.erps["cloud"].orders


async def test_a_customer_present_in_both_erps_is_read_where_the_rules_send_it(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        _move_de01_to_cloud(gw, replicate="off")
        # Not present in the cloud ERP yet: read at its home.
        assert (await api.get(f"/v1/customers/{customer['id']}")).status_code == 200
        assert legacy.calls.count("get_customer") == 1 and "get_customer" not in cloud.calls
        _move_de01_to_cloud(gw)
        order = await api.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert order.status_code == 201, order.text  # copies the customer to the cloud ERP
        legacy.calls.clear()
        cloud.calls.clear()
        read = await api.get(f"/v1/customers/{customer['id']}")
        assert read.status_code == 200
        assert cloud.calls == ["get_customer"] and legacy.calls == []
        (copy,) = cloud.customers.values()
        assert read.json()["erp_reference"] == copy.document_number


async def test_a_read_follows_a_record_moved_after_this_process_last_read_it(
    store: Store,
) -> None:
    # The records step answers from what this process read last (a hint); admission reads the
    # record fresh in its round trip. A record moved meanwhile (by a migration in another
    # process) is read at its new home, never at the old one.
    async with in_process_gateway(store) as gw, gw.client() as api:
        _, order_id = await _new_de01_order(api)
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        for _ in range(2):
            assert (await api.get(f"/v1/sales-orders/{order_id}")).status_code == 200
        assert legacy.calls.count("get_sales_order") == 2

        await _move_order_to_cloud(gw, store, order_id, "moved-1", "CL-1")

        for _ in range(2):
            read = await api.get(f"/v1/sales-orders/{order_id}")
            assert read.status_code == 200, read.text
            assert read.json()["erp_reference"] == "CL-1"
        assert legacy.calls.count("get_sales_order") == 2
        assert cloud.calls.count("get_sales_order") == 2


async def test_a_keyed_cancel_decided_on_a_stale_hint_goes_to_the_records_new_home(
    store: Store,
) -> None:
    # Admission marks a keyed request forwarded to the ERP it was routed to; a request sent
    # through again because its record had moved takes that mark back, so that it is not
    # reconciled with the ERP where the record no longer lives.
    async with in_process_gateway(store) as gw, gw.client() as api:
        _, order_id = await _new_de01_order(api)
        assert (await api.get(f"/v1/sales-orders/{order_id}")).status_code == 200  # hinted
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        await _move_order_to_cloud(gw, store, order_id, "moved-2", "CL-2")

        legacy_before = list(legacy.calls)
        cancel = await api.post(f"/v1/sales-orders/{order_id}/cancel", headers=payloads.new_key())
        assert cancel.status_code == 200, cancel.text
        assert cancel.json()["status"] == "cancelled"
        assert "cancel_sales_order" in cloud.calls
        assert legacy.calls == legacy_before  # never searched where the order was


async def test_a_record_whose_legal_entity_left_routes_yaml_is_still_served_at_home(
    store: Store, tmp_path: Path
) -> None:
    # No rule decides for a legal entity routes.yaml no longer lists, but its records still
    # live somewhere: they are read, found and cancelled there; a new one is refused.
    config = write_config(tmp_path)
    async with (
        in_process_gateway(store, config) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("SG01"))).json()
        order = await api.post(
            "/v1/sales-orders",
            json=payloads.order("SG01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert order.status_code == 201, order.text
        routes = config / "routes.yaml"
        kept = [line for line in routes.read_text().splitlines() if "SG01:" not in line]
        routes.write_text("\n".join(kept) + "\n")
        reloaded = await ops.post("/admin/config/reload")
        assert reloaded.status_code == 200, reloaded.text
        legacy = gw.erps["legacy"]
        legacy.calls.clear()

        read = await api.get(f"/v1/sales-orders/{order.json()['id']}")
        assert read.status_code == 200, read.text
        assert (await api.get(f"/v1/customers/{customer['id']}")).status_code == 200
        found = await api.get("/v1/customers", params={"external_ref": customer["external_ref"]})
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()["items"]] == [customer["id"]]
        cancel = await api.post(
            f"/v1/sales-orders/{order.json()['id']}/cancel", headers=payloads.new_key()
        )
        assert cancel.status_code == 200, cancel.text
        assert legacy.calls == [
            "get_sales_order",
            "get_customer",
            "get_customer",
            "cancel_sales_order",
        ]
        another = await api.post(
            "/v1/sales-orders",
            json=payloads.order("SG01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert another.status_code == 400, another.text
        assert another.json()["errors"][0]["pointer"] == "/legal_entity"


async def _explained_read(ops: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    response = await ops.post(
        "/admin/routes/explain",
        json={"operation": "customers.read", "legal_entity": "DE01", "customer_id": customer_id},
    )
    assert response.status_code == 200, response.text
    explained: dict[str, Any] = response.json()
    return explained


async def test_explain_says_where_a_customers_read_goes_whether_or_not_it_was_copied(
    store: Store,
) -> None:
    # A customer's read goes to the ERP the rules name if it is present there, else to its
    # home: `explain` for that customer says so, and never that a read it sends to the rules'
    # ERP goes home.
    async with (
        in_process_gateway(store) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        _move_de01_to_cloud(gw)
        for copied in (False, True):
            if copied:
                order = await api.post(
                    "/v1/sales-orders",
                    json=payloads.order("DE01", customer["id"]),
                    headers=payloads.new_key(),
                )
                assert order.status_code == 201, order.text  # the customer copied to cloud
            legacy.calls.clear()
            cloud.calls.clear()
            assert (await api.get(f"/v1/customers/{customer['id']}")).status_code == 200
            (read_in,) = [n for n, erp in gw.erps.items() if "get_customer" in erp.calls]
            explained = await _explained_read(ops, customer["id"])
            assert explained["decision"]["backend"] == read_in, explained["text"]
            assert f"Decision: {read_in} " in explained["text"]
            (note,) = [line for line in explained["text"].splitlines() if line.startswith("Note")]
            assert read_in in note and "still go to their home" not in note, note
