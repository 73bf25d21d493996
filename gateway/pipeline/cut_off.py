"""Requests the server's shutdown cut off: the server marks their tasks as it cancels them (its
drain ran out of time, or a second SIGINT said not to wait), and the app answers each such
request, unanswered yet, with a problem saying the gateway is stopping and the request may be
sent again, which another instance takes.
uvicorn answered the cancellation a text/plain 500, with no access line and no metric.

Only the server's own cut-off: a client that went away is the client's doing (499, see
`ClientAborted`), and any other cancellation is left to unwind as it is.

Not the shutdown itself (see `gateway.server.GatewayServer`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from typing import Any

from gateway.domain.errors import Code, GatewayError
from gateway.domain.operations import WRITE_OPERATIONS
from gateway.pipeline.context import RequestContext

# Weakly: no task is kept alive by being marked.
_CUT_OFF: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
RETRY_AFTER_S = 1  # another instance takes the request: no reason to wait long


def mark_cut_off(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """The server is about to cancel `tasks`, its requests still in flight, as it stops."""
    _CUT_OFF.update(tasks)


def is_cut_off(task: asyncio.Task[Any] | None) -> bool:
    """Whether `task` is a request the server's shutdown cut off."""
    return task is not None and task in _CUT_OFF


def cut_off_here() -> bool:
    """Whether the running task is a request the server's shutdown cut off."""
    return is_cut_off(asyncio.current_task())


def cut_off_error(write: bool) -> GatewayError:
    """The problem a request the shutdown cut off is answered with. A `write` (of the domain
    API) may have reached the ERP: its retry must carry the same Idempotency-Key, as after an
    ambiguous timeout, so that the gateway reconciles with the ERP instead of submitting
    again."""
    detail = "The gateway is stopping and cut this request off before it was answered; "
    if write:
        detail += (
            "the outcome is unknown. Retry the same request with the same Idempotency-Key "
            "(another instance takes it)."
        )
    else:
        detail += "send it again (another instance takes it)."
    return GatewayError(
        Code.GATEWAY_BUSY,
        detail,
        headers={"Retry-After": str(RETRY_AFTER_S), "Connection": "close"},
    )


def cut_off_answer(ctx: RequestContext) -> GatewayError:
    """`cut_off_error` for a request of the domain API."""
    return cut_off_error(ctx.spec.operation in WRITE_OPERATIONS)
