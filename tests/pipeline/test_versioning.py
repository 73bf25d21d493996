"""API versions through the pipeline: negotiation, lifecycle headers, 400/410, v1 <-> v2 records
and problems, and idempotent replays of a downgraded answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config.loader import load_config
from gateway.runtime import build_runtime
from gateway.store.base import Store
from tests.configs import copy_config
from tests.e2e import payloads
from tests.harness import ENV, Gateway, in_process_gateway

V2_ADDRESS = {**payloads.ADDRESSES["US01"], "type": "billing"}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the repository's configuration that a test may edit."""
    return copy_config(tmp_path)


def v2_customer(legal_entity: str = "US01", **overrides: Any) -> dict[str, Any]:
    body = payloads.customer(legal_entity)
    body["legal_name"] = body.pop("name")
    body["addresses"] = [{**body.pop("address"), "type": "billing"}]
    return {**body, **overrides}


def v2_order(order: dict[str, Any]) -> dict[str, Any]:
    """A v1 order body as the same order in v2."""
    body = {k: v for k, v in order.items() if k != "lines"}
    body["items"] = [
        {
            "product_id": line["sku"],
            "quantity": line["quantity"],
            "price": {"amount": line["unit_price"], "currency": order["currency"]},
        }
        for line in order["lines"]
    ]
    return body


def write_versions(config_dir: Path, text: str) -> None:
    (config_dir / "policies" / "api-versions.yaml").write_text(text)


def reload(gw: Gateway, store: Store, config_dir: Path) -> None:
    """Serve the configuration as `config_dir` now holds it, as a reload would."""
    gw.serve(build_runtime(load_config(config_dir, env=ENV), store, ENV, adapters=gw.erps))


def pin_demo_client(config_dir: Path, version: str) -> None:
    clients = config_dir / "policies" / "clients.yaml"
    text = clients.read_text()
    marker = "    rate_limit: standard                # a tier of policies/rate-limits.yaml\n"
    assert marker in text
    clients.write_text(text.replace(marker, marker + f"    api_version: {version}\n", 1))


