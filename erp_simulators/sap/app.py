"""The legacy ERP simulator as a Starlette app: OData v2 services under /sap/opu/odata/sap/.

Not the gateway: it imports nothing of it but the shared simulator control surface.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from erp_simulators.connections import SimulatorApp
from erp_simulators.control import SimControl, SimMiddleware, control_routes, perturbed
from erp_simulators.sap import fulfillment, operations, partners, sales
from erp_simulators.sap.catalog import CLIENT
from erp_simulators.sap.odata import (
    EntitySet,
    Expand,
    Node,
    SapError,
    bad_request,
    collection_envelope,
    entity_envelope,
    fault_response,
    json_response,
    matches,
    named_key,
    node_json,
    not_found,
    parse_count,
    parse_expand,
    parse_filter,
    parse_resource,
)
from erp_simulators.sap.records import STAGES, Ledger
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
_EDMX = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx">'
    '<edmx:DataServices m:DataServiceVersion="2.0" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
    '<Schema Namespace="{service}" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">'
    '<EntityContainer Name="{service}_Entities" m:IsDefaultEntityContainer="true">{sets}'
    "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
)


class LegacyErp:
    """The OData endpoint: logon, CSRF, faults, then the entity set's read or write."""

    def __init__(self, ledger: Ledger, sessions: Sessions, control: SimControl) -> None:
        self.ledger = ledger
        self.sessions = sessions
        self.control = control
        self.services: dict[str, dict[str, EntitySet]] = {
            partners.SERVICE: partners.entity_sets(ledger),
            sales.SERVICE: sales.entity_sets(ledger),
            sales.SIMULATION_SERVICE: sales.simulation_sets(ledger),
            fulfillment.DELIVERY_SERVICE: fulfillment.delivery_sets(ledger),
            fulfillment.BILLING_SERVICE: fulfillment.billing_sets(ledger),
        }

    async def endpoint(self, request: Request) -> Response:
        user = self.sessions.user_of(request)
        if user is None or request.query_params.get("sap-client", CLIENT) != CLIENT:
            return logon_required()
        name = request.path_params["service"]
        sets = self.services.get(name)
        if sets is None:
            return not_found(name).response()
        path = request.path_params.get("resource", "")
        method = request.method
        if method == "POST" and "x-http-method" in request.headers:
            method = request.headers["x-http-method"].upper()  # tunnelled MERGE/PATCH/DELETE
        if method in ("GET", "HEAD"):
            return await self._read(request, user, name, sets, path)
        if method not in MODIFYING_METHODS:
            return SapError.one(405, _MSG_METHOD, f"Method {method} not allowed").response()
        if not self.sessions.token_valid(request, user):
            return token_required()
        return await self._write(request, method, name, sets, path)

    async def _read(
        self, request: Request, user: str, name: str, sets: dict[str, EntitySet], path: str
    ) -> Response:
        fetch = request.headers.get("x-csrf-token", "").lower() == "fetch"
        operation = operations.AUTH
        if not fetch and path not in ("", "$metadata"):
            try:
                operation = _entity_set(sets, path).read_operation
            except SapError as exc:
                return exc.response()

        async def commit() -> Response:
            try:
                response = _read_response(request, name, sets, path)
            except SapError as exc:
                response = exc.response()
            if fetch:
                with_token(response, self.sessions.fetch(request, user))
            return response

        return await perturbed(self.control, operation, commit, fault_response)

    async def _write(
        self, request: Request, method: str, name: str, sets: dict[str, EntitySet], path: str
    ) -> Response:
        try:
            resource = parse_resource(path)
            spec = _entity_set(sets, path)
            payload = _json_body(await request.body())
            commit, operation = _write_plan(request, method, name, spec, resource.key, payload)
        except SapError as exc:
            return exc.response()

        async def guarded() -> Response:
            try:
                return commit()
            except SapError as exc:
                return exc.response()

        return await perturbed(self.control, operation, guarded, fault_response)


def _entity_set(sets: dict[str, EntitySet], path: str) -> EntitySet:
    resource = parse_resource(path)
    spec = sets.get(resource.entity_set)
    if spec is None:
        raise not_found(resource.entity_set)
    return spec


def _service_root(request: Request, name: str) -> str:
    return f"{str(request.base_url).rstrip('/')}{SERVICE_ROOT}/{name}/"


