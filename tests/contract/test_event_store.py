"""The domain events' storage, the same on memory and on Redis: a change applies only on the
sequence it was read at, its events join the timeline and the log in order, and each delivery
is claimed by one owner at a time (its subscription with it), retried, dead-lettered and
replayed. What it keeps is bounded: a timeline goes its retention after the order's last event,
a dead letter its retention after its last try, and beyond the most kept the oldest."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import redis.asyncio as aioredis

from gateway.store import events
from gateway.store.base import Store
from gateway.store.events import BadCursor, DocumentState, EventRetention, MemoryEvents, NewEvent
from tests.conftest import PrefixedRedisStore

KEEP = EventRetention()


def event(order_id: str, kind: str, *subscriptions: str) -> NewEvent:
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps({"id": event_id, "type": kind, "subject": order_id})
    return NewEvent(event_id, order_id, body, subscriptions)


def types(bodies: list[str]) -> list[str]:
    return [json.loads(b)["type"] for b in bodies]


async def test_a_change_applies_only_at_the_sequence_it_was_read_at(store: Store) -> None:
    document = f"legacy:sales_order:{uuid.uuid4().hex}"
    order = f"so_{uuid.uuid4().hex}"
    assert await store.events.document_state(document) == DocumentState()
    first = DocumentState(10, {"status": "accepted"})
    assert await store.events.commit(document, 0, first, [event(order, "a")], time.time(), KEEP)
    # A second writer that read the document before the first commit loses: nothing recorded.
    late = DocumentState(11, {"status": "shipped"})
    assert not await store.events.commit(document, 0, late, [event(order, "b")], time.time(), KEEP)
    assert await store.events.document_state(document) == first
    assert await store.events.commit(document, 10, late, [event(order, "c")], time.time(), KEEP)
    assert types(await store.events.timeline(order)) == ["a", "c"]


async def test_the_log_pages_after_a_cursor_oldest_first(store: Store) -> None:
    start = await store.events.log(None, 10_000)
    order = f"so_{uuid.uuid4().hex}"
    document = f"cloud:sales_order:{uuid.uuid4().hex}"
    events = [event(order, f"t{i}") for i in range(5)]
    assert await store.events.commit(document, 0, DocumentState(1, {}), events, time.time(), KEEP)
    page = await store.events.log(start.cursor, 3)
    assert types(page.events) == ["t0", "t1", "t2"]
    rest = await store.events.log(page.cursor, 3)
    assert types(rest.events) == ["t3", "t4"]
    empty = await store.events.log(rest.cursor, 3)
    assert empty.events == [] and empty.cursor == rest.cursor
    for forged in ("not-a-cursor", "99999999999999999999-0", f"{2**64 - 1}-{2**64 - 1}", "²-1"):
        with pytest.raises(BadCursor):
            await store.events.log(forged, 3)


# What neither store hands out: signed, padded or underscored numbers, and cursors past the
# newest event (a made-up one, or one of another log): each store's form among them.
MADE_UP_CURSORS = ("-1", "+1", " 1", "1_0", "99999999", "99999999999999-0", "9999999999999-5")


@pytest.mark.parametrize("made_up", MADE_UP_CURSORS)
async def test_a_cursor_the_log_never_handed_out_is_refused(store: Store, made_up: str) -> None:
    empty = await store.events.log(None, 10)  # the cursor of a log with nothing in it yet
    order = f"so_{uuid.uuid4().hex}"
    events = [event(order, f"t{i}") for i in range(2)]
    assert await store.events.commit(
        f"d:{order}", 0, DocumentState(1, {}), events, time.time(), KEEP
    )
    with pytest.raises(BadCursor):
        await store.events.log(made_up, 3)
    # Every cursor handed out is taken, the newest included.
    page = await store.events.log(empty.cursor, 1)
    assert types(page.events) == ["t0"]
    assert types((await store.events.log(page.cursor, 3)).events) == ["t1"]
    newest = await store.events.log(page.cursor, 3)
    assert (await store.events.log(newest.cursor, 3)).events == []


async def test_a_delivery_is_claimed_by_one_owner_until_its_lease_ends(store: Store) -> None:
    subscription = f"sub-{uuid.uuid4().hex}"
    now = time.time()
    new = event(f"so_{uuid.uuid4().hex}", "sales_order.accepted", subscription)
    assert await store.events.commit(f"d:{new.id}", 0, DocumentState(1, {}), [new], now, KEEP)
    first = [
        d for d in await store.events.claim_deliveries(now, 100, 30, "a") if d.event_id == new.id
    ]
    assert len(first) == 1 and first[0].subscription == subscription
    again = await store.events.claim_deliveries(now + 1, 100, 30, "b")
    assert new.id not in {d.event_id for d in again}
    # The holder stalled: after its lease another claim (even by the same owner) takes it over,
    # and the first claim may not settle it.
    later = await store.events.claim_deliveries(now + 31, 100, 30, "a")
    taken = [d for d in later if d.event_id == new.id]
    assert len(taken) == 1
    assert not await store.events.delivered(first[0])
    assert await store.events.delivered(taken[0])
    after = await store.events.claim_deliveries(now + 100, 100, 30, "c")
    assert new.id not in {d.event_id for d in after}


async def test_a_claim_holds_its_subscriptions_until_it_lets_go_and_order_is_kept(
    store: Store,
) -> None:
    # One process at a time sends to a subscriber: while a claim holds a subscription, no
    # other claim gets any of its deliveries (not even one that fell due since), but others'.
    held, other = f"sub-{uuid.uuid4().hex}", f"sub-{uuid.uuid4().hex}"
    now = time.time()
    order = f"so_{uuid.uuid4().hex}"
    first = [event(order, f"t{i}", held) for i in range(3)]
    for i, new in enumerate(first):
        assert await store.events.commit(
            f"d:{new.id}", 0, DocumentState(1, {}), [new], now + i, KEEP
        )

    def of(subscription: str, claimed: list) -> list[str]:  # type: ignore[type-arg]
        return [d.event_id for d in claimed if d.subscription == subscription]

    claim = await store.events.claim_deliveries(now + 5, 100, 30, "a")
    assert of(held, claim) == [new.id for new in first]  # in the order they fell due
    later, elsewhere = event(order, "t3", held), event(order, "x", other)
    assert await store.events.commit(
        f"d:{later.id}", 0, DocumentState(1, {}), [later], now + 6, KEEP
    )
    assert await store.events.commit(
        f"d:{elsewhere.id}", 0, DocumentState(1, {}), [elsewhere], now + 6, KEEP
    )
    second = await store.events.claim_deliveries(now + 7, 100, 30, "b")
    assert of(held, second) == [] and of(other, second) == [elsewhere.id]
    # The holder sends the first, then lets go: the rest are due again in their places.
    (sent,) = [d for d in claim if d.event_id == first[0].id]
    assert await store.events.delivered(sent)
    assert not await store.events.release(held, "b:stale")  # only the holder lets go
    assert await store.events.release(held, sent.lease or "")
    again = await store.events.claim_deliveries(now + 8, 100, 30, "b")
    assert of(held, again) == [first[1].id, first[2].id, later.id]


async def test_a_failed_delivery_is_retried_then_dead_lettered_and_replayed(store: Store) -> None:
    subscription = f"sub-{uuid.uuid4().hex}"
    now = time.time()
    new = event(f"so_{uuid.uuid4().hex}", "sales_order.shipped", subscription)
    assert await store.events.commit(f"d:{new.id}", 0, DocumentState(1, {}), [new], now, KEEP)

    def mine(claimed: list) -> list:  # type: ignore[type-arg]
        return [d for d in claimed if d.event_id == new.id]

    (claimed,) = mine(await store.events.claim_deliveries(now, 100, 30, "w"))
    assert await store.events.retry_at(claimed, now + 5, "HTTP 503")
    assert await store.events.release(subscription, claimed.lease or "")
    assert mine(await store.events.claim_deliveries(now + 4, 100, 30, "w")) == []
    (retried,) = mine(await store.events.claim_deliveries(now + 5, 100, 30, "w"))
    assert (retried.attempts, retried.last_error) == (1, "HTTP 503")
    assert await store.events.dead_letter(retried, "HTTP 500", now + 6, KEEP)
    assert await store.events.release(subscription, retried.lease or "")
    assert mine(await store.events.claim_deliveries(now + 1000, 100, 30, "w")) == []
    dead = [d for d in (await store.events.dead_letters(None, 1000)).items if d.event_id == new.id]
    assert len(dead) == 1 and (dead[0].attempts, dead[0].last_error) == (2, "HTTP 500")
    assert json.loads(dead[0].body)["id"] == new.id

    letter = await store.events.dead_letter_of(dead[0].id)
    assert letter is not None and (letter.event_id, letter.body) == (new.id, dead[0].body)
    assert await store.events.replay_dead_letter(dead[0].id, now + 7)
    assert not await store.events.replay_dead_letter(dead[0].id, now + 7)
    assert await store.events.dead_letter_of(dead[0].id) is None  # due again, not dead
    assert new.id not in {d.event_id for d in (await store.events.dead_letters(None, 1000)).items}
    (replayed,) = mine(await store.events.claim_deliveries(now + 7, 100, 30, "w"))
    assert replayed.attempts == 0
    assert await store.events.delivered(replayed)


async def test_one_poller_at_a_time_and_the_watermark_it_left(store: Store) -> None:
    backend = f"erp-{uuid.uuid4().hex}"
    now = time.time()
    assert await store.events.claim_poll(backend, 10, now) == 0.0
    assert await store.events.claim_poll(backend, 10, now + 5) is None
    watermark = await store.events.claim_poll(backend, 10, now + 10)
    assert watermark == pytest.approx(now, abs=0.002)


async def dead_letter_one(
    store: Store, at: float, retention: EventRetention, subscription: str | None = None
) -> str:
    """An event for `subscription` (by default one of its own) whose delivery is
    dead-lettered at `at`: its id."""
    subscription = subscription or f"sub-{uuid.uuid4().hex}"
    new = event(f"so_{uuid.uuid4().hex}", "sales_order.shipped", subscription)
    assert await store.events.commit(f"d:{new.id}", 0, DocumentState(1, {}), [new], at, KEEP)
    claimed = await store.events.claim_deliveries(at, 100, 30, "w")
    (delivery,) = [d for d in claimed if d.event_id == new.id]
    assert await store.events.dead_letter(delivery, "HTTP 500", at, retention)
    assert await store.events.release(subscription, delivery.lease or "")
    return delivery.id


async def test_dead_letters_go_past_their_retention_and_beyond_the_most_kept(
    store: Store,
) -> None:
    now = time.time()
    kept_15_s = EventRetention(dead_letter_s=15, max_dead_letters=100)
    first = await dead_letter_one(store, now, kept_15_s)
    second = await dead_letter_one(store, now + 10, kept_15_s)
    third = await dead_letter_one(store, now + 20, kept_15_s)  # the first is 20 s old
    assert [d.id for d in (await store.events.dead_letters(None, 100)).items] == [second, third]
    assert not await store.events.replay_dead_letter(first, now + 21)
    two_at_most = EventRetention(dead_letter_s=15, max_dead_letters=2)
    fourth = await dead_letter_one(store, now + 21, two_at_most)
    assert [d.id for d in (await store.events.dead_letters(None, 100)).items] == [third, fourth]


async def test_dead_letters_page_by_cursor_each_once_oldest_first(store: Store) -> None:
    now = time.time()
    # Two by two at one instant: the same age, ordered by id, never split or repeated.
    letters = [await dead_letter_one(store, now + i // 2, KEEP) for i in range(5)]
    expected = sorted(letters[0:2]) + sorted(letters[2:4]) + letters[4:]
    first = await store.events.dead_letters(None, 2)
    assert [d.id for d in first.items] == expected[:2] and first.next_cursor is not None
    # The page's last one replayed meanwhile (as `--replay` does): the next page goes on after it.
    assert await store.events.replay_dead_letter(expected[1], now + 3)
    second = await store.events.dead_letters(first.next_cursor, 2)
    assert [d.id for d in second.items] == expected[2:4] and second.next_cursor is not None
    last = await store.events.dead_letters(second.next_cursor, 2)
    assert [d.id for d in last.items] == expected[4:] and last.next_cursor is None
    everything = await store.events.dead_letters(None, 10)
    assert [d.id for d in everything.items] == [expected[0], *expected[2:]]
    assert everything.next_cursor is None
    for forged in ("not-a-cursor", "@@", "MTIz"):  # the last: base64 of "123", no id
        with pytest.raises(BadCursor):
            await store.events.dead_letters(forged, 2)


async def test_one_subscriptions_dead_letters_page_by_cursor_oldest_first_as_all_do(
    store: Store,
) -> None:
    now = time.time()
    gone = f"sub-{uuid.uuid4().hex[:8]}"
    longer = f"{gone}-2"  # shares its beginning: another subscription's
    # Interleaved with the other's, two by two at one instant (ordered by id at one age).
    mine, others = [], []
    for i in range(7):
        at = now + i // 2
        mine.append(await dead_letter_one(store, at, KEEP, gone))
        others.append(await dead_letter_one(store, at, KEEP, longer))
    everything = [d.id for d in (await store.events.dead_letters(None, 100)).items]
    expected = [key for key in everything if key in mine]  # the order all are listed in
    assert sorted(expected) == sorted(mine)
    first = await store.events.dead_letters(None, 3, gone)
    assert [d.id for d in first.items] == expected[:3] and first.next_cursor is not None
    assert {d.subscription for d in first.items} == {gone}
    # The page's last one replayed meanwhile (as `--replay` does): the next page goes on after it.
    assert await store.events.replay_dead_letter(expected[2], now + 10)
    second = await store.events.dead_letters(first.next_cursor, 3, gone)
    assert [d.id for d in second.items] == expected[3:6] and second.next_cursor is not None
    last = await store.events.dead_letters(second.next_cursor, 3, gone)
    assert [d.id for d in last.items] == expected[6:] and last.next_cursor is None
    of_longer = await store.events.dead_letters(None, 100, longer)
    assert [d.id for d in of_longer.items] == [key for key in everything if key in others]
    quiet = await store.events.dead_letters(None, 100, f"{gone}-quiet")
    assert (quiet.items, quiet.next_cursor) == ([], None)
    # The unfiltered listing's cursor at one of its dead letters goes on as its own does.
    unfiltered = await store.events.dead_letters(None, everything.index(expected[0]) + 1)
    assert unfiltered.items[-1].id == expected[0] and unfiltered.next_cursor is not None
    from_there = await store.events.dead_letters(unfiltered.next_cursor, 2, gone)
    assert [d.id for d in from_there.items] == [expected[1], expected[3]]
    # A cursor at another subscription's dead letter is no place in this one's listing.
    elsewhere = await store.events.dead_letters(None, 1, longer)
    for forged in ("not-a-cursor", "MTIz", elsewhere.next_cursor or ""):
        with pytest.raises(BadCursor):
            await store.events.dead_letters(forged, 2, gone)


async def test_each_subscriptions_dead_letters_are_counted_as_they_come_and_go(
    store: Store,
) -> None:
    now = time.time()
    gone = f"sub-{uuid.uuid4().hex[:8]}"
    # Ids that share its beginning are other subscriptions' (ids are [a-z0-9-], never `:`).
    longer, quiet = f"{gone}-2", f"{gone}-quiet"
    kept_15_s = EventRetention(dead_letter_s=15)
    await dead_letter_one(store, now, kept_15_s, gone)
    letters = [await dead_letter_one(store, now + 10, kept_15_s, gone) for _ in range(3)]
    await dead_letter_one(store, now + 10, kept_15_s, longer)
    counts = await store.events.dead_letter_counts([gone, longer, quiet])
    assert counts == {gone: 4, longer: 1, quiet: 0}
    # One replayed, the oldest past its retention as a later one is recorded.
    assert await store.events.replay_dead_letter(letters[0], now + 11)
    await dead_letter_one(store, now + 20, kept_15_s, longer)
    counts = await store.events.dead_letter_counts([gone, longer, quiet])
    assert counts == {gone: 2, longer: 2, quiet: 0}
    assert await store.events.dead_letter_counts([]) == {}


@pytest.mark.redis
async def test_on_redis_dead_letters_recorded_before_they_were_counted_are_counted(
    redis_store: PrefixedRedisStore,
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Dead letters an earlier version recorded (only in the dead letters' sorted set, more
    # than one step of the count takes in): each counted once, those recorded since too.
    monkeypatch.setattr(events, "_INDEXED_AT_MOST", 100)
    store = redis_store.store
    base = f"{redis_store.prefix}{{events}}:"
    now = time.time()
    an_hour_ago = int((now - 3600) * 1000)
    earlier = {f"hook-a:evt_{i}": an_hour_ago + i for i in range(700)}
    earlier |= {f"hook-b:evt_{i}": an_hour_ago + i for i in range(300)}
    await redis_client.zadd(base + "dead", earlier)
    await dead_letter_one(store, now, KEEP, "hook-b")
    counts = await store.events.dead_letter_counts(["hook-a", "hook-b", "hook-c"])
    assert counts == {"hook-a": 700, "hook-b": 301, "hook-c": 0}
    assert await store.events.dead_letter_counts(["hook-a"]) == {"hook-a": 700}
    # During a rolling deploy, a process of the earlier version records one and drops
    # (replays) others, in the dead letters' sorted set only: the counts follow.
    await redis_client.zadd(base + "dead", {"hook-c:evt_late": an_hour_ago})
    await redis_client.zrem(base + "dead", *(f"hook-a:evt_{i}" for i in range(10)))
    counts = await store.events.dead_letter_counts(["hook-a", "hook-b", "hook-c"])
    assert counts == {"hook-a": 690, "hook-b": 301, "hook-c": 1}


# The count of dead letters of the previous release, as it runs during a rolling deploy beside
# this one, on the same keys: "done" in the backfill key, or else a ZSCAN cursor to go on from.
EARLIER_COUNT_DEAD = (
    events._BY_SUBSCRIPTION
    + """
