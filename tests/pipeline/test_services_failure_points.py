"""The domain services at their failure points: a customer copied on demand whose create's
outcome is unknown, or whose copy another process holds; lookups by the CRM's reference within
the ERP's budget; a quote that creates nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.adapters.base import CallContext, ErpCustomer, References
from gateway.config.routes import RoutesConfig
from gateway.domain.errors import Code, ErpFailure, FieldError, business
from gateway.domain.models import CustomerCreate
from gateway.routing.rules import compile_routes
from gateway.store.base import Store
from tests.configs import ERP_TIMEOUT_S, write_config
from tests.conftest import Clock
from tests.e2e import payloads
from tests.harness import Gateway, copy_held_elsewhere, in_process_gateway


def _move(gw: Gateway, legal_entity: str, backend: str) -> None:
    routes = gw.runtime.config.routes.model_dump(by_alias=True)
    routes["rules"].insert(
        0, {"id": "wave", "match": {"legal_entities": [legal_entity]}, "backend": backend}
    )
    table = compile_routes(RoutesConfig.model_validate(routes))
    gw.serve(replace(gw.runtime, routing=table))


def _move_de01_to_cloud(gw: Gateway) -> None:
    _move(gw, "DE01", "cloud")


async def test_a_copy_whose_create_timed_out_is_not_made_again_by_the_next_order(
    store: Store,
) -> None:
    # US01 rolled back to the legacy (SAP-like) ERP, which, unlike NetSuite, does not refuse a
    # second business partner under the same reference. The first order's copy of its
    # customer to the legacy ERP times out after sending: the ERP is still committing it. A
    # second order (another CRM order, another key) must not search the target, find nothing
    # yet and create the customer a second time: the copy's lock is held for the commit
    # window, as the order's own key is.
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        _move(gw, "US01", "legacy")
        target = gw.erps["legacy"]
        real_create = target.create_customer
        late: list[ErpCustomer] = []

        async def create_late_once(
            request: CustomerCreate, refs: References, ctx: CallContext
        ) -> ErpCustomer:
            created = await real_create(request, refs, ctx)
            if not late:  # the first one: sent, answer lost, the ERP commits it later
                late.append(target.customers.pop(created.erp_id))
                raise ErpFailure(Code.ERP_TIMEOUT, "timed out; still at it", ambiguous=True)
            return created

        target.create_customer = create_late_once  # type: ignore[method-assign]

        first = await api.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert first.status_code == 504, first.text
        # A short request timeout: the second order waits for the held copy and is answered
        # 503 by its deadline (or, once the hold is over, finds the first copy's customer).
        gw.serve(replace(gw.app.state.serving.runtime, request_timeout_s=2.0))

        second = asyncio.create_task(
            api.post(
                "/v1/sales-orders",
                json=payloads.order("US01", customer["id"]),
                headers=payloads.new_key(),
                timeout=60,
            )
        )
        await asyncio.sleep(0.5)
        for pending in late:  # the ERP finishes the first copy
            target.customers[pending.erp_id] = pending
        await asyncio.wait_for(second, 60)

        copies = [c for c in target.customers.values() if c.legal_name == customer["name"]]
        assert len(copies) == 1, [(c.erp_id, c.gateway_ref) for c in copies]


async def test_an_order_waiting_for_another_copy_of_its_customer_answers_by_its_deadline(
    store: Store,
) -> None:
    # A gateway process died while copying the customer (its lock lives on for its lease,
    # timeout_s legacy + 2 x timeout_s cloud + 1 = 16 s with the shipped backends). An order
    # for that customer must still be answered by its own deadline (a retryable 503/504),
    # not held on to for as long as the dead copy's lease, past the request timeout.
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        _move_de01_to_cloud(gw)
        gw.serve(replace(gw.app.state.serving.runtime, request_timeout_s=1.0))
        lease_s = 5 + 2 * 5 + 1
        assert await store.acquire_slot(f"copy:{customer['id']}:cloud", 1, "dead", lease_s)

        order = api.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", customer["id"]),
            headers=payloads.new_key(),
            timeout=60,
        )
        try:
            answer = await asyncio.wait_for(order, 4.0)  # the deadline is 1 s
        except TimeoutError:
            raise AssertionError("no answer 4 s into a request whose deadline was 1 s") from None
        assert answer.status_code in (503, 504), answer.text
        assert answer.json()["retryable"] is True


async def test_a_lookup_by_crm_reference_keeps_to_the_erps_budget(
    store: Store, tmp_path: Path
) -> None:
    # The legacy ERP's budget (policies/rate-limits.yaml `backends:`) is spent: a read of a
    # customer by id is shed (503 erp_unavailable, nothing sent to the ERP). A lookup by
    # external_ref reads the same customer from the same ERP (up to 20 records per lookup):
    # each read takes its share of that budget, so none reaches the ERP either.
    budget = """
