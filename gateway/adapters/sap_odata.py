"""The adapter for the legacy ERP (SAP S/4HANA OData v2): Basic auth, CSRF session, OData calls.

Not the payload mapping (see `sap_mapping`, pure functions); this is the ERP client around it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, TypeVar

from multidict import CIMultiDictProxy

from gateway.adapters.base import (
    CallContext,
    CustomerContext,
    ErpCustomer,
    ErpInvoice,
    ErpQuote,
    ErpSalesOrder,
    ErpShipment,
    References,
)
from gateway.adapters.http import AiohttpTransport, ErpFailure, ErpResponse, ErpTransport
from gateway.adapters.sap_mapping import (
    BILLING_DOCUMENTS,
    BILLING_EXPAND,
    BILLING_ITEMS,
    BUSINESS_PARTNERS,
    CUSTOMER_EXPAND,
    DELIVERIES,
    DELIVERY_EXPAND,
    DELIVERY_ITEMS,
    GATEWAY_REF_FIELD,
    ORDER_EXPAND,
    SALES_ORDER_ITEMS,
    SALES_ORDER_SERVICE,
    SALES_ORDERS,
    SIMULATIONS,
    SapAnswerError,
    SapMaps,
    Subject,
    at_billing_address,
    customer_from_sap,
    customer_payload,
    document_numbers,
    entity_of,
    entity_path,
    equals_filter,
    error_from_sap,
    invoice_from_sap,
    open_item_etags,
    quote_from_sap,
    rejection_payload,
    results_of,
    sales_order_from_sap,
    sales_order_payload,
    shipment_from_sap,
    technical_error,
    with_payment,
)
from gateway.config.backends import SAP_KIND, SapBackend
from gateway.domain.errors import Code, GatewayError, not_found
from gateway.domain.models import CustomerCreate, OrderItem, SalesOrderStatus

T = TypeVar("T")
D = TypeVar("D")

CSRF_HEADER = "x-csrf-token"
CSRF_FETCH = "Fetch"
CSRF_REQUIRED = "required"
_BUSINESS_STATUSES = frozenset({400, 409, 422})
_CANCEL_ATTEMPTS = 2  # a concurrent change (412) makes the cancel read the order once more


@dataclass(frozen=True)
class CsrfSession:
    """A CSRF token and the session cookie it is bound to: they only work together."""

    token: str
    cookie: str


class _StaleItem(Exception):
    """An item changed between reading its ETag and patching it."""


class SapODataAdapter:
    """One SAP backend. Reuses one CSRF session for all writes; refetches it once on a 403."""

    kind = SAP_KIND

    def __init__(
        self,
        name: str,
        config: SapBackend,
        transport: ErpTransport,
        username: str,
        password: str,
    ) -> None:
        self.name = name
        self._transport = transport
        self._maps = SapMaps.from_config(config.value_maps)
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._authorization = "Basic " + credentials
        self._client = {"sap-client": config.sap_client}
        self._session: CsrfSession | None = None
        self._session_lock = asyncio.Lock()

    # --- customers ------------------------------------------------------------------------------

    async def create_customer(
        self, request: CustomerCreate, refs: References, ctx: CallContext
    ) -> ErpCustomer:
        payload = customer_payload(request, refs, self._maps)
        response = await self._write("POST", BUSINESS_PARTNERS, payload, ctx)
        try:
            body = self._answer(response, Subject.CUSTOMER, write=True)
        except GatewayError as error:
            raise at_billing_address(error, request.billing_index) from None
        return self._mapped(lambda: customer_from_sap(entity_of(body), self._maps), write=True)

    async def get_customer(self, erp_id: str, ctx: CallContext) -> ErpCustomer | None:
        path = entity_path(BUSINESS_PARTNERS, BusinessPartner=erp_id)
        body = await self._read(path, {"$expand": CUSTOMER_EXPAND}, ctx)
        if body is None:
            return None
        return self._mapped(lambda: customer_from_sap(entity_of(body), self._maps))

    async def find_customer_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpCustomer | None:
        query = {
            "$filter": equals_filter(GATEWAY_REF_FIELD, gateway_ref),
            "$expand": CUSTOMER_EXPAND,
            "$top": "1",
        }
        rows = await self._read_rows(BUSINESS_PARTNERS, query, ctx)
        return self._mapped(lambda: customer_from_sap(rows[0], self._maps)) if rows else None

    # --- sales orders ---------------------------------------------------------------------------

    async def create_sales_order(
        self,
        legal_entity: str,
        customer: CustomerContext,
        currency: str,
        requested_delivery_date: dt.date | None,
        items: list[OrderItem],
        refs: References,
        ctx: CallContext,
    ) -> ErpSalesOrder:
        entity = self._maps.legal_entity(legal_entity)
        payload = sales_order_payload(
            entity, customer.erp_id, currency, requested_delivery_date, items, self._maps, refs
        )
        response = await self._write("POST", SALES_ORDERS, payload, ctx)
        body = self._answer(response, Subject.SALES_ORDER, write=True)
        return self._mapped(lambda: sales_order_from_sap(entity_of(body), self._maps), write=True)

    async def get_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder | None:
        body = await self._read(self._order_path(erp_id), {"$expand": ORDER_EXPAND}, ctx)
        if body is None:
            return None
        order = self._mapped(lambda: sales_order_from_sap(entity_of(body), self._maps))
        return await self._with_payment(order, ctx)

    async def find_sales_order_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpSalesOrder | None:
        query = {
            "$filter": equals_filter(GATEWAY_REF_FIELD, gateway_ref),
            "$expand": ORDER_EXPAND,
            "$top": "1",
        }
        rows = await self._read_rows(SALES_ORDERS, query, ctx)
        if not rows:
            return None
        order = self._mapped(lambda: sales_order_from_sap(rows[0], self._maps))
        return await self._with_payment(order, ctx)

    async def cancel_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder:
        """Reject every open item (PATCH with the item's ETag), then read the order back."""
        for attempt in range(_CANCEL_ATTEMPTS):
            found = await self._order_entity(erp_id, ctx)
            if found is None:
                raise not_found("No such sales order in the ERP.")
            entity, order = found
            if order.status is SalesOrderStatus.CANCELLED:
                return order
            try:
                await self._reject_items(erp_id, entity, ctx, last=attempt + 1 == _CANCEL_ATTEMPTS)
            except _StaleItem:
                continue
            cancelled = await self.get_sales_order(erp_id, ctx)
            if cancelled is None:
                raise ErpFailure(Code.ERP_BAD_RESPONSE, "The ERP lost the order it just changed.")
            return cancelled
        raise ErpFailure(Code.ERP_UNAVAILABLE, "The order kept changing in the ERP; retry shortly.")

    async def _order_entity(
        self, erp_id: str, ctx: CallContext
    ) -> tuple[dict[str, Any], ErpSalesOrder] | None:
        """The raw A_SalesOrder with its items (for their ETags) and its canonical reading."""
        body = await self._read(self._order_path(erp_id), {"$expand": ORDER_EXPAND}, ctx)
        if body is None:
            return None
        entity = self._mapped(lambda: entity_of(body))
        return entity, self._mapped(lambda: sales_order_from_sap(entity, self._maps))

    async def _reject_items(
        self, erp_id: str, entity: Mapping[str, Any], ctx: CallContext, *, last: bool
    ) -> None:
        # One item after the other: SAP locks the whole order while an item changes.
        for item, etag in self._mapped(lambda: open_item_etags(entity)):
            path = entity_path(SALES_ORDER_ITEMS, SalesOrder=erp_id, SalesOrderItem=item)
            response = await self._write(
                "PATCH", path, rejection_payload(), ctx, {"If-Match": etag}
            )
            if response.status == 412 and not last:
                raise _StaleItem
            if response.status not in (200, 204):
                raise self._refusal(response, Subject.CANCEL, write=True)

    async def _with_payment(self, order: ErpSalesOrder, ctx: CallContext) -> ErpSalesOrder:
        if order.status is not SalesOrderStatus.INVOICED:
            return order
        return with_payment(order, await self.list_invoices(order.erp_id, ctx))

    @staticmethod
    def _order_path(erp_id: str) -> str:
        return entity_path(SALES_ORDERS, SalesOrder=erp_id)

    # --- shipments and invoices -----------------------------------------------------------------

    async def list_shipments(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpShipment]:
        return await self._follow_on_documents(
            DELIVERY_ITEMS,
            ("ReferenceSDDocument", sales_order_erp_id),
            "DeliveryDocument",
            lambda number: self.get_shipment(number, ctx),
            ctx,
        )

    async def get_shipment(self, erp_id: str, ctx: CallContext) -> ErpShipment | None:
        path = entity_path(DELIVERIES, DeliveryDocument=erp_id)
        body = await self._read(path, {"$expand": DELIVERY_EXPAND}, ctx)
        if body is None:
            return None
        return self._mapped(lambda: shipment_from_sap(entity_of(body), self._maps))

    async def list_invoices(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpInvoice]:
        return await self._follow_on_documents(
            BILLING_ITEMS,
            ("SalesDocument", sales_order_erp_id),
            "BillingDocument",
            lambda number: self.get_invoice(number, ctx),
            ctx,
        )

    async def _follow_on_documents(
        self,
        item_set: str,
        order_reference: tuple[str, str],
        number_field: str,
        read_one: Callable[[str], Awaitable[D | None]],
        ctx: CallContext,
    ) -> list[D]:
        """The documents (deliveries, billing documents) whose items reference the order:
        found through the item entity set, then each read whole."""
        query = {"$filter": equals_filter(*order_reference)}
        rows = await self._read_rows(item_set, query, ctx)
        numbers = self._mapped(lambda: document_numbers(rows, number_field))
        found = await asyncio.gather(*(read_one(n) for n in numbers))
        return [document for document in found if document is not None]

    async def get_invoice(self, erp_id: str, ctx: CallContext) -> ErpInvoice | None:
        path = entity_path(BILLING_DOCUMENTS, BillingDocument=erp_id)
        body = await self._read(path, {"$expand": BILLING_EXPAND}, ctx)
        if body is None:
            return None
        return self._mapped(lambda: invoice_from_sap(entity_of(body)))

    # --- quotes and health ----------------------------------------------------------------------

    async def validate_quote(
        self,
        legal_entity: str,
        customer: CustomerContext,
        currency: str,
        requested_delivery_date: dt.date | None,
        items: list[OrderItem],
        ctx: CallContext,
    ) -> ErpQuote:
        """Price and credit-check through the simulation service: SAP saves nothing."""
        entity = self._maps.legal_entity(legal_entity)
        payload = sales_order_payload(
            entity, customer.erp_id, currency, requested_delivery_date, items, self._maps
        )
        response = await self._write("POST", SIMULATIONS, payload, ctx)
        body = self._answer(response, Subject.SALES_ORDER, write=False)
        return self._mapped(lambda: quote_from_sap(entity_of(body), self._maps))

    async def ping(self, ctx: CallContext) -> bool:
        try:
            response = await self._send("GET", SALES_ORDER_SERVICE + "/", ctx)
        except GatewayError:
            return False
        return response.status == 200

    async def aclose(self) -> None:
        await self._transport.aclose()

    # --- HTTP mechanics -------------------------------------------------------------------------

    def _headers(self, ctx: CallContext, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {
            "Authorization": self._authorization,
            "Accept": "application/json",
            **ctx.trace_headers(),
        }
        if self._session is not None:
            headers["Cookie"] = self._session.cookie  # stay in one SAP session, not a logon each
        headers.update(extra or {})
        return headers

    async def _send(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> ErpResponse:
        return await self._transport.request(
            method,
            path,
            params={**self._client, **(query or {})},
            headers=self._headers(ctx, headers),
            json_body=body,
            deadline=ctx.deadline,
        )

    async def _read(
        self, path: str, query: Mapping[str, str], ctx: CallContext
    ) -> dict[str, Any] | None:
        """A GET's JSON body; None when SAP says the entity does not exist."""
        response = await self._send("GET", path, ctx, query=query)
        if response.status == 404:
            return None
        body: dict[str, Any] = self._answer(response, Subject.READ, write=False)
        return body

    async def _read_rows(
        self, path: str, query: Mapping[str, str], ctx: CallContext
    ) -> list[dict[str, Any]]:
        response = await self._send("GET", path, ctx, query=query)
        body = self._answer(response, Subject.READ, write=False)
        return self._mapped(lambda: results_of(body))

    async def _write(
        self,
        method: str,
        path: str,
        body: Any,
        ctx: CallContext,
        headers: Mapping[str, str] | None = None,
    ) -> ErpResponse:
        """A modifying request under the CSRF session; one refetch and retry after a 403."""
        session = await self._csrf_session(ctx, stale=None)
        response = await self._send_with(session, method, path, body, ctx, headers)
        if response.status == 403 and _csrf_required(response):
            session = await self._csrf_session(ctx, stale=session)
            response = await self._send_with(session, method, path, body, ctx, headers)
        return response

    async def _send_with(
        self,
        session: CsrfSession,
        method: str,
        path: str,
        body: Any,
        ctx: CallContext,
        headers: Mapping[str, str] | None,
    ) -> ErpResponse:
        extra = {**(headers or {}), CSRF_HEADER: session.token, "Cookie": session.cookie}
        return await self._send(method, path, ctx, body=body, headers=extra)

    async def _csrf_session(self, ctx: CallContext, stale: CsrfSession | None) -> CsrfSession:
        """The current session, fetched once however many requests need it at the same time."""
        current = self._session
        if current is not None and current is not stale:
            return current
        async with self._session_lock:
            current = self._session
            if current is not None and current is not stale:
                return current  # another request fetched it while this one waited
            self._session = await self._fetch_session(ctx)
            return self._session

    async def _fetch_session(self, ctx: CallContext) -> CsrfSession:
        response = await self._transport.request(
            "HEAD",
            SALES_ORDER_SERVICE + "/",
            params=self._client,
            headers={
                "Authorization": self._authorization,
                "Accept": "application/json",
                CSRF_HEADER: CSRF_FETCH,
                **ctx.trace_headers(),
            },
            deadline=ctx.deadline,
        )
        if response.status != 200:
            raise technical_error(response.status, write=False)
        token = response.header(CSRF_HEADER)
        cookies = dict(response.cookies) or _set_cookies(response)
        if not token or token.lower() == CSRF_REQUIRED or not cookies:
            raise ErpFailure(Code.ERP_BAD_RESPONSE, "The ERP did not hand out a CSRF token.")
        cookie = "; ".join(f"{name}={value}" for name, value in sorted(cookies.items()))
        return CsrfSession(token=token, cookie=cookie)

    # --- answers --------------------------------------------------------------------------------

    def _answer(self, response: ErpResponse, subject: Subject, *, write: bool) -> Any:
        """The JSON of a 2xx answer, or the refusal it means, raised."""
        if 200 <= response.status < 300:
            try:
                return response.json()
            except ErpFailure as exc:
                # A write SAP accepted but whose answer is garbled may have committed.
                raise ErpFailure(exc.code, exc.detail, ambiguous=write) from exc
        raise self._refusal(response, subject, write=write)

    def _refusal(self, response: ErpResponse, subject: Subject, *, write: bool) -> GatewayError:
        if response.status in _BUSINESS_STATUSES:
            body = response.json()
            return self._mapped(lambda: error_from_sap(body, subject))
        return technical_error(
            response.status, write=write, retry_after=response.header("retry-after")
        )

    @staticmethod
    def _mapped(mapping: Callable[[], T], *, write: bool = False) -> T:
        """Run a mapping of an SAP answer; an answer of the wrong shape is a bad response."""
        try:
            return mapping()
        except SapAnswerError as exc:
            raise ErpFailure(
                Code.ERP_BAD_RESPONSE,
                "The ERP sent a response the gateway could not read.",
                ambiguous=write,
            ) from exc


def _csrf_required(response: ErpResponse) -> bool:
    return (response.header(CSRF_HEADER) or "").lower() == CSRF_REQUIRED


def _set_cookies(response: ErpResponse) -> dict[str, str]:
    """Cookies from raw Set-Cookie headers, for transports that do not parse them."""
    headers = response.headers
    raw = headers.getall("set-cookie", []) if isinstance(headers, CIMultiDictProxy) else []
    if not raw and (single := response.header("set-cookie")):
        raw = [single]
    cookies: dict[str, str] = {}
    for line in raw:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(line)
        except CookieError:
            continue
        cookies.update({name: morsel.value for name, morsel in jar.items()})
    return cookies


def build_sap_adapter(name: str, config: SapBackend, env: Mapping[str, str]) -> SapODataAdapter:
    """The production adapter: credentials from `env`, a pooled aiohttp transport."""
    username = env.get(config.credentials.username_env)
    password = env.get(config.credentials.password_env)
    for variable, value in (
        (config.credentials.username_env, username),
        (config.credentials.password_env, password),
    ):
        if not value:
            raise ValueError(f"backend {name}: environment variable {variable} is not set")
    assert username is not None and password is not None
    transport = AiohttpTransport(
        config.base_url,
        max_connections=config.pool.max_connections,
        keepalive_s=config.pool.keepalive_s,
        timeout_s=config.timeout_s,
    )
    return SapODataAdapter(name, config, transport, username, password)
