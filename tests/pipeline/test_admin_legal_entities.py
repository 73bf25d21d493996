"""An admin client of some legal entities (`legal_entities` in clients.yaml) on the admin API:
its entities' records only (others listed away, or answered 404 as the domain API answers a
record of an entity a client may not see), acts for its entities only (403 naming the entity),
and nothing about the gateway as a whole (403); an admin client of every entity unchanged."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from gateway.domain.events import LEGAL_ENTITY_EXTENSION
from gateway.runtime import retry_hooks
from gateway.store.base import Store
from gateway.store.events import DocumentState, EventRetention, NewEvent
from tests.configs import copy_config
from tests.e2e import payloads
from tests.fake_erp import UNKNOWN_SKU
from tests.harness import Gateway, in_process_gateway

# A regional operator, as the README shows one configured.
REGIONAL_OPERATOR = """
  - id: ops-emea
    description: EMEA operators, their legal entities only
    scopes: ["gateway:admin"]
    legal_entities: [DE01, FR01, GB01]
    rate_limit: standard
"""
EMEA = {"DE01", "FR01", "GB01"}


@pytest.fixture
async def gw(store: Store, tmp_path: Path) -> AsyncIterator[Gateway]:
    config = copy_config(tmp_path)
    clients = config / "policies" / "clients.yaml"
    clients.write_text(clients.read_text() + REGIONAL_OPERATOR)
    async with in_process_gateway(store, config) as gateway:
        yield gateway


async def _transactions(gw: Gateway) -> dict[str, str]:
    """One customer created in DE01 and one in US01: their transactions' ids by entity."""
    ids = {}
    async with gw.client() as api, gw.client("ops-admin") as ops:
        for legal_entity in ("DE01", "US01"):
            created = await api.post("/v1/customers", json=payloads.customer(legal_entity))
            assert created.status_code == 201, created.text
            listed = await ops.get(
                "/admin/transactions",
                params={"correlation_id": created.headers["x-correlation-id"]},
            )
            ids[legal_entity] = listed.json()["items"][0]["id"]
    return ids


async def test_a_regional_operator_lists_the_transactions_of_its_legal_entities_only(
    gw: Gateway,
) -> None:
    ids = await _transactions(gw)
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        regional = await emea.get("/admin/transactions")
        everyone = await ops.get("/admin/transactions")
        named_other = await emea.get("/admin/transactions", params={"legal_entity": "US01"})
        named_own = await emea.get("/admin/transactions", params={"legal_entity": "DE01"})
    assert regional.status_code == 200, regional.text
    listed = {item["id"]: item["legal_entity"] for item in regional.json()["items"]}
    assert ids["DE01"] in listed and ids["US01"] not in listed
    assert set(listed.values()) <= EMEA
    assert {ids["DE01"], ids["US01"]} <= {item["id"] for item in everyone.json()["items"]}
    # Naming an entity it may not act for is refused as the domain API refuses it.
    assert named_other.status_code == 403, named_other.text
    assert "US01" in named_other.json()["detail"]
    assert [item["id"] for item in named_own.json()["items"]] == [ids["DE01"]]


async def test_another_entitys_transaction_is_not_found_for_a_regional_operator(
    gw: Gateway,
) -> None:
    ids = await _transactions(gw)
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        other = await emea.get(f"/admin/transactions/{ids['US01']}")
        unknown = await emea.get("/admin/transactions/tx_does_not_exist")
        own = await emea.get(f"/admin/transactions/{ids['DE01']}")
        seen_by_admin = await ops.get(f"/admin/transactions/{ids['US01']}")
    # As a record that does not exist: its existence is not told.
    assert other.status_code == 404, other.text
    assert other.json()["code"] == unknown.json()["code"] == "not_found"
    assert own.status_code == 200 and own.json()["legal_entity"] == "DE01"
    assert seen_by_admin.status_code == 200


