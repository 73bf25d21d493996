"""How a handler calls an ERP: within the backend's timeout and the request's one deadline.

Not the adapters; this only binds a call to its backend, deadline and trace headers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from pydantic import BaseModel
from starlette.responses import Response

from gateway.adapters.base import CallContext, ErpAdapter
from gateway.adapters.http import ErpFailure
from gateway.domain.errors import Code
from gateway.ops.telemetry import erp_span
from gateway.pipeline.context import RequestContext

T = TypeVar("T")
JSON = "application/json"


ErpCall = Callable[[ErpAdapter, CallContext], Awaitable[T]]


async def call_erp(ctx: RequestContext, call: ErpCall[T], backend: str | None = None) -> T:
    """Run an ERP call on `backend` (default: the request's) within the request's one ERP
    deadline for that backend: `timeout_s` from the request's first call to it (so a search and
    a create, or a read and a cancel, share it), and never past the request's own deadline."""
    name = backend or ctx.backend
    assert name is not None, "routing runs before handlers"
    binding = ctx.runtime.backend(name)
    if not ctx.forwarded and ctx.before_forward is not None:
        await ctx.before_forward(name)
    ctx.forwarded = True
    deadline = ctx.erp_deadlines.setdefault(
        name, min(ctx.deadline, time.monotonic() + binding.timeout_s)
    )
    call_ctx = replace(ctx.call_context(), deadline=deadline)
    telemetry = getattr(ctx.request.app.state, "telemetry", None)
    try:
        if telemetry is None or ctx.span is None:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                return await call(binding.adapter, call_ctx)
        with erp_span(telemetry, ctx.span, name) as traceparent:
            traced = replace(call_ctx, traceparent=traceparent)
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                return await call(binding.adapter, traced)
    except TimeoutError as exc:
        raise ErpFailure(
            Code.ERP_TIMEOUT,
            "The ERP did not answer in time; the outcome is unknown. Retry the same request "
            "with the same Idempotency-Key.",
            ambiguous=True,
        ) from exc


async def found_or_created(ctx: RequestContext, find: ErpCall[T | None], create: ErpCall[T]) -> T:
    """The document an earlier attempt of this request created, when that attempt's outcome is
    unknown (`ctx.reconcile`); otherwise, or if the ERP has none, a new one."""
    if ctx.reconcile:
        found = await call_erp(ctx, find)
        if found is not None:
            return found
    return await call_erp(ctx, create)


def json_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(model.model_dump_json().encode(), status, headers, media_type=JSON)
