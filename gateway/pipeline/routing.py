"""Routing step: chooses the system of record for the request, at the second it arrived, or
finds its legal entity frozen for it (admission refuses it, unless it replays a stored answer).

An order, shipment or invoice goes to its home, whatever today's rules say; a customer is read
where the rules send its legal entity if it is present there, else at its home; a new record
follows `routes.yaml`. Not the rules themselves (see `gateway.routing`).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Awaitable

from starlette.responses import Response

from gateway.domain.errors import Code, GatewayError
from gateway.domain.operations import DEBUG_SCOPE, Kind, Operation
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.entitlements import grants
from gateway.routing.affinity import split_bucket
from gateway.routing.rules import (
    HOME_RULE_ID,
    CompiledFreeze,
    Instant,
    RouteDecision,
    RoutingTable,
)
from gateway.store.base import XrefRecord

RULE_HEADER = "X-Route-Rule"
BACKEND_HEADER = "X-Gateway-Backend"


def legal_entity_frozen(
    freeze: CompiledFreeze, at: Instant, thaws: Instant | None = None
) -> GatewayError:
    """503 for a write `freeze` refuses at `at`; Retry-After until it `thaws` (the end of the
    freezes carrying on from it; by default its own end)."""
    return GatewayError(
        Code.LEGAL_ENTITY_FROZEN,
        f"{freeze.reason} (freeze {freeze.id}, {freeze.window.text()}). Send the same request "
        "again after Retry-After.",
        headers={"Retry-After": str(freeze.retry_after_s(at, thaws))},
    )


# Backends a home decision is kept for: far more than any configuration names.
_HOMES = 256


@functools.lru_cache(maxsize=_HOMES)
def _at_home(backend: str) -> RouteDecision:
    """The decision that serves a record in its home `backend`: the same for every record
    there, so made once (a decision is immutable)."""
    return RouteDecision(backend, HOME_RULE_ID, f"the record lives in {backend}")


def placement(record: XrefRecord, decision: RouteDecision) -> RouteDecision:
    """Where a request about an existing record goes: a customer to the ERP the rules name if
    it is present there; anything else, or a customer not present there, to its home."""
    if record.kind is Kind.CUSTOMER and record.document_in(decision.backend) is not None:
        return decision
    return _at_home(record.backend)


def record_placement(
    table: RoutingTable, operation: str, record: XrefRecord, at: Instant
) -> RouteDecision:
    """Where a request about `record` goes at `at` (see `placement`). A record of a legal
    entity routes.yaml no longer lists has no rule to decide for it; it is served at home."""
    if table.legal_entity(record.legal_entity) is None:
        return RouteDecision(
            record.backend,
            HOME_RULE_ID,
            f"the record lives in {record.backend} (legal entity {record.legal_entity} is "
            "not in routes.yaml)",
        )
    if record.kind is not Kind.CUSTOMER:  # served at home whatever the rules decide
        return _at_home(record.backend)
    bucket = split_bucket(record.gateway_id)
    return placement(record, table.decide(operation, record.legal_entity, at, bucket))


def customer_read_placement(
    table: RoutingTable,
    operation: str,
    legal_entity: str,
    record: XrefRecord,
    at: dt.datetime | None = None,
) -> RouteDecision | None:
    """Where `operation` in `legal_entity` goes at `at` (default: now) when it addresses
    `record` itself (a customer's read: see `record_placement`), for `gateway explain`; None
    when the request would make a new record (an order for the customer follows the rules)."""
    if (
        operation != Operation.CUSTOMERS_READ
        or record.kind is not Kind.CUSTOMER
        or record.legal_entity != legal_entity
    ):
        return None
    instant = at.timestamp() if at is not None else time.time()
    return record_placement(table, operation, record, instant)


def request_bucket(ctx: RequestContext) -> int | None:
    """The bucket a canary split places a request for a new record by: that of the customer
    an order or quote names, or of a new customer, from its external_ref (the one its id will
    carry); a customer's own requests are placed by its record (see `record_placement`)."""
    payload = ctx.payload
    if ctx.spec.operation == Operation.CUSTOMERS_CREATE:
        return split_bucket(None, getattr(payload, "external_ref", None))
    return split_bucket(getattr(payload, "customer_id", None))


class Routing:
    """Pipeline step: sets `ctx.backend` and `ctx.route`; for a frozen write, `ctx.frozen`
    instead (the 503 legal_entity_frozen admission gives). A client granted `gateway:debug`
    sees the decision in X-Route-Rule and X-Gateway-Backend."""

    def __init__(self, table: RoutingTable) -> None:
        self._table = table

    def __call__(self, ctx: RequestContext, call_next: Handler) -> Awaitable[Response]:
        legal_entity = ctx.legal_entity
        if legal_entity is not None:
            operation = ctx.spec.operation
            frozen = self._table.frozen(operation, legal_entity, ctx.arrived_at)
            if frozen is not None:
                # Refused by admission, which alone knows (in its one round trip) whether the
                # key holds an answer to replay; no backend, so no ERP budget is asked for.
                thaws = self._table.thaws(operation, legal_entity, ctx.arrived_at)
                ctx.frozen = legal_entity_frozen(frozen, ctx.arrived_at, thaws)
                return call_next(ctx)
            if ctx.record is not None:
                decision = record_placement(self._table, operation, ctx.record, ctx.arrived_at)
            else:  # a new record's legal entity is one routes.yaml lists (see ResolveRecord)
                decision = self._table.decide(
                    operation, legal_entity, ctx.arrived_at, request_bucket(ctx)
                )
            ctx.route = decision
            ctx.backend = decision.backend
            ctx.routed_at = time.time()
            if self._debug(ctx):
                return self._said(ctx, call_next, decision)
        return call_next(ctx)  # nothing to do on the way out (see `Step`)

    @staticmethod
    async def _said(ctx: RequestContext, call_next: Handler, decision: RouteDecision) -> Response:
        """The rest of the pipeline, its decision said in X-Route-Rule and X-Gateway-Backend."""
        try:
            return await call_next(ctx)
        finally:
            # Said on the way out: a retry may be served where an earlier attempt under its
            # key went, not where the rules route it (see `served_by`).
            ctx.response_headers[RULE_HEADER] = ctx.served_by or decision.rule_id
            ctx.response_headers[BACKEND_HEADER] = ctx.system_of_record

    @staticmethod
    def _debug(ctx: RequestContext) -> bool:
        principal, entitlement = ctx.principal, ctx.entitlement
        if principal is None or entitlement is None:
            return False
        return grants(principal, entitlement, DEBUG_SCOPE)
