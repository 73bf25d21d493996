"""The shadow report's storage, on every Store: tallies add up per scope, examples are kept
newest first and capped, a batch written again is counted once, a reset forgets everything."""

from __future__ import annotations

import pytest

from gateway.store.base import Store
from gateway.store.buffered import BufferedWriter
from gateway.store.redis import RedisStore
from gateway.store.shadow import MAX_EXAMPLES, ShadowTally
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
    counters, examples = await store.shadow.read()
    assert counters == {
        "DE01|customers.read": {"samples": 4, "sig:": 3, "sig:email": 1},
        "FR01|sales_orders.create": {"samples": 1, "skipped": 1},
    }
    assert examples.get("DE01|customers.read") == ['{"a":1}']
    assert not examples.get("FR01|sales_orders.create")


async def test_examples_are_kept_newest_first_and_capped(store: Store) -> None:
    for n in range(MAX_EXAMPLES + 5):
        await store.shadow.add([ShadowTally("GB01|customers.read", {"samples": 1}, (str(n),))])
    _, examples = await store.shadow.read()
    kept = examples["GB01|customers.read"]
    assert len(kept) == MAX_EXAMPLES
    assert kept[0] == str(MAX_EXAMPLES + 4) and kept[-1] == "5"


async def test_a_reset_forgets_every_scope(store: Store) -> None:
    await store.shadow.add([ShadowTally("DE01|customers.read", {"samples": 1}, ("x",))])
    await store.shadow.reset()
    assert await store.shadow.read() == ({}, {})


async def test_a_batch_added_again_is_counted_once(store: Store) -> None:
    batch = [
        ShadowTally("DE01|customers.read", {"samples": 1, "sig:email": 1}, ('{"a":1}',)),
        ShadowTally("FR01|quotes.validate", {"samples": 1, "sig:": 1}),
    ]
    await store.shadow.add(batch)
    await store.shadow.add(batch)  # the same batch, written again (its reply was lost)
    await store.shadow.add([ShadowTally("DE01|customers.read", {"samples": 1, "sig:": 1})])
    counters, examples = await store.shadow.read()
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
    counters, examples = await store.shadow.read()
    assert counters == {scope: {"samples": 4, "sig:": 2, "sig:email": 1, "skipped": 1}}
    assert examples == {scope: ["email"]}
    await writer.aclose()
