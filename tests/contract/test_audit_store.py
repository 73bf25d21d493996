"""The audit trail: a hash chain that shows an edited, removed, inserted or reordered entry at
its line; one chain across processes on one Redis; trimmed with an anchor."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import subprocess
import sys
import time

import pytest

from gateway.store.audit import (
    GENESIS,
    AuditEvent,
    AuditTrail,
    ChainHead,
    ExportEnds,
    canonical,
    chained,
    verify_file,
    verify_lines,
)
from gateway.store.base import Store
from gateway.store.redis import RedisStore
from tests.conftest import delete_keys, redis_url, unique_prefix
from tests.lossy_proxy import ReplyLosingProxy


def events(count: int, actor: str = "tester") -> list[AuditEvent]:
    return [
        AuditEvent("admin.replay", actor, {"id": f"tx_{i}", "n": i}, time.time())
        for i in range(count)
    ]


async def chain_of(store: Store, count: int = 6) -> list[str]:
    await store.audit.append(events(count), max_entries=1000)
    return (await store.audit.read(0, 1000)).lines


async def test_an_untouched_chain_verifies_from_the_genesis(store: Store) -> None:
    lines = await chain_of(store)
    verdict = verify_lines(lines, GENESIS)
    assert verdict.intact, verdict
    assert (verdict.entries, verdict.first_seq) == (6, 1)
    assert json.loads(lines[0])["prev"] == GENESIS
    assert verdict.head == json.loads(lines[-1])["hash"]


async def test_an_edited_entry_is_found_at_its_line(store: Store) -> None:
    lines = await chain_of(store)
    entry = json.loads(lines[3])
    entry["details"]["id"] = "tx_forged"
    lines[3] = json.dumps(entry)
    verdict = verify_file(lines)
    assert (verdict.bad_line, verdict.entries) == (4, 3)
    assert "edited" in verdict.reason


async def test_a_removed_entry_is_found_where_the_chain_breaks(store: Store) -> None:
    lines = await chain_of(store)
    del lines[2]
    verdict = verify_file(lines)
    assert verdict.bad_line == 3
    assert "chain broken" in verdict.reason


async def test_an_inserted_entry_is_found_at_its_line(store: Store) -> None:
    lines = await chain_of(store)
    forged = json.loads(lines[1])
    forged["details"]["id"] = "tx_extra"
    # Even re-hashed to look self-consistent, it cannot also be the next entry's `prev`.

    forged["hash"] = hashlib.sha256(canonical(forged)).hexdigest()
    lines.insert(2, json.dumps(forged))
    verdict = verify_file(lines)
    assert verdict.bad_line == 3


async def test_reordered_entries_are_found(store: Store) -> None:
    lines = await chain_of(store)
    lines[2], lines[3] = lines[3], lines[2]
    verdict = verify_file(lines)
    assert verdict.bad_line == 3


async def test_a_first_entry_removed_from_a_whole_chain_is_found(store: Store) -> None:
    lines = await chain_of(store)
    verdict = verify_lines(lines[1:], GENESIS)
    assert verdict.bad_line == 1


async def test_the_chain_continues_across_appends_and_trims_to_an_anchor(store: Store) -> None:
    await store.audit.append(events(5), max_entries=8)
    await store.audit.append(events(5), max_entries=8)
    read = await store.audit.read(0, 100)
    lines, anchor = read.lines, read.anchor
    assert len(lines) == 8
    assert [json.loads(line)["seq"] for line in lines] == list(range(3, 11))
    assert read.first_kept == 3
    assert verify_lines(lines, anchor).intact
    assert not verify_lines(lines[1:], anchor).intact


async def test_a_read_from_a_seq_finds_it_however_many_entries_were_trimmed_before(
    store: Store,
) -> None:
    await store.audit.append(events(6), max_entries=8)
    before = await store.audit.read(5, 2)
    await store.audit.append(events(4), max_entries=8)  # seq 1 and 2 trimmed
    after = await store.audit.read(5, 2)
    assert after.lines == before.lines
    assert [json.loads(line)["seq"] for line in after.lines] == [5, 6]
    assert (before.first_kept, after.first_kept) == (1, 3)
    passed = await store.audit.read(1, 2)  # trimmed past: from the first entry kept
    assert [json.loads(line)["seq"] for line in passed.lines] == [3, 4]
    assert json.loads(passed.lines[0])["prev"] == passed.anchor
    assert (await store.audit.read(11, 2)).lines == []


async def test_a_batch_appended_again_is_chained_once(store: Store) -> None:
    # The buffered writer writes a batch again when the store's reply was lost, maybe after
    # another process appended.
    batch = events(3)
    await store.audit.append(batch, max_entries=1000)
    await store.audit.append(events(2, actor="other-process"), max_entries=1000)
    await store.audit.append(batch, max_entries=1000)
    await store.audit.append(events(1), max_entries=1000)
    lines = (await store.audit.read(0, 100)).lines
    assert verify_lines(lines, GENESIS).intact
    assert len(lines) == 6


@pytest.mark.redis
async def test_a_batch_whose_reply_was_lost_is_not_chained_twice(
    reply_losing: tuple[ReplyLosingProxy, RedisStore],
) -> None:
    proxy, store = reply_losing
    trail = AuditTrail(store.audit, 1000)
    trail.record("config.loaded", "startup", {"id": "warm"})
    assert await trail.flush()  # connected: the next loss is of a reply only
    trail.record("admin.replay", "ops-admin", {"id": "tx_once"})
    proxy.losing = True
    assert not await trail.flush()  # Redis ran the batch; its reply was lost: kept
    proxy.losing = False
    trail.record("admin.replay", "ops-admin", {"id": "tx_next"})
    assert await trail.flush()
    lines = (await store.audit.read(0, 100)).lines
    assert verify_lines(lines, GENESIS).intact
    assert [json.loads(line)["details"]["id"] for line in lines] == ["warm", "tx_once", "tx_next"]
    await trail.aclose()


def test_garbage_is_not_an_audit_entry() -> None:
    verdict = verify_lines(["{not json"])
    assert (verdict.bad_line, verdict.intact) == (1, False)


@pytest.mark.parametrize("seq", ["2", True, 2.0, None, 0])
def test_an_entry_whose_seq_is_no_sequence_number_is_not_an_audit_entry(seq: object) -> None:
    first = chained(events(1), ChainHead(0, GENESIS))[0]
    second = {"seq": seq, "at": "", "kind": "k", "actor": "a", "details": {}}
    second["prev"] = json.loads(first)["hash"]
    second["hash"] = hashlib.sha256(canonical(second)).hexdigest()
    verdict = verify_lines([first, json.dumps(second)], GENESIS)
    assert (verdict.bad_line, verdict.entries) == (2, 1)
    assert verdict.reason.startswith("not an audit entry")


APPENDER = """
import asyncio, sys, time
import redis.asyncio as aioredis
from gateway.store.audit import AuditEvent
from gateway.store.redis import RedisStore

