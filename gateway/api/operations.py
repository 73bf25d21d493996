"""Operator endpoints for running the gateway day to day (scope `gateway:admin`): the
transaction journal and replays, the audit trail and its verification, the ERP backends'
circuit breakers, and one overview for the operations dashboard.

Not the work behind them (see `gateway.store.journal`, `gateway.store.audit`,
`gateway.ops.replay`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.api.admin import admin_caller, admin_endpoint
from gateway.api.admin_reach import AdminCaller, Reach
from gateway.config.operations import MAX_AUDIT_ENTRIES
from gateway.domain.errors import Code, FieldError, GatewayError, bad_cursor
from gateway.domain.models import LegalEntityCode, Strict, is_legal_entity_code, no_number
from gateway.observability.client_address import client_ip
from gateway.observability.metrics import business_figures
from gateway.ops.replay import Replays, corrected_body_of, is_too_long, no_transaction
from gateway.pipeline.body import parse_query_model, read_body, require_json, without_bom
from gateway.pipeline.journal import INSTANCE, STATUSES, public_view
from gateway.routing.map import migration_map
from gateway.runtime import Runtime
from gateway.store.audit import AUDIT_HEAD_HEADER, ChainCheck, chain_chunks, export_text
from gateway.store.journal import MAX_PAGE, BadCursor, JournalQuery

JSON_LINES = "application/jsonl; charset=utf-8"
_AUDIT_CHUNK = 1000


Instant = Annotated[dt.datetime, no_number("an ISO 8601 time, e.g. 2026-12-01T06:00:00Z")]


class TransactionsQuery(Strict):
    """`GET /admin/transactions`: every filter optional, the latest recorded first, paged."""

    model_config = Strict.model_config | {"strict": False}
    # A filter given is never empty (`?legal_entity=` would list nothing, as if none were).
    status: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    # A legal entity's code, as the entries hold it: `de01` would list nothing, as if none were.
    legal_entity: LegalEntityCode | None = None
    backend: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    client: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    correlation_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    operation: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    since: Instant | None = None
    cursor: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 50


class AuditQuery(Strict):
    model_config = Strict.model_config | {"strict": False}
    # No trail is longer (policies/operations.yaml); the bound also keeps the store's list
    # indexes in range, so a bad `start` is a 400, not a stream broken after its 200.
    start: Annotated[int, Field(ge=0, le=MAX_AUDIT_ENTRIES)] = 0
    limit: Annotated[int, Field(ge=1)] | None = None


def _since(moment: dt.datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def operations_routes(replays: Replays, current: Callable[[], Runtime]) -> list[Route]:
    async def transactions(request: Request) -> Response:
        asked = parse_query_model(request, TransactionsQuery)
        if asked.status is not None and asked.status not in STATUSES:
            raise GatewayError(
                Code.VALIDATION_FAILED,
                f"Unknown status {asked.status!r}.",
                [FieldError("/status", f"One of: {', '.join(STATUSES)}.")],
            )
        caller = admin_caller(request)
        if asked.legal_entity is not None:
            caller.require_entity(asked.legal_entity)
        query = JournalQuery(
            status=asked.status,
            legal_entity=asked.legal_entity,
            backend=asked.backend,
            client=asked.client,
            correlation_id=asked.correlation_id,
            operation=asked.operation,
            since=_since(asked.since),
            cursor=asked.cursor,
            limit=asked.limit,
            within=caller.legal_entities,
        )
        runtime = current()
        await runtime.journal.flush()
        try:
            page = await runtime.store.journal.page(query)
        except BadCursor:
            raise bad_cursor(
                "/cursor", "Use next_cursor from the previous page, as it was."
            ) from None
        items = [_summary(entry) for entry in page.items]
        return JSONResponse({"items": items, "next_cursor": page.next_cursor})

    async def transaction(request: Request) -> Response:
        transaction_id = str(request.path_params["id"])
        entry = await _visible_entry(current(), admin_caller(request), transaction_id)
        return JSONResponse(public_view(entry))

    async def replay(request: Request) -> Response:
        raw = without_bom(await read_body(request))
        if raw.strip():  # a body is JSON, declared as such; none at all is a plain replay
            require_json(request)
        corrected = corrected_body_of(raw)
        transaction_id = str(request.path_params["id"])
        caller = admin_caller(request)
        if caller.legal_entities is not None:
            # Another entity's transaction is as one not in the journal (the replay's own
            # answer for an unknown id), before anything of it is looked at further.
            await _visible_entry(current(), caller, transaction_id)
            # The replay runs as the transaction's client, which may act for more entities
            # than this caller: a correction acts for the one it names, as a request would.
            # What is no legal entity's code (`de01`) its schema refuses, as anyone's.
            named = corrected.get("legal_entity") if corrected is not None else None
            if isinstance(named, str) and is_legal_entity_code(named):
                caller.require_entity(named)
        outcome = await replays.replay(
            transaction_id,
            corrected,
            str(request.state.actor),
            client_ip(request.scope),
        )
        entry = await current().store.journal.entry(outcome.transaction_id)
        return JSONResponse(
            {
                "transaction": public_view(entry) if entry else None,
                "replay": {
                    "status": outcome.status,
                    "answer": outcome.answer,
                    "correlation_id": outcome.correlation_id,
                },
            }
        )

    async def audit(request: Request) -> Response:
        asked = parse_query_model(request, AuditQuery)
        runtime = current()
        await runtime.audit.flush()
        chunks = chain_chunks(
            runtime.store.audit, asked.start, asked.limit, _AUDIT_CHUNK, snapshot=True
        )
        # The first chunk is read before answering: a store that is down is a 503 problem,
        # not a 200 whose body breaks off (which a client may save as a shorter trail).
        first = await anext(chunks)
        # Who took the trail out, from where, and which part (once it could be read). A HEAD
        # (served by the GET route) takes nothing out.
        if request.method != "HEAD":
            runtime.audit.record(
                "admin.audit_export",
                request.state.actor,
                asked.model_dump(mode="json"),
                client_ip(request.scope),
            )

        async def lines() -> AsyncIterator[str]:
            yield export_text(first, first=True)
            async for chunk in chunks:
                yield export_text(chunk, first=False)

        # The store's head as it was read with the first entries: an export says it in its end
        # record, and a chain that does not reach it lost its newest entries before it was read.
        head = {AUDIT_HEAD_HEADER: first.read_at.text()}
        return StreamingResponse(lines(), media_type=JSON_LINES, headers=head)

    async def audit_verify(_: Request) -> Response:
        runtime = current()
        await runtime.audit.flush()
        check = ChainCheck()
        async for chunk in chain_chunks(runtime.store.audit, chunk=_AUDIT_CHUNK):
            if chunk.anchor is not None and chunk.first_seq is not None:
                check.resume(chunk.anchor, chunk.first_seq)
            if not all(check.add(line) for line in chunk.lines):
                break
            if chunk.head is not None:  # read to its end: which must be the store's head
                check.end(chunk.head)
        verdict = check.verdict()
        return JSONResponse(verdict.as_dict(), status_code=200 if verdict.intact else 409)

    async def backends(_: Request) -> Response:
        runtime = current()
        return JSONResponse({"instance": INSTANCE, "backends": _backends(runtime)})

    async def overview(request: Request) -> Response:
        # A regional operator's: the map rows, open exceptions and figures of its legal
        # entities. The backends' breakers are every admin client's: the ERPs are shared, and
        # one open stops its entities' orders as it stops the others'.
        caller = admin_caller(request)
        within = caller.legal_entities
        runtime = current()
        now = time.time()
        await runtime.journal.flush()
        open_exceptions = await runtime.store.journal.open_exceptions(now, within)
        rows = [row for row in migration_map(runtime.routing, now) if caller.sees(row.legal_entity)]
        return JSONResponse(
            {
                "instance": INSTANCE,
                "config_version": runtime.config.version,
                "at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
                "migration_map": [row.as_dict() for row in rows],
                "backends": _backends(runtime),
                "open_exceptions": open_exceptions,
                "figures": business_figures(within),
            }
        )

    # What each route is about (`Reach`): an admin client of some legal entities reaches the
    # ENTITY ones, for its entities only.
    return [
        Route(
            "/admin/transactions",
            admin_endpoint(transactions, current, Reach.ENTITY),
            methods=["GET"],
        ),
        Route(
            "/admin/transactions/{id}",
            admin_endpoint(transaction, current, Reach.ENTITY),
            methods=["GET"],
        ),
        Route(
            "/admin/transactions/{id}/replay",
            admin_endpoint(replay, current, Reach.ENTITY),
            methods=["POST"],
        ),
        Route("/admin/audit", admin_endpoint(audit, current, Reach.GLOBAL), methods=["GET"]),
        Route(
            "/admin/audit/verify",
            admin_endpoint(audit_verify, current, Reach.GLOBAL),
            methods=["GET"],
        ),
        # The state of ERPs legal entities share, not any entity's records: shown whole to every
        # admin client, as in the overview.
        Route("/admin/backends", admin_endpoint(backends, current, Reach.ENTITY), methods=["GET"]),
        Route("/admin/overview", admin_endpoint(overview, current, Reach.ENTITY), methods=["GET"]),
    ]


async def _visible_entry(
    runtime: Runtime, caller: AdminCaller, transaction_id: str
) -> dict[str, Any]:
    """The journal's entry, if there and of a legal entity `caller` sees; else 404, so that
    another entity's transaction is not told from one that does not exist. An id longer than
    any the gateway issues is not looked up."""
    if is_too_long(transaction_id):
        raise no_transaction(transaction_id)
    await runtime.journal.flush()
    entry = await runtime.store.journal.entry(transaction_id)
    if entry is None or not caller.sees(entry.get("legal_entity")):
        raise no_transaction(transaction_id)
    return entry


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    """A listed entry: everything but the request it carried."""
    return {k: v for k, v in public_view(entry).items() if k != "request"}


def _backends(runtime: Runtime) -> list[dict[str, Any]]:
    """Each configured backend with this process's breaker for it."""
    return [
        {
            "backend": view.backend,
            "kind": runtime.config.backends[view.backend].kind,
            "breaker": view.as_dict(),
        }
        for view in runtime.breakers.views()
        if view.backend in runtime.backends
    ]