tiers:
  standard: {rate_per_s: 1000, burst: 2000}
backends:
  legacy: {max_rps: 0.001, max_in_flight: 8}
  cloud: {max_rps: 5000, max_in_flight: 8}
"""
    config = write_config(tmp_path, rate_limits=budget)
    async with in_process_gateway(store, config) as gw, gw.client() as api:
        created = await api.post("/v1/customers", json=payloads.customer("DE01"))
        assert created.status_code == 201, created.text  # took the one request of the budget
        customer = created.json()
        legacy = gw.erps["legacy"]

        by_id = await api.get(f"/v1/customers/{customer['id']}")
        assert by_id.status_code == 503, by_id.text
        assert by_id.json()["code"] == "erp_unavailable"
        assert "get_customer" not in legacy.calls

        for _ in range(5):
            await api.get("/v1/customers", params={"external_ref": customer["external_ref"]})
        assert legacy.calls.count("get_customer") == 0, legacy.calls


async def test_a_lookup_answered_with_a_failure_stops_its_other_reads(store: Store) -> None:
    # One reference, two customers: one in each ERP. The legacy ERP's read fails, so the
    # lookup is answered 503 at once; the cloud ERP's read, still waiting, is of use to nobody
    # and is cancelled (with what it holds of the cloud ERP's budget given back), not left
    # running after the answer.
    async with in_process_gateway(store) as gw, gw.client() as api:
        reference = payloads.unique_ref("CRM-ACC")
        for legal_entity in ("DE01", "US01"):  # DE01 on the legacy ERP, US01 on the cloud
            created = await api.post(
                "/v1/customers", json=payloads.customer(legal_entity, external_ref=reference)
            )
            assert created.status_code == 201, created.text

        async def failing(*args: Any) -> Any:
            raise ErpFailure(Code.ERP_UNAVAILABLE, "The ERP answered 503.")

        never, cancelled = asyncio.Event(), asyncio.Event()

        async def waiting(*args: Any) -> Any:
            try:
                await never.wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        gw.erps["legacy"].get_customer = failing  # type: ignore[method-assign]
        gw.erps["cloud"].get_customer = waiting  # type: ignore[method-assign]
        found = await api.get("/v1/customers", params={"external_ref": reference})
        assert found.status_code == 503, found.text
        try:
            await asyncio.wait_for(cancelled.wait(), 2.0)
        except TimeoutError:
            raise AssertionError("the other read still runs after the answer") from None
        finally:
            never.set()


async def test_a_quote_for_a_customer_not_yet_in_the_orders_erp_creates_nothing(
    store: Store,
) -> None:
    # POST /quotes/validate: "prices, tax, credit; nothing is created" (README, DESIGN): for a
    # customer whose legal entity moved ERP, the quote does not copy the customer there.
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        _move_de01_to_cloud(gw)
        body: dict[str, Any] = payloads.order("DE01", customer["id"])
        del body["external_ref"]
        quote = await api.post("/v1/quotes/validate", json=body)
        assert quote.status_code in (200, 422), quote.text
        assert gw.erps["cloud"].customers == {}, "a quote created a customer in the cloud ERP"
        assert "create_customer" not in gw.erps["cloud"].calls


ONE_IN_FLIGHT = """
tiers:
  standard: {rate_per_s: 1000, burst: 2000}
backends:
  legacy: {max_rps: 5000, max_in_flight: 8}
  cloud: {max_rps: 5000, max_in_flight: 1}
