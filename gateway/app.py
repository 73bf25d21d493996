"""Builds the Starlette application from a runtime: the endpoints, the pipeline each request
flows through, health, the API's reference documents, and the one place problems are rendered.

Not configuration loading or serving (see `gateway.cli`); give it a runtime and it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway.api import changelog, docs
from gateway.api.admin import admin_routes
from gateway.api.endpoints import ENDPOINTS, Endpoint
from gateway.api.handlers import ApiHandler
from gateway.api.negotiation import preferred
from gateway.api.openapi import openapi_bytes
from gateway.api.problems import internal_error, problem_response
from gateway.domain.errors import (
    CLIENT_CLOSED_REQUEST,
    ClientAborted,
    Code,
    GatewayError,
    not_found,
)
from gateway.domain.versions import VERSIONS
from gateway.observability.logging import access_log, flush_logs
from gateway.observability.metrics import Metrics
from gateway.observability.spans import Telemetry
from gateway.observability.trace_context import CORRELATION_HEADER, correlation_id_from
from gateway.ops.migrations import Migrations
from gateway.ops.reload import Reloader
from gateway.pipeline.admission import Admit
from gateway.pipeline.auth import Authenticate
from gateway.pipeline.body import BODY_TIMEOUT_S, ParseBody
from gateway.pipeline.chain import Handler, Step, compose
from gateway.pipeline.context import RequestContext
from gateway.pipeline.entitlements import Authorize, Entitle
from gateway.pipeline.records import ResolveRecord
from gateway.pipeline.routing import Routing
from gateway.pipeline.tracing import Tracing
from gateway.pipeline.versioning import CHANGELOG_PATH, Versioning
from gateway.runtime import Runtime
from gateway.service.services import Services, build_services
from gateway.store.base import StoreUnavailable

log = logging.getLogger("gateway")

_VERSION_RE = re.compile(r"v[0-9]+")
READY_TIMEOUT_S = 1.0


def pipeline_steps(
    runtime: Runtime, telemetry: Telemetry | None, body_timeout_s: float = BODY_TIMEOUT_S
) -> list[Step]:
    """The pipeline, in the order a request flows through it, each step given what it needs."""
    return [
        Tracing(telemetry, runtime.config.version),
        Versioning(runtime.versions, runtime.authenticator),
        Authenticate(runtime.authenticator),
        Authorize(runtime.entitlements),
        ParseBody(body_timeout_s),
        ResolveRecord(runtime.store, runtime.routing.legal_entities),
        Entitle(),
        Routing(runtime.routing),
        Admit(
            runtime.store,
            runtime.rate_limits,
            runtime.idempotency,
            runtime.timeouts(),
            problem_response,
        ),
    ]


@dataclass(frozen=True)
class Serving:
    """One runtime and the pipeline composed from it: what the app answers with until the next
    reload swaps in another, whole. A request keeps the one it started with."""

    runtime: Runtime
    handlers: tuple[Handler, ...]  # by index in ENDPOINTS


def serving(runtime: Runtime, telemetry: Telemetry | None, body_timeout_s: float) -> Serving:
    steps = pipeline_steps(runtime, telemetry, body_timeout_s)
    services = build_services(runtime.backends, runtime.store, runtime.routing, telemetry)
    handlers = tuple(
        compose(steps, _with_services(endpoint.handler, services)) for endpoint in ENDPOINTS
    )
    return Serving(runtime, handlers)


def _with_services(handler: ApiHandler, services: Services) -> Handler:
    async def handle(ctx: RequestContext) -> Response:
        return await handler(ctx, services)

    return handle


def install_runtime(app: Starlette, runtime: Runtime) -> None:
    """Serve `runtime` from the next request on (start-up, reloads, tests)."""
    app.state.serving = serving(runtime, app.state.telemetry, app.state.body_timeout_s)


def current_runtime(app: Starlette) -> Runtime:
    current: Serving = app.state.serving
    return current.runtime


def _endpoint(
    index: int, endpoint: Endpoint, version: str, metrics: Metrics, clock: Callable[[], float]
) -> object:
    """The ASGI endpoint of one operation under one version prefix (`version` is empty on an
    unversioned path: the versioning step decides it)."""
    spec = endpoint.spec
    operation = spec.operation.value

    async def answer(request: Request) -> Response:
        current: Serving = request.app.state.serving
        runtime = current.runtime
        ctx = RequestContext(request, spec, path_version=version, arrived_at=clock())
        ctx.deadline = ctx.arrived + runtime.request_timeout_s
        try:
            response = await current.handlers[index](ctx)
        except GatewayError as error:
            correlation_id = ctx.correlation_id or correlation_id_from(None)
            response = problem_response(error, correlation_id, request.url.path)
        except ClientAborted:
            # Nobody is left to answer: counted and logged once as the client's doing, never
            # as a server error (no traceback, no 5xx alert).
            response = Response(status_code=CLIENT_CLOSED_REQUEST)
        except Exception:
            log.exception(
                "unhandled error", extra={"correlation_id": ctx.correlation_id, "op": operation}
            )
            response = problem_response(internal_error(), ctx.correlation_id, request.url.path)
        for name, value in ctx.response_headers.items():
            response.headers.setdefault(name, value)
        elapsed = time.monotonic() - ctx.arrived
        metrics.observe(spec.operation, response.status_code, elapsed)
        access_log.info(
            "request",
            extra={
                "correlation_id": ctx.correlation_id,
                "trace_id": ctx.trace.trace_id if ctx.trace else None,
                "method": request.method,
                "path": request.url.path,
                "operation": operation,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
                "client_id": ctx.principal.client_id if ctx.principal else None,
                "legal_entity": ctx.legal_entity,
                "backend": ctx.reconcile_on or ctx.backend,
                "rule": ctx.route.rule_id if ctx.route else None,
                "config_version": runtime.config.version,
            },
        )
        return response

    return answer


def _problem_for_unrouted(request: Request, status: int) -> Response:
    correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
    first = request.url.path.strip("/").split("/", 1)[0]
    if status == 404 and _VERSION_RE.fullmatch(first) and first not in VERSIONS:
        error = GatewayError(
            Code.UNSUPPORTED_VERSION,
            f"API version {first} is not supported; supported: {', '.join(VERSIONS)}.",
            extra={"supported_versions": list(VERSIONS)},
        )
    else:
        # As Kong does, a method no route serves is "no route matched": 404, not a new code.
        error = not_found(f"No resource at {request.method} {request.url.path}.")
    response = problem_response(error, correlation_id, request.url.path)
    response.headers[CORRELATION_HEADER] = correlation_id
    return response


async def _http_exception(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _problem_for_unrouted(request, status)


def _static(content: bytes, media_type: str, headers: Mapping[str, str] | None = None) -> object:
    """An endpoint answering the same bytes (built once at start-up) to every caller."""

    async def endpoint(_: Request) -> Response:
        return Response(content, media_type=media_type, headers=headers)

    return endpoint


def _changelog() -> object:
    """The changelog, negotiated: HTML for a browser, markdown for `text/markdown` and by
    default (`*/*`, no Accept). Both representations are built once, at start-up."""
    documents = changelog.changelog_documents()
    html = {**changelog.PAGE_HEADERS, "Vary": "Accept"}

    async def endpoint(request: Request) -> Response:
        if preferred(request.headers.get("accept"), changelog.OFFERS) == changelog.HTML:
            return Response(documents.html, media_type="text/html; charset=utf-8", headers=html)
        return Response(
            documents.markdown,
            media_type="text/markdown; charset=utf-8",
            headers={"Vary": "Accept"},
        )

    return endpoint


def reference_routes() -> list[Route]:
    """The API's contract for people and tools: OpenAPI documents, the reference page and its
    assets, the changelog."""
    routes = [
        Route(f"/openapi/{v}.json", _static(openapi_bytes(v), "application/json"))  # type: ignore[arg-type]
        for v in VERSIONS
    ]
    site = docs.docs_site()
    page = _static(site.page, "text/html; charset=utf-8", docs.PAGE_HEADERS)
    routes.append(Route(docs.DOCS_PATH, page))  # type: ignore[arg-type]
    routes += [
        Route(path, _static(asset.content, asset.media_type, docs.ASSET_HEADERS))  # type: ignore[arg-type]
        for path, asset in site.assets.items()
    ]
    routes.append(Route(CHANGELOG_PATH, _changelog()))  # type: ignore[arg-type]
    return routes


def operation_routes(metrics: Metrics, clock: Callable[[], float] = time.time) -> list[Route]:
    """Every operation under each version's prefix, and unversioned (the client's pinned
    version, else the default)."""
    routes = []
    for index, endpoint in enumerate(ENDPOINTS):
        for version in ("", *VERSIONS):
            prefix = f"/{version}" if version else ""
            answer = _endpoint(index, endpoint, version, metrics, clock)
            routes.append(Route(prefix + endpoint.path, answer, methods=[endpoint.method]))  # type: ignore[arg-type]
    return routes


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime = current_runtime(request.app)
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await runtime.store.ping()
    except (StoreUnavailable, TimeoutError):
        error = GatewayError(
            Code.STORE_UNAVAILABLE,
            "The gateway's state store is unreachable.",
            headers={"Retry-After": "1"},
        )
        return problem_response(error, correlation_id_from(None), request.url.path)
    return JSONResponse({"status": "ready", "backends": sorted(runtime.backends)})


def build_app(
    runtime: Runtime,
    *,
    config_dir: Path | None = None,
    watch_config: bool = True,
    telemetry: Telemetry | None = None,
    body_timeout_s: float = BODY_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The gateway as an ASGI app serving `runtime`. `clock` gives each request's arrival
    instant, which routing decides on (tests move it through waves without waiting).

    With `config_dir`, the configuration reloads from there on file change (if `watch_config`),
    SIGHUP and `POST /admin/config/reload`, swapping the runtime and its pipeline atomically.
    """
    metrics = Metrics()
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(
            "/metrics",
            lambda _: PlainTextResponse(metrics.exposition(), media_type="text/plain"),
            methods=["GET"],
        ),
    ]
    routes += reference_routes()
    routes += operation_routes(metrics, clock)

    reloader: Reloader | None = None
    migrations: Migrations | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watcher = None
        if reloader is not None:
            reloader.install_sighup()
            if watch_config:
                watcher = asyncio.create_task(reloader.watch())
        yield
        if watcher is not None:
            watcher.cancel()
        if migrations is not None:
            await migrations.aclose()
        current = current_runtime(app)
        await current.aclose_adapters()
        await current.store.aclose()
        if telemetry is not None:
            telemetry.shutdown()
        flush_logs()

    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_exception},
        lifespan=lifespan,
    )
    # A path with a trailing slash is unknown like any other (404), never redirected: a
    # redirect would be built from the client's Host header and skip authentication.
    app.router.redirect_slashes = False
    app.state.metrics = metrics
    app.state.telemetry = telemetry
    app.state.body_timeout_s = body_timeout_s
    install_runtime(app, runtime)
    if config_dir is not None:
        reloader = Reloader(
            config_dir,
            current=lambda: current_runtime(app),
            install=lambda new: install_runtime(app, new),
        )
        migrations = Migrations(lambda: current_runtime(app))
        app.router.routes.extend(admin_routes(reloader, migrations, lambda: current_runtime(app)))
    return app
