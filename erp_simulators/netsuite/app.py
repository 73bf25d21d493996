"""The cloud ERP simulator's HTTP surface: NetSuite's token endpoint and REST record API.

Not the rules or the documents (see `books`, `documents`); this binds them to routes, bearer
tokens, faults (`erp_simulators.control`) and the `/_sim/...` controls.

- `POST /services/rest/auth/oauth2/v1/token`: client credentials (HTTP Basic or form fields)
  -> `{"access_token", "token_type": "Bearer", "expires_in": "3600"}`.
- `/services/rest/record/v1/<type>`: GET lists ids (`q`, `limit`, `offset`); POST creates
  (`customer`, `salesOrder`) answering 204 + `Location`. `.../<type>/<id or eid:ref>`: GET
  (`expandSubResources=true` expands sublists); PATCH on `salesOrder` (`orderStatus` C cancels,
  `item.items[].isClosed` closes lines). Read-only: `itemFulfillment`, `invoice`,
  `inventoryItem`, `serviceSaleItem` (with a `price` sublist), `subsidiary`, `term`, `currency`,
  `salesTaxItem` (`rate` in percent; each customer's `taxItem` points at its country's).
- `/_sim/stats`, `/_sim/faults`, `/_sim/requests` (shared); `POST /_sim/advance`
  (`{"to", "sales_order"}`), `POST /_sim/reset`, `POST /_sim/tokens/expire`, `GET /_sim/tokens`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from erp_simulators.connections import SimulatorApp
from erp_simulators.control import SimControl, SimMiddleware, control_routes, perturbed
from erp_simulators.netsuite.books import Books
from erp_simulators.netsuite.documents import (
    RECORD_ROOT,
    RECORD_TYPES,
    Renderer,
    all_records,
    collection,
    find_record,
    render_record,
    unknown_record_type,
)
from erp_simulators.netsuite.errors import (
    INVALID_CONTENT,
    INVALID_PARAMETER,
    RecordError,
    error_response,
    error_response_for,
    user_error,
)
from erp_simulators.netsuite.oauth import TokenError, TokenIssuer
from erp_simulators.netsuite.query import parse_query

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
DEFAULT_PORT = 9102
RECORD_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=singular-resource"
COLLECTION_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=collection"
DEFAULT_LIMIT, MAX_LIMIT = 1000, 1000

# Fault labels (erp_simulators.control.OPERATIONS) of each record type's calls.
READ_OPERATIONS = {
    "customer": "customers.read",
    "salesOrder": "sales_orders.read",
    "itemFulfillment": "shipments.read",
    "invoice": "invoices.read",
}
REFERENCE_READ_OPERATION = "items.read"  # items, and the other read-only reference records
CREATE_OPERATIONS = {"customer": "customers.create", "salesOrder": "sales_orders.create"}
UPDATE_OPERATIONS = {"salesOrder": "sales_orders.cancel"}

Work = Callable[[], Awaitable[Response]]


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        # Amounts travel as JSON numbers, as NetSuite writes them.
        return float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _document(document: Any, media_type: str, status: int = 200) -> Response:
    body = json.dumps(document, default=_json_default, separators=(",", ":")).encode("utf-8")
    return Response(body, status, media_type=media_type)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null", parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RecordError(
            400, INVALID_CONTENT, "Invalid content in the request body: a JSON object is expected."
        )
    return body


def _page_number(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > maximum:
        raise RecordError(
            400, INVALID_PARAMETER, f"Invalid value for query parameter '{name}'.", query_param=name
        )
    return int(raw)


def _expand(request: Request) -> bool:
    return request.query_params.get("expandSubResources", "").lower() == "true"


class NetSuiteSimulator:
    """One simulated NetSuite account: its books, tokens and control counters."""

    def __init__(self, client_id: str, client_secret: str, token_ttl_s: int) -> None:
        self.control = SimControl("netsuite")
        self.books = Books()
        self.tokens = TokenIssuer(client_id, client_secret, token_ttl_s)

    async def _answer(self, operation: str, work: Work) -> Response:
        """Run `work` under any fault injected for `operation`; refusals become error documents."""

        async def guarded() -> Response:
            try:
                return await work()
            except RecordError as error:
                return error_response_for(error)

        return await perturbed(self.control, operation, guarded, error_response)

    def _unauthorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and self.tokens.is_live(token.strip()):
            return None
        return error_response(401)

    # --- OAuth 2.0 ----------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        raw = await request.body()

        async def work() -> Response:
            try:
                answer = self.tokens.issue(request.headers.get("authorization"), raw)
            except TokenError as error:
                headers = (
                    {"WWW-Authenticate": 'Basic realm="netsuite"'} if error.status == 401 else {}
                )
                return JSONResponse(
                    {"error": error.code, "error_description": error.description},
                    error.status,
                    headers=headers,
                )
            return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

        return await perturbed(self.control, "auth", work, error_response)

    # --- records ------------------------------------------------------------------------------

    async def list_records(self, request: Request) -> Response:
        record_type = request.path_params["record_type"]
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        base_url = str(request.base_url)

        async def work() -> Response:
            limit = _page_number(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
            offset = _page_number(request, "offset", 0, 10**9)
            q = request.query_params.get("q")
            renderer = Renderer(self.books, base_url)
            records = list(all_records(self.books, record_type))
            if q:
                matches = parse_query(q)
                records = [
                    r for r in records if matches(render_record(renderer, record_type, r, False))
                ]
            ids = [r.id for r in records]
            params = {"q": q} if q else {}

            def page_href(start: int) -> str:
                query = urlencode({**params, "limit": limit, "offset": start})
                return f"{renderer.root}/{record_type}?{query}"

            document = collection(renderer, record_type, ids, offset, limit, page_href)
            return _document(document, COLLECTION_MEDIA_TYPE)

        return await self._answer(_read_operation(record_type), work)

    async def get_record(self, request: Request) -> Response:
        record_type, key = request.path_params["record_type"], request.path_params["key"]
        sub_resource: str | None = request.path_params.get("sub_resource")
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        base_url = str(request.base_url)

        async def work() -> Response:
            record = find_record(self.books, record_type, key)
            renderer = Renderer(self.books, base_url)
            document = render_record(
                renderer, record_type, record, sub_resource is not None or _expand(request)
            )
            if sub_resource is None:
                return _document(document, RECORD_MEDIA_TYPE)
            part = document.get(sub_resource)
            if not isinstance(part, dict) or "items" not in part:
                raise RecordError(
                    404, "INVALID_SUBRESOURCE", f"Sub-resource '{sub_resource}' does not exist."
                )
            return _document(part, COLLECTION_MEDIA_TYPE)

        return await self._answer(_read_operation(record_type), work)

    async def create_record(self, request: Request) -> Response:
        record_type = request.path_params["record_type"]
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        raw = await request.body()
        base_url = str(request.base_url)
        operation = CREATE_OPERATIONS.get(record_type)
        if operation is None:
            return error_response_for(_not_writable(record_type, "created"))

        async def work() -> Response:
            body = _json_body(raw)
            if record_type == "customer":
                internal_id = self.books.create_customer(body).id
            else:
                internal_id = self.books.create_sales_order(body).id
            location = Renderer(self.books, base_url).href(record_type, internal_id)
            return Response(status_code=204, headers={"Location": location})

        return await self._answer(operation, work)

    async def update_record(self, request: Request) -> Response:
        record_type, key = request.path_params["record_type"], request.path_params["key"]
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        raw = await request.body()
        operation = UPDATE_OPERATIONS.get(record_type)
        if operation is None:
            return error_response_for(_not_writable(record_type, "updated"))

        async def work() -> Response:
            body = _json_body(raw)
            order = find_record(self.books, record_type, key)
            self.books.update_sales_order(order, body)
            return Response(status_code=204)

        return await self._answer(operation, work)

    # --- controls -----------------------------------------------------------------------------

    async def advance(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = _json_body(raw) if raw.strip() else {}
            to, order_id = body.get("to"), body.get("sales_order")
            if not isinstance(to, str | None) or not isinstance(order_id, str | None):
                raise user_error("'to' and 'sales_order' are strings.")
            changed = self.books.advance(to, order_id)
        except RecordError as error:
            return error_response_for(error)
        return _document({"changed": changed}, "application/json")

    async def reset(self, _: Request) -> Response:
        self.books.reset()
        self.control.reset()
        self.tokens.issued = 0  # issued tokens stay valid: a reset is not a logout
        return JSONResponse({"reset": True})

    async def expire_tokens(self, _: Request) -> Response:
        return JSONResponse({"expired": self.tokens.expire_all()})

    async def token_stats(self, _: Request) -> Response:
        return JSONResponse({"issued": self.tokens.issued, "live": self.tokens.live_count()})

    def routes(self) -> list[Route]:
        record = RECORD_ROOT + "/{record_type}"
        return [
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            Route(record, self.list_records, methods=["GET"]),
            Route(record, self.create_record, methods=["POST"]),
            Route(record + "/{key}", self.get_record, methods=["GET"]),
            Route(record + "/{key}", self.update_record, methods=["PATCH"]),
            Route(record + "/{key}/{sub_resource}", self.get_record, methods=["GET"]),
            Route("/_sim/advance", self.advance, methods=["POST"]),
            Route("/_sim/reset", self.reset, methods=["POST"]),
            Route("/_sim/tokens/expire", self.expire_tokens, methods=["POST"]),
            Route("/_sim/tokens", self.token_stats, methods=["GET"]),
            *control_routes(self.control, self.books.counts),
        ]


def _read_operation(record_type: str) -> str:
    # An unknown record type is refused inside the work, where refusals become documents.
    return READ_OPERATIONS.get(record_type, REFERENCE_READ_OPERATION)


def _not_writable(record_type: str, verb: str) -> RecordError:
    if record_type not in RECORD_TYPES:
        return unknown_record_type(record_type)
    return RecordError(
        405,
        "INVALID_OPERATION",
        f"Records of type '{record_type}' cannot be {verb} through this simulator's REST API.",
    )


def create_app(
    *,
    client_id: str = "gateway-demo",
    client_secret: str = "cloud-sim-secret",
    token_ttl_s: int = 3600,
) -> Starlette:
    """A fresh simulated NetSuite account, with its own records, tokens and counters."""
    simulator = NetSuiteSimulator(client_id, client_secret, token_ttl_s)
    app = SimulatorApp(
        routes=simulator.routes(),
        middleware=[Middleware(SimMiddleware, control=simulator.control)],
    )
    app.state.simulator = simulator
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m erp_simulators.netsuite",
        description="The cloud ERP simulator (NetSuite-style REST records).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