async def test_a_regional_operator_cannot_replay_another_entitys_transaction(
    gw: Gateway,
) -> None:
    ids = await _transactions(gw)
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        replayed = await emea.post(f"/admin/transactions/{ids['US01']}/replay", json={})
        before = len(gw.erps["cloud"].customers)
        by_admin = await ops.post(f"/admin/transactions/{ids['US01']}/replay", json={})
        own = await emea.post(f"/admin/transactions/{ids['DE01']}/replay", json={})
    assert replayed.status_code == 404, replayed.text
    assert replayed.json()["code"] == "not_found"
    assert len(gw.erps["cloud"].customers) == before
    # A settled create is not replayed again, for either operator: refused as such, not hidden.
    assert by_admin.status_code == own.status_code == 422, (by_admin.text, own.text)


async def test_a_regional_operators_correction_may_not_move_a_transaction_to_another_entity(
    gw: Gateway,
) -> None:
    """A replay runs as the transaction's client, which may act for every legal entity: a
    corrected body naming another entity than the operator's would place that entity's order
    for the operator (and hide the entry from it after). Refused as naming it is elsewhere."""
    async with gw.client() as api:
        customers = {}
        for legal_entity in ("DE01", "US01"):
            created = await api.post("/v1/customers", json=payloads.customer(legal_entity))
            assert created.status_code == 201, created.text
            customers[legal_entity] = created.json()["id"]
        body = payloads.order("DE01", customers["DE01"])
        unknown_sku = {**body, "lines": [{**body["lines"][0], "sku": UNKNOWN_SKU}]}
        rejected = await api.post("/v1/sales-orders", json=unknown_sku, headers=payloads.new_key())
        assert rejected.status_code == 422, rejected.text
    async with gw.client("ops-emea") as emea:
        listed = await emea.get(
            "/admin/transactions",
            params={"correlation_id": rejected.headers["x-correlation-id"]},
        )
        (entry,) = listed.json()["items"]
        assert (entry["status"], entry["legal_entity"]) == ("rejected", "DE01")
        replay = f"/admin/transactions/{entry['id']}/replay"

        moved = await emea.post(replay, json={"body": payloads.order("US01", customers["US01"])})
        kept = await emea.get(f"/admin/transactions/{entry['id']}")
        corrected = await emea.post(replay, json={"body": body})

    assert moved.status_code == 403, moved.text
    assert moved.json()["code"] == "forbidden"
    assert "US01" in moved.json()["detail"]
    assert not gw.erps["cloud"].orders
    assert kept.status_code == 200, kept.text
    assert (kept.json()["status"], kept.json()["legal_entity"]) == ("rejected", "DE01")
    # A correction within its legal entities is replayed as before.
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["replay"]["status"] == 201, corrected.text


async def test_a_regional_operators_correction_naming_no_legal_entity_is_refused_as_anyones(
    gw: Gateway,
) -> None:
    """`de01` is no legal entity's code: the corrected body is refused by its schema, for an
    operator of some entities as for one of all (not a 403 saying it may not act for `de01`)."""
    async with gw.client() as api:
        created = await api.post("/v1/customers", json=payloads.customer("DE01"))
        body = payloads.order("DE01", created.json()["id"])
        unknown_sku = {**body, "lines": [{**body["lines"][0], "sku": UNKNOWN_SKU}]}
        rejected = await api.post("/v1/sales-orders", json=unknown_sku, headers=payloads.new_key())
        assert rejected.status_code == 422, rejected.text
    misspelt = {**body, "legal_entity": "de01"}
    answers = []
    for client in ("ops-emea", "ops-admin"):
        async with gw.client(client) as ops:
            listed = await ops.get(
                "/admin/transactions",
                params={"correlation_id": rejected.headers["x-correlation-id"]},
            )
            (entry,) = listed.json()["items"]
            replayed = await ops.post(
                f"/admin/transactions/{entry['id']}/replay", json={"body": misspelt}
            )
        answers.append((replayed.status_code, _replayed_code(replayed.json())))
    assert answers[0] == answers[1], answers
    assert answers[0][1] == "validation_failed", answers


