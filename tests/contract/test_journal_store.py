"""The transaction journal's storage, the same on memory and on Redis: attempts merge into one
entry, the latest settling attempt gives the summary, listings filter and page newest first,
open exceptions are counted by age, and the retention drops the oldest. What waits to be
written during an outage is bounded in bytes, and an entry no store could write holds up none."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import math
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest

from gateway.store import journal as journal_store
from gateway.store.base import Store
from gateway.store.journal import (
    MAX_STATES,
    BadCursor,
    JournalLog,
    JournalQuery,
    JournalRecord,
    JournalRetention,
    _ms,
    encode_cursor,
)
from gateway.store.redis import RedisStore
from tests.lossy_proxy import ReplyLosingProxy
from tests.redis_server import RedisProcess, redis_server_installed

KEEP = JournalRetention(retention_s=86400, max_entries=1000)


def attempt(
    entry_id: str,
    arrived: float,
    ended: float,
    status: str,
    open_: bool = False,
    settles: bool = True,
    **fields: Any,
) -> JournalRecord:
    return JournalRecord(
        id=entry_id,
        arrived_at=arrived,
        ended_at=ended,
        fields={"status": status, "operation": "sales_orders.create", **fields},
        states=[{"state": "received", "at": arrived}, {"state": status, "at": ended}],
        open=open_,
        settles=settles,
    )


async def test_attempts_under_one_id_merge_and_the_latest_gives_the_summary(store: Store) -> None:
    now = time.time()
    await store.journal.write(
        [
            attempt("tx_a", now, now + 1, "failed", open_=True, legal_entity="DE01"),
            attempt("tx_a", now + 5, now + 6, "accepted", erp_document="42"),
        ],
        KEEP,
    )
    entry = await store.journal.entry("tx_a")
    assert entry is not None
    assert (entry["status"], entry["erp_document"], entry["legal_entity"]) == (
        "accepted",
        "42",
        "DE01",
    )
    assert entry["attempts"] == 2
    assert [s["state"] for s in entry["states"]] == ["received", "failed", "received", "accepted"]
    assert await store.journal.open_exceptions(now + 10) == {
        "lt_1h": 0,
        "1h_to_24h": 0,
        "gt_24h": 0,
    }


async def test_an_attempt_written_late_does_not_overwrite_a_later_outcome(store: Store) -> None:
    now = time.time()
    await store.journal.write([attempt("tx_b", now + 2, now + 3, "accepted")], KEEP)
    await store.journal.write([attempt("tx_b", now, now + 1, "failed", open_=True)], KEEP)
    entry = await store.journal.entry("tx_b")
    assert entry is not None and entry["status"] == "accepted"
    assert (await store.journal.open_exceptions(now + 10))["lt_1h"] == 0


async def test_an_attempt_comes_after_those_it_followed_whatever_the_clocks_and_write_order(
    store: Store,
) -> None:
    # A failure on a host whose clock runs 30 s ahead, then the retry that followed it (its
    # key's claim told it so) on a host whose clock says it ended earlier: the retry gives the
    # entry its outcome, whether its record reaches the store before the failure's or after.
    now = time.time()
    for entry_id, written_first in (("tx_follow_1", "failure"), ("tx_follow_2", "retry")):
        failure = attempt(entry_id, now + 30, now + 31, "failed", open_=True)
        retry = replace(
            attempt(entry_id, now + 4, now + 5, "accepted", erp_document="42"),
            after_ms=math.floor((now + 31) * 1000),
        )
        batches = [[failure], [retry]] if written_first == "failure" else [[retry], [failure]]
        for batch in batches:
            await store.journal.write(batch, KEEP)
        entry = await store.journal.entry(entry_id)
        assert entry is not None
        assert (entry["status"], entry["erp_document"]) == ("accepted", "42"), written_first
    assert (await store.journal.open_exceptions(now + 60))["lt_1h"] == 0


async def test_two_attempts_after_the_same_one_are_ordered_by_their_ends_in_any_write_order(
    store: Store,
) -> None:
    # Two attempts that both followed the one a host 30 s ahead ended (neither followed the
    # other): the one that ended later by its clock gives the entry its outcome, whichever is
    # written first.
    now = time.time()
    for entry_id, reverse in (("tx_after_1", False), ("tx_after_2", True)):
        first = attempt(entry_id, now + 30, now + 31, "failed", open_=True)
        after_ms = math.floor((now + 31) * 1000)
        earlier = replace(attempt(entry_id, now, now + 1, "failed", open_=True), after_ms=after_ms)
        later = replace(attempt(entry_id, now + 2, now + 3, "accepted"), after_ms=after_ms)
        await store.journal.write([first], KEEP)
        for record in [later, earlier] if reverse else [earlier, later]:
            await store.journal.write([record], KEEP)
        entry = await store.journal.entry(entry_id)
        assert entry is not None and entry["status"] == "accepted", reverse
    assert (await store.journal.open_exceptions(now + 60))["lt_1h"] == 0


async def test_an_answer_that_settles_nothing_only_adds_states(store: Store) -> None:
    now = time.time()
    await store.journal.write(
        [
            attempt("tx_c", now, now + 1, "failed", open_=True, code="erp_timeout"),
            attempt("tx_c", now + 2, now + 3, "refused", settles=False),
        ],
        KEEP,
    )
    entry = await store.journal.entry("tx_c")
    assert entry is not None
    assert (entry["status"], entry["code"]) == ("failed", "erp_timeout")
    assert entry["states"][-1]["state"] == "refused"
    assert (await store.journal.open_exceptions(now + 10))["lt_1h"] == 1


async def test_open_exceptions_are_counted_by_age(store: Store) -> None:
    now = time.time()
    await store.journal.write(
        [
            attempt("tx_young", now - 60, now - 59, "failed", open_=True),
            attempt("tx_day", now - 7200, now - 7199, "failed", open_=True),
            attempt("tx_old", now - 2 * 86400, now - 2 * 86400 + 1, "failed", open_=True),
        ],
        JournalRetention(retention_s=7 * 86400, max_entries=1000),
    )
    assert await store.journal.open_exceptions(now) == {
        "lt_1h": 1,
        "1h_to_24h": 1,
        "gt_24h": 1,
    }


async def test_open_exceptions_within_some_legal_entities_count_theirs_only(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A regional operator's overview: its entities' open exceptions, by age; those of other
    # entities and of none are not its. Read two at a time, the Redis journal reads several
    # batches of them.
    monkeypatch.setattr(journal_store, "_OPEN_BATCH", 2)
    now = time.time()
    await store.journal.write(
        [
            attempt("tx_de", now - 60, now - 59, "failed", open_=True, legal_entity="DE01"),
            attempt("tx_fr", now - 7200, now - 7199, "failed", open_=True, legal_entity="FR01"),
            attempt("tx_us", now - 60, now - 59, "failed", open_=True, legal_entity="US01"),
            attempt("tx_none", now - 60, now - 59, "failed", open_=True),
            attempt("tx_de_ok", now - 60, now - 59, "accepted", legal_entity="DE01"),
        ],
        KEEP,
    )
    emea = frozenset({"DE01", "FR01", "GB01"})
    assert await store.journal.open_exceptions(now, within=emea) == {
        "lt_1h": 1,
        "1h_to_24h": 1,
        "gt_24h": 0,
    }
    assert await store.journal.open_exceptions(now, within=frozenset({"GB01"})) == {
        "lt_1h": 0,
        "1h_to_24h": 0,
        "gt_24h": 0,
    }
    assert await store.journal.open_exceptions(now) == {"lt_1h": 3, "1h_to_24h": 1, "gt_24h": 0}


async def test_listings_filter_and_page_newest_first(store: Store) -> None:
    now = time.time()
    records = [
        attempt(
            f"tx_{i:02d}",
            now + i,
            now + i + 0.5,
            "failed" if i % 3 == 0 else "accepted",
            legal_entity="DE01" if i % 2 else "US01",
            client="crm-demo",
            correlation_id=f"corr-{i}",
        )
        for i in range(12)
    ]
    await store.journal.write(records, KEEP)

    first = await store.journal.page(JournalQuery(limit=5))
    assert [e["id"] for e in first.items] == ["tx_11", "tx_10", "tx_09", "tx_08", "tx_07"]
    second = await store.journal.page(JournalQuery(limit=5, cursor=first.next_cursor))
    assert [e["id"] for e in second.items] == ["tx_06", "tx_05", "tx_04", "tx_03", "tx_02"]
    third = await store.journal.page(JournalQuery(limit=5, cursor=second.next_cursor))
    assert [e["id"] for e in third.items] == ["tx_01", "tx_00"]
    assert third.next_cursor is None

    failed = await store.journal.page(JournalQuery(status="failed", legal_entity="DE01"))
    assert [e["id"] for e in failed.items] == ["tx_09", "tx_03"]
    found = await store.journal.page(JournalQuery(correlation_id="corr-7"))
    assert [e["id"] for e in found.items] == ["tx_07"]
    recent = await store.journal.page(JournalQuery(since=now + 10))
    assert [e["id"] for e in recent.items] == ["tx_11", "tx_10"]


async def test_a_listing_repeats_no_entry_when_new_ones_arrive_while_it_is_read(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not isinstance(store, RedisStore):
        pytest.skip("memory lists from one snapshot")
    now = time.time()
    older = [attempt(f"tx_{i:03d}", now + i, now + i + 0.5, "failed") for i in range(300)]
    await store.journal.write(older, KEEP)
    journal = store.journal
    read = journal._entries  # type: ignore[attr-defined]
    arriving = iter(range(3))

    async def newer_ones_arrive(ids: Any) -> Any:
        found = await read(ids)
        for n in arriving:  # once, after the first batch of a page that reads more than one
            await journal.write([attempt(f"tx_new_{n}", now + 400 + n, now + 401, "failed")], KEEP)
        return found

    monkeypatch.setattr(journal, "_entries", newer_ones_arrive)
    page = await journal.page(JournalQuery(status="failed", limit=300))
    ids = [e["id"] for e in page.items]
    assert len(ids) == len(set(ids)), "an entry listed twice"
    assert ids == [f"tx_{i:03d}" for i in reversed(range(300))]


async def test_filtered_pages_list_each_entry_once_among_many_of_one_millisecond(
    store: Store,
) -> None:
    now = math.floor(time.time()) + 0.0005
    busy = [
        attempt(f"tx_{i:03d}", now + (i // 250) / 1000, now + 1, "failed" if i % 5 else "accepted")
        for i in range(500)
    ]
    await store.journal.write(busy, KEEP)
    listed: list[str] = []
    cursor = None
    for _ in range(100):
        page = await store.journal.page(JournalQuery(status="accepted", limit=7, cursor=cursor))
        listed += [e["id"] for e in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert listed == [f"tx_{i:03d}" for i in reversed(range(0, 500, 5))]


async def test_a_cursor_it_did_not_hand_out_is_refused(store: Store) -> None:
    with pytest.raises(BadCursor):
        await store.journal.page(JournalQuery(cursor="not-a-cursor!"))


async def test_the_oldest_entries_go_beyond_the_retention(store: Store) -> None:
    """Kept `retention_s` from when each was first written, `max_entries` of them at most: the
    first written go first."""
    now = time.time()
    small = JournalRetention(retention_s=0.5, max_entries=3)
    await store.journal.write([attempt("tx_stale", now, now, "failed", open_=True)], small)
    await asyncio.sleep(0.6)
    await store.journal.write(
        [attempt(f"tx_{i}", now + i, now + i, "accepted") for i in range(5)], small
    )
    listed = await store.journal.page(JournalQuery(limit=10))
    assert [e["id"] for e in listed.items] == ["tx_4", "tx_3", "tx_2"]
    assert await store.journal.entry("tx_0") is None
    assert await store.journal.entry("tx_stale") is None
    assert sum((await store.journal.open_exceptions(now)).values()) == 0


async def test_times_are_shown_in_utc_iso_8601(store: Store) -> None:
    arrived = float(int(time.time()))
    await store.journal.write([attempt("tx_t", arrived, arrived + 1.25, "accepted")], KEEP)
    entry = await store.journal.entry("tx_t")
    assert entry is not None
    utc = dt.datetime.fromtimestamp(arrived, dt.UTC)
    assert entry["arrived_at"] == utc.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")
    later = utc + dt.timedelta(seconds=1.25)
    assert entry["states"][-1]["at"] == later.strftime("%Y-%m-%dT%H:%M:%S.250+00:00")


async def test_an_attempt_written_again_is_merged_once(store: Store) -> None:
    # The buffered writer writes a batch again when the store's reply was lost.
    now = time.time()
    once = attempt("tx_once", now, now + 1, "accepted")
    await store.journal.write([once], KEEP)
    await store.journal.write([once, attempt("tx_once", now + 2, now + 3, "accepted")], KEEP)
    entry = await store.journal.entry("tx_once")
    assert entry is not None
    assert entry["attempts"] == 2
    assert [s["state"] for s in entry["states"]] == ["received", "accepted"] * 2
    assert not any(name.startswith("@") for name in entry)


async def test_a_transaction_retried_without_end_keeps_a_bounded_entry(store: Store) -> None:
    """A CRM retrying one key in a loop: the entry keeps its latest MAX_STATES states and says
    how many earlier ones it let go, and still merges a batch written again only once."""
    now = time.time()
    tries = MAX_STATES  # two states each: twice as many as an entry keeps
    for start in range(0, tries, 50):
        batch = [
            attempt("tx_loop", now + i, now + i + 0.5, "failed", correlation_id=f"c{i}")
            for i in range(start, start + 50)
        ]
        await store.journal.write(batch, KEEP)
    last = attempt("tx_loop", now + tries, now + tries + 0.5, "accepted")
    await store.journal.write([last], KEEP)
    await store.journal.write([last], KEEP)  # its reply lost: written again
    entry = await store.journal.entry("tx_loop")
    assert entry is not None
    assert entry["attempts"] == tries + 1
    assert len(entry["states"]) == MAX_STATES
    assert entry["states_omitted"] == 2 * (tries + 1) - MAX_STATES
    assert [s["state"] for s in entry["states"][-2:]] == ["received", "accepted"]
    assert entry["status"] == "accepted"
    # What is kept is the latest: the first attempts' states are the ones let go.
    first_kept = dt.datetime.fromisoformat(entry["states"][0]["at"]).timestamp()
    assert first_kept >= now + tries + 1 - MAX_STATES / 2 - 1
    page = await store.journal.page(JournalQuery(limit=10))
    listed = next(item for item in page.items if item["id"] == "tx_loop")
    assert len(listed["states"]) == MAX_STATES


async def test_an_entry_shows_no_states_omitted_when_none_were(store: Store) -> None:
    now = time.time()
    await store.journal.write([attempt("tx_short", now, now + 1, "accepted")], KEEP)
    entry = await store.journal.entry("tx_short")
    assert entry is not None and entry["states_omitted"] == 0


@pytest.mark.redis
async def test_a_batch_whose_reply_was_lost_is_not_applied_twice(
    reply_losing: tuple[ReplyLosingProxy, RedisStore],
) -> None:
    proxy, store = reply_losing
    journal = JournalLog(store.journal, KEEP)
    now = time.time()
    journal.record(attempt("tx_warm", now, now, "accepted"))
    assert await journal.flush()  # connected: the next loss is of a reply only
    journal.record(attempt("tx_once", now, now + 1, "accepted"))
    proxy.losing = True
    assert not await journal.flush()  # Redis ran the batch; its reply was lost: kept
    proxy.losing = False
    assert await journal.flush()
    entry = await store.journal.entry("tx_once")
    assert entry is not None
    assert entry["attempts"] == 1
    assert [s["state"] for s in entry["states"]] == ["received", "accepted"]
    await journal.aclose()


@pytest.mark.skipif(not redis_server_installed(), reason="needs the redis-server executable")
async def test_during_an_outage_the_journal_holds_its_bytes_at_most_the_oldest_going_first() -> (
    None
):
    mib = 1024 * 1024
    body = {"note": "x" * mib}  # about the body limit (one string: this test's memory stays low)
    with RedisProcess() as server:
        store = RedisStore.from_url(server.url)
        journal = JournalLog(store.journal, KEEP, max_pending_bytes=3 * mib)
        try:
            server.stop()
            now = time.time()
            for i in range(6):
                journal.record(
                    attempt(f"tx_{i}", now + i, now + i, "failed", request={"body": body})
                )
            assert not await journal.flush()
            server.start()
            assert await journal.flush()
            listed = await store.journal.page(JournalQuery(limit=10))
        finally:
            await journal.aclose()
            await store.aclose()
    # Three mebibytes hold two entries of a little more than one each: the newest two.
    assert [e["id"] for e in listed.items] == ["tx_5", "tx_4"]


async def test_an_entry_that_is_no_json_is_dropped_and_holds_up_none_after_it(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    journal = JournalLog(store.journal, KEEP)
    nested: list[Any] = []
    for _ in range(300):  # deeper than orjson writes
        nested = [nested]
    now = time.time()
    with caplog.at_level(logging.ERROR, logger="gateway.store"):
        journal.record(attempt("tx_deep", now, now, "rejected", request={"body": nested}))
    assert [getattr(r, "entry", None) for r in caplog.records] == ["tx_deep"]
    journal.record(attempt("tx_after", now, now + 1, "accepted"))
    try:
        assert await journal.flush()
    finally:
        await journal.aclose()
    assert await store.journal.entry("tx_deep") is None
    assert await store.journal.entry("tx_after") is not None


async def test_a_slow_transaction_recorded_after_a_listing_passed_its_arrival_is_not_missed(
    store: Store,
) -> None:
    """An entry is written when its transaction ends. Listed by arrival, a slow one written
    after a listing had paged past its arrival fell behind that listing's cursor, and a
    listing run again from the top (down to the entries already seen, as an operator replaying
    the failed ones or an export does) never reached it."""
    now = time.time()
    await store.journal.write([attempt("tx_old", now, now + 0.1, "failed")], KEEP)
    # tx_slow arrives at now + 1 and is still running when tx_quick arrives and ends.
    await store.journal.write([attempt("tx_quick", now + 2, now + 2.1, "failed")], KEEP)
    first = await store.journal.page(JournalQuery(status="failed", limit=2))
    seen = [e["id"] for e in first.items]
    assert seen == ["tx_quick", "tx_old"]
    await store.journal.write([attempt("tx_slow", now + 1, now + 30, "failed")], KEEP)

    cursor = first.next_cursor
    while cursor is not None:
        page = await store.journal.page(JournalQuery(status="failed", limit=2, cursor=cursor))
        seen += [e["id"] for e in page.items]
        cursor = page.next_cursor
    again = await store.journal.page(JournalQuery(status="failed", limit=10))
    new = list(itertools.takewhile(lambda i: i not in seen, (e["id"] for e in again.items)))
    assert sorted(seen + new) == ["tx_old", "tx_quick", "tx_slow"]
    assert len(seen + new) == 3, "an entry listed twice"
    since = await store.journal.page(JournalQuery(since=now + 0.5, limit=1))
    listed = [e["id"] for e in since.items]
    while since.next_cursor is not None:
        since = await store.journal.page(
            JournalQuery(since=now + 0.5, limit=1, cursor=since.next_cursor)
        )
        listed += [e["id"] for e in since.items]
    assert sorted(listed) == ["tx_quick", "tx_slow"]


async def _as_the_earlier_release_wrote(journal: Any, record: JournalRecord) -> None:
    """An entry as a release before this one wrote it: its hash and states, and its id in the
    index by its arrival (that release knew no other key)."""
    key = journal._base + "tx:" + record.id
    arrived = _ms(record.arrived_at)
    fields = {name: orjson.dumps(value) for name, value in record.fields.items()}
    await journal._redis.hset(
        key,
        mapping={"@arrived": arrived, "@updated": _ms(record.ended_at), "@attempts": 1, **fields},
    )
    await journal._redis.rpush(key + ":states", *(orjson.dumps(s) for s in record.states))
    await journal._redis.zadd(journal._index, {record.id: arrived}, nx=True)


async def test_entries_an_earlier_release_placed_by_arrival_are_all_listed(store: Store) -> None:
    """A release before this one placed entries in the index by their arrival, and during a
    rolling deploy its processes go on doing so beside the new ones: every such entry is
    listed (paged to the end, under a filter), at once after the upgrade and after, and a
    cursor that release handed out (its place an integer of milliseconds) still reads on."""
    if not isinstance(store, RedisStore):
        pytest.skip("a memory journal starts empty with each process")
    now = time.time()
    journal: Any = store.journal
    earlier = [attempt(f"tx_old_{i}", now - 60 + i, now - 59 + i, "failed") for i in range(5)]
    for record in earlier:
        await _as_the_earlier_release_wrote(journal, record)
    first = await store.journal.page(JournalQuery(status="failed", limit=10))
    assert [e["id"] for e in first.items] == [r.id for r in reversed(earlier)]

    await store.journal.write([attempt("tx_new", now - 1, now, "failed")], KEEP)
    # An old process writes one more during the deploy, after the new one.
    await _as_the_earlier_release_wrote(
        journal, attempt("tx_old_late", now - 30, now + 1, "failed")
    )
    listed: list[str] = []
    page = await store.journal.page(JournalQuery(status="failed", limit=2))
    listed += [e["id"] for e in page.items]
    while page.next_cursor is not None:
        cursor = page.next_cursor
        page = await store.journal.page(JournalQuery(status="failed", limit=2, cursor=cursor))
        listed += [e["id"] for e in page.items]
    assert listed[0] == "tx_new"  # written last by a new process: on top
    assert sorted(listed) == sorted([r.id for r in earlier] + ["tx_new", "tx_old_late"])

    old_cursor = encode_cursor(_ms(earlier[3].arrived_at), earlier[3].id)  # as it wrote them
    below = await store.journal.page(JournalQuery(status="failed", cursor=old_cursor))
    assert [e["id"] for e in below.items] == ["tx_old_2", "tx_old_1", "tx_old_0"]
