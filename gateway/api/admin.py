"""Operator endpoints under `/admin`, for callers with the `gateway:admin` scope: configuration
reloads, migration jobs, the ID cross-reference's exchange as CSV, routing explanations and the
shadow report.

Not the domain API: these change or show the gateway itself. Not the work behind them (see
`gateway.ops`, `gateway.routing`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.api.admin_reach import AdminCaller, Reach
from gateway.api.problems import instance_of, internal_error, problem_response
from gateway.domain.errors import (
    CLIENT_CLOSED_REQUEST,
    ClientAborted,
    Code,
    FieldError,
    GatewayError,
    echoed,
    not_found,
)
from gateway.domain.ids import MAX_GATEWAY_ID_LENGTH
from gateway.domain.models import CustomerId, LegalEntityCode, Strict
from gateway.domain.operations import ADMIN_SCOPE, Kind
from gateway.observability.client_address import client_ip
from gateway.observability.trace_context import CORRELATION_HEADER, correlation_id_from
from gateway.ops.migrations import JOB_PREFIX, MigrationRequest, Migrations
from gateway.ops.reload import Reloader, reload_every_worker
from gateway.ops.xref_exchange import export_rows, import_mappings
from gateway.pipeline.body import (
    parse_json_model,
    parse_query_model,
    read_body,
    require_json,
    without_bom,
)
from gateway.pipeline.entitlements import registered, require_scope
from gateway.pipeline.routing import customer_read_placement
from gateway.routing.explain import UnknownName, explain
from gateway.routing.shadow_report import shadow_report
from gateway.routing.shadows import ShadowTable, compile_shadows
from gateway.runtime import Runtime

log = logging.getLogger("gateway.admin")
AdminHandler = Callable[[Request], Awaitable[Response]]
CSV = "text/csv; charset=utf-8"
MAX_IMPORT_BYTES = 64 * 1024 * 1024  # a CSV of several hundred thousand mappings


def admin_endpoint(
    handler: AdminHandler, current: Callable[[], Runtime], reach: Reach
) -> AdminHandler:
    """`handler` for callers with the `gateway:admin` scope only, and of every legal entity
    unless `reach` is ENTITY (the caller is `request.state.admin`, its client id also in
    `request.state.actor` for the audit trail), its problems rendered; anything else it raises
    is logged and answered as the gateway's 500 problem, as on the domain API."""

    async def endpoint(request: Request) -> Response:
        correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
        runtime = current()
        try:
            principal = await runtime.authenticator.authenticate_request(
                request.headers, request.scope
            )
            entitlement = registered(runtime.entitlements, principal)
            require_scope(principal, entitlement, ADMIN_SCOPE)
            caller = AdminCaller(principal.client_id, entitlement.legal_entities)
            caller.require_reach(reach)
            request.state.admin = caller
            request.state.actor = principal.client_id
            response = await handler(request)
        except GatewayError as error:
            response = problem_response(error, correlation_id, instance_of(request.scope))
        except ClientAborted:  # nobody is left to answer; the client's doing, not a fault
            response = Response(status_code=CLIENT_CLOSED_REQUEST)
        except Exception:
            log.exception(
                "unhandled error",
                extra={"correlation_id": correlation_id, "path": request.url.path},
            )
            response = problem_response(
                internal_error(), correlation_id, instance_of(request.scope)
            )
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    return endpoint


class ExplainRequest(Strict):
    """`POST /admin/routes/explain`."""

    operation: Annotated[str, Field(min_length=1, max_length=64)]
    legal_entity: LegalEntityCode
    customer_id: CustomerId | None = None  # as an order's body gives it
    external_ref: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    at: dt.datetime | None = None


class ExportQuery(Strict):
    model_config = Strict.model_config | {"strict": False}
    legal_entity: LegalEntityCode | None = None


class ImportQuery(Strict):
    model_config = Strict.model_config | {"strict": False}
    dry_run: bool = False
    first_line: Annotated[int, Field(ge=1)] = 1


