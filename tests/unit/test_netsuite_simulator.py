"""The cloud ERP simulator's own mechanics over real HTTP: records, cancelling by closing lines,
upserts, the metadata catalog, concurrency governance, controls, faults. (Its logins: see
test_netsuite_simulator_logins.py.)"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from erp_simulators.faults import DRIP_BYTES
from erp_simulators.netsuite import create_app
from tests.netsuite_auth import TOKEN_PATH, assertion, token_form
from tests.servers import PYTHON, free_port, run_process, serve_app

RECORDS = "/services/rest/record/v1"
CATALOG = f"{RECORDS}/metadata-catalog"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_app(create_app()) as url:
        yield url


@pytest.fixture
async def sim(sim_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client on a freshly reset simulator, without faults."""
    async with httpx.AsyncClient(base_url=sim_url, timeout=5) as client:
        await client.post("/_sim/reset")
        yield client
        await client.delete("/_sim/faults")


async def bearer(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(TOKEN_PATH, data=token_form(assertion(str(client.base_url))))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def auth(sim: httpx.AsyncClient) -> dict[str, str]:
    return await bearer(sim)


def customer_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "externalId": "gw-CUSTOMER-1",
        "companyName": "Acme Corp",
        "subsidiary": {"id": "2"},
        "currency": {"id": "1"},
        "terms": {"id": "2"},
        "creditLimit": 50000.00,
        "accountNumber": "CRM-ACC-1",
        "addressBook": {
            "items": [
                {
                    "defaultBilling": True,
                    "addressBookAddress": {
                        "addr1": "1 Main St",
                        "city": "Austin",
                        "zip": "78701",
                        "country": {"id": "US"},
                    },
                }
            ]
        },
    }
    body.update(overrides)
    return body


CLOSE_LINE_1 = {"item": {"items": [{"line": 1, "isClosed": True}]}}


def order_body(entity: str, /, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "externalId": "gw-ORDER-1",
        "otherRefNum": "CRM-OPP-1",
        "entity": {"id": entity},
        "subsidiary": {"id": "2"},
        "currency": {"id": "1"},
        "shipDate": "2026-12-15",
        "item": {
            "items": [
                {"item": {"id": "1001"}, "quantity": 3, "rate": 19.99, "amount": 59.97},
                {"item": {"id": "1002"}, "quantity": 1, "rate": 149.00},
            ]
        },
    }
    body.update(overrides)
    return body


async def create(
    sim: httpx.AsyncClient, auth: dict[str, str], record_type: str, body: dict[str, Any]
) -> str:
    response = await sim.post(f"{RECORDS}/{record_type}", json=body, headers=auth)
    assert response.status_code == 204, response.text
    return response.headers["location"].rsplit("/", 1)[1]


