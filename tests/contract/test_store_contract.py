"""The Store contract, run on every strategy (memory and Redis), plus what only one of them owes.

Not the pipeline: these call the Store directly, as the idempotency and rate-limit steps do.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from gateway.domain.operations import Kind
from gateway.store.base import (
    Binding,
    BucketRequest,
    ClaimRequest,
    ErpDocument,
    GiveBack,
    SlotRequest,
    Store,
    StoredResponse,
    StoreUnavailable,
    XrefRecord,
)
from gateway.store.memory import SWEEP_INTERVAL_S, MemoryStore
from gateway.store.opening import open_store
from gateway.store.redis import RedisStore
from tests.conftest import Clock, ManualClock, PrefixedRedisStore, unique_prefix
from tests.redis_cluster import RedisClusterProcesses, redis_cluster_possible
from tests.redis_server import RedisProcess, redis_server_installed
from tests.servers import free_port

LEASE_S = 0.1  # short, so a lost lease runs out within the test
RETENTION_S = 30.0
WAIT_PAST_LEASE_S = LEASE_S * 1.5
CONNECT_TIMEOUT_S = 0.5


def xref(
    gateway_id: str,
    erp_id: str = "4711",
    *,
    kind: Kind = Kind.CUSTOMER,
    backend: str = "cloud",
    external_ref: str | None = "CRM-ACC-1001",
    created_at: float = 1_700_000_000.0,
) -> XrefRecord:
    return XrefRecord(
        gateway_id=gateway_id,
        kind=kind,
        legal_entity="US01",
        client_id="crm-demo",
        backend=backend,
        erp_id=erp_id,
        erp_document_number=f"DOC-{erp_id}",
        gateway_ref="gw-" + "A" * 26,
        external_ref=external_ref,
        created_at=created_at,
    )


def response(body: bytes = b'{"id":"so_1","name":"M\xc3\xbcller GmbH"}') -> StoredResponse:
    return StoredResponse(201, {"content-type": "application/json"}, body, backend="legacy")


# -- ID cross-reference ------------------------------------------------------------------


async def test_a_stored_xref_is_found_by_gateway_id_erp_id_and_external_ref(store: Store) -> None:
    record = xref("cus_one")
    assert await store.put_xref(record) == record
    assert await store.get_xref("cus_one") == record
    assert await store.get_xref_by_erp("cloud", Kind.CUSTOMER, "4711") == record
    assert await store.find_xrefs_by_external_ref(Kind.CUSTOMER, "CRM-ACC-1001") == [record]


async def test_unknown_ids_and_refs_find_nothing(store: Store) -> None:
    await store.put_xref(xref("cus_one"))
    assert await store.get_xref("cus_other") is None
    assert await store.get_xref_by_erp("legacy", Kind.CUSTOMER, "4711") is None
    assert await store.get_xref_by_erp("cloud", Kind.SALES_ORDER, "4711") is None
    assert await store.find_xrefs_by_external_ref(Kind.SALES_ORDER, "CRM-ACC-1001") == []
    assert await store.find_xrefs_by_external_ref(Kind.CUSTOMER, "CRM-ACC-9") == []


async def test_a_second_gateway_id_for_a_known_erp_document_gets_the_first_record(
    store: Store,
) -> None:
    first = xref("cus_first")
    await store.put_xref(first)
    assert await store.put_xref(xref("cus_second")) == first
    assert await store.get_xref("cus_second") is None
    assert await store.find_xrefs_by_external_ref(Kind.CUSTOMER, "CRM-ACC-1001") == [first]


async def test_an_external_ref_lists_every_record_created_with_it_oldest_first(
    store: Store,
) -> None:
    records = [xref(f"cus_{n}", erp_id=str(n), created_at=1_700_000_000.0 + n) for n in range(3)]
    for record in records:
        await store.put_xref(record)
    await store.put_xref(records[0])  # storing a record again does not list it twice
    assert await store.find_xrefs_by_external_ref(Kind.CUSTOMER, "CRM-ACC-1001") == records


async def test_a_record_without_external_ref_is_still_found_by_id(store: Store) -> None:
    record = xref("shp_one", kind=Kind.SHIPMENT, external_ref=None)
    await store.put_xref(record)
    assert await store.get_xref_by_erp("cloud", Kind.SHIPMENT, "4711") == record


async def test_concurrent_put_xref_for_one_erp_id_agree_on_one_gateway_id(store: Store) -> None:
    candidates = [xref(f"inv_{n}", kind=Kind.INVOICE, external_ref="CRM-X") for n in range(20)]
    winners = await asyncio.gather(*(store.put_xref(record) for record in candidates))
    assert len({winner.gateway_id for winner in winners}) == 1
    winner = winners[0]
    assert await store.get_xref_by_erp("cloud", Kind.INVOICE, "4711") == winner
    assert await store.find_xrefs_by_external_ref(Kind.INVOICE, "CRM-X") == [winner]


async def test_an_xref_keeps_every_field_it_was_given(store: Store) -> None:
    record = replace(xref("so_one", kind=Kind.SALES_ORDER), parent_id="cus_one")
    await store.put_xref(record)
    stored = await store.get_xref("so_one")
    assert stored == record
    assert stored is not None and stored.kind is Kind.SALES_ORDER


# -- records in several ERPs: replicas, moved homes, bulk bindings -----------------------


def _in(backend: str, erp_id: str) -> ErpDocument:
    return ErpDocument(backend, erp_id, f"DOC-{erp_id}")


async def test_a_customer_bound_in_a_second_erp_is_found_from_either(store: Store) -> None:
    await store.put_xref(xref("cus_both", "100", backend="legacy"))
    (outcome,) = await store.bind_documents([Binding("cus_both", _in("cloud", "900"))])
    assert outcome.record is not None
    assert outcome.record.document_in("cloud") == _in("cloud", "900")
    assert outcome.record.document_in("legacy") == _in("legacy", "100")
    assert outcome.record.backend == "legacy"  # its home stays where it was created
    assert await store.get_xref("cus_both") == outcome.record
    assert await store.get_xref_by_erp("cloud", Kind.CUSTOMER, "900") == outcome.record
    assert await store.get_xref_by_erp("legacy", Kind.CUSTOMER, "100") == outcome.record


async def test_binding_the_same_document_twice_changes_nothing(store: Store) -> None:
    await store.put_xref(xref("cus_twice", "101", backend="legacy"))
    first, again = await store.bind_documents(
        [Binding("cus_twice", _in("cloud", "901")), Binding("cus_twice", _in("cloud", "901"))]
    )
    assert first.record == again.record
    assert again.record is not None and len(again.record.replicas) == 1


async def test_a_document_bound_to_another_record_is_refused(store: Store) -> None:
    await store.put_xref(xref("cus_a", "102", backend="legacy"))
    await store.put_xref(xref("cus_b", "902", backend="cloud"))
    (outcome,) = await store.bind_documents([Binding("cus_a", _in("cloud", "902"))])
    assert (outcome.record, outcome.taken_by) == (None, "cus_b")
    assert (await store.get_xref("cus_a")) == xref("cus_a", "102", backend="legacy")


async def test_binding_an_unknown_gateway_id_says_it_is_missing(store: Store) -> None:
    (outcome,) = await store.bind_documents([Binding("cus_none", _in("cloud", "903"))])
    assert outcome.missing and outcome.record is None


async def test_a_moved_order_lives_at_its_new_home_and_its_old_id_still_finds_it(
    store: Store,
) -> None:
    await store.put_xref(xref("so_moved", "5001", kind=Kind.SALES_ORDER, backend="legacy"))
    (outcome,) = await store.bind_documents([Binding("so_moved", _in("cloud", "77"), home=True)])
    moved = await store.get_xref("so_moved")
    assert moved == outcome.record
    assert moved is not None and (moved.backend, moved.erp_id) == ("cloud", "77")
    assert moved.replicas == ()  # an order has one home
    assert await store.get_xref_by_erp("legacy", Kind.SALES_ORDER, "5001") == moved


async def test_concurrent_bindings_of_one_customer_keep_every_document(store: Store) -> None:
    await store.put_xref(xref("cus_many", "104", backend="legacy"))
    backends = [f"erp{n}" for n in range(10)]
    await asyncio.gather(
        *(
            store.bind_documents([Binding("cus_many", _in(b, f"9{n}"))])
            for n, b in enumerate(backends)
        )
    )
    record = await store.get_xref("cus_many")
    assert record is not None
    assert {d.backend for d in record.replicas} == set(backends)


async def test_two_thousand_bindings_in_one_call_each_get_their_outcome(store: Store) -> None:
    count = 2000
    for n in range(count):
        await store.put_xref(xref(f"cus_bulk{n}", str(10_000 + n), backend="legacy"))
    bindings = [Binding(f"cus_bulk{n}", _in("cloud", str(50_000 + n))) for n in range(count)]
    bindings.append(Binding("cus_bulk_missing", _in("cloud", "1")))
    outcomes = await store.bind_documents(bindings)
    assert len(outcomes) == count + 1
    assert all(o.record is not None for o in outcomes[:count])
    assert outcomes[-1].missing
    found = await store.get_xref_by_erp("cloud", Kind.CUSTOMER, str(50_000 + count - 1))
    assert found is not None and found.gateway_id == f"cus_bulk{count - 1}"


async def test_the_records_of_a_legal_entity_are_listed_by_kind_oldest_first(
    store: Store,
) -> None:
    first = replace(xref("cus_le1", "201"), legal_entity="CA01")
    second = replace(xref("cus_le2", "202"), legal_entity="CA01")
    elsewhere = replace(xref("cus_le3", "203"), legal_entity="US01")
    order = replace(xref("so_le", "204", kind=Kind.SALES_ORDER), legal_entity="CA01")
    for record in (first, second, elsewhere, order):
        await store.put_xref(record)
    assert await store.xrefs_of(Kind.CUSTOMER, "CA01") == [first, second]
    assert await store.xrefs_of(Kind.SALES_ORDER, "CA01") == [order]


async def test_many_records_are_read_at_once_by_id_or_erp_document(store: Store) -> None:
    await store.put_xref(xref("cus_m1", "301", backend="legacy"))
    await store.put_xref(xref("cus_m2", "302", backend="legacy"))
    first, second = await store.get_xrefs(["cus_m1", "cus_m2"])
    assert [r.gateway_id if r else None for r in (first, second)] == ["cus_m1", "cus_m2"]
    assert await store.get_xrefs(["cus_m2", "cus_none", "cus_m1"]) == [second, None, first]
    found = await store.get_xrefs_by_erp(
        [
            ("legacy", Kind.CUSTOMER, "302"),
            ("cloud", Kind.CUSTOMER, "302"),
            ("legacy", Kind.CUSTOMER, "301"),
        ]
    )
    assert found == [second, None, first]


async def test_a_job_state_is_kept_for_its_retention(store: Store, clock: Clock) -> None:
    await store.put_job("job1", '{"status":"running"}', retention_s=0.2)
    assert await store.get_job("job1") == '{"status":"running"}'
    assert await store.get_job("job2") is None
    await clock.advance(0.3)
    assert await store.get_job("job1") is None


# -- rate limits (GCRA) ------------------------------------------------------------------


async def test_exactly_burst_requests_pass_at_once_and_the_next_waits_one_interval(
    store: Store,
) -> None:
    # A slow rate, so the burst is "at once" even on a busy machine.
    decisions = [await store.rate_limit("client-a", 2.0, 3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[3].retry_after_s == pytest.approx(0.5, abs=0.05)
    assert decisions[2].reset_after_s == pytest.approx(1.5, abs=0.05)
    assert all(d.retry_after_s == 0 for d in decisions[:3])


@pytest.mark.parametrize("rate", [0.7, 1.5, 6.0])
async def test_a_clients_first_request_leaves_it_the_rest_of_its_burst(
    store: Store, rate: float
) -> None:
    # Emission intervals that are no binary fraction: on Redis's clock (seconds since 1970)
    # the float rounding of now + interval cost the header one request.
    decision = await store.rate_limit(f"client-first-{rate}", rate, 3)
    assert (decision.allowed, decision.remaining) == (True, 2)


async def test_a_refused_client_passes_again_after_the_retry_after_it_was_given(
    store: Store, clock: Clock
) -> None:
    rate = 20.0
    assert (await store.rate_limit("client-b", rate, 1)).allowed
    refused = await store.rate_limit("client-b", rate, 1)
    assert not refused.allowed
    assert 0 < refused.retry_after_s <= 1 / rate
    await clock.advance(refused.retry_after_s + 0.005)
    assert (await store.rate_limit("client-b", rate, 1)).allowed


async def test_concurrent_requests_never_pass_more_than_the_burst(store: Store) -> None:
    decisions = await asyncio.gather(*(store.rate_limit("client-c", 1.0, 5) for _ in range(20)))
    assert sum(d.allowed for d in decisions) == 5


async def test_each_bucket_key_has_its_own_budget(store: Store) -> None:
    assert (await store.rate_limit("client-d", 1.0, 1)).allowed
    assert not (await store.rate_limit("client-d", 1.0, 1)).allowed
    assert (await store.rate_limit("client-e", 1.0, 1)).allowed


# -- concurrency leases ------------------------------------------------------------------


async def test_concurrent_acquires_never_hold_more_slots_than_the_limit(store: Store) -> None:
    taken = await asyncio.gather(
        *(store.acquire_slot("erp:legacy", 5, f"t{n}", 10.0) for n in range(30))
    )
    assert sum(taken) == 5


async def test_a_released_slot_can_be_taken_by_someone_else(store: Store) -> None:
    assert await store.acquire_slot("erp:legacy", 1, "first", 10.0)
    assert not await store.acquire_slot("erp:legacy", 1, "second", 10.0)
    await store.release_slot("erp:legacy", "first")
    assert await store.acquire_slot("erp:legacy", 1, "second", 10.0)


async def test_a_slot_whose_holder_died_is_free_once_its_lease_expires(
    store: Store, clock: Clock
) -> None:
    assert await store.acquire_slot("erp:cloud", 2, "crashed", LEASE_S)
    assert await store.acquire_slot("erp:cloud", 2, "alive", 10.0)
    assert not await store.acquire_slot("erp:cloud", 2, "waiting", LEASE_S)
    await clock.advance(WAIT_PAST_LEASE_S)
    assert await store.acquire_slot("erp:cloud", 2, "waiting", LEASE_S)
    assert not await store.acquire_slot("erp:cloud", 2, "late", LEASE_S)


async def test_releasing_a_slot_not_held_changes_nothing(store: Store) -> None:
    assert await store.acquire_slot("erp:cloud", 1, "holder", 10.0)
    await store.release_slot("erp:cloud", "stranger")
    assert not await store.acquire_slot("erp:cloud", 1, "other", 10.0)


# -- idempotency -------------------------------------------------------------------------


async def test_of_fifty_concurrent_claims_of_one_key_exactly_one_wins(store: Store) -> None:
    claims = await asyncio.gather(
        *(store.claim_idempotency("k1", "fp", f"o{n}", 10.0, RETENTION_S) for n in range(50))
    )
    assert Counter(c.state for c in claims) == {"claimed": 1, "in_progress": 49}


async def test_a_key_reused_with_another_request_is_a_mismatch_in_flight_and_after(
    store: Store,
) -> None:
    assert (await store.claim_idempotency("k2", "fp-a", "o1", 10.0, RETENTION_S)).state == "claimed"
    in_flight = await store.claim_idempotency("k2", "fp-b", "o2", 10.0, RETENTION_S)
    assert in_flight.state == "mismatch"
    assert await store.complete_idempotency("k2", "o1", response(), RETENTION_S)
    after = await store.claim_idempotency("k2", "fp-b", "o3", 10.0, RETENTION_S)
    assert after.state == "mismatch"
    assert after.response is None


async def test_a_completed_key_replays_the_same_response_byte_for_byte(store: Store) -> None:
    await store.claim_idempotency("k3", "fp", "o1", 10.0, RETENTION_S)
    stored = response()
    assert await store.complete_idempotency("k3", "o1", stored, RETENTION_S)
    # A late release (e.g. from a cleanup path) must not undo the completion.
    assert not await store.release_idempotency("k3", "o1")
    for owner in ("o2", "o3"):
        replay = await store.claim_idempotency("k3", "fp", owner, 10.0, RETENTION_S)
        assert replay.state == "completed"
        assert replay.response == stored
        assert replay.response is not None and replay.response.body == stored.body


async def test_a_completed_key_outlives_its_in_flight_lease(store: Store, clock: Clock) -> None:
    await store.claim_idempotency("k4", "fp", "o1", LEASE_S, RETENTION_S)
    await store.complete_idempotency("k4", "o1", response(), RETENTION_S)
    await clock.advance(WAIT_PAST_LEASE_S)
    assert (await store.claim_idempotency("k4", "fp", "o2", LEASE_S, RETENTION_S)).state == (
        "completed"
    )


async def test_a_completed_key_is_forgotten_after_its_retention(store: Store, clock: Clock) -> None:
    await store.claim_idempotency("k5", "fp", "o1", LEASE_S, RETENTION_S)
    await store.complete_idempotency("k5", "o1", response(), 0.2)
    await clock.advance(0.3)
    assert (await store.claim_idempotency("k5", "fp", "o2", LEASE_S, RETENTION_S)).state == (
        "claimed"
    )


async def test_only_the_owner_can_complete_mark_or_release_a_claim(store: Store) -> None:
    await store.claim_idempotency("k6", "fp", "owner", 10.0, RETENTION_S)
    assert not await store.complete_idempotency("k6", "intruder", response(), RETENTION_S)
    assert not await store.mark_forwarded("k6", "intruder", "cloud")
    assert not await store.release_idempotency("k6", "intruder")
    still = await store.claim_idempotency("k6", "fp", "other", 10.0, RETENTION_S)
    assert still.state == "in_progress"
    assert still.attempts == 0  # the intruder's mark_forwarded counted nothing
    assert await store.release_idempotency("k6", "owner")
    assert (await store.claim_idempotency("k6", "fp", "next", 10.0, RETENTION_S)).state == (
        "claimed"
    )


async def test_a_released_key_can_be_claimed_again_and_remembers_where_it_went(
    store: Store,
) -> None:
    await store.claim_idempotency("k7", "fp", "o1", 10.0, RETENTION_S)
    assert await store.mark_forwarded("k7", "o1", "legacy")
    assert await store.release_idempotency("k7", "o1")
    again = await store.claim_idempotency("k7", "fp", "o2", 10.0, RETENTION_S)
    assert (again.state, again.backend, again.attempts) == ("claimed", "legacy", 1)
    assert await store.mark_forwarded("k7", "o2", "legacy")
    assert await store.release_idempotency("k7", "o2")
    third = await store.claim_idempotency("k7", "fp", "o3", 10.0, RETENTION_S)
    assert (third.backend, third.attempts) == ("legacy", 2)


async def test_a_released_key_that_never_reached_an_erp_starts_afresh(store: Store) -> None:
    await store.claim_idempotency("k8", "fp", "o1", 10.0, RETENTION_S)
    await store.release_idempotency("k8", "o1")
    again = await store.claim_idempotency("k8", "fp-changed", "o2", 10.0, RETENTION_S)
    assert (again.state, again.backend, again.attempts) == ("claimed", None, 0)


async def test_a_lost_lease_lets_the_next_claim_reconcile_with_the_backend_it_reached(
    store: Store, clock: Clock
) -> None:
    await store.claim_idempotency("k9", "fp", "crashed", LEASE_S, RETENTION_S)
    assert await store.mark_forwarded("k9", "crashed", "cloud")
    await clock.advance(WAIT_PAST_LEASE_S)
    retry = await store.claim_idempotency("k9", "fp", "retry", LEASE_S, RETENTION_S)
    assert (retry.state, retry.backend, retry.attempts) == ("claimed", "cloud", 1)
    # The first owner, back from the dead, no longer owns the key.
    assert not await store.complete_idempotency("k9", "crashed", response(), RETENTION_S)
    assert await store.complete_idempotency("k9", "retry", response(), RETENTION_S)


async def test_a_forwarded_key_reused_with_another_request_is_a_mismatch_after_a_lost_lease(
    store: Store, clock: Clock
) -> None:
    await store.claim_idempotency("k10", "fp-a", "o1", LEASE_S, RETENTION_S)
    await store.mark_forwarded("k10", "o1", "cloud")
    await clock.advance(WAIT_PAST_LEASE_S)
    assert (await store.claim_idempotency("k10", "fp-b", "o2", LEASE_S, RETENTION_S)).state == (
        "mismatch"
    )


async def test_keys_are_independent(store: Store) -> None:
    await store.claim_idempotency("client-1:key", "fp", "o1", 10.0, RETENTION_S)
    other = await store.claim_idempotency("client-2:key", "fp", "o2", 10.0, RETENTION_S)
    assert other.state == "claimed"


# The same request sent on another path (`/v2/...` for `/v1/...`): its own fingerprint, and
# the ones it would have had on the other paths as equivalents.
def equivalent_claim(key: str, owner: str, fingerprint: str = "fp-v2") -> ClaimRequest:
    return ClaimRequest(
        key, fingerprint, owner, LEASE_S, RETENTION_S, "cloud", equivalents=("fp-v1", "fp-none")
    )


async def test_a_completed_key_is_replayed_to_a_claim_with_an_equivalent_fingerprint(
    store: Store,
) -> None:
    first = ClaimRequest("eq-done", "fp-v1", "o1", 10.0, RETENTION_S, "cloud")
    await store.admit([], None, first)
    await store.settle(None, first, response(), RETENTION_S)
    retry = await store.admit([], None, equivalent_claim("eq-done", "o2"))
    assert retry.claim is not None
    assert (retry.claim.state, retry.claim.response) == ("completed", response())
    direct = await store.claim_idempotency(
        "eq-done", "fp-v2", "o3", 10.0, RETENTION_S, equivalents=("fp-v1",)
    )
    assert (direct.state, direct.response) == ("completed", response())


async def test_a_key_in_progress_is_in_progress_to_a_claim_with_an_equivalent_fingerprint(
    store: Store,
) -> None:
    first = ClaimRequest("eq-running", "fp-v1", "o1", 10.0, RETENTION_S, "cloud")
    await store.admit([], None, first)
    retry = await store.admit([], None, equivalent_claim("eq-running", "o2"))
    assert retry.claim is not None and retry.claim.state == "in_progress"
    await store.settle(None, first, None, hold_s=10.0)  # an ambiguous outcome's hold
    held = await store.admit([], None, equivalent_claim("eq-running", "o3"))
    assert held.claim is not None and held.claim.state == "in_progress"
    assert held.claim.held_s is not None and held.claim.held_s > 0


async def test_a_forwarded_key_after_a_lost_lease_is_claimed_with_an_equivalent_fingerprint(
    store: Store, clock: Clock
) -> None:
    first = ClaimRequest("eq-lost", "fp-v1", "o1", LEASE_S, RETENTION_S, "legacy")
    await store.admit([], None, first)
    await clock.advance(WAIT_PAST_LEASE_S)
    retry = await store.admit([], None, equivalent_claim("eq-lost", "o2"))
    assert retry.claim is not None
    # Claimed to reconcile with the ERP the first attempt reached, not a second submission.
    assert (retry.claim.state, retry.claim.backend, retry.claim.attempts) == (
        "claimed",
        "legacy",
        1,
    )


async def test_another_request_is_a_mismatch_whatever_fingerprints_it_brings_as_equivalent(
    store: Store, clock: Clock
) -> None:
    running = ClaimRequest("eq-other-running", "fp-v1", "o1", 10.0, RETENTION_S, "cloud")
    await store.admit([], None, running)
    lost = ClaimRequest("eq-other-lost", "fp-v1", "o1", LEASE_S, RETENTION_S, "cloud")
    await store.admit([], None, lost)
    done = ClaimRequest("eq-other-done", "fp-v1", "o1", 10.0, RETENTION_S, "cloud")
    await store.admit([], None, done)
    await store.settle(None, done, response(), RETENTION_S)
    await clock.advance(WAIT_PAST_LEASE_S)
    for key in ("eq-other-running", "eq-other-lost", "eq-other-done"):
        other = replace(equivalent_claim(key, "o2", "fp-b2"), equivalents=("fp-b1", "fp-bnone"))
        admitted = await store.admit([], None, other)
        assert admitted.claim is not None and admitted.claim.state == "mismatch", key


# -- choosing a store --------------------------------------------------------------------


def test_no_store_url_means_the_embedded_memory_store() -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store(""), MemoryStore)


async def test_a_redis_url_means_the_redis_store() -> None:
    store = open_store("redis://127.0.0.1:1/0")
    assert isinstance(store, RedisStore)
    await store.aclose()


def test_an_unknown_store_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as error:
        open_store("memcached://user:s3cret@cache:11211")
    assert "s3cret" not in str(error.value)


# -- Redis only: outages, expiry, cluster slots ----------------------------------------


async def test_a_cluster_store_with_no_node_reachable_is_unavailable_not_an_error() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}", cluster=True)
    try:
        with pytest.raises(StoreUnavailable):
            await store.get_xref("cus_x")
        with pytest.raises(StoreUnavailable):
            await store.rate_limit("k", 1.0, 1)
    finally:
        await store.aclose()


async def test_a_redis_store_on_a_closed_port_is_unavailable_at_once() -> None:
    store = RedisStore.from_url(
        f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=CONNECT_TIMEOUT_S
    )
    try:
        calls: list[Callable[[], Awaitable[object]]] = [
            store.ping,
            lambda: store.get_xref("cus_x"),
            lambda: store.put_xref(xref("cus_x")),
            lambda: store.rate_limit("k", 1.0, 1),
            lambda: store.acquire_slot("k", 1, "t", 1.0),
            lambda: store.claim_idempotency("k", "fp", "o", 1.0, 1.0),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as error:
                await call()
            assert time.monotonic() - started < CONNECT_TIMEOUT_S
            assert error.value.status == 503
    finally:
        await store.aclose()


async def test_a_redis_that_accepts_but_never_answers_is_unavailable_within_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # hold the connection open, never reply
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    timeout_s = 0.2
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout_s=timeout_s)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.rate_limit("k", 1.0, 1)
        assert time.monotonic() - started < 2 * timeout_s  # one timeout, no retries
    finally:
        await store.aclose()
        server.close()


@pytest.mark.skipif(not redis_server_installed(), reason="needs the redis-server executable")
async def test_a_redis_store_works_again_when_redis_comes_back() -> None:
    with RedisProcess() as server:
        store = RedisStore.from_url(server.url)
        try:
            await store.put_xref(xref("cus_before"))  # leaves a pooled connection behind
            server.stop()
            with pytest.raises(StoreUnavailable):
                await store.get_xref("cus_before")
            server.start()
            assert (await store.rate_limit("after", 1.0, 1)).allowed
            await store.ping()
        finally:
            await store.aclose()


@pytest.mark.redis
async def test_everything_redis_keeps_but_the_xref_expires(
    redis_store: PrefixedRedisStore, redis_client: aioredis.Redis
) -> None:
    store = redis_store.store
    await store.put_xref(xref("cus_kept"))
    await store.rate_limit("bucket", 10.0, 5)
    await store.acquire_slot("slots", 2, "t", 5.0)
    await store.claim_idempotency("done", "fp", "o1", 5.0, RETENTION_S)
    await store.mark_forwarded("done", "o1", "cloud")
    await store.complete_idempotency("done", "o1", response(), RETENTION_S)
    await store.claim_idempotency("pending", "fp", "o2", 5.0, RETENTION_S)
    keys = [k.decode() async for k in redis_client.scan_iter(match=f"{redis_store.prefix}*")]
    ttls = {key: await redis_client.ttl(key) for key in keys}
    forever = sorted(key for key, ttl in ttls.items() if ttl < 0)
    assert forever and all("{xref}" in key for key in forever)
    assert len(ttls) - len(forever) == 4  # the bucket, the slots, one record, one lease
    assert ttls[f"{redis_store.prefix}rate:bucket"] == 1  # ceil(reset_after) = ceil(0.1)


@pytest.mark.redis
async def test_the_keys_of_each_atomic_operation_share_one_cluster_slot(
    redis_store: PrefixedRedisStore, redis_client: aioredis.Redis
) -> None:
    store = redis_store.store
    await store.put_xref(xref("cus_a", erp_id="1", external_ref="R1"))
    await store.put_xref(xref("so_b", erp_id="2", kind=Kind.SALES_ORDER, external_ref="R2"))
    for key in ("client:plain", "client:}{braces}", "client:{"):
        await store.claim_idempotency(key, "fp", "o", 5.0, RETENTION_S)
        await store.mark_forwarded(key, "o", "cloud")
    keys = [k async for k in redis_client.scan_iter(match=f"{redis_store.prefix}*")]
    xref_slots = {key_slot(k) for k in keys if b"{xref}" in k}
    assert len(xref_slots) == 1
    idempotency = [k for k in keys if b":idem:" in k]
    assert len(idempotency) == 6
    by_key = Counter(k.rsplit(b":", 1)[0] for k in idempotency)
    assert all(count == 2 for count in by_key.values())
    for base in by_key:
        assert key_slot(base + b":record") == key_slot(base + b":lease")


def _one_shard() -> contextlib.AbstractContextManager[RedisClusterProcesses]:
    if not redis_cluster_possible():
        pytest.skip("redis-server and redis-cli are needed for a Redis in cluster mode")
    return RedisClusterProcesses(nodes=1)


def _info_renamed() -> contextlib.AbstractContextManager[RedisProcess]:
    if not redis_server_installed():
        pytest.skip("needs the redis-server executable")
    return RedisProcess(extra_args=("--rename-command", "INFO", ""))


@pytest.mark.redis
@pytest.mark.parametrize(
    "server",
    [
        # A script's keys must share a slot in cluster mode, even with every slot on one node
        # (a managed service's single shard, named by redis://): a create's xref is bound
        # first there.
        pytest.param(_one_shard, id="cluster mode, one shard"),
        # A Redis that refuses INFO is taken for the one Redis its URL names.
        pytest.param(_info_renamed, id="INFO renamed"),
    ],
)
async def test_a_plain_redis_url_binds_and_settles_whatever_the_server_allows(
    server: Callable[[], contextlib.AbstractContextManager[RedisClusterProcesses | RedisProcess]],
) -> None:
    with server() as running:
        url = running.node_url if isinstance(running, RedisClusterProcesses) else running.url
        store = RedisStore.from_url(url, prefix=unique_prefix())
        try:
            claim = ClaimRequest("one-shard", "fp", "o1", 10.0, RETENTION_S, backend="cloud")
            await store.admit([], None, claim)
            record = xref("cus_shard", erp_id="shard-1")
            assert await store.settle(None, claim, response(), RETENTION_S, bind=record) is None
            assert await store.get_xref("cus_shard") == record
            replay = await store.claim_idempotency("one-shard", "fp", "o2", 10.0, RETENTION_S)
            assert replay.state == "completed"
        finally:
            await store.aclose()


# -- memory only: bounded growth -----------------------------------------------------------


async def test_the_memory_store_forgets_expired_state_so_a_long_demo_does_not_grow() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    for n in range(100):
        await store.claim_idempotency(f"k{n}", "fp", "o", LEASE_S, 1.0)
        await store.mark_forwarded(f"k{n}", "o", "cloud")
        await store.rate_limit(f"bucket{n}", 10.0, 5)
        await store.acquire_slot(f"slots{n}", 1, "t", LEASE_S)
    await clock.advance(SWEEP_INTERVAL_S)
    await store.rate_limit("trigger", 10.0, 5)
    assert not store._leases and not store._records and not store._slots
    assert list(store._tats) == ["trigger"]


# -- admission: rate limits, budget and claim in one round trip ------------------------------


async def test_admit_decides_buckets_slot_and_claim_together(store: Store) -> None:
    buckets = [BucketRequest("adm-client", 10.0, 2), BucketRequest("adm-erp", 10.0, 5)]
    slot = SlotRequest("adm-slots", 1, "t1", 10.0)
    claim = ClaimRequest("adm-k1", "fp", "o1", 10.0, RETENTION_S, backend="cloud")
    first = await store.admit(buckets, slot, claim)
    assert [r.allowed for r in first.rates] == [True, True]
    assert [r.remaining for r in first.rates] == [1, 4]
    assert first.slot_taken is True
    assert first.claim is not None and first.claim.state == "claimed"

    second = await store.admit(
        buckets,
        SlotRequest("adm-slots", 1, "t2", 10.0),
        ClaimRequest("adm-k1", "fp", "o2", 10.0, RETENTION_S, backend="cloud"),
    )
    assert second.slot_taken is False  # the one slot is held
    assert second.claim is not None and second.claim.state == "in_progress"

    await store.settle(slot, claim, response(), RETENTION_S)
    third = await store.admit(
        [],
        SlotRequest("adm-slots", 1, "t3", 10.0),
        ClaimRequest("adm-k1", "fp", "o3", 10.0, RETENTION_S),
    )
    assert third.slot_taken is True  # settled: the slot is free again
    assert third.claim is not None and third.claim.state == "completed"
    assert third.claim.response == response()


async def test_admit_gives_back_first_and_reads_the_records_it_is_asked_for(
    store: Store,
) -> None:
    record = await store.put_xref(xref("so_adm1", erp_id="adm-4711"))
    held = SlotRequest("adm-one", 1, "t1", 10.0)
    assert await store.acquire_slot(held.key, 1, held.token, 10.0)
    erp = BucketRequest("adm-refund", 1.0, 1)
    assert (await store.rate_limit(erp.key, 1.0, 1)).allowed

    admitted = await store.admit(
        [erp],
        SlotRequest("adm-one", 1, "t2", 10.0),
        None,
        reads=["so_adm1", "so_unknown"],
        back=GiveBack([held], [erp]),
    )
    # Given back before deciding: the one slot and the bucket's one request are free again.
    assert admitted.slot_taken is True
    assert [r.allowed for r in admitted.rates] == [True]
    assert admitted.records == [record, None]

    await store.give_back(GiveBack([SlotRequest("adm-one", 1, "t2", 10.0)], []))
    assert (await store.admit([], SlotRequest("adm-one", 1, "t3", 10.0), None)).slot_taken


async def test_an_admitted_claim_is_marked_forwarded_and_keeps_its_first_backend(
    store: Store,
) -> None:
    await store.admit([], None, ClaimRequest("adm-k2", "fp", "o1", 10.0, RETENTION_S, "legacy"))
    await store.settle(None, ClaimRequest("adm-k2", "fp", "o1", 10.0, RETENTION_S), None)
    retry = await store.admit(
        [], None, ClaimRequest("adm-k2", "fp", "o2", 10.0, RETENTION_S, backend="cloud")
    )
    assert retry.claim is not None
    assert (retry.claim.state, retry.claim.backend, retry.claim.attempts) == (
        "claimed",
        "legacy",
        1,
    )
    await store.settle(None, ClaimRequest("adm-k2", "fp", "o2", 10.0, RETENTION_S), None)
    again = await store.claim_idempotency("adm-k2", "fp", "o3", 10.0, RETENTION_S)
    assert (again.backend, again.attempts) == ("legacy", 2)  # the cutover did not move it


async def test_admit_with_nothing_to_decide_is_empty(store: Store) -> None:
    admission = await store.admit([], None, None)
    assert (admission.rates, admission.slot_taken, admission.claim) == ([], None, None)


async def test_settle_gives_back_a_counted_request(store: Store) -> None:
    bucket = BucketRequest("adm-refund", 0.001, 2)
    await store.admit([bucket], None, None)
    await store.admit([bucket], None, None)
    assert not (await store.admit([bucket], None, None)).rates[0].allowed
    await store.settle(None, None, None, refunds=[bucket])
    assert (await store.admit([bucket], None, None)).rates[0].allowed


async def test_settle_binds_a_created_document_with_the_outcome(store: Store) -> None:
    claim = ClaimRequest("adm-bind", "fp", "o1", 10.0, RETENTION_S, backend="cloud")
    slot = SlotRequest("adm-bind-slots", 1, "t1", 10.0)
    await store.admit([], slot, claim)
    record = xref("cus_bound", erp_id="bind-1", external_ref="CRM-BIND-1")
    assert await store.settle(slot, claim, response(), RETENTION_S, bind=record) is None
    assert await store.acquire_slot("adm-bind-slots", 1, "t2", 10.0)  # given back with it
    assert await store.get_xref("cus_bound") == record
    assert await store.get_xref_by_erp("cloud", Kind.CUSTOMER, "bind-1") == record
    assert await store.find_xrefs_by_external_ref(Kind.CUSTOMER, "CRM-BIND-1") == [record]
    assert await store.xrefs_of(Kind.CUSTOMER, "US01") == [record]
    replay = await store.claim_idempotency("adm-bind", "fp", "o2", 10.0, RETENTION_S)
    assert (replay.state, replay.response) == ("completed", response())


async def test_settle_leaves_the_claim_held_for_a_document_bound_to_another_id(
    store: Store,
) -> None:
    first = await store.put_xref(xref("cus_first", erp_id="bind-2"))
    claim = ClaimRequest("adm-taken", "fp", "o1", 10.0, RETENTION_S, backend="cloud")
    slot = SlotRequest("adm-taken-slots", 1, "t1", 10.0)
    await store.admit([], slot, claim)
    later = xref("cus_later", erp_id="bind-2", external_ref="CRM-BIND-2")
    taken = await store.settle(
        slot, claim, response(b'{"id":"cus_later"}'), RETENTION_S, bind=later
    )
    assert taken == "cus_first"
    assert await store.get_xref("cus_later") is None
    assert await store.get_xref_by_erp("cloud", Kind.CUSTOMER, "bind-2") == first
    assert await store.find_xrefs_by_external_ref(Kind.CUSTOMER, "CRM-BIND-2") == []
    # Neither the claim nor the slot is given back: the caller answers for the id the document
    # has (calling the ERP again, under its slot), and settles that.
    other = ClaimRequest("adm-taken", "fp", "o2", 10.0, RETENTION_S, backend="cloud")
    meanwhile = await store.admit([], SlotRequest("adm-taken-slots", 1, "t2", 10.0), other)
    assert meanwhile.slot_taken is False
    assert meanwhile.claim is not None and meanwhile.claim.state == "in_progress"
    assert await store.settle(slot, claim, response(), RETENTION_S) is None
    replay = await store.claim_idempotency("adm-taken", "fp", "o3", 10.0, RETENTION_S)
    assert (replay.state, replay.response) == ("completed", response())
    assert await store.acquire_slot("adm-taken-slots", 1, "t3", 10.0)


async def test_settle_can_hold_a_claim_in_progress_for_a_while(store: Store, clock: Clock) -> None:
    claim = ClaimRequest("adm-hold", "fp", "o1", 30.0, RETENTION_S)
    await store.admit([], None, claim)
    await store.settle(None, claim, None, hold_s=LEASE_S)
    held = await store.claim_idempotency("adm-hold", "fp", "o2", 10.0, RETENTION_S)
    assert held.state == "in_progress"
    assert held.held_s is not None and 0 < held.held_s < WAIT_PAST_LEASE_S  # the hold left
    await clock.advance(WAIT_PAST_LEASE_S)
    after = await store.claim_idempotency("adm-hold", "fp", "o3", 10.0, RETENTION_S)
    assert after.state == "claimed"


async def test_a_claim_follows_the_latest_place_its_key_was_settled_with(
    store: Store, clock: Clock
) -> None:
    # Each claim settled without an outcome (released, its forwarding taken back or not, or
    # held) leaves its attempt's place in the journal; the next claim of the key is told the
    # latest, so that its own attempt is journaled after them whatever the hosts' clocks say.
    first = ClaimRequest("adm-follow", "fp", "o1", 30.0, RETENTION_S, backend="legacy")
    taken = (await store.admit([], None, first)).claim
    assert taken is not None and (taken.state, taken.after_ms) == ("claimed", None)
    await store.settle(None, first, None, unforward=True, position_ms=2_000)  # reached no ERP
    second = replace(first, owner="o2")
    taken = (await store.admit([], None, second)).claim
    assert taken is not None
    assert (taken.state, taken.backend, taken.attempts, taken.after_ms) == (
        "claimed",
        None,  # forgotten as forwarded; not what it followed
        0,
        2_000,
    )
    await store.settle(None, second, None, hold_s=LEASE_S, position_ms=1_000)  # a clock behind
    await clock.advance(WAIT_PAST_LEASE_S)
    third = replace(first, owner="o3")
    taken = (await store.admit([], None, third)).claim
    assert taken is not None and (taken.state, taken.attempts, taken.after_ms) == (
        "claimed",
        1,
        2_000,
    )
    assert await store.release_idempotency("adm-follow", "o3", position_ms=3_000)
    again = await store.claim_idempotency("adm-follow", "fp", "o4", 30.0, RETENTION_S)
    assert (again.state, again.backend, again.after_ms) == ("claimed", "legacy", 3_000)


async def test_a_claim_a_request_still_holds_is_in_progress_with_no_hold_to_wait_out(
    store: Store,
) -> None:
    claim = ClaimRequest("adm-live", "fp", "o1", 30.0, RETENTION_S)
    await store.admit([], None, claim)
    live = await store.claim_idempotency("adm-live", "fp", "o2", 10.0, RETENTION_S)
    assert (live.state, live.held_s) == ("in_progress", None)


async def test_the_memory_store_forgets_expired_jobs_too() -> None:
    # A job's state is kept for its retention (7 days): after that get_job answers None, and
    # the sweep that drops expired leases, records and buckets drops it as well.
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    for n in range(100):
        await store.put_job(f"job{n}", "{}", 1.0)
    await clock.advance(SWEEP_INTERVAL_S)
    await store.rate_limit("trigger", 10.0, 5)  # a sweep is due
    assert await store.get_job("job0") is None
    assert len(store._jobs) <= 1
