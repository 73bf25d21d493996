"""Idempotency keys through the pipeline, on each store: claim, replay, refuse, reconcile."""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from gateway.domain.errors import GatewayError
from gateway.domain.ids import gateway_reference, new_gateway_id
from gateway.pipeline.admission import Admit
from gateway.pipeline.idempotency import parse_key, scoped_key
from gateway.store.base import Store, StoreUnavailable, XrefRecord
from tests.configs import ERP_TIMEOUT_S, write_config
from tests.conftest import Clock
from tests.e2e import payloads
from tests.fake_erp import UNKNOWN_SKU
from tests.harness import Gateway, copy_held_elsewhere, in_process_gateway
from tests.pipeline.test_versioning import reload, v2_order, write_versions

SECOND_WRITER = """
  - id: crm-second
    scopes: [customers:write, sales_orders:write, sales_orders:read]
    legal_entities: "*"
    rate_limit: standard
"""


async def _customer(api: httpx.AsyncClient, legal_entity: str = "US01") -> dict[str, Any]:
    response = await api.post("/v1/customers", json=payloads.customer(legal_entity))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _orders(gw: Gateway) -> int:
    return sum(len(erp.orders) for erp in gw.erps.values())


async def test_a_sales_order_without_a_key_is_400_and_not_forwarded(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = await _customer(api)
        response = await api.post("/v1/sales-orders", json=payloads.order("US01", customer["id"]))
        assert response.status_code == 400
        assert response.json()["code"] == "idempotency_key_missing"
        assert _orders(gw) == 0


async def test_a_retry_replays_the_stored_answer_byte_for_byte(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = await _customer(api)
        body = payloads.order("US01", customer["id"])
        first = await api.post("/v1/sales-orders", json=body, headers={"Idempotency-Key": "k-1"})
        again = await api.post(
            "/v1/sales-orders",
            json=body,
            headers={"Idempotency-Key": '"k-1"', "X-Correlation-ID": "retry-corr"},
        )
        assert first.status_code == again.status_code == 201
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["location"] == first.headers["location"]
        assert again.headers["x-correlation-id"] == "retry-corr"
        assert "idempotent-replayed" not in first.headers
        assert _orders(gw) == 1


async def test_an_erp_refusal_is_replayed_byte_for_byte_and_the_erp_is_asked_once(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = await _customer(api)
        body = payloads.order(
            "US01",
            customer["id"],
            lines=[{"sku": UNKNOWN_SKU, "quantity": 1, "unit_price": "1.00"}],
        )
        headers = {"Idempotency-Key": "k-refused"}
        first = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert first.status_code == 422, first.text
        assert first.json()["code"] == "unknown_sku"
        again = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert again.status_code == 422
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        assert gw.erps["cloud"].calls.count("create_sales_order") == 1


async def test_a_key_whose_reference_the_erp_holds_for_another_request_is_422_reused(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = await _customer(api)
        # Another request under this client's key made a document the ERP still holds (the
        # gateway forgot the key after its retention): the reference is taken.
        gw.erps["cloud"].taken_references.add(gateway_reference("crm-demo", "k-old", "unused"))
        response = await api.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer["id"]),
            headers={"Idempotency-Key": "k-old"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "idempotency_key_reused"
        assert not gw.erps["cloud"].orders


async def test_the_same_key_with_another_body_is_422(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = await _customer(api)
        body = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "k-2"}
        assert (await api.post("/v1/sales-orders", json=body, headers=headers)).status_code == 201
        other = {**body, "external_ref": "SOMETHING-ELSE"}
        reused = await api.post("/v1/sales-orders", json=other, headers=headers)
        assert reused.status_code == 422
        assert reused.json()["code"] == "idempotency_key_reused"
        assert _orders(gw) == 1


async def test_the_same_key_from_another_client_is_an_independent_request(
    store: Store, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, clients=SECOND_WRITER)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await _customer(api)
        body = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "shared-key"}
        first = await api.post("/v1/sales-orders", json=body, headers=headers)
        async with gw.client("crm-second") as second:
            other = await second.post("/v1/sales-orders", json=body, headers=headers)
        assert first.status_code == other.status_code == 201
        assert "idempotent-replayed" not in other.headers
        assert other.json()["id"] != first.json()["id"]
        assert _orders(gw) == 2


COLON_CLIENTS = """
  - id: crm
    scopes: [customers:write, sales_orders:write, sales_orders:read]
    legal_entities: "*"
    rate_limit: standard
  - id: "crm:eu"
    scopes: [customers:write, sales_orders:write, sales_orders:read]
    legal_entities: "*"
    rate_limit: standard
"""


async def test_a_client_id_and_key_split_differently_are_two_requests(
    store: Store, tmp_path: Path
) -> None:
    # Client crm:eu with key k1, and client crm with key eu:k1: the same text joined by ":".
    config_dir = write_config(tmp_path, clients=COLON_CLIENTS)
    async with in_process_gateway(store, config_dir) as gw:
        async with gw.client("crm:eu") as eu, gw.client("crm") as crm:
            customer = await _customer(eu)
            body = payloads.order("US01", customer["id"])
            first = await eu.post("/v1/sales-orders", json=body, headers={"Idempotency-Key": "k1"})
            other = await crm.post(
                "/v1/sales-orders", json=body, headers={"Idempotency-Key": "eu:k1"}
            )
        assert first.status_code == other.status_code == 201
        assert "idempotent-replayed" not in other.headers
        assert other.json()["id"] != first.json()["id"]
        assert _orders(gw) == 2


def test_keys_are_named_by_client_and_key_as_before_unless_the_client_id_needs_escaping() -> None:
    assert scoped_key("crm-demo", "k:1") == "crm-demo:k:1"  # the names earlier versions used
    assert scoped_key("crm:eu", "k1") == "crm%3Aeu:k1"
    assert scoped_key("crm", "eu:k1") == "crm:eu:k1"
    assert scoped_key("crm%3Aeu", "k1") == "crm%253Aeu:k1"


async def test_concurrent_identical_creates_make_exactly_one_order(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = await _customer(api)
        gw.erps["cloud"].delay_s = 0.05
        body = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "k-burst"}
        answers = await asyncio.gather(
            *(api.post("/v1/sales-orders", json=body, headers=headers) for _ in range(50))
        )
        assert _orders(gw) == 1
        created = [a for a in answers if a.status_code == 201]
        assert {a.status_code for a in answers} <= {201, 409}
        assert len({a.content for a in created}) == 1
        assert (
            all(a.headers.get("idempotent-replayed") == "true" for a in created[1:])
            or len([a for a in created if "idempotent-replayed" not in a.headers]) == 1
        )
        conflicts = [a for a in answers if a.status_code == 409]
        # A request still runs under the key: it will be done in a moment.
        assert {a.headers["retry-after"] for a in conflicts} <= {"1"}


async def test_failures_before_forwarding_are_not_stored(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        bad = payloads.order("US01", "cus_doesnotexist")
        headers = {"Idempotency-Key": "k-fix-me"}
        first = await api.post("/v1/sales-orders", json=bad, headers=headers)
        assert first.status_code == 422
        assert first.json()["code"] == "customer_not_found"
        customer = await _customer(api)
        fixed = {**bad, "customer_id": customer["id"]}
        # The body changed, so this is a new fingerprint: not stored means not "reused".
        second = await api.post("/v1/sales-orders", json=fixed, headers=headers)
        assert second.status_code == 201, second.text
        assert _orders(gw) == 1


# Short ERP timeouts (tests/configs.py) and grace: the commit window after an ambiguous failure
# is ERP_TIMEOUT_S + 0.1 s.
SHORT_GRACE = """
lease_s: 30
ambiguous_grace_s: 0.1
operations: {sales_orders.create: required, sales_orders.cancel: required}
"""
COMMIT_WINDOW_S = ERP_TIMEOUT_S + 0.1
LEASE_S = 0.5
SHORT_LEASE = f"""
lease_s: {LEASE_S}
ambiguous_grace_s: 0.1
operations: {{sales_orders.create: required, sales_orders.cancel: required}}
"""
SHORT_DEADLINE_S = 0.5  # a request timeout for tests that wait out a claim's whole lease


async def test_an_ambiguous_timeout_is_reconciled_after_the_commit_window_with_one_order(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, idempotency=SHORT_GRACE)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await _customer(api)
        erp = gw.erps["cloud"]
        erp.fail_after_commit = True
        body = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "k-ambiguous"}
        first = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert first.status_code == 504
        assert first.json()["retryable"] is True
        assert len(erp.orders) == 1  # committed, though the gateway could not know
        erp.fail_after_commit = False
        too_soon = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert too_soon.status_code == 409  # the ERP may still be committing
        assert too_soon.headers["retry-after"]
        await clock.advance(COMMIT_WINDOW_S + 0.1)
        retry = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert retry.status_code == 201, retry.text
        assert len(erp.orders) == 1
        assert "find_sales_order" in erp.calls
        assert retry.json()["erp_reference"] == next(iter(erp.orders.values())).document_number
        replay = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert replay.content == retry.content


LONG_GRACE_S = 5.0
LONG_GRACE = f"""
lease_s: 30
ambiguous_grace_s: {LONG_GRACE_S}
operations: {{sales_orders.create: required, sales_orders.cancel: required}}
"""


async def test_a_key_held_after_an_ambiguous_timeout_says_how_long_the_hold_lasts(
    store: Store, tmp_path: Path
) -> None:
    # The key is held for the backend's timeout_s plus the grace, with no request running
    # under it: a retry told "1 second" would be refused again and again meanwhile.
    config_dir = write_config(tmp_path, idempotency=LONG_GRACE)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await _customer(api)
        gw.erps["cloud"].fail_after_commit = True
        body = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "k-held"}
        assert (await api.post("/v1/sales-orders", json=body, headers=headers)).status_code == 504
        too_soon = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert too_soon.status_code == 409
        window = ERP_TIMEOUT_S + LONG_GRACE_S
        # What is left of the hold, in whole seconds up: a moment less than the window.
        assert window - 1 <= int(too_soon.headers["retry-after"]) <= math.ceil(window)
        assert "may still be committing" in too_soon.json()["detail"]


async def test_an_erp_that_commits_after_the_timeout_is_not_sent_the_order_again(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, idempotency=SHORT_GRACE)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await _customer(api, "DE01")
        erp = gw.erps["legacy"]
        erp.commit_late = True
        body = payloads.order("DE01", customer["id"])
        headers = {"Idempotency-Key": "k-late"}
        assert (await api.post("/v1/sales-orders", json=body, headers=headers)).status_code == 504
        erp.commit_late = False
        # The CRM retries at once, while the ERP is still working on the first request.
        assert (await api.post("/v1/sales-orders", json=body, headers=headers)).status_code == 409
        erp.commit_pending()
        await clock.advance(COMMIT_WINDOW_S + 0.1)
        retry = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert retry.status_code == 201, retry.text
        assert len(erp.orders) == 1


async def test_a_request_cancelled_once_the_erp_has_it_holds_its_key_for_the_commit_window(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = await _customer(api, "DE01")
        erp = gw.erps["legacy"]
        create = erp.create_sales_order
        received = asyncio.Event()

        async def commits_anyway(*args: Any, **kwargs: Any) -> Any:
            # The ERP received the POST and commits it whether the gateway waits or not.
            received.set()
            return await asyncio.shield(asyncio.ensure_future(create(*args, **kwargs)))

        erp.create_sales_order = commits_anyway  # type: ignore[method-assign]
        erp.delay_s = 0.2
        body = payloads.order("DE01", customer["id"])
        headers = {"Idempotency-Key": "k-cancelled"}
        first = asyncio.ensure_future(api.post("/v1/sales-orders", json=body, headers=headers))
        await received.wait()
        first.cancel()  # as at the end of a shutdown's drain
        with contextlib.suppress(asyncio.CancelledError):
            await first
        retry = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert retry.status_code == 409  # still in progress: not searched and sent again
        await asyncio.sleep(0.3)  # the ERP commits the first
        assert len(erp.orders) == 1


async def test_a_retry_after_a_cutover_goes_to_the_original_erp(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, idempotency=SHORT_GRACE)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await _customer(api, "DE01")
        legacy = gw.erps["legacy"]
        legacy.fail_after_commit = True
        body = payloads.order("DE01", customer["id"])
        headers = {"Idempotency-Key": "k-cutover"}
        assert (await api.post("/v1/sales-orders", json=body, headers=headers)).status_code == 504
        legacy.fail_after_commit = False
        # Wave: DE01 moves to the cloud ERP between the request and its retry.
        gw.serve(_with_de01_on_cloud(gw))
        await clock.advance(COMMIT_WINDOW_S + 0.1)
        retry = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert retry.status_code == 201, retry.text
        assert len(legacy.orders) == 1
        assert not gw.erps["cloud"].orders


class _FirstBind:
    """The store, except that the first settle binding a document fails: Redis gone
    (`unavailable`), or the document found bound to another gateway id (`taken`)."""

    def __init__(self, store: Store, how: str) -> None:
        self._store = store
        self._how = how
        self.taken_by: str | None = None
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def settle(self, *args: Any, bind: XrefRecord | None = None, **kwargs: Any) -> Any:
        if bind is not None and not self.failed:
            self.failed = True
            if self._how == "unavailable":
                raise StoreUnavailable()
            other = replace(bind, gateway_id=new_gateway_id(bind.kind))
            await self._store.put_xref(other)
            self.taken_by = other.gateway_id
        return await self._store.settle(*args, bind=bind, **kwargs)


async def _first_order(
    api: httpx.AsyncClient, key: str
) -> tuple[dict[str, Any], dict[str, str], httpx.Response]:
    """A US01 order's body and headers under `key`, and the answer to its first POST."""
    customer = await _customer(api)
    body = payloads.order("US01", customer["id"])
    headers = {"Idempotency-Key": key}
    return body, headers, await api.post("/v1/sales-orders", json=body, headers=headers)


async def test_a_create_whose_id_cannot_be_bound_is_503_and_its_retry_has_the_order(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    # The new order's id is bound as the request settles: a client told 201 with an id the
    # store never bound could not read its order. So not 201, but 503; the retry reconciles.
    config_dir = write_config(tmp_path, idempotency=SHORT_LEASE)
    failing = _FirstBind(store, "unavailable")
    async with (
        in_process_gateway(cast(Store, failing), config_dir) as gw,
        gw.client() as api,
    ):
        gw.serve(replace(gw.app.state.serving.runtime, request_timeout_s=SHORT_DEADLINE_S))
        body, headers, first = await _first_order(api, "k-unbound")
        assert failing.failed
        assert first.status_code == 503, first.text
        assert first.json()["retryable"] is True
        erp = gw.erps["cloud"]
        assert len(erp.orders) == 1
        # The unsettled claim runs out with its lease: the request's deadline and the commit
        # window after it.
        await clock.advance(max(LEASE_S, SHORT_DEADLINE_S + COMMIT_WINDOW_S) + 0.1)
        retry = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert retry.status_code == 201, retry.text
        assert len(erp.orders) == 1
        assert "find_sales_order" in erp.calls
        read = await api.get(f"/v1/sales-orders/{retry.json()['id']}")
        assert read.status_code == 200, read.text
        assert read.json()["erp_reference"] == retry.json()["erp_reference"]


async def test_a_created_document_bound_already_is_answered_with_the_id_it_has(
    store: Store,
) -> None:
    # As when NetSuite hands back the document an earlier attempt created and bound.
    binding = _FirstBind(store, "taken")
    async with in_process_gateway(cast(Store, binding)) as gw, gw.client() as api:
        body, headers, first = await _first_order(api, "k-bound-already")
        assert binding.failed
        assert first.status_code == 201, first.text
        assert first.json()["id"] == binding.taken_by
        erp = gw.erps["cloud"]
        assert len(erp.orders) == 1
        assert "find_sales_order" in erp.calls  # answered again, reconciling
        replay = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert replay.content == first.content
        read = await api.get(f"/v1/sales-orders/{binding.taken_by}")
        assert read.status_code == 200, read.text


def _with_de01_on_cloud(gw: Gateway) -> Any:
    from gateway.config.routes import RoutesConfig
    from gateway.routing.rules import compile_routes

    routes = gw.runtime.config.routes.model_dump()
    routes["rules"].insert(
        0, {"id": "de01-wave", "match": {"legal_entities": ["DE01"]}, "backend": "cloud"}
    )
    table = compile_routes(RoutesConfig.model_validate(routes))
    return replace(gw.runtime, routing=table)


@pytest.mark.parametrize(
    ("header", "key"),
    [("abc", "abc"), ('"abc"', "abc"), ('"a\\"b"', 'a"b'), ("x" * 255, "x" * 255)],
)
def test_keys_are_accepted_quoted_or_bare(header: str, key: str) -> None:
    assert parse_key([header]) == key


@pytest.mark.parametrize(
    "headers", [["a", "b"], [""], ["x" * 256], ["caf\u00e9"], ['"unterminated']]
)
def test_malformed_keys_are_400(headers: list[str]) -> None:
    with pytest.raises(GatewayError) as info:
        parse_key(headers)
    assert info.value.status == 400


def test_a_quoted_key_with_structured_field_parameters_is_accepted() -> None:
    """STANDARDS.md: the field is a Structured Field Item whose value is an sf-string. An
    RFC 8941 Item may carry parameters (`"k";p=1`): read past, the draft defining none."""
    assert parse_key(['"k-params";p=1']) == "k-params"
    assert parse_key(['"k;x";a;b=?1;c="q\\"r";d=1.5;e=tok/en']) == "k;x"
    for invalid in ('"k";P=1', '"k";p=', '"k" ;p=1', '"k";p=1,"j"'):
        with pytest.raises(GatewayError):
            parse_key([invalid])


async def test_the_published_expiry_of_outcomes_is_the_configured_retention(
    store: Store, tmp_path: Path
) -> None:
    """STANDARDS.md: publish the expiry (24 h by default, configurable): the API reference says
    the retention the gateway is configured with, not the default."""
    one_hour = """
retention_s: 3600
operations: {sales_orders.create: required, sales_orders.cancel: required}
"""
    config_dir = write_config(tmp_path, idempotency=one_hour)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        document = (await api.get("/openapi/v1.json")).json()
    described = document["components"]["parameters"]["IdempotencyKey"]["description"]
    assert "outcomes kept 1 h after they are final" in described


CLOUD_SLOTS = "erp:cloud:in-flight"  # the cloud ERP's in-flight slots (`erp_slot`)


def _in_flight(tmp_path: Path, slots: int) -> Path:
    """The config with each ERP's budget at `slots` requests in flight (and rates to spare)."""
    budget = f"""
tiers:
  standard: {{rate_per_s: 1000, burst: 2000}}
backends:
  legacy: {{max_rps: 5000, max_in_flight: {slots}}}
  cloud: {{max_rps: 5000, max_in_flight: {slots}}}
"""
    return write_config(tmp_path, rate_limits=budget)


async def test_the_request_that_claims_its_key_is_not_shed_by_its_own_duplicates(
    store: Store, tmp_path: Path
) -> None:
    """A burst of the same keyed create: the duplicates are refused (409, in progress) in the
    round trip that takes their ERP slots, and give the slots back with the next one. The one
    request that claimed the key may find the slots full meanwhile: it tries once more before
    it is shed, or the burst would end with refusals only and no order."""
    async with (
        in_process_gateway(store, _in_flight(tmp_path, 2)) as gw,
        gw.client() as api,
    ):
        customer = await _customer(api)
        await gw.runtime.releases.flush()  # the customer's create gave its slot back
        held = ["dup-1", "dup-2"]  # the duplicates' slots, given back a moment later
        for token in held:
            assert await store.acquire_slot(CLOUD_SLOTS, 2, token, 30.0)

        async def give_back() -> None:
            await asyncio.sleep(0.002)
            for token in held:
                await store.release_slot(CLOUD_SLOTS, token)

        returned = asyncio.create_task(give_back())
        answer = await api.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer["id"]),
            headers={"Idempotency-Key": "k-burst"},
        )
        await returned
        assert answer.status_code == 201, answer.text
        assert _orders(gw) == 1


async def test_a_request_cancelled_while_it_retries_the_slot_gives_its_key_back(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled (a shutdown) during that second try, the request gives its claim back: a
    retry under the key runs at once, not 409 until the claim's lease runs out."""
    async with (
        in_process_gateway(store, _in_flight(tmp_path, 1)) as gw,
        gw.client() as api,
    ):
        customer = await _customer(api)
        await gw.runtime.releases.flush()
        assert await store.acquire_slot(CLOUD_SLOTS, 1, "other", 30.0)

        async def cancelled(self: Admit, slot: Any) -> bool:
            raise asyncio.CancelledError

        monkeypatch.setattr(Admit, "_slot_freed", cancelled)
        body = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "k-cancelled"}
        with pytest.raises(asyncio.CancelledError):
            await api.post("/v1/sales-orders", json=body, headers=headers)
        monkeypatch.undo()
        await store.release_slot(CLOUD_SLOTS, "other")
        retried = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert retried.status_code == 201, retried.text
        assert _orders(gw) == 1


# Longer than the backends' timeout_s (ERP_TIMEOUT_S, tests/configs.py), as `gateway check`
# asks, and shorter than a request's deadline.
LEASE_PAST_TIMEOUT_S = ERP_TIMEOUT_S + 0.5
LEASE_PAST_TIMEOUT = f"""
lease_s: {LEASE_PAST_TIMEOUT_S}
operations: {{sales_orders.create: required, sales_orders.cancel: required}}
"""


async def test_a_retry_while_the_first_attempt_is_still_within_its_deadline_is_409(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    """An order first waits for another process's copy of its customer to the order's ERP,
    longer than `lease_s`, then submits. Its key stays claimed while the request is within its
    deadline: a retry meanwhile is 409, not a search that finds nothing yet and a second order."""
    config_dir = write_config(tmp_path, idempotency=LEASE_PAST_TIMEOUT)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await _customer(api, "DE01")
        gw.serve(_with_de01_on_cloud(gw))
        watched = await copy_held_elsewhere(gw, store, customer["id"])
        cloud = gw.erps["cloud"]
        create = cloud.create_sales_order
        in_erp, answered = asyncio.Event(), asyncio.Event()

        async def first_one_slow(*args: Any, **kwargs: Any) -> Any:
            if not in_erp.is_set():  # the first attempt's create, still in the ERP
                in_erp.set()
                await answered.wait()
            return await create(*args, **kwargs)

        cloud.create_sales_order = first_one_slow  # type: ignore[method-assign]
        body = payloads.order("DE01", customer["id"])
        headers = {"Idempotency-Key": "k-outlived"}
        first = asyncio.ensure_future(api.post("/v1/sales-orders", json=body, headers=headers))
        await watched.waiting.wait()  # admitted, key claimed, waiting for the copy
        await clock.advance(LEASE_PAST_TIMEOUT_S + 0.1)  # the other copy takes its time
        await watched.other_copy_done()
        await in_erp.wait()
        retry = await api.post("/v1/sales-orders", json=body, headers=headers)
        answered.set()
        assert (await first).status_code == 201
        assert len(cloud.orders) == 1, [o.document_number for o in cloud.orders.values()]
        assert retry.status_code == 409, retry.text


async def test_a_create_answered_again_for_its_bound_document_keeps_its_erp_slot(
    store: Store, tmp_path: Path
) -> None:
    """The create's document turns out bound already (an earlier attempt's) and the request is
    answered again, reconciling: that pass searches the ERP, under the slot of the ERP's budget
    the request took at admission, not after giving it back to another request."""
    binding = _FirstBind(store, "taken")
    async with (
        in_process_gateway(cast(Store, binding), _in_flight(tmp_path, 1)) as gw,
        gw.client() as api,
    ):
        cloud = gw.erps["cloud"]
        find = cloud.find_sales_order_by_gateway_ref
        others_admitted: list[bool] = []

        async def find_as_another_comes(gateway_ref: str, ctx: Any) -> Any:
            # Another request is admitted to the ERP while this call is in it.
            token = f"another-{len(others_admitted)}"
            others_admitted.append(await store.acquire_slot(CLOUD_SLOTS, 1, token, 30.0))
            await store.release_slot(CLOUD_SLOTS, token)
            return await find(gateway_ref, ctx)

        cloud.find_sales_order_by_gateway_ref = find_as_another_comes  # type: ignore[method-assign]
        *_, first = await _first_order(api, "k-bound-budget")
        assert binding.failed
        assert first.status_code == 201, first.text
        assert others_admitted == [False]  # the budget's one slot was still this request's
        await gw.runtime.releases.flush()
        assert await store.acquire_slot(CLOUD_SLOTS, 1, "after", 30.0)  # and is given back


async def test_a_retry_after_a_cutover_reconciles_within_the_original_erps_budget(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    """The retry goes back to the ERP the first attempt reached, not to the one the routes name
    now: its calls there take that ERP's budget, which another request holds whole, so it is
    shed (503) rather than sent past the budget."""
    budget = """
tiers:
  standard: {rate_per_s: 1000, burst: 2000}
backends:
  legacy: {max_rps: 5000, max_in_flight: 1}
  cloud: {max_rps: 5000, max_in_flight: 8}
"""
    config_dir = write_config(tmp_path, rate_limits=budget, idempotency=SHORT_GRACE)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await _customer(api, "DE01")
        legacy = gw.erps["legacy"]
        legacy.fail_after_commit = True
        body = payloads.order("DE01", customer["id"])
        headers = {"Idempotency-Key": "k-cutover-budget"}
        assert (await api.post("/v1/sales-orders", json=body, headers=headers)).status_code == 504
        legacy.fail_after_commit = False
        gw.serve(_with_de01_on_cloud(gw))
        await clock.advance(COMMIT_WINDOW_S + 0.1)
        await gw.runtime.releases.flush()
        assert await store.acquire_slot("erp:legacy:in-flight", 1, "another-request", 30.0)
        calls = len(legacy.calls)
        retry = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert legacy.calls[calls:] == []
        assert retry.status_code == 503, retry.text
        assert retry.json()["code"] == "erp_unavailable"
        await store.release_slot("erp:legacy:in-flight", "another-request")
        again = await api.post("/v1/sales-orders", json=body, headers=headers)
        assert again.status_code == 201, again.text
        assert len(legacy.orders) == 1
        assert not gw.erps["cloud"].orders


# -- one request, sent on another version's path: a CRM moving from v1 to v2 ---------------

V1_SUNSET = "versions:\n  v1: {deprecated: 2020-01-01, sunset: 2021-01-01}\n"


@pytest.mark.parametrize("v1_sunset", [False, True], ids=["v1 served", "v1 sunset meanwhile"])
async def test_a_v1_create_of_unknown_outcome_retried_on_v2_reconciles_with_one_order(
    store: Store, clock: Clock, tmp_path: Path, v1_sunset: bool
) -> None:
    config_dir = write_config(tmp_path, idempotency=SHORT_GRACE)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await _customer(api)
        erp = gw.erps["cloud"]
        erp.fail_after_commit = True
        order = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "k-moved-to-v2"}
        first = await api.post("/v1/sales-orders", json=order, headers=headers)
        assert first.status_code == 504
        assert len(erp.orders) == 1  # committed, though the gateway could not know
        erp.fail_after_commit = False
        if v1_sunset:
            write_versions(config_dir, V1_SUNSET)
            reload(gw, store, config_dir)
            gone = await api.post("/v1/sales-orders", json=order, headers=headers)
            assert gone.status_code == 410, gone.text
        too_soon = await api.post("/v2/sales-orders", json=v2_order(order), headers=headers)
        assert too_soon.status_code == 409, too_soon.text  # the same request, still held
        await clock.advance(COMMIT_WINDOW_S + 0.1)
        retry = await api.post("/v2/sales-orders", json=v2_order(order), headers=headers)
        assert retry.status_code == 201, retry.text
        assert len(erp.orders) == 1
        assert "find_sales_order" in erp.calls
        created = retry.json()
        assert created["erp_reference"] == next(iter(erp.orders.values())).document_number
        assert retry.headers["API-Version"] == "v2" and "items" in created
        assert retry.headers["Location"] == f"/v2/sales-orders/{created['id']}"


@pytest.mark.parametrize(
    ("first_path", "retry_path"),
    [
        ("/v1/sales-orders", "/v2/sales-orders"),
        ("/sales-orders", "/v2/sales-orders"),  # the client's pin, v1, then its move to v2
        ("/v1/sales-orders", "/sales-orders"),  # its pin moved to v2 meanwhile
    ],
)
async def test_a_completed_v1_create_retried_on_v2_is_replayed_in_v2(
    store: Store, tmp_path: Path, first_path: str, retry_path: str
) -> None:
    config_dir = write_config(tmp_path, api_versions="default: v1\n")
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await _customer(api)
        order = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "k-replayed-in-v2"}
        first = await api.post(first_path, json=order, headers=headers)
        assert first.status_code == 201, first.text
        if retry_path == "/sales-orders":
            write_versions(config_dir, "default: v2\n")
            reload(gw, store, config_dir)
        again = await api.post(retry_path, json=v2_order(order), headers=headers)
        assert again.status_code == 201, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.headers["API-Version"] == "v2" and "items" in again.json()
        assert again.headers["Location"] == f"/v2/sales-orders/{first.json()['id']}"
        assert again.json() == (await api.get(again.headers["Location"])).json()
        assert _orders(gw) == 1


async def test_a_v2_retry_of_a_v1_create_with_another_body_is_422(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = await _customer(api)
        order = payloads.order("US01", customer["id"])
        headers = {"Idempotency-Key": "k-v2-other"}
        assert (await api.post("/v1/sales-orders", json=order, headers=headers)).status_code == 201
        other = v2_order({**order, "external_ref": "SOMETHING-ELSE"})
        reused = await api.post("/v2/sales-orders", json=other, headers=headers)
        assert reused.status_code == 422, reused.text
        assert reused.json()["code"] == "idempotency_key_reused"
        assert _orders(gw) == 1


async def test_an_operators_replay_of_a_v1_failure_runs_after_v1_was_sunset(
    store: Store, tmp_path: Path
) -> None:
    """v1's sunset is a refusal of the clients still calling it; the journal's v1 transactions
    are the gateway's own to finish, as they were sent."""
    config_dir = write_config(tmp_path)
    async with (
        in_process_gateway(store, config_dir) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        customer = await _customer(api)
        erp = gw.erps["cloud"]
        erp.unavailable.add("create_sales_order")
        order = payloads.order("US01", customer["id"])
        failed = await api.post(
            "/v1/sales-orders", json=order, headers={"Idempotency-Key": "k-before-sunset"}
        )
        assert failed.status_code == 503, failed.text
        listed = await ops.get(
            "/admin/transactions", params={"correlation_id": failed.headers["x-correlation-id"]}
        )
        (entry,) = listed.json()["items"]
        erp.unavailable.discard("create_sales_order")
        write_versions(config_dir, V1_SUNSET)
        reload(gw, store, config_dir)
        assert (await api.post("/v1/sales-orders", json=order)).status_code == 410

        replayed = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={})
        assert replayed.json()["replay"]["status"] == 201, replayed.text
        assert replayed.json()["transaction"]["status"] == "accepted"
        assert _orders(gw) == 1