async def read(
    sim: httpx.AsyncClient, auth: dict[str, str], record_type: str, key: str
) -> dict[str, Any]:
    response = await sim.get(
        f"{RECORDS}/{record_type}/{key}", params={"expandSubResources": "true"}, headers=auth
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def refusal(response: httpx.Response) -> tuple[int, str, str | None]:
    document = response.json()
    assert {"type", "title", "status", "o:errorDetails"} <= set(document)
    assert document["status"] == response.status_code
    first = document["o:errorDetails"][0]
    assert first["detail"]
    return response.status_code, first["o:errorCode"], first.get("o:errorPath")


# --- records ------------------------------------------------------------------------------------


async def test_a_create_answers_204_with_a_location_that_reads_back_with_erp_numbers(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await sim.post(f"{RECORDS}/customer", json=customer_body(), headers=auth)
    assert response.status_code == 204
    assert response.content == b""
    location = response.headers["location"]
    assert location.startswith(str(sim.base_url).rstrip("/") + f"{RECORDS}/customer/")
    customer = (await sim.get(location, params={"expandSubResources": "true"}, headers=auth)).json()
    assert customer["entityId"].startswith("CUST-")
    assert customer["subsidiary"]["id"] == "2"
    assert customer["creditLimit"] == 50000.0
    assert customer["taxItem"]["id"]
    assert customer["addressBook"]["items"][0]["addressBookAddress"]["city"] == "Austin"
    unexpanded = (await sim.get(location, headers=auth)).json()
    assert set(unexpanded["addressBook"]) == {"links"}


async def test_a_record_is_found_by_its_external_id_and_unknown_ones_are_404(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    internal_id = await create(sim, auth, "customer", customer_body())
    found = await read(sim, auth, "customer", "eid:gw-CUSTOMER-1")
    assert found["id"] == internal_id
    missing = await sim.get(f"{RECORDS}/customer/eid:gw-NEVER", headers=auth)
    assert refusal(missing) == (404, "NONEXISTENT_ID", None)
    assert (await sim.get(f"{RECORDS}/customer/999999", headers=auth)).status_code == 404


async def test_a_second_record_with_the_same_external_id_is_refused_as_a_duplicate(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await create(sim, auth, "customer", customer_body())
    again = await sim.post(f"{RECORDS}/customer", json=customer_body(), headers=auth)
    assert refusal(again) == (400, "DUP_RCRD", "externalId")
    assert (await sim.get("/_sim/stats")).json()["customers"] == 1


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"subsidiary": {"id": "4"}, "currency": {"id": "4"}}, "vatRegNumber"),
        ({"terms": {"id": "99"}}, "terms"),
        ({"subsidiary": {"id": "42"}}, "subsidiary"),
        ({"creditLimit": "50000.00"}, "creditLimit"),
        ({"nickname": "Acme"}, "nickname"),
    ],
)
async def test_a_customer_the_erp_would_refuse_is_refused_naming_the_field(
    sim: httpx.AsyncClient, auth: dict[str, str], overrides: dict[str, Any], path: str
) -> None:
    response = await sim.post(f"{RECORDS}/customer", json=customer_body(**overrides), headers=auth)
    assert refusal(response) == (400, "USER_ERROR", path)
    assert (await sim.get("/_sim/stats")).json()["customers"] == 0


async def test_an_eu_customer_with_a_vat_number_is_accepted(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = customer_body(subsidiary={"id": "5"}, currency={"id": "4"}, vatRegNumber="FR1234")
    customer = await read(sim, auth, "customer", await create(sim, auth, "customer", body))
    assert (customer["vatRegNumber"], customer["currency"]["refName"]) == ("FR1234", "Euro")


async def test_a_sales_order_is_priced_taxed_and_numbered_by_the_erp(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    customer = await create(sim, auth, "customer", customer_body())
    order = await read(
        sim, auth, "salesOrder", await create(sim, auth, "salesOrder", order_body(customer))
    )
    assert order["tranId"].startswith("SO-")
    assert (order["orderStatus"]["id"], order["custbody_credit_hold"]) == ("B", False)
    assert (order["subtotal"], order["taxTotal"], order["total"]) == (208.97, 17.24, 226.21)
    assert [(ln["item"]["id"], ln["quantity"], ln["amount"]) for ln in order["item"]["items"]] == [
        ("1001", 3, 59.97),
        ("1002", 1, 149.0),
    ]
    assert (order["otherRefNum"], order["externalId"]) == ("CRM-OPP-1", "gw-ORDER-1")
    assert (await sim.get("/_sim/stats")).json()["sales_orders"] == 1


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"item": {"items": [{"item": {"id": "9999"}, "quantity": 1}]}}, "item.items[0].item"),
        (
            {
                "item": {
                    "items": [
                        {"item": {"id": "1001"}, "quantity": 1, "rate": 19.99},
                        {"item": {"id": "1002"}, "quantity": 1, "rate": 99.0},
                    ]
                }
            },
            "item.items[1].rate",
        ),
        ({"entity": {"id": "999999"}}, "entity"),
        ({"subsidiary": {"id": "3"}}, "subsidiary"),
        ({"currency": {"id": "4"}}, "currency"),
        ({"terms": {"id": "77"}}, "terms"),
    ],
)
async def test_an_order_the_erp_would_refuse_is_not_saved_and_names_the_field(
    sim: httpx.AsyncClient, auth: dict[str, str], change: dict[str, Any], path: str
) -> None:
    customer = await create(sim, auth, "customer", customer_body())
    response = await sim.post(
        f"{RECORDS}/salesOrder", json=order_body(customer, **change), headers=auth
    )
    assert refusal(response) == (400, "USER_ERROR", path)
    assert (await sim.get("/_sim/stats")).json()["sales_orders"] == 0