local function indexed()
  local backfill = redis.call('GET', KEYS[3])
  if backfill == 'done' and redis.call('ZCARD', KEYS[1]) ~= redis.call('ZCARD', KEYS[2]) then
    redis.call('DEL', KEYS[2])
    backfill = false
  end
  if backfill == 'done' then
    return true
  end
  local scanned = redis.call('ZSCAN', KEYS[1], backfill or '0', 'COUNT', ARGV[1])
  local found = scanned[2]
  for i = 1, #found, 2 do
    redis.call('ZADD', KEYS[2], 0, by_subscription(found[i], found[i + 1]))
  end
  if scanned[1] ~= '0' then
    redis.call('SET', KEYS[3], scanned[1])
    return false
  end
  redis.call('SET', KEYS[3], 'done')
  return true
end
if not indexed() then
  return false
end
local counts = {}
for i = 2, #ARGV do
  local from, before = '[' .. ARGV[i] .. ':', '(' .. ARGV[i] .. ';'
  counts[#counts + 1] = redis.call('ZLEXCOUNT', KEYS[2], from, before)
end
return counts
"""
)


@pytest.mark.redis
async def test_on_redis_the_previous_release_counts_dead_letters_after_this_one_indexed_them(
    redis_store: PrefixedRedisStore, redis_client: aioredis.Redis
) -> None:
    # A rolling deploy: processes of both releases count on the same index, in turn.
    store = redis_store.store
    base = f"{redis_store.prefix}{{events}}:"
    now = time.time()
    await dead_letter_one(store, now - 30, KEEP, "hook-a")
    await dead_letter_one(store, now - 20, KEEP, "hook-a")
    keys = [base + "dead", base + "dead:by-subscription", base + "dead:by-subscription:backfill"]
    for _ in range(2):  # the index built by this release, then looked at again by it
        assert await store.events.dead_letter_counts(["hook-a"]) == {"hook-a": 2}
        earlier = await redis_client.eval(EARLIER_COUNT_DEAD, len(keys), *keys, 100, "hook-a")
        assert earlier == [2]
    await dead_letter_one(store, now - 10, KEEP, "hook-a")
    assert await redis_client.eval(EARLIER_COUNT_DEAD, len(keys), *keys, 100, "hook-a") == [3]
    assert await store.events.dead_letter_counts(["hook-a"]) == {"hook-a": 3}


@pytest.mark.redis
async def test_on_redis_a_dead_letter_an_earlier_version_records_as_it_drops_one_is_counted(
    redis_store: PrefixedRedisStore, redis_client: aioredis.Redis
) -> None:
    # At its most kept (or with one past its retention), a process of the earlier version
    # records a dead letter and drops the oldest in one script, in the dead letters' sorted set
    # and the deliveries only: as many dead letters as before, but not the same ones.
    store = redis_store.store
    base = f"{redis_store.prefix}{{events}}:"
    now = time.time()
    oldest = await dead_letter_one(store, now - 60, KEEP, "hook-a")
    await dead_letter_one(store, now - 30, KEEP, "hook-a")
    assert await store.events.dead_letter_counts(["hook-a", "hook-b"]) == {"hook-a": 2, "hook-b": 0}
    late = events.Delivery("hook-b:evt_late", "hook-b", "evt_late", "{}", 4, "HTTP 500")
    await redis_client.hset(base + "deliveries", late.id, late.to_json())
    await redis_client.zadd(base + "dead", {late.id: int(now * 1000)})
    await redis_client.zrem(base + "dead", oldest)
    await redis_client.hdel(base + "deliveries", oldest)
    counts = await store.events.dead_letter_counts(["hook-a", "hook-b"])
    assert counts == {"hook-a": 1, "hook-b": 1}
    listed = await store.events.dead_letters(None, 10, "hook-b")
    assert [d.id for d in listed.items] == [late.id]


@pytest.mark.redis
async def test_on_redis_dead_letters_recorded_before_they_were_indexed_are_listed_by_subscription(
    redis_store: PrefixedRedisStore,
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Dead letters an earlier version recorded (in the dead letters' sorted set and the
    # deliveries, not in the index by subscription): listed, in order, with those since.
    monkeypatch.setattr(events, "_INDEXED_AT_MOST", 10)
    store = redis_store.store
    base = f"{redis_store.prefix}{{events}}:"
    an_hour_ago = int((time.time() - 3600) * 1000)
    earlier = {}
    for i in range(30):
        subscription = ("hook-a", "hook-b")[i % 2]
        key = f"{subscription}:evt_{i:02d}"
        earlier[key] = an_hour_ago + i // 3
        body = events.Delivery(key, subscription, f"evt_{i:02d}", "{}", 4, "HTTP 500")
        await redis_client.hset(base + "deliveries", key, body.to_json())
    await redis_client.zadd(base + "dead", earlier)
    later = await dead_letter_one(store, time.time(), KEEP, "hook-a")
    expected = sorted((ms, key) for key, ms in earlier.items() if key.startswith("hook-a:"))
    listed, cursor = [], None
    while True:
        page = await store.events.dead_letters(cursor, 4, "hook-a")
        listed += [d.id for d in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert listed == [key for _, key in expected] + [later]
    assert (await store.events.dead_letter_counts(["hook-a", "hook-b"])) == {
        "hook-a": 16,
        "hook-b": 15,
    }


async def test_a_timeline_is_gone_its_retention_after_the_orders_last_event(
    store: Store,
) -> None:
    brief, kept = f"so_{uuid.uuid4().hex}", f"so_{uuid.uuid4().hex}"
    now = time.time()
    short = EventRetention(timeline_s=0.05)
    assert await store.events.commit(
        f"d:{brief}", 0, DocumentState(1, {}), [event(brief, "a")], now, short
    )
    assert await store.events.commit(
        f"d:{kept}", 0, DocumentState(1, {}), [event(kept, "a")], now, KEEP
    )
    await asyncio.sleep(0.2)
    assert await store.events.timeline(brief) == []
    assert types(await store.events.timeline(kept)) == ["a"]


@pytest.mark.redis
async def test_on_redis_a_timeline_expires_after_its_last_event_and_a_dropped_dead_letter_goes(
    redis_store: PrefixedRedisStore, redis_client: aioredis.Redis
) -> None:
    store = redis_store.store
    base = f"{redis_store.prefix}{{events}}:"
    order = f"so_{uuid.uuid4().hex}"
    now = time.time()
    hour, day = EventRetention(timeline_s=3600), EventRetention(timeline_s=86400)
    assert await store.events.commit("d:1", 0, DocumentState(1, {}), [event(order, "a")], now, hour)
    assert 0 < await redis_client.pttl(base + f"timeline:{order}") <= 3600_000
    assert await store.events.commit("d:1", 1, DocumentState(2, {}), [event(order, "b")], now, day)
    assert 3600_000 < await redis_client.pttl(base + f"timeline:{order}") <= 86400_000
    one_at_most = EventRetention(max_dead_letters=1)
    await dead_letter_one(store, now, one_at_most)
    kept = await dead_letter_one(store, now + 1, one_at_most)
    assert [k.decode() for k in await redis_client.zrange(base + "dead", 0, -1)] == [kept]
    assert [k.decode() for k in await redis_client.hkeys(base + "deliveries")] == [kept]
    # The index by subscription follows (never rebuilt here: no count or listing ran).
    (indexed,) = await redis_client.zrange(base + "dead:by-subscription", 0, -1)
    assert indexed.decode().endswith(f":{kept}")
    assert await store.events.replay_dead_letter(kept, now + 2)
    assert await redis_client.zcard(base + "dead:by-subscription") == 0


async def test_the_memory_store_sweeps_the_timelines_past_their_retention() -> None:
    events = MemoryEvents()
    now = time.time()
    hour = EventRetention(timeline_s=3600)
    for order in ("so_old", "so_moved"):
        assert await events.commit(
            f"d:{order}", 0, DocumentState(1, {}), [event(order, "a")], now, hour
        )
    # A later event keeps its order's timeline an hour from then.
    later = [event("so_moved", "b")]
    assert await events.commit("d:so_moved", 1, DocumentState(2, {}), later, now + 3000, hour)
    assert await events.commit(
        "d:so_new", 0, DocumentState(1, {}), [event("so_new", "a")], now + 3601, hour
    )
    assert sorted(events._timelines) == ["so_moved", "so_new"]
    assert types(await events.timeline("so_moved")) == ["a", "b"]


async def test_the_memory_stores_expiry_indexes_grow_with_what_it_holds_not_each_change() -> None:
    events = MemoryEvents()
    now = time.time()
    # One order changed a thousand times within its retention: one state, one timeline.
    for sequence in range(1000):
        changed = [event("so_busy", f"t{sequence}")]
        state = DocumentState(sequence + 1, {})
        assert await events.commit("d:so_busy", sequence, state, changed, now + sequence, KEEP)
    assert len(events._documents) == 1 and len(events._timelines) == 1
    # Each index keeps a stale entry per change only until it outgrows what is held.
    assert len(events._document_expiries) < 250
    assert len(events._expiries) < 250


async def test_a_documents_state_goes_its_retention_after_its_last_change(store: Store) -> None:
    hour = EventRetention(document_s=3600)
    dropped, kept, later = (f"d:{uuid.uuid4().hex}" for _ in range(3))
    now = time.time()
    assert await store.events.commit(dropped, 0, DocumentState(1, {"n": 1}), [], now, hour)
    assert await store.events.commit(kept, 0, DocumentState(1, {"n": 1}), [], now, hour)
    # A later change keeps its document an hour from then.
    assert await store.events.commit(kept, 1, DocumentState(2, {"n": 2}), [], now + 3000, hour)
    # A commit past the hour sweeps the documents past their retention.
    assert await store.events.commit(later, 0, DocumentState(1, {}), [], now + 3601, hour)
    assert await store.events.document_state(dropped) == DocumentState()
    assert await store.events.document_state(kept) == DocumentState(2, {"n": 2})
    # Seen again, a dropped document starts afresh: nothing to compare its sequence with.
    again = DocumentState(7, {"n": 7})
    assert await store.events.commit(dropped, 0, again, [], now + 3602, hour)
    assert await store.events.document_state(dropped) == again


@pytest.mark.redis
async def test_on_redis_a_document_state_of_an_earlier_version_goes_too(
    redis_store: PrefixedRedisStore, redis_client: aioredis.Redis
) -> None:
    store = redis_store.store
    documents = f"{redis_store.prefix}{{events}}:documents"
    hour = EventRetention(document_s=3600)
    # Recorded before the documents had a retention: the state without a time of change.
    await redis_client.hset(documents, "d:old", json.dumps({"sequence": 3, "snapshot": {}}))
    now = time.time()
    assert await store.events.commit("d:new", 0, DocumentState(1, {}), [], now, hour)
    # Kept its whole retention from then (its last change is not known).
    assert await store.events.document_state("d:old") == DocumentState(3, {})
    assert await store.events.commit("d:new", 1, DocumentState(2, {}), [], now + 3601, hour)
    assert await store.events.document_state("d:old") == DocumentState()
    assert [k.decode() for k in await redis_client.hkeys(documents)] == ["d:new"]
