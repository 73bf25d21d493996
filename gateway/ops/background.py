"""One long-running task of a gateway process (polling, deliveries): started once, cancelled
and awaited when the process stops.

Not what the task does (its owner's `_run`), nor what it says of a store outage
(`gateway.store.outage`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

_CANCEL_AGAIN_S = 0.5


class BackgroundTask:
    def __init__(self, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._run = run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def aclose(self) -> None:
        task = self._task
        if task is not None:
            while not task.done():
                # Cancelled again until it stops: a library call may take a cancel for a lost
                # connection and carry on (redis-py's does, on Python 3.11), and the task would
                # then run on for ever while this waits for it.
                task.cancel()
                await asyncio.wait({task}, timeout=_CANCEL_AGAIN_S)
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._task = None