def _replayed_code(answer: dict[str, Any]) -> object:
    """The problem code of a replay's answer: the replayed request's, or the replay's own."""
    replay = answer.get("replay")
    return replay["answer"]["code"] if isinstance(replay, dict) else answer.get("code")


async def test_a_regional_operator_starts_migrations_of_its_legal_entities_only(
    gw: Gateway,
) -> None:
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        other = await emea.post("/admin/migrations", json={"legal_entity": "US01", "to": "legacy"})
        own = await emea.post(
            "/admin/migrations", json={"legal_entity": "DE01", "to": "cloud", "dry_run": True}
        )
        by_admin = await ops.post(
            "/admin/migrations", json={"legal_entity": "US01", "to": "legacy", "dry_run": True}
        )
        assert own.status_code == 202, own.text
        assert (await emea.get(own.headers["location"])).status_code == 200
        hidden = await emea.get(by_admin.headers["location"])
    assert other.status_code == 403, other.text
    assert other.json()["code"] == "forbidden"
    assert "US01" in other.json()["detail"]
    assert by_admin.status_code == 202, by_admin.text
    # Another entity's job is as one that does not exist.
    assert hidden.status_code == 404, hidden.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/config/reload"),
        ("GET", "/admin/audit"),
        ("GET", "/admin/audit/verify"),
        ("GET", "/admin/events/subscriptions"),
    ],
)
async def test_an_operation_on_the_whole_gateway_needs_an_admin_client_of_every_entity(
    gw: Gateway, method: str, path: str
) -> None:
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        refused = await emea.request(method, path)
        allowed = await ops.request(method, path)
    assert refused.status_code == 403, refused.text
    problem: dict[str, Any] = refused.json()
    assert problem["code"] == "forbidden"
    assert "every legal entity" in problem["detail"]
    assert allowed.status_code == 200, allowed.text


async def test_a_regional_operator_sees_and_exports_its_legal_entities_only(
    gw: Gateway,
) -> None:
    async with gw.client() as api:
        for legal_entity in ("DE01", "US01"):
            created = await api.post("/v1/customers", json=payloads.customer(legal_entity))
            assert created.status_code == 201, created.text
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        exported = await emea.get("/admin/xref/export")
        other = await emea.get("/admin/xref/export", params={"legal_entity": "US01"})
        everything = await ops.get("/admin/xref/export")
        shadow = await emea.get("/admin/shadow/report")
        explained = await emea.post(
            "/admin/routes/explain", json={"operation": "customers.create", "legal_entity": "US01"}
        )
    assert exported.status_code == 200, exported.text
    assert "DE01" in exported.text and "US01" not in exported.text
    assert "US01" in everything.text
    assert other.status_code == 403, other.text
    assert shadow.status_code == 200
    assert {s["legal_entity"] for s in shadow.json()["scopes"]} <= EMEA
    assert explained.status_code == 403, explained.text


async def _overview_figures(gw: Gateway) -> None:
    """Orders in DE01 and US01, technical failures left open (one in DE01, two in US01) and
    an ERP retry: something of every part of the overview, of an EMEA entity and of another."""
    async with gw.client() as api:
        for legal_entity in ("DE01", "US01"):
            customer = await api.post("/v1/customers", json=payloads.customer(legal_entity))
            assert customer.status_code == 201, customer.text
            body = payloads.order(legal_entity, customer.json()["id"])
            placed = await api.post("/v1/sales-orders", json=body, headers=payloads.new_key())
            assert placed.status_code == 201, placed.text
        for legal_entity, backend, failures in (("DE01", "legacy", 1), ("US01", "cloud", 2)):
            gw.erps[backend].down = True
            for _ in range(failures):
                failed = await api.post("/v1/customers", json=payloads.customer(legal_entity))
                assert failed.status_code >= 500, failed.text
            gw.erps[backend].down = False
    # Counted as the runtime counts an adapter's retry: per backend, of no legal entity.
    retry_hooks("cloud", gw.runtime.store, None).observe("timeout")


