"""Work no client waits for (a shadow sample) gives way to the work clients wait for.

The event loop runs whatever is ready in the order it became ready: a shadow sample's ERP
answer, mapped and compared as soon as it arrives, would hold up the requests whose answers
arrived behind it, and on a busy process raise their latency by the CPU it takes. Background
work marks its task (`background_work`) and, before each of its CPU-heavy pieces, waits for a
pass of the loop in which nothing else was ready (`when_idle`). A piece that has started still
runs to its end: what a client may still wait for is one piece, not the queue of them. Nor does
it hold an ERP's capacity while it waits: what it holds (`held_capacity`) is given back first
and taken again after, or the work gives up (`NoHeadroom`).

Not what runs in the background (see `gateway.service.shadow`).
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Protocol


class HeldCapacity(Protocol):
    """What background work holds of an ERP's capacity (an in-flight slot) during its call."""

    async def let_go(self) -> None: ...

    async def take_again(self) -> None:
        """Hold it again, or raise `NoHeadroom`."""
        ...


class NoHeadroom(Exception):
    """Background work found the ERP's capacity the clients' again: it gives up."""


background_work: ContextVar[bool] = ContextVar("background_work", default=False)
held_capacity: ContextVar[HeldCapacity | None] = ContextVar("held_capacity", default=None)

IDLE_PASS_S = 0.0002  # a pass of the loop this short ran nothing else
MAX_WAIT_S = 1.0  # then the work goes ahead anyway: a saturated process still finishes it


async def when_idle(max_wait_s: float = MAX_WAIT_S) -> None:
    """Return after a pass of the event loop that ran nothing else (or after `max_wait_s`)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + max_wait_s
    while True:
        started = loop.time()
        await asyncio.sleep(0)
        now = loop.time()
        if now - started < IDLE_PASS_S or now >= give_up:
            return


async def after_clients() -> None:
    """In background work, wait until the loop is idle, the ERP capacity it holds given back
    meanwhile (a client's request may need it) and taken again after; elsewhere, nothing."""
    if not background_work.get():
        return
    held = held_capacity.get()
    if held is None:
        await when_idle()
        return
    await held.let_go()
    await when_idle()
    await held.take_again()
