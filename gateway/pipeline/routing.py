"""Routing step: chooses the system of record for the request.

An existing record goes to its home, whatever today's rules say; a new one follows `routes.yaml`.
Not the rules themselves (see `gateway.routing`).
"""

from __future__ import annotations

from starlette.responses import Response

from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.routing.rules import RoutingTable


class Routing:
    """Pipeline step: sets `ctx.backend` (and `ctx.route` when the rules decided)."""

    def __init__(self, table: RoutingTable) -> None:
        self._table = table

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        if ctx.record is not None:
            ctx.backend = ctx.record.backend
        elif ctx.legal_entity is not None:
            ctx.route = self._table.decide(ctx.spec.operation, ctx.legal_entity)
            ctx.backend = ctx.route.backend
        return await call_next(ctx)