"""
ERP_SLOT_LEASE_S = ERP_TIMEOUT_S + 5  # `erp_slot`'s lease for a backend's timeout_s


async def test_an_order_waiting_for_its_customers_copy_keeps_its_erp_slot_to_the_end(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    # The cloud ERP takes one request at a time (max_in_flight: 1). An order waits for another
    # process's copy of its customer to the cloud ERP, longer than the slot's lease would last
    # for one ERP interaction, then submits. While it is in the ERP, another request for that
    # ERP is shed: the order's slot lasts as long as the order may (its deadline).
    config = write_config(tmp_path, rate_limits=ONE_IN_FLIGHT)
    async with in_process_gateway(store, config) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        reader = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        _move_de01_to_cloud(gw)
        watched = await copy_held_elsewhere(gw, store, customer["id"])
        cloud = gw.erps["cloud"]
        create = cloud.create_sales_order
        in_erp, done = asyncio.Event(), asyncio.Event()

        async def held_in_erp(*args: Any, **kwargs: Any) -> Any:
            in_erp.set()
            await done.wait()
            return await create(*args, **kwargs)

        cloud.create_sales_order = held_in_erp  # type: ignore[method-assign]
        order = asyncio.ensure_future(
            api.post(
                "/v1/sales-orders",
                json=payloads.order("DE01", customer["id"]),
                headers=payloads.new_key(),
            )
        )
        await watched.waiting.wait()  # admitted with the cloud ERP's one slot
        await clock.advance(ERP_SLOT_LEASE_S + 0.1)  # the other copy takes its time
        await watched.other_copy_done()
        await in_erp.wait()
        other = await api.get(f"/v1/customers/{reader['id']}")
        done.set()
        assert (await order).status_code == 201
        assert other.status_code == 503, other.text  # shed: the ERP's one slot is the order's
        assert other.json()["code"] == "erp_unavailable"


LEGACY_ONE_IN_FLIGHT = """
tiers:
  standard: {rate_per_s: 1000, burst: 2000}
backends:
  legacy: {max_rps: 5000, max_in_flight: 1}
  cloud: {max_rps: 5000, max_in_flight: 8}
"""


async def test_a_customer_copy_reads_its_home_erp_within_that_erps_budget(
    store: Store, tmp_path: Path
) -> None:
    # DE01 moved to the cloud ERP; its customer is still only in the legacy ERP, whose one
    # in-flight slot another request holds. The order's copy of the customer reads it from
    # the legacy ERP: that read takes its share of the legacy ERP's budget like any other
    # request, so it is shed (503, retryable), not sent past the budget.
    config = write_config(tmp_path, rate_limits=LEGACY_ONE_IN_FLIGHT)
    async with in_process_gateway(store, config) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        _move_de01_to_cloud(gw)
        await gw.runtime.releases.flush()  # the customer's create gave its legacy slot back
        assert await store.acquire_slot("erp:legacy:in-flight", 1, "another-request", 30.0)
        order = await api.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert "get_customer" not in gw.erps["legacy"].calls
        assert order.status_code == 503, order.text
        assert order.json()["code"] == "erp_unavailable"
        assert not gw.erps["cloud"].customers


async def test_an_erp_refusing_the_copy_of_an_orders_customer_names_the_customer_not_its_fields(
    store: Store,
) -> None:
    # The order's ERP refuses the copy of its customer (a name too long for it, say): the
    # order's problem pointed at `/legal_name`, a field the order's request does not have.
    async with in_process_gateway(store) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        _move(gw, "US01", "legacy")

        async def refuse(request: CustomerCreate, refs: References, ctx: CallContext) -> Any:
            raise business(
                Code.ERP_REJECTED,
                "The ERP refused the customer.",
                FieldError("/legal_name", "Too long for the ERP (at most 40 characters)."),
            )

        gw.erps["legacy"].create_customer = refuse  # type: ignore[method-assign]
        order = await api.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer["id"]),
            headers=payloads.new_key(),
        )
    assert order.status_code == 422, order.text
    problem = order.json()
    assert [e["pointer"] for e in problem["errors"]] == ["/customer_id"]
    assert "legal_name" in problem["errors"][0]["detail"]
    assert customer["id"] in problem["detail"] and "legacy" in problem["detail"]
