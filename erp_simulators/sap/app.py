"""The legacy ERP simulator as a Starlette app: OData v2 services under /sap/opu/odata/sap/.

Not the gateway: it imports nothing of it but the shared simulator control surface.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from erp_simulators.connections import SimulatorApp
from erp_simulators.control import SimControl, SimMiddleware, control_routes, perturbed
from erp_simulators.notifications import NotifyMiddleware, Outbox, notification_routes
from erp_simulators.options import positive
from erp_simulators.sap import fulfillment, operations, partners, reference, sales
from erp_simulators.sap.catalog import CLIENT
from erp_simulators.sap.edm import Release, Service
from erp_simulators.sap.edmx import edmx
from erp_simulators.sap.events import SalesOrderEvents
from erp_simulators.sap.odata import (
    EntitySet,
    Expand,
    Node,
    Rendering,
    SapError,
    bad_request,
    collection_envelope,
    entity_envelope,
    fault_response,
    json_response,
    matches,
    message_header,
    named_key,
    no_service,
    not_found,
    parse_count,
    parse_expand,
    parse_filter,
    parse_resource,
    parse_select,
)
from erp_simulators.sap.payloads import check_payload
from erp_simulators.sap.records import STAGES, Ledger
from erp_simulators.sap.schema import SERVICES
from erp_simulators.sap.sessions import (
    MODIFYING_METHODS,
    Sessions,
    logon_required,
    token_required,
    with_token,
)

SERVICE_ROOT = "/sap/opu/odata/sap"
DEFAULT_USERNAME = "GATEWAY_SVC"
DEFAULT_PASSWORD = "legacy-sim-secret"
DEFAULT_SESSION_TTL_S = 1800.0  # SAP's default ICM session timeout is of this order
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9101
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "MERGE", "DELETE"]
_MSG_METHOD = "/IWBEP/CM_MGW_RT/008"
_MSG_BODY = "/IWBEP/CM_MGW_RT/006"
_MSG_ETAG_MISMATCH = "/IWBEP/CM_MGW_RT/022"
_MSG_ETAG_MISSING = "/IWBEP/CM_MGW_RT/025"
DEFAULT_PAGE_SIZE = 100  # server-side paging: the most entities one answer holds
_MSG_COUNT = "/IWBEP/CM_MGW_RT/011"
_COUNT_SEGMENT = "/$count"


@dataclass(frozen=True)
class SimOptions:
    """What kind of SAP system the simulator is: its release, whether the tenant has the
    gateway's custom fields, its page size, whether it shows numbers without leading zeros, and
    the services it has not activated (answered as SAP Gateway answers an unknown service)."""

    release: Release = Release.BASELINE
    custom_fields: bool = True
    page_size: int = DEFAULT_PAGE_SIZE
    unpadded_keys: bool = False
    inactive_services: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ServiceEndpoint:
    """One service: its metadata (as this system declares it), rendered once, and its sets."""

    model: Service
    metadata: str
    sets: dict[str, EntitySet]


class LegacyErp:
    """The OData endpoint: logon, CSRF, faults, then the entity set's read or write."""

    def __init__(
        self, ledger: Ledger, sessions: Sessions, control: SimControl, options: SimOptions
    ) -> None:
        self.ledger = ledger
        self.sessions = sessions
        self.control = control
        self.options = options
        behaviour: dict[str, dict[str, EntitySet]] = {
            partners.SERVICE: partners.entity_sets(ledger),
            sales.SERVICE: sales.entity_sets(ledger),
            sales.SIMULATION_SERVICE: sales.simulation_sets(ledger),
            fulfillment.DELIVERY_SERVICE: fulfillment.delivery_sets(ledger),
            fulfillment.BILLING_SERVICE: fulfillment.billing_sets(ledger),
            **reference.services(),
        }
        self.services: dict[str, ServiceEndpoint] = {}
        for service in SERVICES:
            model = service.variant(options.release, options.custom_fields)
            sets = behaviour[service.name]
            undeclared = set(sets) - set(model.entity_sets)
            if undeclared:
                raise ValueError(f"{service.name} serves undeclared sets {sorted(undeclared)}")
            self.services[service.name] = ServiceEndpoint(model, edmx(model), sets)

    async def endpoint(self, request: Request) -> Response:
        user = self.sessions.user_of(request)
        if user is None or request.query_params.get("sap-client", CLIENT) != CLIENT:
            return logon_required()
        name = request.path_params["service"]
        service = self.services.get(name)
        if service is None or name in self.options.inactive_services:
            return no_service(name).response()
        path = request.path_params.get("resource", "")
        method = request.method
        if method == "POST" and "x-http-method" in request.headers:
            method = request.headers["x-http-method"].upper()  # tunnelled MERGE/PATCH/DELETE
        if method in ("GET", "HEAD"):
            return await self._read(request, user, name, service, path)
        if method not in MODIFYING_METHODS:
            return SapError.one(405, _MSG_METHOD, f"Method {method} not allowed").response()
        if not self.sessions.token_valid(request, user):
            return token_required()
        return await self._write(request, method, name, service, path)

    def _rendering(self, request: Request, name: str, service: ServiceEndpoint) -> Rendering:
        root = f"{str(request.base_url).rstrip('/')}{SERVICE_ROOT}/{name}/"
        return Rendering(service.model, root, self.options.unpadded_keys)

    async def _read(
        self, request: Request, user: str, name: str, service: ServiceEndpoint, path: str
    ) -> Response:
        fetch = request.headers.get("x-csrf-token", "").lower() == "fetch"
        operation = operations.AUTH
        if not fetch and path not in ("", "$metadata"):
            try:
                _, spec = _entity_set(service.sets, path.removesuffix(_COUNT_SEGMENT))
            except SapError as exc:
                return exc.response()
            operation = spec.read_operation
        rendering = self._rendering(request, name, service)

        async def commit() -> Response:
            try:
                response = _read_response(
                    request.query_params, rendering, service, path, self.options.page_size
                )
            except SapError as exc:
                response = exc.response()
            if fetch:
                with_token(response, self.sessions.fetch(request, user))
            return response

        return await perturbed(self.control, operation, commit, fault_response)

    async def _write(
        self, request: Request, method: str, name: str, service: ServiceEndpoint, path: str
    ) -> Response:
        rendering = self._rendering(request, name, service)
        try:
            entity_set, spec = _entity_set(service.sets, path)
            resource = parse_resource(path)
            payload = _json_body(await request.body())
            entity_type = service.model.set_type(entity_set)
            assert entity_type is not None  # every served set is declared (checked at start)
            check_payload(service.model, entity_type, payload)
            commit, operation = _write_plan(request, method, rendering, spec, resource.key, payload)
        except SapError as exc:
            return exc.response()

        async def guarded() -> Response:
            try:
                return commit()
            except SapError as exc:
                return exc.response()

        return await perturbed(self.control, operation, guarded, fault_response)


