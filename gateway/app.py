"""Builds the Starlette application from a runtime: the endpoints, the pipeline each request
flows through, health, the API's reference documents, and the one place problems are rendered.

Not configuration loading or serving (see `gateway.cli`); give it a runtime and it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import operator
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from gateway.api import changelog, dashboard, docs
from gateway.api.admin import admin_routes
from gateway.api.allow import AllowedMethods
from gateway.api.dispatch import Answer, FastRoutes
from gateway.api.endpoints import ENDPOINTS, Endpoint
from gateway.api.erp_events import erp_event_routes
from gateway.api.event_admin import event_admin_routes
from gateway.api.handlers import ApiHandler
from gateway.api.negotiation import preferred
from gateway.api.openapi import openapi_bytes
from gateway.api.operations import operations_routes
from gateway.api.problems import instance_of, internal_error, problem_response
from gateway.api.static_site import ASSET_HEADERS, HTML, StaticSite
from gateway.config.backends import SAP_KIND, erp_systems
from gateway.domain.errors import (
    CLIENT_CLOSED_REQUEST,
    ClientAborted,
    Code,
    GatewayError,
    echoed,
    method_not_allowed,
    not_found,
)
from gateway.domain.versions import VERSIONS
from gateway.forced_stop import QUIT_AT_ONCE, QuitAtOnce, Unwritten
from gateway.observability.client_address import client_ip
from gateway.observability.event_metrics import WEBHOOK_DISABLED_SUBSCRIPTIONS
from gateway.observability.logging import access_log, flush_logs
from gateway.observability.metrics import (
    CONTENT_TYPE,
    NO_BACKEND,
    OPEN_EXCEPTIONS,
    REQUEST_SECONDS_BY,
    exposition,
)
from gateway.observability.spans import Telemetry
from gateway.observability.trace_context import CORRELATION_HEADER, correlation_id_from
from gateway.ops.erp_polling import ErpPolling
from gateway.ops.event_delivery import EventDelivery
from gateway.ops.migrations import Migrations
from gateway.ops.reload import Reloader
from gateway.ops.replay import Replays
from gateway.pipeline.admission import Admit
from gateway.pipeline.auth import Authenticate
from gateway.pipeline.body import BODY_TIMEOUT_S, ParseBody
from gateway.pipeline.chain import Handler, Step, compose
from gateway.pipeline.context import RequestContext
from gateway.pipeline.cut_off import cut_off_answer, cut_off_error, cut_off_here
from gateway.pipeline.entitlements import Authorize, Entitle
from gateway.pipeline.journal import JOURNALED, Journal
from gateway.pipeline.ratelimit import CountRefusals
from gateway.pipeline.record_ids import BoundRecordIds
from gateway.pipeline.records import ResolveRecord
from gateway.pipeline.routing import Routing
from gateway.pipeline.tracing import Tracing
from gateway.pipeline.versioning import (
    CHANGELOG_PATH,
    VERSION_HEADER,
    Versioning,
    unsupported_version,
    version_sunset,
)
from gateway.routing.shadows import ShadowTable, compile_shadows
from gateway.runtime import Runtime
from gateway.service.services import Services, build_services
from gateway.service.shadow import ShadowAnswers, Shadowing, reveal_values
from gateway.store.base import StoreUnavailable
from gateway.store.subscription_states import disabled_at

log = logging.getLogger("gateway")

_VERSION_RE = re.compile(r"v[0-9]+")
# The most of an unrouted path its 404 repeats: more than any path the API serves is long.
ECHOED_PATH_CHARS = 256
READY_TIMEOUT_S = 1.0


def pipeline_steps(
    runtime: Runtime,
    telemetry: Telemetry | None,
    body_timeout_s: float = BODY_TIMEOUT_S,
    shadowing: Shadowing | None = None,
) -> list[Step]:
    """The pipeline, in the order a request flows through it, each step given what it needs."""
    journal: list[Step] = []
    if runtime.config.operations.journal.enabled:
        journal.append(
            Journal(runtime.journal, runtime.audit, runtime.config.version, runtime.idempotency)
        )
    # Just outside admission: what it answers is the client's answer.
    shadow: list[Step] = [ShadowAnswers(shadowing)] if shadowing is not None else []
    return [
        Tracing(telemetry, runtime.config.version),
        Versioning(runtime.versions, runtime.authenticator),
        Authenticate(runtime.authenticator),
        CountRefusals(runtime.store, runtime.rate_limits),
        Authorize(runtime.entitlements),
        BoundRecordIds(),
        *journal,
        ParseBody(body_timeout_s),
        ResolveRecord(runtime.store, runtime.routing.legal_entities),
        Entitle(),
        Routing(runtime.routing),
        *shadow,
        Admit(
            runtime.store,
            runtime.rate_limits,
            runtime.idempotency,
            runtime.timeouts(),
            problem_response,
            runtime.releases,
        ),
    ]


@dataclass(frozen=True)
class Serving:
    """One runtime and the pipeline composed from it: what the app answers with until the next
    reload swaps in another, whole. A request keeps the one it started with."""

    runtime: Runtime
    handlers: tuple[Handler, ...]  # by index in ENDPOINTS
    # The same pipeline without authentication, for an operator's replay of a transaction:
    # the replayed client's principal is set on its context, authorization still applies.
    replay_handlers: tuple[Handler, ...]
    shadowing: Shadowing | None = None  # None: no rule shadows anything


def serving(runtime: Runtime, telemetry: Telemetry | None, body_timeout_s: float) -> Serving:
    shadowing = shadowing_of(runtime)
    steps = pipeline_steps(runtime, telemetry, body_timeout_s, shadowing)
    replay_steps = [step for step in steps if not isinstance(step, Authenticate)]
    services = build_services(
        runtime.backends,
        runtime.store,
        runtime.routing,
        telemetry,
        runtime.rate_limits.backends,
    )
    answers = [
        _with_services(
            endpoint.handler,
            services,
            shadowed=shadowing is not None and ShadowAnswers.applies(endpoint.spec),
        )
        for endpoint in ENDPOINTS
    ]
    specs = [endpoint.spec for endpoint in ENDPOINTS]
    return Serving(
        runtime,
        tuple(compose(steps, a, spec) for a, spec in zip(answers, specs, strict=True)),
        tuple(compose(replay_steps, a, spec) for a, spec in zip(answers, specs, strict=True)),
        shadowing,
    )


def shadowing_of(runtime: Runtime) -> Shadowing | None:
    """The runtime's shadow traffic, if any rule of its routes.yaml has a `shadow:`."""
    config = runtime.config
    table = ShadowTable(runtime.routing, compile_shadows(config.routes))
    if not table:
        return None
    return Shadowing(
        table,
        runtime.backends,
        runtime.store,
        runtime.rate_limits.backends,
        simulated=frozenset(n for n, b in config.backends.items() if b.kind == SAP_KIND),
        reveal_values=reveal_values(config.clients.clients),
        systems=erp_systems(config.backends),
    )