async def test_a_regional_operators_overview_holds_its_legal_entities_only(
    gw: Gateway,
) -> None:
    await _overview_figures(gw)
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        regional = await emea.get("/admin/overview")
        everyone = (await ops.get("/admin/overview")).json()
    assert regional.status_code == 200, regional.text
    overview = regional.json()
    assert [row["legal_entity"] for row in overview["migration_map"]] == ["DE01", "FR01", "GB01"]
    assert "US01" in {row["legal_entity"] for row in everyone["migration_map"]}
    # Business figures of its entities only; ERP retries, counted per backend for the whole
    # gateway, are left out rather than shown with other entities' in them.
    figures = overview["figures"]
    assert set(figures) == {"orders", "order_acceptance", "customers_created"}
    for name in ("orders", "order_acceptance", "customers_created"):
        assert {row["legal_entity"] for row in figures[name]} <= EMEA, name
        assert "DE01" in {row["legal_entity"] for row in figures[name]}, name
        assert "US01" in {row["legal_entity"] for row in everyone["figures"][name]}, name
    assert everyone["figures"]["erp_retries"]
    # Open exceptions of its entities: DE01's one, not US01's two.
    assert overview["open_exceptions"] == {"lt_1h": 1, "1h_to_24h": 0, "gt_24h": 0}
    assert everyone["open_exceptions"] == {"lt_1h": 3, "1h_to_24h": 0, "gt_24h": 0}
    # The shared ERPs' breakers, as every admin client sees them: its entities' orders go there.
    assert [b["backend"] for b in overview["backends"]] == [
        b["backend"] for b in everyone["backends"]
    ]
    assert overview["config_version"] == everyone["config_version"]
    assert overview["instance"] == everyone["instance"]