def _entity_set(sets: Mapping[str, EntitySet], path: str) -> tuple[str, EntitySet]:
    resource = parse_resource(path)
    spec = sets.get(resource.entity_set)
    if spec is None:
        raise not_found(resource.entity_set)
    return resource.entity_set, spec


def _read_response(
    query: QueryParams, rendering: Rendering, service: ServiceEndpoint, path: str, page_size: int
) -> Response:
    if path == "":
        return json_response({"d": {"EntitySets": sorted(service.model.entity_sets)}})
    if path == "$metadata":
        return Response(
            service.metadata, 200, {"dataserviceversion": "2.0"}, media_type="application/xml"
        )
    if query.get("$format", "json") != "json":
        raise bad_request("/IWBEP/CM_MGW_RT/013", "Only $format=json is supported")
    if path.endswith(_COUNT_SEGMENT):
        entity_set, spec = _entity_set(service.sets, path.removesuffix(_COUNT_SEGMENT))
        if parse_resource(path.removesuffix(_COUNT_SEGMENT)).key is not None:
            raise bad_request(_MSG_COUNT, "$count is only allowed on a collection")
        count = len(_selected(spec, rendering, entity_set, query))
        return Response(str(count), 200, {"dataserviceversion": "2.0"}, media_type="text/plain")
    resource = parse_resource(path)
    entity_set, spec = _entity_set(service.sets, path)
    expand = parse_expand(query.get("$expand", ""))
    select = parse_select(query.get("$select", ""))
    if resource.key is None:
        return _collection_response(spec, rendering, entity_set, expand, select, query, page_size)
    row = spec.lookup(named_key(resource.key, spec.keys, path))
    if row is None:
        raise not_found(path)
    node = spec.node(row)
    if resource.navigation is None:
        entity = rendering.entity(node, expand, select)
        etag = entity["__metadata"].get("etag")
        return json_response(entity_envelope(entity), 200, {"ETag": etag} if etag else None)
    load = node.navigation.get(resource.navigation)
    if load is None:
        raise not_found(resource.navigation)
    target = load()
    if isinstance(target, list):
        entities = [rendering.entity(n, expand, select) for n in target]
        return json_response(collection_envelope(entities, None))
    if target is None:
        return json_response({"d": None})
    return json_response(entity_envelope(rendering.entity(target, expand, select)))


