"""Background work (shadow samples) waits for an idle pass of the event loop before each of
its CPU-heavy pieces; work for clients never waits."""

from __future__ import annotations

import asyncio
import contextvars
import time

import pytest

from gateway.adapters.priority import (
    NoHeadroom,
    after_clients,
    background_work,
    held_capacity,
    when_idle,
)

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


class _Slot:
    """An ERP slot background work holds; what happened to it, in order."""

    def __init__(self, free_again: bool = True) -> None:
        self.events: list[str] = []
        self._free_again = free_again

    async def let_go(self) -> None:
        self.events.append("let go")

    async def take_again(self) -> None:
        self.events.append("taken again" if self._free_again else "refused")
        if not self._free_again:
            raise NoHeadroom("erp:legacy:in-flight")


async def test_background_work_gives_its_erp_slot_back_while_it_waits_for_the_clients() -> None:
    slot = _Slot()

    async def waiting() -> bool:
        busy = asyncio.create_task(_busy(time.monotonic() + BUSY_S))
        await asyncio.sleep(0)
        background_work.set(True)
        held_capacity.set(slot)
        await after_clients()
        assert slot.events == ["let go", "taken again"]
        return busy.done()

    # the slot went back before the wait, and came again only after it
    assert await asyncio.create_task(waiting(), context=contextvars.Context()) is True


async def test_background_work_gives_up_when_its_slot_was_taken_meanwhile() -> None:
    slot = _Slot(free_again=False)

    async def waiting() -> None:
        background_work.set(True)
        held_capacity.set(slot)
        await after_clients()

    with pytest.raises(NoHeadroom):
        await asyncio.create_task(waiting(), context=contextvars.Context())
    assert slot.events == ["let go", "refused"]