def _shape(value: Any) -> Any:
    """A JSON answer's shape: objects' keys in order with their values' shapes, a list's
    items' distinct shapes, a scalar's type."""
    if isinstance(value, dict):
        return [(key, _shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        shapes: list[Any] = []
        for item in value:
            if _shape(item) not in shapes:
                shapes.append(_shape(item))
        return ["list", *shapes]
    return type(value).__name__


# The overview an admin client of every legal entity was answered before a regional operator
# was given one, as its shape: every entity's rows and figures, ERP retries included.
_COUNT = [("legal_entity", "str"), ("backend", "str"), ("count", "int")]
_FREEZE_FREE = [("freeze", "NoneType"), ("next_freeze", "NoneType")]
EVERY_ENTITY_OVERVIEW_SHAPE = [
    ("instance", "str"),
    ("config_version", "str"),
    ("at", "str"),
    (
        "migration_map",
        [
            "list",
            [
                ("legal_entity", "str"),
                ("name", "str"),
                ("region", "str"),
                ("backend", "str"),
                ("rule", "str"),
                ("next", "NoneType"),
                *_FREEZE_FREE,
            ],
        ],
    ),
    (
        "backends",
        [
            "list",
            [
                ("backend", "str"),
                ("kind", "str"),
                (
                    "breaker",
                    [
                        ("backend", "str"),
                        ("state", "str"),
                        ("enabled", "bool"),
                        ("failures", "int"),
                        ("threshold", "int"),
                        ("cool_down_s", "float"),
                        ("retry_in_s", "float"),
                        ("opened", "int"),
                    ],
                ),
            ],
        ],
    ),
    ("open_exceptions", [("lt_1h", "int"), ("1h_to_24h", "int"), ("gt_24h", "int")]),
    (
        "figures",
        [
            (
                "orders",
                [
                    "list",
                    [
                        ("legal_entity", "str"),
                        ("backend", "str"),
                        ("outcome", "str"),
                        ("count", "int"),
                    ],
                ],
            ),
            (
                "order_acceptance",
                ["list", [*_COUNT, ("mean_s", "float")]],
            ),
            ("customers_created", ["list", _COUNT]),
            ("erp_retries", ["list", [("backend", "str"), ("reason", "str"), ("count", "int")]]),
        ],
    ),
]


async def test_an_every_entity_admins_overview_is_as_it_was(gw: Gateway) -> None:
    await _overview_figures(gw)
    async with gw.client("ops-admin") as ops:
        answer = await ops.get("/admin/overview")
    assert answer.status_code == 200, answer.text
    overview = answer.json()
    assert _shape(overview) == EVERY_ENTITY_OVERVIEW_SHAPE
    configured = sorted(gw.runtime.routing.legal_entities)
    assert [row["legal_entity"] for row in overview["migration_map"]] == configured
    assert overview["open_exceptions"] == {"lt_1h": 3, "1h_to_24h": 0, "gt_24h": 0}
    # As the app has always written it: compact JSON, the keys in the order above.
    assert (
        answer.content == json.dumps(overview, ensure_ascii=False, separators=(",", ":")).encode()
    )


# Every admin route, by what it is about: a new one is added here with its decision.
ENTITY_ROUTES = {
    ("GET", "/admin/transactions"),
    ("GET", "/admin/transactions/{id}"),
    ("POST", "/admin/transactions/{id}/replay"),
    ("POST", "/admin/migrations"),
    ("GET", "/admin/migrations/{id}"),
    ("GET", "/admin/xref/export"),
    ("POST", "/admin/routes/explain"),
    ("GET", "/admin/shadow/report"),
    ("POST", "/admin/xref/import"),
    ("GET", "/admin/events/dead-letters"),
    ("POST", "/admin/events/dead-letters/{id}/replay"),
    ("GET", "/admin/overview"),
    ("GET", "/admin/backends"),  # shared ERPs' state, shown whole as in the overview
}
# The rest: the gateway as a whole.
EVERY_ENTITY_ROUTES = {
    ("POST", "/admin/config/reload"),
    ("GET", "/admin/config"),
    ("DELETE", "/admin/shadow/report"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/audit/verify"),
    ("GET", "/admin/events/subscriptions"),
    ("POST", "/admin/events/subscriptions/{id}/enable"),
}


async def test_every_admin_route_is_for_every_entitys_admins_or_narrowed_to_a_clients(
    gw: Gateway,
) -> None:
    mounted = {
        (method, route.path)
        for route in gw.app.routes
        if isinstance(route, Route) and route.path.startswith("/admin")
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert mounted == ENTITY_ROUTES | EVERY_ENTITY_ROUTES
    refused = set()
    async with gw.client("ops-emea") as emea:
        for method, path in sorted(mounted):
            answer = await emea.request(method, path.replace("{id}", "x"))
            if answer.status_code == 403 and "every legal entity" in answer.json()["detail"]:
                refused.add((method, path))
    assert refused == EVERY_ENTITY_ROUTES


async def test_a_regional_operator_imports_mappings_of_its_legal_entities_records_only(
    gw: Gateway,
) -> None:
    async with gw.client() as api:
        own = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        other = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
    header = "kind,gateway_id,source_backend,source_erp_id,target_backend,target_erp_id,"
    csv = (
        f"{header}target_document_number\n"
        f"customer,{own['id']},,,cloud,C-DE-1,\n"
        f"customer,{other['id']},,,legacy,C-US-1,\n"
    )
    async with gw.client("ops-emea") as emea:
        imported = await emea.post(
            "/admin/xref/import", content=csv.encode(), headers={"Content-Type": "text/csv"}
        )
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert report["bound"] == 1, report
    # Another entity's customer is reported as one the gateway does not know, on its line.
    assert report["errors"] == [{"line": 3, "message": f"no customer {other['id']} in the gateway"}]
    bound = await gw.runtime.store.get_xref(own["id"])
    assert bound is not None and bound.document_in("cloud") is not None
    untouched = await gw.runtime.store.get_xref(other["id"])
    assert untouched is not None and untouched.document_in("legacy") is None


async def _dead_letter(store: Store, legal_entity: str, subscription: str) -> str:
    """An event of an order of `legal_entity` whose delivery is dead-lettered: its id."""
    order, event_id, now = f"so_{uuid.uuid4().hex}", f"evt_{uuid.uuid4().hex}", time.time()
    body = json.dumps({"id": event_id, LEGAL_ENTITY_EXTENSION: legal_entity})
    new = NewEvent(event_id, order, body, (subscription,))
    retention = EventRetention()
    assert await store.events.commit(f"d:{order}", 0, DocumentState(1, {}), [new], now, retention)
    (delivery,) = [
        d for d in await store.events.claim_deliveries(now, 100, 30, "w") if d.event_id == event_id
    ]
    assert await store.events.dead_letter(delivery, "HTTP 500", now, retention)
    assert await store.events.release(subscription, delivery.lease or "")
    return delivery.id


async def test_a_regional_operator_lists_and_replays_its_legal_entities_dead_letters_only(
    gw: Gateway,
) -> None:
    hook = f"hook-{uuid.uuid4().hex[:8]}"
    own = await _dead_letter(gw.runtime.store, "DE01", hook)
    other = await _dead_letter(gw.runtime.store, "US01", hook)
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        listed = await emea.get("/admin/events/dead-letters", params={"subscription": hook})
        everyone = await ops.get("/admin/events/dead-letters", params={"subscription": hook})
        hidden = await emea.post(f"/admin/events/dead-letters/{other}/replay")
        replayed = await emea.post(f"/admin/events/dead-letters/{own}/replay")
        by_admin = await ops.post(f"/admin/events/dead-letters/{other}/replay")
    assert listed.status_code == 200, listed.text
    assert [d["id"] for d in listed.json()["items"]] == [own]
    assert {d["id"] for d in everyone.json()["items"]} == {own, other}
    # Another entity's dead letter is as one there is not, and stays dead (ops-admin's replay).
    assert hidden.status_code == 404, hidden.text
    assert hidden.json()["code"] == "not_found"
    assert replayed.status_code == 202, replayed.text
    assert by_admin.status_code == 202, by_admin.text


async def test_a_regional_operator_learns_no_subscription_id_from_the_dead_letters(
    gw: Gateway,
) -> None:
    """A regional operator may not list the subscriptions (403): the dead letters' filter
    answers it alike for a subscription that is configured and one that is not (an empty
    page), where a 404 for the one only told which ids exist. An operator of every entity,
    who may list them, keeps the 404."""
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        listing = await emea.get("/admin/events/subscriptions")
        configured = await emea.get(
            "/admin/events/dead-letters", params={"subscription": "crm-demo-hook"}
        )
        unknown = await emea.get("/admin/events/dead-letters", params={"subscription": "nope"})
        told = await ops.get("/admin/events/dead-letters", params={"subscription": "nope"})
    assert listing.status_code == 403, listing.text
    assert configured.status_code == 200, configured.text
    assert (unknown.status_code, unknown.json()) == (configured.status_code, configured.json())
    assert told.status_code == 404, told.text


async def test_a_regional_operator_reads_the_backends_its_overview_shows(gw: Gateway) -> None:
    async with gw.client("ops-emea") as emea, gw.client("ops-admin") as ops:
        regional = await emea.get("/admin/backends")
        every = await ops.get("/admin/backends")
        overview = await emea.get("/admin/overview")
    assert regional.status_code == 200, regional.text
    assert regional.json()["backends"] == every.json()["backends"]
    assert regional.json()["backends"] == overview.json()["backends"]