def _read_response(request: Request, name: str, sets: dict[str, EntitySet], path: str) -> Response:
    if path == "":
        return json_response({"d": {"EntitySets": sorted(sets)}})
    if path == "$metadata":
        entity_sets = "".join(
            f'<EntitySet Name="{s}" EntityType="{name}.{s}Type"/>' for s in sorted(sets)
        )
        xml = _EDMX.format(service=name, sets=entity_sets)
        return Response(xml, 200, {"dataserviceversion": "2.0"}, media_type="application/xml")
    query = request.query_params
    if query.get("$format", "json") != "json":
        raise bad_request("/IWBEP/CM_MGW_RT/013", "Only $format=json is supported")
    resource = parse_resource(path)
    spec = _entity_set(sets, path)
    expand = parse_expand(query.get("$expand", ""))
    root = _service_root(request, name)
    if resource.key is None:
        return _collection_response(spec, expand, root, query)
    row = spec.lookup(named_key(resource.key, spec.keys, path))
    if row is None:
        raise not_found(path)
    node = spec.node(row)
    if resource.navigation is None:
        headers = {"ETag": node.etag} if node.etag else None
        return json_response(entity_envelope(node_json(node, expand, root)), 200, headers)
    load = node.navigation.get(resource.navigation)
    if load is None:
        raise not_found(resource.navigation)
    target = load()
    if isinstance(target, list):
        entities = [node_json(n, expand, root) for n in target]
        return json_response(collection_envelope(entities, None))
    if target is None:
        return json_response({"d": None})
    return json_response(entity_envelope(node_json(target, expand, root)))


def _collection_response(
    spec: EntitySet, expand: Expand, root: str, query: QueryParams
) -> Response:
    filter_text = query.get("$filter")
    conditions = parse_filter(filter_text) if filter_text else []
    rows: Any = None
    for field, op, value in conditions:
        index = spec.indexed.get(field)
        if index is not None and op == "eq" and isinstance(value, str):
            rows = index(value)
            break
    if rows is None:
        rows = spec.rows()
    selected = [node for node in map(spec.node, rows) if matches(node.properties, conditions)]
    count = len(selected) if query.get("$inlinecount") == "allpages" else None
    skip = parse_count(query.get("$skip"), "$skip") or 0
    top = parse_count(query.get("$top"), "$top")
    page = selected[skip : None if top is None else skip + top]
    return json_response(collection_envelope([node_json(n, expand, root) for n in page], count))


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
    name: str,
    spec: EntitySet,
    key: dict[str, str] | None,
    payload: dict[str, Any],
) -> tuple[Callable[[], Response], str]:
    """What a modifying request will do once it runs, and its operation label for faults."""
    root = _service_root(request, name)
    if method == "POST" and key is None and spec.create is not None:
        create = spec.create

        def created() -> Response:
            node = create(payload)
            body = node_json(node, _inline_expand(payload), root, strict=False)
            headers = {"Location": root + node.path}
            if node.etag:
                headers["ETag"] = node.etag
            return json_response(entity_envelope(body), 201, headers)

        return created, spec.create_operation
    if method in ("PATCH", "MERGE", "PUT") and key is not None and spec.update is not None:
        update = spec.update
        row = spec.lookup(named_key(key, spec.keys, request.url.path))
        if row is None:
            raise not_found(request.url.path)
        if_match = request.headers.get("if-match")

        def updated() -> Response:
            node: Node = update(row, payload, if_match)
            return Response(status_code=204, headers={"ETag": node.etag or ""})

        return updated, spec.update_operation
    raise SapError.one(405, _MSG_METHOD, f"Method {method} not allowed for this resource")


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
) -> Starlette:
    """A fresh simulator with empty data: its own ledger, sessions and fault control."""
    control = SimControl(name="legacy")
    erp = LegacyErp(Ledger(), Sessions(username, password, session_ttl_s), control)
    endpoint: Callable[[Request], Awaitable[Response]] = erp.endpoint
    routes = [
        *_control_routes(erp),
        Route(SERVICE_ROOT + "/{service}", endpoint, methods=_METHODS),
        Route(SERVICE_ROOT + "/{service}/{resource:path}", endpoint, methods=_METHODS),
    ]
    return SimulatorApp(routes=routes, middleware=[Middleware(SimMiddleware, control=control)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SAP S/4HANA-style OData v2 ERP simulator")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
