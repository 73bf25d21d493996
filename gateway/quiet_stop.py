"""How a uvicorn server quits at once (a second Ctrl-C) with no traceback of what it abandons:
the requests it cut off and the app's lifespan, whose cancellation uvicorn logs.

Not how the gateway drains and says so, nor what it answers a request the drain cut off
(`gateway.server`, `gateway.pipeline.cut_off`); light, for `gateway simulate`, which loads none
of the gateway's server.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import Iterable
from typing import Any

import uvicorn


class CutOffTracebacks(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" record, traceback and all, of a request
    the server cut off: the CancelledError its task was cancelled with; and, told to quit at
    once, the lifespan's failed shutdown, a CancelledError's traceback as its message. Only
    those: a record logged from another task, or of another exception, passes. uvicorn logs
    them in the task cancelled, as the cancellation unwinds the app (after the server has
    stopped, for a task the event loop's end cancels), so the tasks are kept until they end
    (weakly: no task is kept alive by it). A subclass may cut off more tasks (`cut_off`)."""

    def __init__(self) -> None:
        super().__init__()
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    def add(self, tasks: Iterable[asyncio.Task[Any]]) -> None:
        """Tasks the event loop's end cancels (told to quit at once)."""
        self._tasks.update(tasks)
        self.watch()

    def watch(self, logger: str = "uvicorn.error") -> None:
        # uvicorn's protocols log on this logger, unless a server's says otherwise (the filter
        # is added once however often).
        logging.getLogger(logger).addFilter(self)

    def cut_off(self, task: asyncio.Task[Any]) -> bool:
        """Whether `task` was cut off: one `add` was given."""
        return task in self._tasks

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is not None:
            cancelled = isinstance(record.exc_info[1], asyncio.CancelledError)
        else:  # Starlette's lifespan.shutdown.failed: the traceback as text
            cancelled = record.getMessage().rstrip().endswith("asyncio.exceptions.CancelledError")
        if not cancelled:
            return True
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no event loop in this thread
            return True
        return task is None or not self.cut_off(task)


def abandon_tasks(cut_off: CutOffTracebacks) -> None:
    """Told to quit at once: every task but this one is left to the event loop's end, which
    cancels them (the requests, and the app's lifespan, whose shutdown uvicorn skips; Starlette
    reports its cancellation as a failed shutdown, with the traceback as the message), and
    `cut_off` keeps their tracebacks out of the log."""
    here = asyncio.current_task()
    cut_off.add(task for task in asyncio.all_tasks() if task is not here)


_ABANDONED = CutOffTracebacks()


def quiet(logger: str) -> None:
    """What a `QuietServer` abandons is also kept out of `logger`, where a server's protocol
    logs instead of uvicorn's logger (the demo's simulators, each under its own name)."""
    _ABANDONED.watch(logger)


class QuietServer(uvicorn.Server):
    """uvicorn's server, for the simulators (`gateway simulate`, the demo's): told to quit at
    once (a second Ctrl-C), it leaves no traceback of what it abandons, as the gateway's
    server does (`gateway.server.GatewayServer`); its stop says nothing."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self.force_exit:
            abandon_tasks(_ABANDONED)