def admin_caller(request: Request) -> AdminCaller:
    """The admin client `admin_endpoint` let in."""
    caller: AdminCaller = request.state.admin
    return caller


async def _json_body(request: Request, model: type[Strict]) -> Any:
    require_json(request)
    return parse_json_model(without_bom(await read_body(request)), model)


def admin_routes(
    reloader: Reloader, migrations: Migrations, current: Callable[[], Runtime]
) -> list[Route]:
    async def reload(request: Request) -> Response:
        issues = await reloader.reload(f"admin {request.state.actor}", client_ip(request.scope))
        # Then every other worker of `gateway serve --workers N`, in place, as on SIGHUP; the
        # answer says what happened in this one.
        reload_every_worker()
        if issues:
            raise GatewayError(
                Code.VALIDATION_FAILED,
                "The new configuration was refused; the running configuration is unchanged.",
                [FieldError("", str(issue)) for issue in issues],
                extra={
                    "issues": [
                        {"file": i.file, "line": i.line, "message": i.message} for i in issues
                    ]
                },
            )
        return JSONResponse(
            {
                "status": "reloaded",
                "generation": reloader.status.generation,
                "version": current().config.version,
            }
        )

    async def show(_: Request) -> Response:
        status = reloader.status
        return JSONResponse(
            {
                "generation": status.generation,
                "version": current().config.version,
                "loaded_at": status.loaded_at,
                "last_attempt_at": status.last_attempt_at,
                "last_error": [str(i) for i in status.last_error],
            }
        )

    async def start_migration(request: Request) -> Response:
        asked: MigrationRequest = await _json_body(request, MigrationRequest)
        admin_caller(request).require_entity(asked.legal_entity)
        job = await migrations.start(asked)
        current().audit.record(
            "admin.migration",
            request.state.actor,
            {"job": job.id, **asked.model_dump(mode="json")},
            client_ip(request.scope),
        )
        location = f"/admin/migrations/{job.id}"
        return JSONResponse(job.view(time.time()), 202, {"Location": location})

    async def migration(request: Request) -> Response:
        job_id = str(request.path_params["id"])
        plausible = job_id.startswith(JOB_PREFIX) and len(job_id) <= MAX_GATEWAY_ID_LENGTH
        job = await migrations.get(job_id) if plausible else None
        if job is None or not admin_caller(request).sees(job.legal_entity):
            raise not_found(f"No migration job {echoed(job_id)}.")
        return JSONResponse(job.view(time.time()))

    async def export_xref(request: Request) -> Response:
        query = parse_query_model(request, ExportQuery)
        runtime = current()
        caller = admin_caller(request)
        if query.legal_entity:
            caller.require_entity(query.legal_entity)
            codes = [query.legal_entity]
        else:
            codes = [c for c in sorted(runtime.routing.legal_entities) if caller.sees(c)]

        # Read before answering: a store that is down is a 503 problem, not a 200 whose body
        # breaks off (which a scheduled export would save as an empty mapping).
        records = [
            record
            for code in codes
            for kind in Kind
            for record in await runtime.store.xrefs_of(kind, code)
        ]
        # Who took the mapping out, and which part: what was asked and how much, not the data.
        # A HEAD (served by the GET route) takes nothing out.
        if request.method != "HEAD":
            runtime.audit.record(
                "admin.xref_export",
                request.state.actor,
                {**query.model_dump(mode="json"), "records": len(records)},
                client_ip(request.scope),
            )

        async def rows() -> AsyncIterator[str]:
            for chunk in export_rows(records):
                yield chunk

        return StreamingResponse(rows(), media_type=CSV)

    async def import_xref(request: Request) -> Response:
        query = parse_query_model(request, ImportQuery)
        raw = await read_body(request, limit=MAX_IMPORT_BYTES)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise GatewayError(
                Code.VALIDATION_FAILED, "The CSV is not UTF-8 text.", [FieldError("", "Not UTF-8.")]
            ) from None
        runtime = current()
        report = await import_mappings(
            runtime.store,
            text,
            sorted(runtime.backends),
            dry_run=query.dry_run,
            first_line=query.first_line,
            sees=admin_caller(request).sees,
        )
        if not query.dry_run:
            summary = {k: v for k, v in report.as_dict().items() if not isinstance(v, list)}
            runtime.audit.record(
                "admin.xref_import", request.state.actor, summary, client_ip(request.scope)
            )
        return JSONResponse({"dry_run": query.dry_run, **report.as_dict()})

    async def explain_route(request: Request) -> Response:
        asked: ExplainRequest = await _json_body(request, ExplainRequest)
        caller = admin_caller(request)
        caller.require_entity(asked.legal_entity)
        runtime = current()
        record = await runtime.store.get_xref(asked.customer_id) if asked.customer_id else None
        if record is not None and not caller.sees(record.legal_entity):
            record = None  # another entity's customer is as one the gateway does not know
        at = asked.at if asked.at is None or asked.at.tzinfo else asked.at.replace(tzinfo=dt.UTC)
        placed = None
        if record is not None:
            placed = customer_read_placement(
                runtime.routing, asked.operation, asked.legal_entity, record, at
            )
        try:
            explanation = explain(
                runtime.routing,
                asked.operation,
                asked.legal_entity,
                customer_home=record.backend if record is not None else None,
                customer_id=asked.customer_id,
                external_ref=asked.external_ref,
                at=at,
                placed=placed,
            )
        except UnknownName as exc:
            raise GatewayError(
                Code.VALIDATION_FAILED, str(exc), [FieldError(f"/{exc.field}", str(exc))]
            ) from None
        return JSONResponse(explanation.as_dict())

    async def show_shadow_report(request: Request) -> Response:
        runtime = current()
        counters, examples, records = await runtime.store.shadow.read()
        # Each scope held to the evidence bar of the rule that shadows it now.
        table = ShadowTable(runtime.routing, compile_shadows(runtime.config.routes))
        now = time.time()
        reports = shadow_report(
            counters, examples, records, lambda le, op: table.bar_for(op, le, now)
        )
        caller = admin_caller(request)
        return JSONResponse(
            {"scopes": [r.to_json() for r in reports if caller.sees(r.legal_entity)]}
        )

    async def reset_shadow_report(request: Request) -> Response:
        runtime = current()
        await runtime.store.shadow.reset()
        runtime.audit.record(
            "admin.shadow_reset", request.state.actor, {}, client_ip(request.scope)
        )
        return Response(status_code=204)

    # What each route is about (`Reach`): an admin client of some legal entities reaches the
    # ENTITY ones, for its entities only.
    return [
        Route(
            "/admin/shadow/report",
            admin_endpoint(show_shadow_report, current, Reach.ENTITY),
            methods=["GET"],
        ),
        Route(  # every entity's counters at once
            "/admin/shadow/report",
            admin_endpoint(reset_shadow_report, current, Reach.GLOBAL),
            methods=["DELETE"],
        ),
        Route(
            "/admin/config/reload", admin_endpoint(reload, current, Reach.GLOBAL), methods=["POST"]
        ),
        Route("/admin/config", admin_endpoint(show, current, Reach.GLOBAL), methods=["GET"]),
        Route(
            "/admin/migrations",
            admin_endpoint(start_migration, current, Reach.ENTITY),
            methods=["POST"],
        ),
        Route(
            "/admin/migrations/{id}",
            admin_endpoint(migration, current, Reach.ENTITY),
            methods=["GET"],
        ),
        Route(
            "/admin/xref/export",
            admin_endpoint(export_xref, current, Reach.ENTITY),
            methods=["GET"],
        ),
        Route(
            "/admin/xref/import",
            admin_endpoint(import_xref, current, Reach.ENTITY),
            methods=["POST"],
        ),
        Route(
            "/admin/routes/explain",
            admin_endpoint(explain_route, current, Reach.ENTITY),
            methods=["POST"],
        ),
    ]
