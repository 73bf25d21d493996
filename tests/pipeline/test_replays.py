"""Replays never leave a second document in the ERP: two replays of one transaction at once
are one replay, and a write whose outcome was unknown is looked for in the ERP first however
long after its Idempotency-Key's record ran out."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import httpx

from gateway.store.base import Store
from gateway.store.journal import (
    JournalPage,
    JournalQuery,
    JournalRecord,
    JournalRetention,
    JournalStore,
)
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


class ClockAhead:
    """The journal as another gateway host writes it whose clock runs `ahead_s` ahead of this
    one's (hosts' clocks drift, NTP or not): every time in its records is that much later."""

    def __init__(self, store: JournalStore, ahead_s: float) -> None:
        self._store = store
        self._ahead_s = ahead_s

    async def write(self, records: Sequence[JournalRecord], retention: JournalRetention) -> None:
        skewed = [
            dataclasses.replace(
                r,
                arrived_at=r.arrived_at + self._ahead_s,
                ended_at=r.ended_at + self._ahead_s,
                states=[{**s, "at": s["at"] + self._ahead_s} for s in r.states],
            )
            for r in records
        ]
        await self._store.write(skewed, retention)

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        return await self._store.entry(entry_id)

    async def page(self, query: JournalQuery) -> JournalPage:
        return await self._store.page(query)

    async def open_exceptions(
        self, now: float, within: frozenset[str] | None = None
    ) -> dict[str, int]:
        return await self._store.open_exceptions(now, within)


async def test_a_replay_settles_a_failure_journaled_by_a_host_whose_clock_runs_ahead(
    store: Store,
) -> None:
    # The failure was journaled by one gateway host, the replay runs on another whose clock is
    # a minute behind: the replay comes after the failure whatever the clocks say, so it gives
    # the entry its outcome and the transaction is no longer an open exception.
    async with (
        in_process_gateway(store) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        erp = gw.erps["legacy"]
        erp.unavailable = {"create_customer"}
        journal = gw.runtime.journal
        here = journal.store
        journal.store = ClockAhead(here, 60.0)  # the other host
        failed = await api.post("/v1/customers", json=payloads.customer("DE01"))  # no key
        assert failed.status_code == 503, failed.text
        assert await journal.flush()
        journal.store = here
        entry = await journal_entry(ops, failed)
        assert await here.open_exceptions(entry_time(entry) + 1) == {
            "lt_1h": 1,
            "1h_to_24h": 0,
            "gt_24h": 0,
        }
        erp.unavailable = set()
        replayed = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={})
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["replay"]["status"] == 201
        after = (await ops.get(f"/admin/transactions/{entry['id']}")).json()
        assert after["status"] == "accepted"
        assert after["erp_document"] is not None
        assert sum((await here.open_exceptions(entry_time(entry) + 1)).values()) == 0
        again = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={})
        # Settled: a second replay (nothing but the journal's status stops it for a create
        # without a key) never makes a second customer.
        assert again.status_code == 422, again.text
    assert len(erp.customers) == 1


def entry_time(entry: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(entry["arrived_at"]).timestamp()


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
        erp.unavailable = {"create_customer"}
        failed = await api.post("/v1/customers", json=payloads.customer("DE01"))
        assert failed.status_code == 503, failed.text
        entry = await journal_entry(ops, failed)
        erp.unavailable = set()
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


async def test_a_request_refused_by_validation_keeps_its_key_and_its_correction_is_replayed() -> (
    None
):
    async with (
        in_process_gateway(MemoryStore()) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        body = payloads.order("DE01", customer["id"])
        key = payloads.new_key()
        invalid = {**body, "lines": "two gadgets"}  # refused before the key was ever claimed
        refused = await api.post("/v1/sales-orders", json=invalid, headers=key)
        assert refused.status_code in (400, 422), refused.text
        entry = await journal_entry(ops, refused)
        digest = hashlib.sha256(key["Idempotency-Key"].encode()).hexdigest()
        assert entry["idempotency_key_sha256"] == digest

        # A correction refused in turn: the customer is DE01's, not FR01's.
        other = {**body, "legal_entity": "FR01", "currency": "EUR"}
        again = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={"body": other})
        assert again.json()["replay"]["status"] in (404, 422), again.text
        kept = (await ops.get(f"/admin/transactions/{entry['id']}")).json()
        assert kept["legal_entity"] == entry["legal_entity"]  # the request's, not the refused one's
        assert kept["request"]["body"] == invalid

        fixed = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={"body": body})
        assert fixed.json()["replay"]["status"] == 201, fixed.text
        assert fixed.json()["transaction"]["status"] == "accepted"
        # The CRM's own retry under its key now answers with that outcome, not a second order.
        retried = await api.post("/v1/sales-orders", json=body, headers=key)
        assert retried.headers.get("idempotent-replayed") == "true"
        assert retried.json()["id"] == fixed.json()["replay"]["answer"]["id"]
        # An invalid request under the settled key is not that transaction's outcome.
        misused = await api.post("/v1/sales-orders", json=invalid, headers=key)
        assert misused.status_code == refused.status_code
        settled = (await ops.get(f"/admin/transactions/{entry['id']}")).json()
        assert (settled["status"], settled["request"]["body"]) == ("accepted", body)