async def test_a_customer_created_through_v2_reads_through_v1_and_the_other_way_round(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        by_v2 = await api.post("/v2/customers", json=v2_customer(display_name="Acme"))
        by_v1 = await api.post("/v1/customers", json=payloads.customer("US01"))
        assert (by_v2.status_code, by_v1.status_code) == (201, 201), by_v2.text + by_v1.text

        v1_view = (await api.get(f"/v1/customers/{by_v2.json()['id']}")).json()
        v2_view = (await api.get(f"/v2/customers/{by_v1.json()['id']}")).json()

    assert v1_view["name"] == by_v2.json()["legal_name"]
    assert "legal_name" not in v1_view and "display_name" not in v1_view
    assert v2_view["legal_name"] == by_v1.json()["name"]
    assert "name" not in v2_view and "address" not in v2_view


async def test_every_response_says_which_version_served_it_problems_included(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        v1 = await api.get("/v1/customers/cus_missing")
        v2 = await api.get("/v2/customers/cus_missing")
        unversioned = await api.get("/customers/cus_missing")

        no_route = [await api.get("/v1/no-such-collection"), await api.delete("/v2/customers")]

    assert [r.status_code for r in (v1, v2, unversioned)] == [404, 404, 404]
    assert [r.headers["API-Version"] for r in (v1, v2, unversioned)] == ["v1", "v2", "v2"]
    # No route at all under a version's prefix: still answered in that version.
    assert [r.headers.get("API-Version") for r in no_route] == ["v1", "v2"]
    assert "Deprecation" not in v1.headers  # no lifecycle configured: every version current


async def test_a_clients_pin_decides_the_version_of_its_unversioned_paths(
    store: Store, config_dir: Path
) -> None:
    pin_demo_client(config_dir, "v1")
    async with in_process_gateway(store, config_dir) as gw, gw.client() as demo:
        created = await demo.post("/customers", json=payloads.customer("US01"))
        async with gw.client("crm-emea") as emea:
            other = await emea.get("/customers/cus_missing")

    assert created.status_code == 201, created.text
    assert created.headers["API-Version"] == "v1"
    assert created.headers["Location"].startswith("/v1/customers/")
    assert created.json()["name"] == "Acme Corp"
    assert other.headers["API-Version"] == "v2"  # no pin: the default


async def test_the_configured_default_serves_unversioned_paths_without_a_pin(
    store: Store, config_dir: Path
) -> None:
    write_versions(config_dir, "default: v1\n")
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        response = await api.get("/customers/cus_missing")
    assert response.headers["API-Version"] == "v1"


async def test_an_unknown_version_is_400_listing_the_supported_ones(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        response = await api.get("/v9/customers/cus_x")

    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "unsupported_version"
    assert problem["supported_versions"] == ["v1", "v2"]


async def test_a_deprecated_version_carries_deprecation_sunset_and_a_changelog_link(
    store: Store, config_dir: Path
) -> None:
    write_versions(config_dir, "versions:\n  v1: {deprecated: 2026-06-01, sunset: 2099-06-01}\n")
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        v1 = await api.get("/v1/customers/cus_missing")
        v2 = await api.get("/v2/customers/cus_missing")
        polled = await api.get("/v1/events")  # a response with a Link of its own

    assert v1.headers["Deprecation"] == "@1780272000"  # 2026-06-01T00:00:00Z, RFC 9745
    assert v1.headers["Sunset"] == "Mon, 01 Jun 2099 00:00:00 GMT"  # RFC 8594 HTTP-date
    assert v1.headers["Link"] == '</changelog#v1>; rel="deprecation"'
    assert not {"Deprecation", "Sunset", "Link"} & set(v2.headers)
    links = polled.headers.get_list("Link")
    assert len(links) == 2 and '</changelog#v1>; rel="deprecation"' in links
    assert any(link.endswith('rel="next"') for link in links)


async def test_a_path_no_route_serves_under_a_deprecated_versions_prefix_says_so_too(
    store: Store, config_dir: Path
) -> None:
    write_versions(config_dir, "versions:\n  v1: {deprecated: 2026-06-01, sunset: 2099-06-01}\n")
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        served = await api.get("/v1/customers/cus_missing")
        unrouted = [await api.get("/v1/no-such-collection"), await api.delete("/v1/customers")]

    lifecycle = ("Deprecation", "Sunset", "Link")
    assert [r.status_code for r in unrouted] == [404, 405]  # no such path; not that method
    for response in unrouted:
        assert [response.headers.get(h) for h in lifecycle] == [
            served.headers[h] for h in lifecycle
        ]


async def test_a_version_past_its_sunset_is_410_version_sunset(
    store: Store, config_dir: Path
) -> None:
    write_versions(config_dir, "versions:\n  v1: {deprecated: 2020-01-01, sunset: 2021-01-01}\n")
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        gone = await api.post("/v1/customers", json=payloads.customer("US01"))

    assert gone.status_code == 410
    assert gone.json()["code"] == "version_sunset"
    assert gw.erps["cloud"].calls == []


async def test_a_retired_version_is_410_whatever_the_path_or_method_asked(
    store: Store, config_dir: Path
) -> None:
    """As an unknown version is 400 whatever follows it: no resource is served under a
    retired one, so neither a 405 whose Allow names methods that answer 410, nor a 404."""
    write_versions(config_dir, "versions:\n  v1: {deprecated: 2020-01-01, sunset: 2021-01-01}\n")
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        served = await api.get("/v1/customers", params={"external_ref": "X"})
        unrouted = [await api.delete("/v1/customers"), await api.get("/v1/no-such-collection")]

    assert served.status_code == 410
    for response in unrouted:
        assert response.status_code == 410, response.text
        assert response.json()["code"] == "version_sunset"
        assert "allow" not in response.headers
        assert response.headers["Sunset"] == served.headers["Sunset"]


async def test_a_retired_version_is_not_listed_among_the_supported_ones(
    store: Store, config_dir: Path
) -> None:
    """A client told which versions it may move to is never sent to one that answers 410."""
    write_versions(config_dir, "versions:\n  v1: {deprecated: 2020-01-01, sunset: 2021-01-01}\n")
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        gone = await api.get("/v1/customers", params={"external_ref": "X"})
        unknown = await api.get("/v9/customers/cus_x")

    assert (gone.status_code, unknown.status_code) == (410, 400)
    assert gone.json()["supported_versions"] == ["v2"]
    assert unknown.json()["supported_versions"] == ["v2"]
    assert "v1" not in unknown.json()["detail"]


async def test_a_v1_body_is_judged_by_the_v1_schema_with_v1_pointers(store: Store) -> None:
    order = payloads.order("US01", "cus_abc")
    order["lines"][0]["quantity"] = 0
    async with in_process_gateway(store) as gw, gw.client() as api:
        v2_shaped = await api.post("/v1/customers", json=v2_customer())
        bad_line = await api.post(
            "/v1/sales-orders", json=order, headers={"Idempotency-Key": "bad-line"}
        )
        v1_shaped = await api.post("/v2/customers", json=payloads.customer("US01"))

    pointers = {e["pointer"] for e in v2_shaped.json()["errors"]}
    assert {"/name", "/address", "/legal_name", "/addresses"} <= pointers
    assert [e["pointer"] for e in bad_line.json()["errors"]] == ["/lines/0/quantity"]
    assert {"/legal_name", "/addresses", "/name", "/address"} <= {
        e["pointer"] for e in v1_shaped.json()["errors"]
    }


async def test_a_lower_case_currency_is_told_in_the_same_words_in_v1_and_v2(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        answers = [
            await api.post(f"/{version}/customers", json={**body, "currency": "usd"})
            for version, body in [("v1", payloads.customer("US01")), ("v2", v2_customer())]
        ]

    assert [a.status_code for a in answers] == [400, 400]
    assert [a.json()["errors"] for a in answers] == 2 * [
        [
            {
                "pointer": "/currency",
                "detail": "Enter a currency as its ISO 4217 code in capitals, such as EUR.",
            }
        ]
    ]
    assert gw.erps["cloud"].calls == []


async def test_an_unauthenticated_v1_request_is_401_before_its_body_is_judged(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        response = await api.post("/v1/customers", json={}, headers={"Authorization": ""})
    assert response.status_code == 401


async def test_a_v2_price_in_another_currency_than_the_orders_is_400_at_its_pointer(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = (await api.post("/v2/customers", json=v2_customer())).json()
        order = {
            "external_ref": "CRM-OPP-1",
            "legal_entity": "US01",
            "customer_id": customer["id"],
            "currency": "USD",
            "requested_delivery_date": "2026-12-15",
            "items": [
                {
                    "product_id": "WIDGET-1",
                    "quantity": 1,
                    "price": {"amount": "19.99", "currency": "EUR"},
                }
            ],
        }
        response = await api.post(
            "/v2/sales-orders", json=order, headers={"Idempotency-Key": "eur-price"}
        )

    assert response.status_code == 400
    assert [e["pointer"] for e in response.json()["errors"]] == ["/items/0/price/currency"]
    assert "create_sales_order" not in gw.erps["cloud"].calls


async def test_a_v1_order_replayed_under_its_key_returns_the_bytes_of_the_first_answer(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        order = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "v1-replay"}
        first = await api.post("/v1/sales-orders", json=order, headers=headers)
        again = await api.post("/v1/sales-orders", json=order, headers=headers)
        as_v2 = await api.get(f"/v2/sales-orders/{first.json()['id']}")

    assert first.status_code == 201, first.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content
    assert "lines" in first.json() and isinstance(first.json()["net_amount"], str)
    assert as_v2.json()["items"][0]["price"] == {
        "amount": order["lines"][0]["unit_price"],
        "currency": "USD",
    }


async def test_a_replay_served_in_another_version_than_the_first_answer_locates_it_in_that_one(
    store: Store, config_dir: Path
) -> None:
    # An unversioned path's version moved between the first attempt and its retry (the
    # default, or the client's pin, changed): the replay is the retry's version throughout.
    write_versions(config_dir, "default: v1\n")
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        order = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "default-moved"}
        first = await api.post("/sales-orders", json=order, headers=headers)
        write_versions(config_dir, "default: v2\n")
        reload(gw, store, config_dir)
        again = await api.post("/sales-orders", json=v2_order(order), headers=headers)
        followed = await api.get(again.headers["Location"])

    assert first.status_code == 201, first.text
    assert first.headers["Location"].startswith("/v1/sales-orders/")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.headers["API-Version"] == "v2" and "items" in again.json()
    assert again.headers["Location"] == "/v2/" + first.headers["Location"].removeprefix("/v1/")
    assert followed.json() == again.json()