async def main() -> None:
    store = RedisStore.from_url(sys.argv[1], prefix=sys.argv[2])
    # Both start together, however long each took to start: each says it is ready, then waits
    # for the other.
    ready, client = sys.argv[2] + "ready", aioredis.Redis.from_url(sys.argv[1])
    await client.incr(ready)
    while int(await client.get(ready)) < int(sys.argv[5]):
        await asyncio.sleep(0.005)
    await client.aclose()
    for i in range(int(sys.argv[3])):
        event = AuditEvent("transaction", sys.argv[4], {"n": i}, time.time())
        await store.audit.append([event], max_entries=100000)
        await asyncio.sleep(0.002)  # as a gateway's writer does between its batches
    await store.aclose()

asyncio.run(main())
"""


async def _lines(url: str, prefix: str) -> list[str]:
    store = RedisStore.from_url(url, prefix=prefix)
    try:
        return (await store.audit.read(0, 1000)).lines
    finally:
        await store.aclose()
        await delete_keys(url, prefix)


@pytest.mark.redis
def test_two_processes_on_one_redis_append_to_one_valid_chain() -> None:
    url = redis_url()
    prefix = unique_prefix()
    names = ("gateway-a", "gateway-b")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, url, prefix, "150", name, str(len(names))]
        )
        for name in names
    ]
    for process in processes:
        assert process.wait(timeout=60) == 0
    lines = asyncio.run(_lines(url, prefix))
    verdict = verify_lines(lines, GENESIS)
    assert verdict.intact, verdict
    actors = [json.loads(line)["actor"] for line in lines]
    assert (actors.count("gateway-a"), actors.count("gateway-b")) == (150, 150)
    # Interleaved, not one process after the other: the chain really was shared.
    switches = sum(1 for a, b in itertools.pairwise(actors) if a != b)
    assert switches > 1


def _exported(lines: list[str], chunk: int = 3) -> list[str]:
    """`lines` as `gateway audit export` writes them: between its start and end records, the
    stream coming in chunks that split lines anywhere."""
    raw = "".join(line + "\n" for line in lines).encode()
    pieces = [raw[i : i + chunk * 17] for i in range(0, len(raw), chunk * 17)]
    return b"".join(ExportEnds().wrap(pieces)).decode().splitlines()


async def test_an_export_says_where_it_starts_and_ends_and_verifies_whole(store: Store) -> None:
    lines = await chain_of(store)
    exported = _exported(lines)
    assert json.loads(exported[0]) == {"export": "start", "first_seq": 1, "anchor": GENESIS}
    last = json.loads(lines[-1])
    assert json.loads(exported[-1]) == {
        "export": "end",
        "entries": 6,
        "last_seq": last["seq"],
        "head": last["hash"],
    }
    assert exported[1:-1] == lines
    verdict = verify_file(exported)
    assert verdict.intact, verdict
    assert (verdict.entries, verdict.head, verdict.ends_checked) == (6, last["hash"], True)


async def test_entries_cut_from_an_exports_end_are_found(store: Store) -> None:
    exported = _exported(await chain_of(store))
    for cut in (exported[:-3] + exported[-1:], exported[:-1], exported[:-2]):
        verdict = verify_file(cut)
        assert not verdict.intact, cut
        # at the end record that disagrees, or just past the last line without one
        assert verdict.bad_line == len(cut) + (0 if cut[-1] == exported[-1] else 1)
    verdict = verify_file(exported[:-3] + exported[-1:])
    assert verdict.reason == (
        "the export's end record says 6 entries up to seq 6; the file holds 4 up to seq 4: "
        "entries were cut from its end"
    )
    verdict = verify_file(exported[:-1])
    assert verdict.reason.startswith("the export has no end record: it broke off")


async def test_entries_cut_from_an_exports_start_are_found(store: Store) -> None:
    exported = _exported(await chain_of(store))
    verdict = verify_file(exported[:1] + exported[3:])
    assert (verdict.bad_line, verdict.intact) == (2, False)
    assert verdict.reason == (
        "the export's start record says its first entry is seq 1; it is seq 3: entries were "
        "cut from its start"
    )


async def test_a_line_after_an_exports_end_is_refused(store: Store) -> None:
    exported = _exported(await chain_of(store))
    verdict = verify_file([*exported, exported[3]])
    assert (verdict.bad_line, verdict.reason) == (
        len(exported) + 1,
        "a line after the export's end record",
    )
    assert verify_file([*exported, "", "  "]).intact


async def test_lines_without_an_envelope_verify_with_their_ends_unchecked(store: Store) -> None:
    lines = await chain_of(store)
    verdict = verify_file(lines)
    assert verdict.intact and not verdict.ends_checked
    assert verify_file(lines[:-2]).intact  # what the envelope is for


def test_an_export_of_an_empty_trail_is_only_its_records() -> None:
    exported = b"".join(ExportEnds().wrap([])).decode().splitlines()
    assert [json.loads(line) for line in exported] == [
        {"export": "start"},
        {"export": "end", "entries": 0},
    ]
    verdict = verify_file(exported)
    assert (verdict.intact, verdict.entries, verdict.ends_checked) == (True, 0, True)


async def test_an_export_must_reach_the_stores_head_as_the_gateway_read_it(store: Store) -> None:
    lines = await chain_of(store)
    raw = "".join(line + "\n" for line in lines).encode()

    def exported(head: ChainHead) -> list[str]:
        ends = ExportEnds()
        ends.began(head.text())
        return b"".join(ends.wrap([raw])).decode().splitlines()

    fourth = json.loads(lines[3])
    # Entries appended while it was exported come after the head it read: still whole.
    assert verify_file(exported(ChainHead(4, fourth["hash"]))).intact
    gone = verify_file(exported(ChainHead(7, "a" * 64)))
    assert not gone.intact
    assert gone.reason.endswith(
        "the file's chain ends at seq 6: the store's last entries were removed before it was "
        "exported"
    )
    assert "was edited" in verify_file(exported(ChainHead(4, "b" * 64))).reason
    with pytest.raises(ValueError):
        ExportEnds().began("4 not-a-hash")
