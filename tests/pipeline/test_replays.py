"""Replays never leave a second document in the ERP: two replays of one transaction at once
are one replay, and a write whose outcome was unknown is looked for in the ERP first however
long after its Idempotency-Key's record ran out."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway.domain.errors import Code, ErpFailure
from gateway.store.base import Store
from gateway.store.memory import MemoryStore
from tests.conftest import ManualClock
from tests.e2e import payloads
from tests.harness import in_process_gateway


async def journal_entry(ops: httpx.AsyncClient, failed: httpx.Response) -> dict[str, Any]:
    listed = await ops.get(
        "/admin/transactions", params={"correlation_id": failed.headers["x-correlation-id"]}
    )
    (entry,) = listed.json()["items"]
    return entry  # type: ignore[no-any-return]


async def test_two_replays_at_once_of_a_create_without_a_key_make_one_customer(
    store: Store,
) -> None:
    # customers.create takes an Idempotency-Key but does not require one: a failed create
    # sent without is replayed as it was, and nothing but the replay itself can keep a double
    # click (two operators, two gateway processes) from submitting it twice.
    async with (
        in_process_gateway(store) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        erp = gw.erps["legacy"]
        create = erp.create_customer

        async def unavailable(*args: Any) -> Any:
            raise ErpFailure(Code.ERP_UNAVAILABLE, "The ERP answered 503.")  # not ambiguous

        erp.create_customer = unavailable
        failed = await api.post("/v1/customers", json=payloads.customer("DE01"))
        assert failed.status_code == 503, failed.text
        entry = await journal_entry(ops, failed)
        erp.create_customer = create
        erp.delay_s = 0.2  # the ERP takes a moment, as real ones do
        first, second = await asyncio.gather(
            ops.post(f"/admin/transactions/{entry['id']}/replay", json={}),
            ops.post(f"/admin/transactions/{entry['id']}/replay", json={}),
        )
        # One replays; the other is told one is running (or, had it come after, that the
        # transaction is no longer failed).
        assert sorted([first.status_code, second.status_code]) in ([200, 409], [200, 422])
        assert len(erp.customers) == 1
        again = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={})
        assert again.status_code == 422  # done: never replayed into a second customer
    assert len(erp.customers) == 1


async def test_a_write_whose_outcome_was_unknown_is_looked_for_first_even_days_later() -> None:
    # The journal keeps a failed transaction replayable for 7 days, its key's record 24 h.
    clock = ManualClock(1000.0)
    async with (
        in_process_gateway(MemoryStore(clock)) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        erp = gw.erps["legacy"]
        erp.fail_after_commit = True  # the ERP commits; the gateway hears nothing back
        failed = await api.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert failed.status_code == 504, failed.text
        erp.fail_after_commit = False
        entry = await journal_entry(ops, failed)
        assert (entry["status"], entry["outcome_unknown"]) == ("failed", True)
        await clock.advance(25 * 3600)  # the key's record has run out
        replayed = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={})
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["replay"]["status"] == 201
    assert len(erp.orders) == 1  # found, not created again