def _selected(
    spec: EntitySet, rendering: Rendering, entity_set: str, query: QueryParams
) -> list[Node]:
    """The entities of the set that pass `$filter`, on properties the set's type declares."""
    filter_text = query.get("$filter")
    conditions = parse_filter(filter_text) if filter_text else []
    entity_type = rendering.service.set_type(entity_set)
    assert entity_type is not None
    for field, _, _ in conditions:
        if entity_type.property_named(field) is None:
            raise bad_request(
                "/IWBEP/CM_MGW_RT/011", f"Property '{field}' not found in the entity type", field
            )
    rows: Any = None
    for field, op, value in conditions:
        index = spec.indexed.get(field)
        if index is not None and op == "eq" and isinstance(value, str):
            rows = index(value)
            break
    if rows is None:
        rows = spec.rows()
    return [node for node in map(spec.node, rows) if matches(node.properties, conditions)]


def _collection_response(
    spec: EntitySet,
    rendering: Rendering,
    entity_set: str,
    expand: Expand,
    select: dict[str, Any],
    query: QueryParams,
    page_size: int,
) -> Response:
    """One page of the set: `$skip`/`$top` choose the window, the server pages through it
    (`__next` with a `$skiptoken`), as SAP Gateway does for its A2X services."""
    selected = _selected(spec, rendering, entity_set, query)
    count = len(selected) if query.get("$inlinecount") == "allpages" else None
    skip = parse_count(query.get("$skip"), "$skip") or 0
    top = parse_count(query.get("$top"), "$top")
    token = parse_count(query.get("$skiptoken"), "$skiptoken") or 0
    end = len(selected) if top is None else min(len(selected), skip + top)
    start = skip + token
    page = selected[start : min(end, start + page_size)]
    next_link = None
    if start + len(page) < end:
        options = {k: v for k, v in query.items() if k != "$skiptoken"}
        options["$skiptoken"] = str(token + len(page))
        query_text = urlencode(options, safe="$'(),/", quote_via=quote)
        next_link = f"{rendering.root}{entity_set}?{query_text}"
    entities = [rendering.entity(n, expand, select) for n in page]
    return json_response(collection_envelope(entities, count, next_link))


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        raise bad_request(_MSG_BODY, "The request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise bad_request(_MSG_BODY, "The request body must be a JSON object")
    return payload


def _write_plan(
    request: Request,
    method: str,
    rendering: Rendering,
    spec: EntitySet,
    key: dict[str, str] | None,
    payload: dict[str, Any],
) -> tuple[Callable[[], Response], str]:
    """What a modifying request will do once it runs, and its operation label for faults."""
    if method == "POST" and key is None and spec.create is not None:
        create = spec.create

        def created() -> Response:
            node = create(payload)
            body = rendering.entity(node, _inline_expand(payload), strict=False)
            headers = {"Location": rendering.root + rendering.path(node)}
            etag = body["__metadata"].get("etag")
            if etag:
                headers["ETag"] = etag
            if node.warnings:
                headers["sap-message"] = message_header(node.warnings)
            return json_response(entity_envelope(body), 201, headers)

        return created, spec.create_operation
    if method in ("PATCH", "MERGE", "PUT") and key is not None and spec.update is not None:
        update = spec.update
        row = spec.lookup(named_key(key, spec.keys, request.url.path))
        if row is None:
            raise not_found(request.url.path)
        _check_precondition(rendering, spec.node(row), request.headers.get("if-match"))

        def updated() -> Response:
            node: Node = update(row, payload)
            etag = rendering.entity(node, {}, strict=False)["__metadata"].get("etag")
            return Response(status_code=204, headers={"ETag": etag} if etag else None)

        return updated, spec.update_operation
    raise SapError.one(405, _MSG_METHOD, f"Method {method} not allowed for this resource")


def _check_precondition(rendering: Rendering, node: Node, if_match: str | None) -> None:
    """Optimistic locking, for entity types whose metadata declares an ETag; the others (a
    sales order item, say) are changed whatever If-Match says, as SAP Gateway does."""
    etag = rendering.entity(node, {}, strict=False)["__metadata"].get("etag")
    if etag is None:
        return
    if if_match is None:
        raise SapError.one(428, _MSG_ETAG_MISSING, "Operation requires an If-Match header")
    if if_match not in ("*", etag):
        raise SapError.one(
            412, _MSG_ETAG_MISMATCH, "The data has been changed in the meantime; read it again"
        )


def _inline_expand(payload: dict[str, Any]) -> Expand:
    """Answer a deep insert with the navigation properties it carried, as SAP does."""
    tree: Expand = {}
    for name, value in payload.items():
        if not name.startswith("to_"):
            continue
        rows = value.get("results", [value]) if isinstance(value, dict) else value
        if isinstance(rows, list):
            first = rows[0] if rows and isinstance(rows[0], dict) else {}
            tree[name] = _inline_expand(first)
    return tree


def _control_routes(erp: LegacyErp) -> list[Route]:
    ledger = erp.ledger

    async def advance(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            to = body.get("to")
            order = body.get("sales_order")
        except (ValueError, AttributeError):
            return JSONResponse({"error": "body must be a JSON object"}, 400)
        if to is not None and to not in STAGES[1:]:
            return JSONResponse({"error": f"'to' must be one of {', '.join(STAGES[1:])}"}, 400)
        if order is not None and order not in ledger.orders:
            return JSONResponse({"error": f"sales order {order} does not exist"}, 404)
        return JSONResponse({"changed": fulfillment.advance(ledger, to, order)})

    async def reset(_: Request) -> Response:
        ledger.clear()
        erp.sessions.reset()
        erp.control.reset()
        return JSONResponse({"reset": True})

    async def expire_tokens(_: Request) -> Response:
        return JSONResponse({"expired": erp.sessions.expire_all()})

    def counts() -> dict[str, int]:
        return {
            "customers": ledger.customer_count(),
            "sales_orders": len(ledger.orders),
            "deliveries": len(ledger.deliveries),
            "billing_documents": len(ledger.billing_documents),
            "csrf_fetches": erp.sessions.fetches,
        }

    return [
        Route("/_sim/advance", advance, methods=["POST"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/csrf/expire", expire_tokens, methods=["POST"]),
        *control_routes(erp.control, counts),
    ]


def create_app(
    *,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    session_ttl_s: float = DEFAULT_SESSION_TTL_S,
    options: SimOptions | None = None,
) -> Starlette:
    """A fresh simulator with empty data: its own ledger, sessions and fault control."""
    control = SimControl(name="legacy")
    sessions = Sessions(username, password, session_ttl_s)
    erp = LegacyErp(Ledger(), sessions, control, options or SimOptions())
    endpoint: Callable[[Request], Awaitable[Response]] = erp.endpoint
    outbox = Outbox(SalesOrderEvents(erp.ledger))
    routes = [
        *_control_routes(erp),
        *notification_routes(outbox),
        Route(SERVICE_ROOT + "/{service}", endpoint, methods=_METHODS),
        Route(SERVICE_ROOT + "/{service}/{resource:path}", endpoint, methods=_METHODS),
    ]
    middleware = [
        Middleware(SimMiddleware, control=control),
        Middleware(NotifyMiddleware, outbox=outbox),
    ]
    return SimulatorApp(routes=routes, middleware=middleware)


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, custom_fields_flag: bool = True
) -> None:
    """The command-line flags that choose what kind of SAP system to simulate (`gateway simulate`
    declares `--no-custom-fields` once for both simulators)."""
    parser.add_argument(
        "--release",
        choices=[r.value for r in Release],
        default=Release.BASELINE.value,
        metavar="NAME",
        help="which release's properties the services declare: baseline, or latest (which "
        "adds e.g. OverallDeliveryStatus and item TaxAmount)",
    )
    if custom_fields_flag:
        parser.add_argument(
            "--no-custom-fields",
            action="store_true",
            help="a tenant without the key-user fields YY1_GatewayRef_SDH and YY1_CreditLimit_bus",
        )
    parser.add_argument(
        "--page-size",
        type=positive,
        default=DEFAULT_PAGE_SIZE,
        help="the most entities one answer holds (server-side paging with __next)",
    )
    parser.add_argument(
        "--unpadded-keys",
        action="store_true",
        help="show document and partner numbers without leading zeros (17100001)",
    )
    parser.add_argument(
        "--inactive-service",
        action="append",
        default=[],
        choices=[service.name for service in SERVICES],
        metavar="SERVICE",
        help="a service not activated (/IWFND/MAINT_SERVICE): every request to it is answered "
        "404 /IWFND/MED/170 'No service found'; repeat for more",
    )


def options_from(args: argparse.Namespace) -> SimOptions:
    return SimOptions(
        release=Release(args.release),
        custom_fields=not args.no_custom_fields,
        page_size=args.page_size,
        unpadded_keys=args.unpadded_keys,
        inactive_services=frozenset(args.inactive_service),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SAP S/4HANA-style OData v2 ERP simulator")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    add_options(parser)
    args = parser.parse_args(argv)
    app = create_app(options=options_from(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