def _with_services(handler: ApiHandler, services: Services, shadowed: bool = False) -> Handler:
    if not shadowed:

        def handle(ctx: RequestContext) -> Awaitable[Response]:
            return handler(ctx, services)  # the handler's own coroutine: no second one

        return handle

    async def handle_for_shadow(ctx: RequestContext) -> Response:
        # Its answer, for the shadow step outside admission (`ShadowAnswers`): the last one
        # wins, as the client gets it when admission has the handler answer again.
        ctx.answer = None
        try:
            response = await handler(ctx, services)
        except GatewayError as error:
            ctx.answer = error
            raise
        ctx.answer = response
        return response

    return handle_for_shadow


def install_runtime(app: Starlette, runtime: Runtime) -> None:
    """Serve `runtime` from the next request on (start-up, reloads, tests)."""
    before: Serving | None = getattr(app.state, "serving", None)
    app.state.serving = serving(runtime, app.state.telemetry, app.state.body_timeout_s)
    if before is not None and before.shadowing is not None:
        before.shadowing.retire()


def current_runtime(app: Starlette) -> Runtime:
    current: Serving = app.state.serving
    return current.runtime


async def answer(handler: Handler, ctx: RequestContext) -> Response:
    """Run a request's context through its composed pipeline: the response, problems rendered,
    the steps' headers added, timed and logged once."""
    request = ctx.request
    operation = str(ctx.spec.operation)  # a StrEnum's value, without Enum's `value` descriptor
    try:
        response = await handler(ctx)
    except GatewayError as error:
        correlation_id = ctx.correlation_id or correlation_id_from(None)
        response = problem_response(error, correlation_id, instance_of(request.scope))
    except ClientAborted:
        # Nobody is left to answer: counted and logged once as the client's doing, never
        # as a server error (no traceback, no 5xx alert).
        response = Response(status_code=CLIENT_CLOSED_REQUEST)
    except asyncio.CancelledError:
        if not cut_off_here():
            raise  # not the server's: the cancellation goes on as it came
        # The server stopping cut it off: answered (nothing of the answer has been sent, the
        # handler returns it whole) as stopping, to be sent again; its task ends with it.
        correlation_id = ctx.correlation_id or correlation_id_from(None)
        response = problem_response(cut_off_answer(ctx), correlation_id, instance_of(request.scope))
    except Exception:
        log.exception(
            "unhandled error", extra={"correlation_id": ctx.correlation_id, "op": operation}
        )
        response = problem_response(
            internal_error(), ctx.correlation_id, instance_of(request.scope)
        )
    _add_headers(response, ctx.response_headers)
    elapsed = time.monotonic() - ctx.arrived
    backend = ctx.reconcile_on or ctx.backend
    REQUEST_SECONDS_BY.labels(operation, str(response.status_code), backend or NO_BACKEND).observe(
        elapsed
    )
    request.scope[_LOGGED] = True  # this line is the request's (see GatewayApp)
    access_log.write(
        {
            "correlation_id": ctx.correlation_id,
            "trace_id": ctx.trace.trace_id if ctx.trace else None,
            "method": request.method,
            "path": ctx.path,
            "operation": operation,
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2),
            "client_id": ctx.principal.client_id if ctx.principal else None,
            "client_ip": client_ip(request.scope),
            "legal_entity": ctx.legal_entity,
            "backend": backend,
            "rule": ctx.served_by,
            "journal_id": ctx.journal_id,
            "replayed_by": ctx.replayed_by,
            "config_version": ctx.config_version,
        }
    )
    return response


