"""Background work (shadow samples) waits for an idle pass of the event loop before each of
its CPU-heavy pieces; work for clients never waits."""

from __future__ import annotations

import asyncio
import contextvars
import time

from gateway.adapters.priority import after_clients, background_work, when_idle

BUSY_S = 0.05


async def _busy(until: float) -> float:
    """Keep the loop busy (1 ms of CPU per pass) until `until`; when it stopped."""
    while time.monotonic() < until:
        time.sleep(0.001)  # noqa: ASYNC251 - the point: a pass that holds the loop
        await asyncio.sleep(0)
    return time.monotonic()


async def test_on_an_idle_loop_background_work_goes_at_once() -> None:
    started = time.monotonic()
    await asyncio.wait_for(when_idle(), timeout=1.0)
    assert time.monotonic() - started < BUSY_S


async def test_background_work_waits_until_the_loop_has_nothing_else_to_run() -> None:
    busy = asyncio.create_task(_busy(time.monotonic() + BUSY_S))
    await asyncio.sleep(0)  # the busy task is running
    await when_idle()
    returned = time.monotonic()
    assert busy.done()
    assert returned >= busy.result()


async def test_a_saturated_loop_still_lets_background_work_go_after_its_longest_wait() -> None:
    busy = asyncio.create_task(_busy(time.monotonic() + 10 * BUSY_S))
    await asyncio.sleep(0)
    started = time.monotonic()
    await when_idle(max_wait_s=BUSY_S)
    assert not busy.done()  # it did not wait for the end of the load
    assert time.monotonic() - started < 5 * BUSY_S
    await busy


async def test_only_background_work_waits_for_the_clients() -> None:
    async def waited(background: bool) -> bool:
        busy = asyncio.create_task(_busy(time.monotonic() + BUSY_S))
        await asyncio.sleep(0)
        background_work.set(background)
        await after_clients()
        waited_for_it = busy.done()
        await busy
        return waited_for_it

    # Each in a context of its own, as each request and each shadow task runs in one.
    assert await asyncio.create_task(waited(False), context=contextvars.Context()) is False
    assert await asyncio.create_task(waited(True), context=contextvars.Context()) is True
