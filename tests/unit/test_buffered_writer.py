"""The buffered writer behind the journal and the audit trail: nothing written on the request
path, batches written in the background, everything left written at a graceful shutdown, and a
store outage survived without losing entries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest
from redis.exceptions import ResponseError

from gateway.store.base import StoreUnavailable
from gateway.store.buffered import OUTAGE_LOG_INTERVAL_S, BufferedWriter


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.down = False
        self.calls = 0

    async def write(self, items: Sequence[int]) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        if self.down:
            raise StoreUnavailable()
        self.batches.append(list(items))

    @property
    def written(self) -> list[int]:
        return [i for batch in self.batches for i in batch]


async def test_items_are_written_in_batches_off_the_callers_path() -> None:
    sink = Sink()
    writer = BufferedWriter("test", sink.write)
    for i in range(10):
        writer.put(i)
    assert sink.written == []  # put does no I/O
    await asyncio.sleep(0.2)
    assert sink.written == list(range(10))
    assert len(sink.batches) == 1
    await writer.aclose()


async def test_a_graceful_shutdown_writes_what_is_left() -> None:
    sink = Sink()
    writer = BufferedWriter("test", sink.write)
    for i in range(1000):
        writer.put(i)
    await writer.aclose()
    assert sink.written == list(range(1000))


async def test_a_store_outage_keeps_the_entries_until_it_is_back() -> None:
    sink = Sink()
    failures: list[int] = []
    writer = BufferedWriter("test", sink.write, on_failure=failures.append)
    sink.down = True
    for i in range(5):
        writer.put(i)
    assert await writer.flush() is False
    assert writer.pending == 5 and failures == [5]
    sink.down = False
    await writer.aclose()
    assert sink.written == [0, 1, 2, 3, 4]


async def test_a_batch_that_failed_is_written_again_whole_before_what_came_since() -> None:
    # The store may have applied it and lost only its reply: it must meet the same batch again
    # (the audit chain knows a batch by its first event), not one with more in it.
    sink = Sink()
    writer = BufferedWriter("test", sink.write, max_pending=4)
    writer.put(0)
    writer.put(1)
    sink.down = True
    assert await writer.flush() is False
    for i in range(2, 5):
        writer.put(i)  # beyond the bound: the oldest outside the batch goes
    sink.down = False
    assert await writer.flush() is True
    assert sink.batches == [[0, 1], [3, 4]]
    await writer.aclose()


async def test_beyond_its_bound_the_oldest_entries_go_first() -> None:
    sink = Sink()
    writer = BufferedWriter("test", sink.write, max_pending=3)
    sink.down = True
    for i in range(5):
        writer.put(i)
    sink.down = False
    await writer.aclose()
    assert sink.written == [2, 3, 4]


async def test_beyond_its_bytes_the_oldest_entries_go_first() -> None:
    # A few large items (a journal entry with its request's body) weigh more than many small
    # ones: the bound is on the sizes they were put with, as well as on their count.
    sink = Sink()
    writer = BufferedWriter("test", sink.write, max_pending_bytes=100)
    sink.down = True
    for i in range(3):
        writer.put(i, size=10)
    writer.put(3, size=60)  # 90 bytes in all: all kept
    assert (writer.pending, writer.pending_bytes) == (4, 90)
    writer.put(4, size=40)  # the oldest go until it fits
    assert (writer.pending, writer.pending_bytes) == (2, 100)
    sink.down = False
    await writer.aclose()
    assert sink.written == [3, 4]


async def test_a_writer_cancelled_while_the_store_fails_stops_even_if_the_store_swallows_it() -> (
    None
):
    failing = True

    async def swallowing(items: Sequence[int]) -> None:
        # As a client library may: the cancellation comes back as the store being unreachable.
        if not failing:
            return
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise StoreUnavailable() from None

    writer = BufferedWriter("test", swallowing)
    before = asyncio.all_tasks()
    writer.put(1)
    await asyncio.sleep(0.1)  # the background write is under way
    (task,) = asyncio.all_tasks() - before
    task.cancel()  # what an event loop shutting down does
    done, _ = await asyncio.wait({task}, timeout=2)
    failing = False  # a writer that did not stop would now idle, and stop at the next cancel
    if task not in done:
        task.cancel()
        await asyncio.wait({task}, timeout=2)
    assert task in done, "the writer kept retrying after it was cancelled"
    assert writer.pending == 1  # stopped, the item kept


async def test_a_write_refused_with_an_error_reply_is_tried_again_without_a_new_put() -> None:
    # Redis refusing writes with an error reply redis-py does not class as unavailable
    # (-NOREPLICAS, -MISCONF: see tests/pipeline/test_store_error_replies.py) raises a
    # ResponseError out of the store's write: the background writer must keep the entries and
    # try again, as for StoreUnavailable, not die and leave them until some later put.

    sink = Sink()
    refused = [True]

    async def write(items: Sequence[int]) -> None:
        if refused[0]:
            refused[0] = False
            raise ResponseError("NOREPLICAS Not enough good replicas to write.")
        await sink.write(items)

    writer = BufferedWriter("test", write)
    writer.put(1)
    await asyncio.sleep(0.1)  # the first write was refused
    await asyncio.sleep(1.5)  # past RETRY_INTERVAL_S: written by now, with no other put
    try:
        assert sink.written == [1]
    finally:
        await writer.aclose()


async def test_a_shutdown_while_writes_are_refused_with_an_error_reply_does_not_raise() -> None:
    # At shutdown `Runtime.aclose` flushes the journal, then the audit trail, then closes the
    # store: a write error must end as logged entries not written, not an exception that
    # stops the rest of the shutdown.

    async def write(items: Sequence[int]) -> None:
        raise ResponseError("MISCONF Redis is configured to save RDB snapshots, ...")

    writer = BufferedWriter("test", write)
    writer.put(1)
    await writer.aclose(timeout_s=0.5)


async def test_items_dropped_while_a_batch_is_being_written_are_never_those_after_it() -> None:
    # A put beyond the bound while a batch is on its way to the store drops the oldest; the
    # write's success then takes the batch off the queue, and only the batch: an item put
    # after it is written too, never taken off unwritten in the batch's place.
    sink = Sink()
    in_flight, proceed = asyncio.Event(), asyncio.Event()

    async def write(items: Sequence[int]) -> None:
        in_flight.set()
        await proceed.wait()
        await sink.write(items)

    writer = BufferedWriter("test", write, max_pending_bytes=100)
    writer.put(0, size=40)
    writer.put(1, size=40)
    flushing = asyncio.create_task(writer.flush())
    await in_flight.wait()
    writer.put(2, size=40)  # 120 bytes: one goes
    proceed.set()
    assert await flushing is True
    await writer.aclose()
    assert sink.written[-1] == 2
    assert (writer.pending, writer.pending_bytes) == (0, 0)


async def test_an_outage_is_logged_when_it_starts_now_and_then_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Retried every second (every 0.2 s while stopping), by each writer of each worker: a line
    # per retry was thousands for a ten-minute outage.
    sink = Sink()
    now = [1000.0]
    writer = BufferedWriter("test", sink.write, clock=lambda: now[0])
    sink.down = True
    writer.put(0)
    writer.put(1)
    for second in range(150):  # two and a half minutes of retries, an entry put now and then
        if second % 50 == 0:
            writer.put(second + 2)
        assert await writer.flush() is False
        now[0] += 1.0
    sink.down = False
    with caplog.at_level(logging.INFO, logger="gateway.store"):  # the end is good news
        assert await writer.flush() is True
        for _ in range(3):  # and no more once it is over
            writer.put(7)
            assert await writer.flush() is True
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.store"]
    # Once as it starts, with what is kept; at most every OUTAGE_LOG_INTERVAL_S while it lasts
    # (at 60 s and 120 s), with what is kept then; once as it ends, with what was written late.
    assert len(lines) == 2 + 150 // int(OUTAGE_LOG_INTERVAL_S), lines
    assert "3 entries kept" in lines[0]
    assert "4 entries kept" in lines[1] and "60 s" in lines[1]
    assert "5 entries kept" in lines[2] and "120 s" in lines[2]
    assert "5 entries written late" in lines[-1]
    await writer.aclose()
