"""The shadow report's storage, on every Store: tallies add up per scope, examples are kept
newest first and capped, a batch written again is counted once, a reset forgets everything."""

from __future__ import annotations

import pytest

from gateway.store.base import Store
from gateway.store.buffered import BufferedWriter
from gateway.store.redis import RedisStore
from gateway.store.shadow import MAX_EXAMPLES, MEMORY_RECORDS_KEPT, MemoryShadow, ShadowTally
from tests.lossy_proxy import ReplyLosingProxy


async def test_tallies_add_up_per_scope_across_batches(store: Store) -> None:
    await store.shadow.add(
        [
            ShadowTally("DE01|customers.read", {"samples": 1, "sig:": 1}),
            ShadowTally("DE01|customers.read", {"samples": 1, "sig:email": 1}, ('{"a":1}',)),
            ShadowTally("FR01|sales_orders.create", {"samples": 1, "skipped": 1}),
        ]
    )
    await store.shadow.add([ShadowTally("DE01|customers.read", {"samples": 2, "sig:": 2})])
    counters, examples, _ = await store.shadow.read()
    assert counters == {
        "DE01|customers.read": {"samples": 4, "sig:": 3, "sig:email": 1},
        "FR01|sales_orders.create": {"samples": 1, "skipped": 1},
    }
    assert examples.get("DE01|customers.read") == ['{"a":1}']
    assert not examples.get("FR01|sales_orders.create")


async def test_examples_are_kept_newest_first_and_capped(store: Store) -> None:
    for n in range(MAX_EXAMPLES + 5):
        await store.shadow.add([ShadowTally("GB01|customers.read", {"samples": 1}, (str(n),))])
    examples = (await store.shadow.read()).examples
    kept = examples["GB01|customers.read"]
    assert len(kept) == MAX_EXAMPLES
    assert kept[0] == str(MAX_EXAMPLES + 4) and kept[-1] == "5"


async def test_a_reset_forgets_every_scope(store: Store) -> None:
    await store.shadow.add(
        [ShadowTally("DE01|customers.read", {"samples": 1}, ("x",), record="cus_1")]
    )
    await store.shadow.reset()
    assert await store.shadow.read() == ({}, {}, {})


async def test_distinct_records_are_counted_per_scope_across_batches(store: Store) -> None:
    reads, quotes = "DE01|customers.read", "DE01|quotes.validate"
    await store.shadow.add(
        [
            ShadowTally(reads, {"samples": 1}, record="cus_a"),
            ShadowTally(reads, {"samples": 1}, record="cus_a"),
            ShadowTally(quotes, {"samples": 1}, record="cus_a"),
            ShadowTally(reads, {"samples": 1, "skipped": 1}),  # no record compared
        ]
    )
    await store.shadow.add([ShadowTally(reads, {"samples": 1}, record="cus_b")])
    await store.shadow.add([ShadowTally(reads, {"samples": 1}, record="cus_a")])
    read = await store.shadow.read()
    assert read.counters[reads] == {"samples": 5, "skipped": 1}
    assert read.records == {reads: 2, quotes: 1}


async def test_many_distinct_records_are_counted_within_two_percent(store: Store) -> None:
    scope = "FR01|customers.read"
    ids = [f"cus_{n:05d}" for n in range(2000)]
    for start in range(0, len(ids), 250):
        batch = [ShadowTally(scope, {"samples": 1}, record=i) for i in ids[start : start + 250]]
        await store.shadow.add(batch + batch[:10])  # some read twice
    records = (await store.shadow.read()).records[scope]
    assert abs(records - len(ids)) <= len(ids) * 0.02


async def test_the_memory_store_counts_records_up_to_its_cap() -> None:
    shadow = MemoryShadow()
    scope = "GB01|customers.read"
    ids = [f"cus_{n}" for n in range(MEMORY_RECORDS_KEPT + 5)]
    await shadow.add([ShadowTally(scope, {"samples": 1}, record=i) for i in ids])
    assert (await shadow.read()).records == {scope: MEMORY_RECORDS_KEPT}


async def test_a_batch_added_again_is_counted_once(store: Store) -> None:
    batch = [
        ShadowTally("DE01|customers.read", {"samples": 1, "sig:email": 1}, ('{"a":1}',)),
        ShadowTally("FR01|quotes.validate", {"samples": 1, "sig:": 1}),
    ]
    await store.shadow.add(batch)
    await store.shadow.add(batch)  # the same batch, written again (its reply was lost)
    await store.shadow.add([ShadowTally("DE01|customers.read", {"samples": 1, "sig:": 1})])
    counters, examples, _ = await store.shadow.read()
    assert counters == {
        "DE01|customers.read": {"samples": 2, "sig:email": 1, "sig:": 1},
        "FR01|quotes.validate": {"samples": 1, "sig:": 1},
    }
    assert examples["DE01|customers.read"] == ['{"a":1}']


@pytest.mark.redis
async def test_a_batch_whose_reply_was_lost_is_counted_once_when_written_again(
    reply_losing: tuple[ReplyLosingProxy, RedisStore],
) -> None:
    proxy, store = reply_losing
    scope = "DE01|customers.read"
    writer: BufferedWriter[ShadowTally] = BufferedWriter("shadow report", store.shadow.add)
    writer.put(ShadowTally(scope, {"samples": 1, "sig:": 1}))
    assert await writer.flush()  # connected: the next loss is of a reply only
    writer.put(ShadowTally(scope, {"samples": 1, "sig:email": 1}, ("email",)))
    writer.put(ShadowTally(scope, {"samples": 1, "skipped": 1}))
    proxy.losing = True
    assert not await writer.flush()  # Redis counted the batch; its reply was lost: kept
    proxy.losing = False
    writer.put(ShadowTally(scope, {"samples": 1, "sig:": 1}))
    assert await writer.flush()  # the kept batch written again, then the new tally
    counters, examples, _ = await store.shadow.read()
    assert counters == {scope: {"samples": 4, "sig:": 2, "sig:email": 1, "skipped": 1}}
    assert examples == {scope: ["email"]}
    await writer.aclose()