async def test_an_order_over_the_credit_left_is_saved_pending_approval_on_credit_hold(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    customer = await create(sim, auth, "customer", customer_body(creditLimit=300))
    first = await read(
        sim, auth, "salesOrder", await create(sim, auth, "salesOrder", order_body(customer))
    )
    assert first["custbody_credit_hold"] is False
    # 226.21 of 300 is now used by the first, unbilled order.
    second_id = await create(sim, auth, "salesOrder", order_body(customer, externalId="gw-ORDER-2"))
    second = await read(sim, auth, "salesOrder", second_id)
    assert (second["orderStatus"]["refName"], second["custbody_credit_hold"]) == (
        "Pending Approval",
        True,
    )
    exposure = await read(sim, auth, "customer", customer)
    assert exposure["unbilledOrders"] == 226.21


async def test_lists_answer_ids_filtered_by_q_with_netsuites_paging_fields(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    customer = await create(sim, auth, "customer", customer_body())
    first = await create(sim, auth, "salesOrder", order_body(customer))
    await create(sim, auth, "salesOrder", order_body(customer, externalId="gw-2", otherRefNum="X"))
    listed = await sim.get(
        f"{RECORDS}/salesOrder", params={"q": 'otherRefNum IS "CRM-OPP-1"'}, headers=auth
    )
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert {k: page[k] for k in ("count", "hasMore", "offset", "totalResults")} == {
        "count": 1,
        "hasMore": False,
        "offset": 0,
        "totalResults": 1,
    }
    assert [item["id"] for item in page["items"]] == [first]
    paged = (await sim.get(f"{RECORDS}/salesOrder", params={"limit": "1"}, headers=auth)).json()
    assert (paged["count"], paged["hasMore"], paged["totalResults"]) == (1, True, 2)
    bad = await sim.get(f"{RECORDS}/salesOrder", params={"q": "otherRefNum LIKE x"}, headers=auth)
    assert refusal(bad)[:2] == (400, "INVALID_PARAMETER")


# --- the passage of time ------------------------------------------------------------------------


async def test_advance_moves_an_order_through_fulfillment_shipping_billing_and_payment(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    customer = await create(sim, auth, "customer", customer_body())
    order_id = await create(sim, auth, "salesOrder", order_body(customer))
    stages = []
    for _ in range(5):
        changed = (await sim.post("/_sim/advance")).json()["changed"]
        stages.append(changed[0]["to"] if changed else None)
    assert stages == ["in_fulfillment", "shipped", "invoiced", "paid", None]

    order = await read(sim, auth, "salesOrder", order_id)
    assert order["orderStatus"]["refName"] == "Billed"
    q = {"q": f"createdFrom ANY_OF [{order_id}]"}
    fulfillments = (await sim.get(f"{RECORDS}/itemFulfillment", params=q, headers=auth)).json()
    fulfillment = await read(sim, auth, "itemFulfillment", fulfillments["items"][0]["id"])
    assert fulfillment["shipStatus"]["refName"] == "Shipped"
    assert fulfillment["createdFrom"]["id"] == order_id
    invoices = (await sim.get(f"{RECORDS}/invoice", params=q, headers=auth)).json()
    invoice = await read(sim, auth, "invoice", invoices["items"][0]["id"])
    assert (invoice["status"]["refName"], invoice["total"], invoice["amountRemaining"]) == (
        "Paid In Full",
        226.21,
        0.0,
    )
    assert (await read(sim, auth, "customer", customer))["balance"] == 0.0


async def test_advance_to_a_stage_skips_held_and_cancelled_orders(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    customer = await create(sim, auth, "customer", customer_body(creditLimit=300))
    open_order = await create(sim, auth, "salesOrder", order_body(customer))
    held = await create(sim, auth, "salesOrder", order_body(customer, externalId="gw-2"))
    cancelled = await create(
        sim,
        auth,
        "salesOrder",
        order_body(
            customer, externalId="gw-3", item={"items": [{"item": {"id": "1001"}, "quantity": 1}]}
        ),
    )
    patch = await sim.patch(f"{RECORDS}/salesOrder/{cancelled}", json=CLOSE_LINE_1, headers=auth)
    assert patch.status_code == 204, patch.text
    changed = (await sim.post("/_sim/advance", json={"to": "invoiced"})).json()["changed"]
    assert [(c["salesOrder"], c["from"], c["to"]) for c in changed] == [
        (open_order, "accepted", "invoiced")
    ]
    assert (await read(sim, auth, "salesOrder", held))["orderStatus"]["id"] == "A"
    one = await sim.post("/_sim/advance", json={"to": "paid", "sales_order": held})
    assert one.json() == {"changed": []}


async def test_closing_every_line_of_an_order_closes_it_and_orderstatus_c_is_refused(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    customer = await create(sim, auth, "customer", customer_body())
    order = await create(sim, auth, "salesOrder", order_body(customer))
    path = f"{RECORDS}/salesOrder/{order}"
    # NetSuite's Cancel is a button of its UI: over REST, orderStatus takes A or B only.
    refused = await sim.patch(path, json={"orderStatus": {"id": "C"}}, headers=auth)
    assert refusal(refused) == (400, "USER_ERROR", "orderStatus")
    assert (await sim.patch(path, json=CLOSE_LINE_1, headers=auth)).status_code == 204
    half = await read(sim, auth, "salesOrder", order)
    assert half["orderStatus"]["id"] == "B"
    assert [line["isClosed"] for line in half["item"]["items"]] == [True, False]
    both = {"item": {"items": [{"line": 1, "isClosed": True}, {"line": 2, "isClosed": True}]}}
    assert (await sim.patch(path, json=both, headers=auth)).status_code == 204
    closed = await read(sim, auth, "salesOrder", order)
    assert (closed["orderStatus"]["id"], closed["orderStatus"]["refName"]) == ("H", "Closed")
    assert (await read(sim, auth, "customer", customer))["unbilledOrders"] == 0.0


async def test_lines_of_an_order_fulfilled_in_part_can_still_be_closed_but_not_of_a_billed_one(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    customer = await create(sim, auth, "customer", customer_body())
    shipped = await create(sim, auth, "salesOrder", order_body(customer))
    billed = await create(sim, auth, "salesOrder", order_body(customer, externalId="gw-2"))
    await sim.post("/_sim/advance", json={"to": "shipped", "sales_order": shipped})
    await sim.post("/_sim/advance", json={"to": "invoiced", "sales_order": billed})
    ok = await sim.patch(f"{RECORDS}/salesOrder/{shipped}", json=CLOSE_LINE_1, headers=auth)
    assert ok.status_code == 204, ok.text
    no = await sim.patch(f"{RECORDS}/salesOrder/{billed}", json=CLOSE_LINE_1, headers=auth)
    assert refusal(no) == (400, "USER_ERROR", "item")


# --- upserts ------------------------------------------------------------------------------------


async def test_a_put_by_external_id_creates_the_record_then_updates_that_same_record(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = customer_body()
    del body["externalId"]
    created = await sim.put(f"{RECORDS}/customer/eid:gw-UPSERT-1", json=body, headers=auth)
    assert created.status_code == 204, created.text
    internal_id = created.headers["location"].rsplit("/", 1)[1]
    assert (await read(sim, auth, "customer", "eid:gw-UPSERT-1"))["id"] == internal_id
    again = await sim.put(
        f"{RECORDS}/customer/eid:gw-UPSERT-1",
        json={"companyName": "Acme Corporation", "creditLimit": 60000},
        headers=auth,
    )
    assert again.status_code == 204, again.text
    assert again.headers["location"] == created.headers["location"]
    customer = await read(sim, auth, "customer", internal_id)
    assert (customer["companyName"], customer["creditLimit"]) == ("Acme Corporation", 60000.0)
    assert (await sim.get("/_sim/stats")).json()["customers"] == 1
    by_id = await sim.put(f"{RECORDS}/customer/{internal_id}", json=body, headers=auth)
    assert refusal(by_id)[:2] == (400, "USER_ERROR")
    other = await sim.put(
        f"{RECORDS}/customer/eid:gw-UPSERT-1", json={"externalId": "gw-OTHER"}, headers=auth
    )
    assert refusal(other) == (400, "USER_ERROR", "externalId")


# --- the metadata catalog -----------------------------------------------------------------------


async def test_the_metadata_catalog_describes_each_record_type_with_its_custom_fields(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    listed = (await sim.get(CATALOG, headers=auth)).json()
    assert {"customer", "salesOrder", "itemFulfillment", "invoice"} <= {
        item["name"] for item in listed["items"]
    }
    schema_json = {**auth, "Accept": "application/schema+json"}
    response = await sim.get(f"{CATALOG}/salesOrder", headers=schema_json)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/schema+json")
    properties = response.json()["properties"]
    assert properties["custbody_credit_hold"]["type"] == "boolean"
    assert properties["custbody_credit_hold"]["x-ns-custom-field"] is True
    assert "x-ns-custom-field" not in properties["entity"]
    assert {"orderStatus", "item", "externalId", "tranId"} <= set(properties)
    customer = (await sim.get(f"{CATALOG}/customer", headers=schema_json)).json()
    assert {"companyName", "subsidiary", "creditLimit"} <= set(customer["properties"])
    plain = (await sim.get(f"{CATALOG}/salesOrder", headers=auth)).json()
    assert {link["mediaType"] for link in plain["links"]} >= {"application/schema+json"}
    unknown = await sim.get(f"{CATALOG}/noSuchRecord", headers=schema_json)
    assert refusal(unknown)[:2] == (404, "INVALID_RCRD_TYPE")
    assert (await sim.get(CATALOG)).status_code == 401


async def test_an_account_without_the_custom_fields_neither_lists_nor_shows_them() -> None:
    with serve_app(create_app(custom_fields=False)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            headers = await bearer(client)
            schema = await client.get(
                f"{CATALOG}/salesOrder", headers={**headers, "Accept": "application/schema+json"}
            )
            assert "custbody_credit_hold" not in schema.json()["properties"]
            customer = await create(client, headers, "customer", customer_body(creditLimit=100))
            order = await create(client, headers, "salesOrder", order_body(customer))
            held = await read(client, headers, "salesOrder", order)
    assert held["orderStatus"]["id"] == "A"  # still held for credit, as NetSuite holds it...
    assert "custbody_credit_hold" not in held  # ...but nothing says why


# --- concurrency governance ---------------------------------------------------------------------


async def test_past_the_concurrency_limit_a_request_is_refused_429_without_being_done() -> None:
    # An account of its own: requests other tests left hanging would count against the limit.
    with serve_app(create_app()) as url:
        async with httpx.AsyncClient(base_url=url, timeout=5) as sim:
            auth = await bearer(sim)
            set_limit = await sim.post("/_sim/governance", json={"concurrency_limit": 2})
            assert set_limit.json()["concurrency_limit"] == 2
            fault = {"mode": "latency", "latency_ms": 500, "operations": ["items.read"]}
            await sim.post("/_sim/faults", json=fault)
            slow = [
                asyncio.create_task(sim.get(f"{RECORDS}/term/2", headers=auth)) for _ in range(2)
            ]
            deadline = time.monotonic() + 5
            while (await sim.get("/_sim/governance")).json()["in_flight"] != {"gateway-demo": 2}:
                assert time.monotonic() < deadline, "the slow requests never arrived"
                await asyncio.sleep(0.01)
            refused = await sim.post(f"{RECORDS}/customer", json=customer_body(), headers=auth)
            assert refusal(refused) == (429, "CONCURRENCY_LIMIT_EXCEEDED", None)
            assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]
            assert (await sim.get("/_sim/stats")).json()["customers"] == 0
            after = await sim.post(f"{RECORDS}/customer", json=customer_body(), headers=auth)
            assert after.status_code == 204  # the limit counts requests in flight, not a quota
            assert (await sim.get("/_sim/governance")).json()["refused"] == 1
            unlimited = await sim.post("/_sim/governance", json={"concurrency_limit": None})
            assert unlimited.json()["concurrency_limit"] is None
            bad = await sim.post("/_sim/governance", json={"concurrency_limit": 0})
            assert bad.status_code == 400


async def test_an_error_fault_with_status_429_is_netsuites_governance_refusal(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    fault = {"mode": "error", "status": 429, "operations": ["customers.create"]}
    await sim.post("/_sim/faults", json=fault)
    response = await sim.post(f"{RECORDS}/customer", json=customer_body(), headers=auth)
    assert refusal(response) == (429, "CONCURRENCY_LIMIT_EXCEEDED", None)
    assert (await sim.get("/_sim/stats")).json()["customers"] == 0


async def test_stats_count_customers_and_orders_and_reset_clears_them(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    customer = await create(sim, auth, "customer", customer_body())
    await create(sim, auth, "salesOrder", order_body(customer))
    stats = (await sim.get("/_sim/stats")).json()
    assert (stats["customers"], stats["sales_orders"]) == (1, 1)
    assert stats["requests"] >= 3
    await sim.post("/_sim/reset")
    stats = (await sim.get("/_sim/stats")).json()
    assert (stats["customers"], stats["sales_orders"], stats["requests"]) == (0, 0, 0)
    assert (await sim.get(f"{RECORDS}/customer/{customer}", headers=auth)).status_code == 404


# --- faults -------------------------------------------------------------------------------------


async def test_an_error_fault_answers_in_netsuites_error_shape_for_its_operation_only(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    fault = {"mode": "error", "status": 503, "operations": ["customers.create"]}
    assert (await sim.post("/_sim/faults", json=fault)).status_code == 200
    response = await sim.post(f"{RECORDS}/customer", json=customer_body(), headers=auth)
    assert refusal(response)[0] == 503
    assert (await sim.get(f"{RECORDS}/term/2", headers=auth)).status_code == 200
    assert (await sim.get("/_sim/stats")).json()["customers"] == 0


async def test_a_malformed_fault_sends_an_unreadable_body(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await sim.post("/_sim/faults", json={"mode": "malformed", "operations": ["items.read"]})
    response = await sim.get(f"{RECORDS}/inventoryItem/1001", headers=auth)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


async def test_a_malformed_fault_can_send_chosen_json_or_the_record_without_some_fields(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    fault = {"mode": "malformed", "body": {"d": None}, "operations": ["items.read"]}
    await sim.post("/_sim/faults", json=fault)
    chosen = await sim.get(f"{RECORDS}/inventoryItem/1001", headers=auth)
    assert (chosen.status_code, chosen.json()) == (200, {"d": None})
    fault = {"mode": "malformed", "omit": ["itemId", "price"], "operations": ["items.read"]}
    await sim.post("/_sim/faults", json=fault)
    trimmed = (await sim.get(f"{RECORDS}/inventoryItem/1001", headers=auth)).json()
    assert trimmed["id"] == "1001"
    assert not {"itemId", "price"} & set(trimmed)


async def _aiohttp_call(
    sim_url: str, method: str, path: str, auth: dict[str, str], **kwargs: Any
) -> bytes:
    """One request with the gateway's HTTP client, aiohttp."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sim_url + path, headers=auth, **kwargs) as response,
    ):
        return await response.read()


async def test_a_drop_fault_closes_the_connection_without_an_answer_or_any_work(
    sim: httpx.AsyncClient, sim_url: str, auth: dict[str, str]
) -> None:
    await sim.post("/_sim/faults", json={"mode": "drop", "operations": ["customers.create"]})

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _aiohttp_call(sim_url, "POST", f"{RECORDS}/customer", auth, json=customer_body())

    assert (await sim.get("/_sim/stats")).json()["customers"] == 0


async def test_a_reset_fault_does_the_work_then_resets_the_connection(
    sim: httpx.AsyncClient, sim_url: str, auth: dict[str, str]
) -> None:
    await sim.post("/_sim/faults", json={"mode": "reset", "operations": ["customers.create"]})

    with pytest.raises(aiohttp.ClientOSError) as raised:
        await _aiohttp_call(sim_url, "POST", f"{RECORDS}/customer", auth, json=customer_body())

    assert raised.value.errno == errno.ECONNRESET
    assert (await sim.get("/_sim/stats")).json()["customers"] == 1


async def test_a_truncated_fault_declares_more_than_it_sends_then_closes(
    sim: httpx.AsyncClient, sim_url: str, auth: dict[str, str]
) -> None:
    await sim.post("/_sim/faults", json={"mode": "truncated", "operations": ["items.read"]})

    with pytest.raises(aiohttp.ClientPayloadError):
        await _aiohttp_call(sim_url, "GET", f"{RECORDS}/inventoryItem/1001", auth)


async def test_a_slow_drip_fault_sends_the_whole_answer_a_few_bytes_at_a_time(
    sim: httpx.AsyncClient, sim_url: str, auth: dict[str, str]
) -> None:
    path = f"{RECORDS}/inventoryItem/1001"
    whole = (await sim.get(path, headers=auth)).content
    await sim.post("/_sim/faults", json={"mode": "slow_drip", "operations": ["items.read"]})

    with pytest.raises(TimeoutError):  # the deadline runs out mid-body
        await _aiohttp_call(sim_url, "GET", path, auth, timeout=aiohttp.ClientTimeout(0.5))
    await sim.post(
        "/_sim/faults", json={"mode": "slow_drip", "latency_ms": 1, "operations": ["items.read"]}
    )
    assert await _aiohttp_call(sim_url, "GET", path, auth) == whole
    assert len(whole) > 10 * DRIP_BYTES


async def test_a_timeout_fault_holds_the_answer_back(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await sim.post("/_sim/faults", json={"mode": "timeout", "latency_ms": 2000})
    with pytest.raises(httpx.ReadTimeout):
        await sim.get(f"{RECORDS}/term/2", headers=auth, timeout=0.3)


async def test_commit_then_timeout_saves_the_record_before_the_answer_is_lost(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    fault = {"mode": "commit_then_timeout", "latency_ms": 2000, "operations": ["customers.create"]}
    await sim.post("/_sim/faults", json=fault)
    with pytest.raises(httpx.ReadTimeout):
        await sim.post(f"{RECORDS}/customer", json=customer_body(), headers=auth, timeout=0.3)
    await sim.delete("/_sim/faults")
    assert (await sim.get("/_sim/stats")).json()["customers"] == 1
    assert (await read(sim, auth, "customer", "eid:gw-CUSTOMER-1"))["companyName"] == "Acme Corp"


def test_the_simulator_runs_as_a_module_on_the_port_it_is_given() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "erp_simulators.netsuite", "--port", str(port)]
    started = time.monotonic()
    with run_process(args, url + "/_sim/stats", expect=200):
        assert httpx.get(url + "/_sim/stats").json()["customers"] == 0
    assert time.monotonic() - started < 20


def test_gateway_simulate_cloud_takes_the_accounts_options() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "simulate", "cloud", "--port", str(port)]
    options = ["--no-custom-fields", "--concurrency-limit", "3"]
    with run_process([*args, *options], url + "/_sim/stats", expect=200):
        assert httpx.get(url + "/_sim/governance").json()["concurrency_limit"] == 3
        with httpx.Client(base_url=url) as client:
            token = client.post(TOKEN_PATH, data=token_form(assertion(url))).json()
            schema = client.get(
                f"{CATALOG}/salesOrder",
                headers={
                    "Authorization": f"Bearer {token['access_token']}",
                    "Accept": "application/schema+json",
                },
            ).json()
    assert "custbody_credit_hold" not in schema["properties"]
