"""The cloud ERP simulator's HTTP surface: NetSuite's token endpoint and REST record API.

Not the rules or the documents (see `books`, `documents`); this binds them to routes,
authentication (`oauth`, `tba`), concurrency governance, faults (`erp_simulators.control`) and
the `/_sim/...` controls.

- `POST /services/rest/auth/oauth2/v1/token`: the client-credentials grant with a JWT client
  assertion (see `oauth`; a client secret is refused) -> `{"access_token", "token_type":
  "Bearer", "expires_in": "3600"}`.
- Every record call carries `Authorization: Bearer <token>` or a token-based authentication
  (OAuth 1.0a) signature (see `tba`); anything else is 401 INVALID_LOGIN.
- `/services/rest/record/v1/<type>`: GET lists ids (`q`, `limit`, `offset`); POST creates
  (`customer`, `salesOrder`) answering 204 + `Location`. `.../<type>/<id or eid:ref>`: GET
  (`expandSubResources=true` expands sublists); PATCH on `salesOrder` (`orderStatus` B approves,
  `item.items[].isClosed` closes lines; all closed: H); PUT `.../<type>/eid:<ref>` upserts
  (creates, or updates the record with that external id). Read-only: `itemFulfillment`,
  `invoice`, `inventoryItem`, `serviceSaleItem` (with a `price` sublist), `subsidiary`, `term`,
  `currency` (`symbol` is its ISO 4217 code; a reference to one names it by its `name`, "Euro"),
  `salesTaxItem` (`rate` in percent; each customer's `taxItem` points at its country's).
- `/services/rest/record/v1/metadata-catalog[/<type>]`: the record types, and one type's fields
  as JSON Schema (`Accept: application/schema+json`), custom fields flagged.
- Concurrency governance: past `concurrency_limit` requests in flight for one integration, 429
  with `o:errorCode` CONCURRENCY_LIMIT_EXCEEDED, as NetSuite answers REST web services.
- `/_sim/stats`, `/_sim/faults`, `/_sim/requests` (shared); `POST /_sim/advance`
  (`{"to", "sales_order"}`), `POST /_sim/reset`, `POST /_sim/tokens/expire`, `GET /_sim/tokens`,
  `GET`/`POST /_sim/governance` (`{"concurrency_limit": n or null}`), `GET /_sim/logins` (the
  login audit trail: why each refused login was refused).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Sequence
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
from erp_simulators.netsuite.events import RecordChanges
from erp_simulators.netsuite.governance import Governance
from erp_simulators.netsuite.integrations import (
    DEMO_ACCOUNT_ID,
    DEMO_INTEGRATION,
    Integration,
    Integrations,
)
from erp_simulators.netsuite.logins import Logins
from erp_simulators.netsuite.metadata import (
    CATALOG_PATH,
    OPENAPI_MEDIA_TYPE,
    SCHEMA_MEDIA_TYPE,
    STANDARD_FIELDS,
    catalog,
    record_schema,
)
from erp_simulators.netsuite.oauth import TokenError, TokenIssuer
from erp_simulators.netsuite.query import parse_query
from erp_simulators.netsuite.tba import DEFAULT_WINDOW_S, TbaVerifier
from erp_simulators.notifications import NotifyMiddleware, Outbox, notification_routes
from erp_simulators.options import positive

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
DEFAULT_PORT = 9102
RECORD_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=singular-resource"
COLLECTION_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=collection"
DEFAULT_LIMIT, MAX_LIMIT = 1000, 1000
EXTERNAL_ID_KEY = "eid:"

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
    """One simulated NetSuite account: its books, integrations, logins and control counters."""

    def __init__(
        self,
        integrations: Sequence[Integration],
        account_id: str,
        token_ttl_s: int,
        *,
        concurrency_limit: int | None = None,
        custom_fields: bool = True,
        tba_window_s: int = DEFAULT_WINDOW_S,
    ) -> None:
        self.control = SimControl("netsuite")
        self.books = Books()
        registry = Integrations(list(integrations))
        self.tokens = TokenIssuer(registry, token_ttl_s)
        self.logins = Logins(self.tokens, TbaVerifier(account_id, registry, tba_window_s))
        self.governance = Governance(concurrency_limit)
        self.custom_fields = custom_fields

    def _renderer(self, request: Request) -> Renderer:
        return Renderer(self.books, str(request.base_url), custom_fields=self.custom_fields)

    async def _call(self, request: Request, operation: str, work: Work) -> Response:
        """A record API call: its caller authenticated, governed, under any fault injected for
        `operation`; refusals become NetSuite error documents."""
        caller = self.logins.caller(request)
        if caller is None:
            return error_response(401)

        async def guarded() -> Response:
            try:
                return await work()
            except RecordError as error:
                return error_response_for(error)

        return await self.governance.governed(
            caller, lambda: perturbed(self.control, operation, guarded, error_response)
        )

    # --- OAuth 2.0 ----------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        raw = await request.body()
        token_url = str(request.base_url).rstrip("/") + TOKEN_PATH

        async def work() -> Response:
            try:
                answer = self.tokens.issue(request.headers.get("authorization"), raw, token_url)
            except TokenError as error:
                self.logins.record("OAuth 2.0", None, error.description)
                return JSONResponse(
                    {"error": error.code, "error_description": error.description}, error.status
                )
            return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

        return await perturbed(self.control, "auth", work, error_response)

    # --- records ------------------------------------------------------------------------------

    async def list_records(self, request: Request) -> Response:
        record_type = request.path_params["record_type"]

        async def work() -> Response:
            limit = _page_number(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
            offset = _page_number(request, "offset", 0, 10**9)
            q = request.query_params.get("q")
            renderer = self._renderer(request)
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

        return await self._call(request, _read_operation(record_type), work)

    async def get_record(self, request: Request) -> Response:
        record_type, key = request.path_params["record_type"], request.path_params["key"]
        sub_resource: str | None = request.path_params.get("sub_resource")

        async def work() -> Response:
            record = find_record(self.books, record_type, key)
            renderer = self._renderer(request)
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

        return await self._call(request, _read_operation(record_type), work)

    def _created(self, record_type: str, body: dict[str, Any]) -> str:
        if record_type == "customer":
            return self.books.create_customer(body).id
        return self.books.create_sales_order(body).id

    async def create_record(self, request: Request) -> Response:
        record_type = request.path_params["record_type"]
        operation = CREATE_OPERATIONS.get(record_type, REFERENCE_READ_OPERATION)
        raw = await request.body()

        async def work() -> Response:
            if record_type not in CREATE_OPERATIONS:
                raise _not_writable(record_type, "created")
            internal_id = self._created(record_type, _json_body(raw))
            location = self._renderer(request).href(record_type, internal_id)
            return Response(status_code=204, headers={"Location": location})

        return await self._call(request, operation, work)

    async def update_record(self, request: Request) -> Response:
        record_type, key = request.path_params["record_type"], request.path_params["key"]
        operation = UPDATE_OPERATIONS.get(record_type, REFERENCE_READ_OPERATION)
        raw = await request.body()

        async def work() -> Response:
            if record_type not in UPDATE_OPERATIONS:
                raise _not_writable(record_type, "updated")
            order = find_record(self.books, record_type, key)
            self.books.update_sales_order(order, _json_body(raw))
            return Response(status_code=204)

        return await self._call(request, operation, work)

    async def upsert_record(self, request: Request) -> Response:
        """PUT `.../<type>/eid:<externalId>`: creates the record, or updates the one holding
        that external id (NetSuite's upsert)."""
        record_type, key = request.path_params["record_type"], request.path_params["key"]
        operation = CREATE_OPERATIONS.get(record_type, REFERENCE_READ_OPERATION)
        raw = await request.body()

        async def work() -> Response:
            if record_type not in CREATE_OPERATIONS:
                raise _not_writable(record_type, "upserted")
            if not key.startswith(EXTERNAL_ID_KEY) or len(key) == len(EXTERNAL_ID_KEY):
                raise user_error("An upsert names its record by external ID: eid:<externalId>.")
            external_id = key[len(EXTERNAL_ID_KEY) :]
            body = _json_body(raw)
            if body.pop("externalId", external_id) != external_id:
                raise user_error("The externalId differs from the one in the URL.", "externalId")
            existing = self.books.external_ids[record_type].get(external_id)
            if existing is None:
                internal_id = self._created(record_type, {**body, "externalId": external_id})
            elif record_type == "customer":
                internal_id = self.books.update_customer(self.books.customers[existing], body).id
            else:
                order = self.books.sales_orders[existing]
                internal_id = self.books.update_sales_order(order, body).id
            location = self._renderer(request).href(record_type, internal_id)
            return Response(status_code=204, headers={"Location": location})

        return await self._call(request, operation, work)

    # --- metadata -----------------------------------------------------------------------------

    async def metadata_catalog(self, request: Request) -> Response:
        root = str(request.base_url).rstrip("/") + CATALOG_PATH

        async def work() -> Response:
            return _document(catalog(root), "application/json")

        return await self._call(request, REFERENCE_READ_OPERATION, work)

    async def record_metadata(self, request: Request) -> Response:
        record_type = request.path_params["record_type"]
        accept = request.headers.get("accept", "")
        href = str(request.base_url).rstrip("/") + f"{CATALOG_PATH}/{record_type}"

        async def work() -> Response:
            if record_type not in STANDARD_FIELDS:
                raise unknown_record_type(record_type)
            schema = record_schema(record_type, self.custom_fields)
            if SCHEMA_MEDIA_TYPE in accept:
                return _document(schema, SCHEMA_MEDIA_TYPE)
            if OPENAPI_MEDIA_TYPE in accept:
                document = {"openapi": "3.0.1", "components": {"schemas": {record_type: schema}}}
                return _document(document, OPENAPI_MEDIA_TYPE)
            links = [
                {"rel": "alternate", "href": href, "mediaType": media_type}
                for media_type in (OPENAPI_MEDIA_TYPE, SCHEMA_MEDIA_TYPE)
            ]
            return _document({"name": record_type, "links": links}, "application/json")

        return await self._call(request, REFERENCE_READ_OPERATION, work)

    # --- controls -----------------------------------------------------------------------------

    async def advance(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = _json_body(raw) if raw.strip() else {}
            to, order_id = body.get("to"), body.get("sales_order")
            tran_id = body.get("tran_id")  # or the order by its document number (SO-000001)
            if not all(isinstance(v, str | None) for v in (to, order_id, tran_id)):
                raise user_error("'to', 'sales_order' and 'tran_id' are strings.")
            if tran_id is not None:
                order_id = next(
                    (o.id for o in self.books.sales_orders.values() if o.tran_id == tran_id),
                    "unknown",
                )
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

    async def governance_state(self, _: Request) -> Response:
        return JSONResponse(self.governance.state())

    async def set_governance(self, request: Request) -> Response:
        try:
            limit = json.loads(await request.body() or b"{}").get("concurrency_limit")
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                raise ValueError
        except (ValueError, AttributeError):
            return JSONResponse(
                {"error": "concurrency_limit is a positive integer or null"}, status_code=400
            )
        self.governance.concurrency_limit = limit
        return JSONResponse(self.governance.state())

    async def login_audit(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit", "50"))
        return JSONResponse({"logins": list(self.logins.audit)[-limit:]})

    def routes(self) -> list[Route]:
        record = RECORD_ROOT + "/{record_type}"
        return [
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            # Before the record routes, which would take "metadata-catalog" for a record type.
            Route(CATALOG_PATH, self.metadata_catalog, methods=["GET"]),
            Route(CATALOG_PATH + "/{record_type}", self.record_metadata, methods=["GET"]),
            Route(record, self.list_records, methods=["GET"]),
            Route(record, self.create_record, methods=["POST"]),
            Route(record + "/{key}", self.get_record, methods=["GET"]),
            Route(record + "/{key}", self.update_record, methods=["PATCH"]),
            Route(record + "/{key}", self.upsert_record, methods=["PUT"]),
            Route(record + "/{key}/{sub_resource}", self.get_record, methods=["GET"]),
            Route("/_sim/advance", self.advance, methods=["POST"]),
            Route("/_sim/reset", self.reset, methods=["POST"]),
            Route("/_sim/tokens/expire", self.expire_tokens, methods=["POST"]),
            Route("/_sim/tokens", self.token_stats, methods=["GET"]),
            Route("/_sim/governance", self.governance_state, methods=["GET"]),
            Route("/_sim/governance", self.set_governance, methods=["POST"]),
            Route("/_sim/logins", self.login_audit, methods=["GET"]),
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
    integrations: Sequence[Integration] = (DEMO_INTEGRATION,),
    account_id: str = DEMO_ACCOUNT_ID,
    token_ttl_s: int = 3600,
    concurrency_limit: int | None = None,
    custom_fields: bool = True,
    tba_window_s: int = DEFAULT_WINDOW_S,
) -> Starlette:
    """A fresh simulated NetSuite account, with its own records, tokens and counters.

    By default its one integration is the demo's (INSECURE, published credentials), it has the
    custom fields the gateway relies on, and no concurrency limit.
    """
    simulator = NetSuiteSimulator(
        integrations,
        account_id,
        token_ttl_s,
        concurrency_limit=concurrency_limit,
        custom_fields=custom_fields,
        tba_window_s=tba_window_s,
    )
    outbox = Outbox(RecordChanges(simulator.books))
    app = SimulatorApp(
        routes=[*simulator.routes(), *notification_routes(outbox)],
        middleware=[
            Middleware(SimMiddleware, control=simulator.control),
            Middleware(NotifyMiddleware, outbox=outbox),
        ],
    )
    app.state.simulator = simulator
    return app


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, custom_fields_flag: bool = True
) -> None:
    """The account's options, for this module's command and `gateway simulate cloud` (which
    declares `--no-custom-fields` once for both simulators)."""
    if custom_fields_flag:
        parser.add_argument(
            "--no-custom-fields",
            action="store_true",
            help="an account without the custom fields the gateway relies on "
            "(custbody_credit_hold)",
        )
    parser.add_argument(
        "--concurrency-limit",
        type=positive,
        metavar="N",
        help="cloud: requests one integration may have in flight; more are refused with 429 "
        "CONCURRENCY_LIMIT_EXCEEDED (default: no limit)",
    )


def app_from_options(args: argparse.Namespace) -> Starlette:
    return create_app(
        custom_fields=not args.no_custom_fields, concurrency_limit=args.concurrency_limit
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m erp_simulators.netsuite",
        description="The cloud ERP simulator (NetSuite-style REST records).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    add_options(parser)
    args = parser.parse_args(argv)
    uvicorn.run(app_from_options(args), host=args.host, port=args.port, log_level="warning")
