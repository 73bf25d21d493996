"""A process's background task stops when the process does, even when something inside it took
a cancel for an error of its own and carried on (redis-py, on Python 3.11, can)."""

from __future__ import annotations

import asyncio

from gateway.ops.background import BackgroundTask


async def test_a_task_that_swallows_a_cancel_is_cancelled_again_until_it_stops() -> None:
    rounds = 0

    async def stubborn() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if rounds == 1:
                    continue  # taken for a lost connection: the loop goes on
                raise

    task = BackgroundTask(stubborn)
    task.start()
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(task.aclose())
    done, _ = await asyncio.wait({closing}, timeout=5)  # its loop would sleep 10 s more
    assert done == {closing} and rounds == 2
