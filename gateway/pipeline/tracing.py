"""Tracing step: the request's correlation id and W3C trace, echoed on every response, and its
server span when spans are exported.

Not the parsing of the ids (see `gateway.observability.trace_context`) nor span export.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.responses import Response

from gateway.domain.errors import CLIENT_CLOSED_REQUEST, ClientAborted, GatewayError
from gateway.observability.spans import Telemetry, end_server_span, start_server_span
from gateway.observability.trace_context import (
    CORRELATION_HEADER,
    TraceContext,
    correlation_id_from,
    incoming_ids,
    trace_context_from,
)
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.cut_off import cut_off_answer, cut_off_here


class Tracing:
    """First step: every response, problems included, carries the correlation id."""

    def __init__(self, telemetry: Telemetry | None, config_version: str = "") -> None:
        self._telemetry = telemetry
        self._config_version = config_version

    def __call__(self, ctx: RequestContext, call_next: Handler) -> Awaitable[Response]:
        correlation_id, traceparent, tracestate = incoming_ids(ctx.request.scope["headers"])
        ctx.correlation_id = correlation_id_from(correlation_id)
        incoming = trace_context_from(traceparent, tracestate)
        ctx.response_headers[CORRELATION_HEADER] = ctx.correlation_id
        telemetry = self._telemetry
        if telemetry is None:  # no span: nothing to do on the way out (see `Step`)
            ctx.trace = incoming
            return call_next(ctx)
        return self._spanned(ctx, call_next, telemetry, incoming)

    async def _spanned(
        self,
        ctx: RequestContext,
        call_next: Handler,
        telemetry: Telemetry,
        incoming: TraceContext,
    ) -> Response:
        """The rest of the pipeline inside the request's server span, ended with its status."""
        request = ctx.request
        span, ctx.trace = start_server_span(
            telemetry,
            request.method,
            ctx.path,
            ctx.spec.operation,
            ctx.correlation_id,
            incoming,
        )
        ctx.span = span
        status = 500
        try:
            response = await call_next(ctx)
            status = response.status_code
            return response
        except GatewayError as error:
            status = error.status
            raise
        except ClientAborted:
            status = CLIENT_CLOSED_REQUEST
            raise
        except asyncio.CancelledError:
            if cut_off_here():  # the server stopping cut it off: the app answers it so
                status = cut_off_answer(ctx).status
            raise
        finally:
            attributes = {"gateway.config.version": self._config_version}
            if ctx.route is not None:
                attributes["gateway.route.rule"] = ctx.served_by or ctx.route.rule_id
                attributes["gateway.backend"] = ctx.reconcile_on or ctx.route.backend
            if ctx.legal_entity is not None:
                attributes["gateway.legal_entity"] = ctx.legal_entity
            if ctx.journal_id is not None:
                attributes["gateway.journal.id"] = ctx.journal_id
            end_server_span(span, status, attributes)