# Python's collector runs a pass over the youngest objects every 700 allocations, and now and
# then one over every object; a request allocates thousands and frees nearly all of them by
# reference counting, and the memory store keeps many records: the collector took 11 % of a
# create's CPU (62 µs of 560, in-process). Collected less often, about 4 µs.
GC_THRESHOLDS = (50_000, 50, 100)


def _tune_gc() -> None:
    """At start-up: what was loaded stays out of the collector's passes (`gc.freeze`), and the
    passes come less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _add_headers(response: Response, headers: Mapping[str, str]) -> None:
    """The steps' headers on the response, unless the response sets them itself (as
    `MutableHeaders.setdefault`, without a scan of the response's headers per name); but a
    `Link` is a list, so both are kept (a poll's `rel="next"`, a deprecated version's
    `rel="deprecation"`)."""
    raw = response.raw_headers
    present = set(map(_header_name, raw))
    for name, value in headers.items():
        key = _HEADER_KEYS.get(name)
        if key is None:
            key = name.lower().encode("latin-1")
            if len(_HEADER_KEYS) < _KEPT_HEADER_KEYS:
                _HEADER_KEYS[name] = key
        if key not in present or key == b"link":
            raw.append((key, value.encode("latin-1")))


_header_name = operator.itemgetter(0)
# The steps' header names as they go on the wire, encoded once each: the names are the code's.
_HEADER_KEYS: dict[str, bytes] = {}
_KEPT_HEADER_KEYS = 256


def _endpoint(index: int, endpoint: Endpoint, version: str, clock: Callable[[], float]) -> Answer:
    """The ASGI endpoint of one operation under one version prefix (`version` is empty on an
    unversioned path: the versioning step decides it): a plain call handing back `answer`'s
    own coroutine, no second one (Starlette's router needs one: see `operation_routes`)."""
    spec = endpoint.spec

    def endpoint_answer(request: Request) -> Awaitable[Response]:
        current: Serving = request.app.state.serving
        runtime = current.runtime
        ctx = RequestContext(request, spec, path_version=version, arrived_at=clock())
        ctx.deadline = ctx.arrived + runtime.request_timeout_s
        ctx.config_version = runtime.config.version
        return answer(current.handlers[index], ctx)

    return endpoint_answer


def _problem_for_unrouted(request: Request, status: int) -> Response:
    """The problem for a request no route took: decided, as Kong and Envoy decide route
    errors, before any token is read, rate limit counted or journal entry written."""
    correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
    path = request.url.path
    first = path.strip("/").split("/", 1)[0]
    # Starlette's router says 405 when some route has the path, but its `Allow` names only
    # that route's methods: the path's are those of every route that has it.
    index: AllowedMethods | None = getattr(request.app, "allowed", None)
    allowed = index.of(path) if status == 405 and index is not None else []
    serving: Serving | None = getattr(request.app.state, "serving", None)
    # A path under a version prefix is answered in that version: an unknown or retired one
    # is refused whatever follows it (no resource is served under it: no 404, no 405).
    versions = serving.runtime.versions if serving is not None else None
    now = time.time()
    if status == 404 and _VERSION_RE.fullmatch(first) and first not in VERSIONS:
        supported = versions.supported(now) if versions is not None else list(VERSIONS)
        error = unsupported_version(first, supported)
    elif first in VERSIONS and versions is not None and versions.retired(first, now):
        error = version_sunset(first, versions.supported(now))
    elif allowed:
        error = method_not_allowed(request.method, echoed(path, ECHOED_PATH_CHARS), allowed)
    else:
        error = not_found(f"No resource at {request.method} {echoed(path, ECHOED_PATH_CHARS)}.")
    response = problem_response(error, correlation_id, instance_of(request.scope))
    response.headers[CORRELATION_HEADER] = correlation_id
    if first in VERSIONS:  # with its lifecycle headers (a deprecated version says so on
        # every answer)
        response.headers[VERSION_HEADER] = first
        if versions is not None:
            response.headers.update(versions.headers.get(first, {}))
    return response


def _server_wide_answer(scope: Scope, correlation_id: str, allowed: AllowedMethods) -> Response:
    """The answer to a request whose target is `*` (the asterisk form, which uvicorn hands on as
    the path): a request about the server as a whole, no resource. To OPTIONS (RFC 9110
    §9.3.7: a ping, or a proxy's HTTP/1.1 check), 200 with no content and the methods some
    path takes as `Allow`; to any other method, which the form is not for, or with a query,
    which it has none of (RFC 9112 §3.2.4), a 400. Decided, as a 404 is, before any token is
    read, rate limit counted or journal entry written: it says nothing that a 405 does not
    say to anyone."""
    if scope["method"] == "OPTIONS" and not scope["query_string"]:
        return Response(b"", headers={"Allow": allowed.anywhere})
    error = GatewayError(
        Code.VALIDATION_FAILED,
        "The request target `*` (the asterisk form) is only for OPTIONS, and alone (no "
        "query): a request about the server as a whole; send a resource's path from its `/`, "
        "as `GET /v2/customers HTTP/1.1`.",
    )
    return problem_response(error, correlation_id)


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
            return Response(documents.html, media_type=HTML, headers=html)
        return Response(
            documents.markdown,
            media_type="text/markdown; charset=utf-8",
            headers={"Vary": "Accept"},
        )

    return endpoint


def _site_routes(path: str, site: StaticSite, page_headers: Mapping[str, str]) -> list[Route]:
    """A page at `path` and each of its assets at its own path, answered from memory."""
    routes = [Route(path, _static(site.page, HTML, page_headers))]  # type: ignore[arg-type]
    routes += [
        Route(asset_path, _static(asset.content, asset.media_type, ASSET_HEADERS))  # type: ignore[arg-type]
        for asset_path, asset in site.assets.items()
    ]
    return routes


def _openapi(version: str) -> object:
    """A version's OpenAPI document, as the running configuration keeps outcomes (built once
    per retention)."""

    async def endpoint(request: Request) -> Response:
        retention_s = current_runtime(request.app).idempotency.retention_s
        return Response(openapi_bytes(version, retention_s), media_type="application/json")

    return endpoint


def reference_routes() -> list[Route]:
    """The API's contract for people and tools: OpenAPI documents, the reference page and its
    assets, the changelog."""
    routes = [Route(f"/openapi/{v}.json", _openapi(v)) for v in VERSIONS]  # type: ignore[arg-type]
    routes += _site_routes(docs.DOCS_PATH, docs.docs_site(), docs.PAGE_HEADERS)
    routes.append(Route(CHANGELOG_PATH, _changelog()))  # type: ignore[arg-type]
    return routes


def dashboard_routes() -> list[Route]:
    """The operations dashboard and its assets: no token needed for the page itself, which
    then reads the admin API with the operator's."""
    return _site_routes(
        dashboard.DASHBOARD_PATH, dashboard.dashboard_site(), dashboard.PAGE_HEADERS
    )


def operation_answers(clock: Callable[[], float] = time.time) -> dict[tuple[str, str], Answer]:
    """Every operation's answer by (method, path template): under each version's prefix, and
    unversioned (the client's pinned version, else the default)."""
    answers: dict[tuple[str, str], Answer] = {}
    for index, endpoint in enumerate(ENDPOINTS):
        for version in ("", *VERSIONS):
            prefix = f"/{version}" if version else ""
            answers[(endpoint.method, prefix + endpoint.path)] = _endpoint(
                index, endpoint, version, clock
            )
    return answers


def operation_routes(answers: Mapping[tuple[str, str], Answer]) -> list[Route]:
    """The same answers as Starlette routes: what the dict dispatch leaves to Starlette (HEAD
    on a GET, and tests that mount the routes on an app of their own), each in a coroutine
    function, as Starlette runs any other endpoint in a thread."""
    return [
        Route(path, _routed(answer), methods=[method]) for (method, path), answer in answers.items()
    ]


def _routed(endpoint_answer: Answer) -> Callable[[Request], Awaitable[Response]]:
    async def routed(request: Request) -> Response:
        return await endpoint_answer(request)

    return routed


_LOGGED = "gateway.logged"  # in a request's scope once its access line is written


class GatewayApp(Starlette):
    """The gateway's Starlette app, with the domain API dispatched by a dict lookup first
    (`gateway.api.dispatch`); everything else goes through Starlette's router as usual, and
    gets its correlation id echoed and its access line here (the domain API's: `answer`)."""

    fast_routes: FastRoutes | None = None
    allowed: AllowedMethods | None = None  # the methods of each path, for a 405's Allow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        fast = self.fast_routes
        if fast is not None and not scope.get("root_path"):
            found = fast.match(scope["method"], scope["path"])
            if found is not None:
                endpoint, params = found
                scope["app"] = self
                scope["path_params"] = params
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self._routed(scope, receive, send)

    async def _routed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's routing (but for the target `*`, which names no route's path:
        `_server_wide_answer`), with what every answer has: the correlation id echoed (the
        caller's, or the one the endpoint put in its problem) and one access line."""
        arrived = time.monotonic()
        correlation_id = correlation_id_from(Headers(scope=scope).get(CORRELATION_HEADER))
        status = 500  # if nothing is sent: the server answers 500
        started = False  # the answer has begun

        async def send_echoing(message: Message) -> None:
            nonlocal status, correlation_id, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                headers = list(message.get("headers", ()))
                given = next((v for k, v in headers if k == _CORRELATION_KEY), None)
                if given is None:
                    headers.append((_CORRELATION_KEY, correlation_id.encode("latin-1")))
                    message["headers"] = headers
                else:
                    correlation_id = given.decode("latin-1")
            await send(message)

        try:
            if scope["path"] == _ASTERISK_FORM and self.allowed is not None:
                answered = _server_wide_answer(scope, correlation_id, self.allowed)
                await answered(scope, receive, send_echoing)
            else:
                await super().__call__(scope, receive, send_echoing)
        except asyncio.CancelledError:
            if not cut_off_here() or started:
                raise  # not the server's, or its answer has begun: nothing else to send
            # The server stopping cut it off before it answered (see `answer`).
            response = problem_response(
                cut_off_error(write=False), correlation_id, instance_of(scope)
            )
            await response(scope, receive, send_echoing)
        finally:
            if not scope.get(_LOGGED):
                elapsed = time.monotonic() - arrived
                access_log.write(
                    {
                        "correlation_id": correlation_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client_id": scope.get("state", {}).get("actor"),
                        "client_ip": client_ip(scope),
                    }
                )


_CORRELATION_KEY = CORRELATION_HEADER.lower().encode("latin-1")
# A request target in the asterisk form, as the path uvicorn gives it: every other target's
# path begins with `/`.
_ASTERISK_FORM = "*"


async def metrics(request: Request) -> Response:
    """Prometheus's scrape: the open exceptions and the webhook subscriptions disabled read
    from the store first (whichever worker answers, they are the store's), then every metric.
    A store that does not answer leaves them as the last scrape set them."""
    runtime = current_runtime(request.app)
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            ages, records = await asyncio.gather(
                runtime.store.journal.open_exceptions(time.time()),
                runtime.store.subscriptions.disabled(),
            )
    except (StoreUnavailable, TimeoutError):
        pass
    else:
        for age, count in ages.items():
            OPEN_EXCEPTIONS.labels(age).set(count)
        subscriptions = runtime.config.subscriptions.subscriptions
        WEBHOOK_DISABLED_SUBSCRIPTIONS.set(
            sum(disabled_at(records, s.id, str(s.url)) is not None for s in subscriptions)
        )
    return Response(exposition(), media_type=CONTENT_TYPE)


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
        correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
        response = problem_response(error, correlation_id, instance_of(request.scope))
        response.headers[CORRELATION_HEADER] = correlation_id
        return response
    return JSONResponse({"status": "ready", "backends": sorted(runtime.backends)})


def build_app(
    runtime: Runtime,
    *,
    config_dir: Path | None = None,
    watch_config: bool = True,
    telemetry: Telemetry | None = None,
    body_timeout_s: float = BODY_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
    deliver_events: bool = True,
) -> Starlette:
    """The gateway as an ASGI app serving `runtime`. `clock` gives each request's arrival
    instant, which routing decides on (tests move it through waves without waiting).

    With `config_dir`, the configuration reloads from there on file change (if `watch_config`),
    SIGHUP and `POST /admin/config/reload`, swapping the runtime and its pipeline atomically.
    With `deliver_events`, it sends webhook deliveries and polls the ERPs set to `poll`.
    """
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    routes += reference_routes()
    routes += dashboard_routes()
    answers = operation_answers(clock)
    routes += operation_routes(answers)

    reloader: Reloader | None = None
    migrations: Migrations | None = None
    by_operation = {endpoint.spec.operation.value: i for i, endpoint in enumerate(ENDPOINTS)}

    async def dispatch_replay(ctx: RequestContext) -> Response:
        current: Serving = app.state.serving
        return await answer(current.replay_handlers[by_operation[ctx.spec.operation]], ctx)

    async def quit_at_once(timeout_s: float) -> Unwritten:
        """What the buffers could not write out in `timeout_s`; then the loops that call the
        store stopped as their `aclose` stops them, cancelled until they end. Left to the
        event loop's end, which cancels each task once, one may take that cancel for a lost
        connection and carry on (redis-py does, on Python 3.11): the process never ends."""
        unwritten = await current_runtime(app).write_out(timeout_s)
        await polling.aclose()
        await delivery.aclose()
        return unwritten

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, QuitAtOnce]]:
        _tune_gc()
        started = current_runtime(app)
        started.audit.record(
            "config.loaded",
            "startup",
            {"version": started.config.version, "backends": sorted(started.backends)},
        )
        if deliver_events:
            delivery.start()
            polling.start()
        watcher = None
        if reloader is not None:
            reloader.install_sighup()
            if watch_config:
                watcher = asyncio.create_task(reloader.watch())
        # For the server, told to quit at once: it skips what follows the yield (closing the
        # ERPs' pools and flushing the exporter may take long), and does only this.
        yield {QUIT_AT_ONCE: quit_at_once}
        if watcher is not None:
            watcher.cancel()
        if reloader is not None:
            await reloader.aclose()
        if migrations is not None:
            await migrations.aclose()
        await polling.aclose()
        await delivery.aclose()
        last: Serving = app.state.serving
        if last.shadowing is not None:
            await last.shadowing.aclose()
        await current_runtime(app).aclose()
        if telemetry is not None:
            telemetry.shutdown()
        flush_logs()

    app = GatewayApp(
        routes=routes,
        exception_handlers={HTTPException: _http_exception},
        lifespan=lifespan,
    )
    app.fast_routes = FastRoutes(answers)
    # A path with a trailing slash is unknown like any other (404), never redirected: a
    # redirect would be built from the client's Host header and skip authentication.
    app.router.redirect_slashes = False
    app.state.telemetry = telemetry
    app.state.body_timeout_s = body_timeout_s
    install_runtime(app, runtime)
    replays = Replays(
        lambda: current_runtime(app),
        dispatch_replay,
        {e.spec.operation.value: e.spec for e in ENDPOINTS if e.spec.operation in JOURNALED},
        clock,
    )
    app.router.routes.extend(operations_routes(replays, lambda: current_runtime(app)))
    delivery = EventDelivery(lambda: current_runtime(app))
    polling = ErpPolling(lambda: current_runtime(app), delivery.wake)
    app.router.routes.extend(erp_event_routes(lambda: current_runtime(app), delivery.wake))
    app.router.routes.extend(event_admin_routes(lambda: current_runtime(app), delivery.wake))
    if config_dir is not None:
        reloader = Reloader(
            config_dir,
            current=lambda: current_runtime(app),
            install=lambda new: install_runtime(app, new),
        )
        migrations = Migrations(lambda: current_runtime(app))
        app.router.routes.extend(admin_routes(reloader, migrations, lambda: current_runtime(app)))
    app.allowed = AllowedMethods(app.router.routes)  # every route is in by now
    return app
