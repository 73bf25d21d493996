"""The cloud ERP adapter: NetSuite REST records over OAuth 2.0 client-credentials tokens.

Not the translation (see `netsuite_mapping`): this is the client — tokens, calls, read-backs.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

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
from gateway.adapters.http import AiohttpTransport, ErpResponse, ErpTransport
from gateway.adapters.netsuite_mapping import (
    CANCEL_PATCH,
    CUSTOMER,
    INVOICE,
    ITEM_FULFILLMENT,
    ITEM_RECORD_TYPES,
    SALES_ORDER,
    SALES_TAX_ITEM,
    SUBSIDIARY,
    Documents,
    Interaction,
    NetSuiteMaps,
    available_credit,
    bad_response,
    created_from_query,
    customer_for_order,
    customer_record,
    documents_needed,
    erp_customer,
    erp_invoice,
    erp_sales_order,
    erp_shipment,
    error_from_response,
    external_id_key,
    is_duplicate_external_id,
    item_price,
    priced_quote,
    record_id_from_location,
    record_path,
    sales_order_record,
    sales_order_status,
    same_submission,
    tax_rate,
    token_from_response,
)
from gateway.config.backends import NETSUITE_KIND, NetSuiteBackend
from gateway.domain.errors import Code, FieldError, GatewayError
from gateway.domain.models import CustomerCreate, OrderItem

GRANT_FORM = {"grant_type": "client_credentials"}
RENEW_MARGIN_S = 60.0  # renew a token this long before it expires (at most half its lifetime)
EXPANDED = {"expandSubResources": "true"}
PAGE_SIZE = 1000
ACCEPT_JSON = {"Accept": "application/json"}


def _forget_failure(task: asyncio.Task[str]) -> None:
    # A background renewal nobody awaited must not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()


class BearerTokens:
    """OAuth 2.0 client-credentials tokens for one backend.

    Cached until shortly before `expires_in`, then renewed in the background while the old token
    still works; one fetch at a time, however many requests wait for it.
    """

    def __init__(
        self, transport: ErpTransport, token_path: str, client_id: str, client_secret: str
    ) -> None:
        self._transport = transport
        self._token_path = token_path
        credentials = f"{client_id}:{client_secret}".encode()
        self._authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
        self._token: str | None = None
        self._expires_at = 0.0
        self._renew_at = 0.0
        self._fetch: asyncio.Task[str] | None = None

    async def current(self, ctx: CallContext) -> str:
        now = time.monotonic()
        if self._token is not None and now < self._expires_at:
            if now >= self._renew_at:
                self._start_fetch(ctx)
            return self._token
        return await asyncio.shield(self._start_fetch(ctx))

    def discard(self, token: str) -> None:
        """Forget a token the ERP refused (unless a newer one has replaced it already)."""
        if self._token == token:
            self._token = None

    def _start_fetch(self, ctx: CallContext) -> asyncio.Task[str]:
        loop = asyncio.get_running_loop()
        task = self._fetch
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._fetched(ctx))
            task.add_done_callback(_forget_failure)
            self._fetch = task
        return task

    async def _fetched(self, ctx: CallContext) -> str:
        response = await self._transport.request(
            "POST",
            self._token_path,
            headers={**ctx.trace_headers(), **ACCEPT_JSON, "Authorization": self._authorization},
            form=GRANT_FORM,
            deadline=ctx.deadline,
        )
        token, ttl = token_from_response(response)
        now = time.monotonic()
        self._token = token
        self._expires_at = now + ttl
        self._renew_at = now + ttl - min(RENEW_MARGIN_S, ttl / 2)
        return token


class NetSuiteRestAdapter:
    """One NetSuite-style backend, behind the `ErpAdapter` protocol."""

    kind = NETSUITE_KIND

    def __init__(
        self,
        name: str,
        config: NetSuiteBackend,
        transport: ErpTransport,
        client_id: str,
        client_secret: str,
    ) -> None:
        self.name = name
        self._transport = transport
        self._maps = NetSuiteMaps.from_config(config.value_maps)
        self._tokens = BearerTokens(transport, config.token_path, client_id, client_secret)
        self._item_types: dict[str, str] = {}  # item internal id -> the record type it has

    # --- one call -----------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> ErpResponse:
        """One authorised call; a refused token is renewed once and the call sent again."""
        token = await self._tokens.current(ctx)
        response = await self._request(method, path, ctx, token, params, json_body)
        if response.status == 401:
            # Not processed, so safe to send again, writes included.
            self._tokens.discard(token)
            token = await self._tokens.current(ctx)
            response = await self._request(method, path, ctx, token, params, json_body)
        return response

    async def _request(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        token: str,
        params: Mapping[str, str] | None,
        json_body: Any,
    ) -> ErpResponse:
        return await self._transport.request(
            method,
            path,
            params=params,
            headers={**ctx.trace_headers(), **ACCEPT_JSON, "Authorization": f"Bearer {token}"},
            json_body=json_body,
            deadline=ctx.deadline,
        )

    async def _read(self, record_type: str, key: str, ctx: CallContext) -> dict[str, Any] | None:
        """One record with its sublists; None when NetSuite has no such record."""
        response = await self._send("GET", record_path(record_type, key), ctx, params=EXPANDED)
        if response.status == 404:
            return None
        if response.status != 200:
            raise error_from_response(response, Interaction.READ, write=False)
        record = response.json()
        if not isinstance(record, dict):
            raise bad_response("The ERP sent something other than a record.")
        return record

    async def _ids(self, record_type: str, q: str, ctx: CallContext) -> list[str]:
        """Internal ids of the records matching a `q` query, every page of them."""
        ids: list[str] = []
        offset = 0
        while True:
            params = {"q": q, "limit": str(PAGE_SIZE), "offset": str(offset)}
            response = await self._send("GET", record_path(record_type), ctx, params=params)
            if response.status != 200:
                raise error_from_response(response, Interaction.READ, write=False)
            page = response.json()
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise bad_response("The ERP sent a list the gateway could not read.")
            ids.extend(str(i["id"]) for i in items if isinstance(i, dict) and "id" in i)
            if page.get("hasMore") is not True or not items:
                return ids
            offset += len(items)

    async def _reads(
        self, record_type: str, ids: Sequence[str], ctx: CallContext
    ) -> list[dict[str, Any]]:
        records = await asyncio.gather(*(self._read(record_type, i, ctx) for i in ids))
        return [r for r in records if r is not None]

    async def _create(
        self,
        record_type: str,
        record: dict[str, Any],
        interaction: Interaction,
        ctx: CallContext,
    ) -> dict[str, Any]:
        """POST (answered 204 + Location), then read the record back for what NetSuite set."""
        response = await self._send("POST", record_path(record_type), ctx, json_body=record)
        duplicate = False
        if response.status == 204:
            key = record_id_from_location(response.header("Location"), record_type)
        elif is_duplicate_external_id(response):
            # A record with this gateway reference exists: an earlier attempt of this request,
            # or the same client and key reused (after retention) for another request.
            key = external_id_key(record["externalId"])
            duplicate = True
        else:
            raise error_from_response(response, interaction, write=True)
        created = await self._read(record_type, key, ctx)
        if created is None:
            raise bad_response(
                "The ERP accepted the record but could not show it; the outcome is unknown.",
                ambiguous=True,
            )
        if duplicate and not same_submission(record, created):
            raise GatewayError(
                Code.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was already used for a different request; use a new key.",
            )
        return created

    # --- customers ----------------------------------------------------------------------------

    async def create_customer(
        self, request: CustomerCreate, refs: References, ctx: CallContext
    ) -> ErpCustomer:
        record = customer_record(request, refs, self._maps)
        created = await self._create(CUSTOMER, record, Interaction.CUSTOMER_CREATE, ctx)
        return erp_customer(created, self._maps)

    async def get_customer(self, erp_id: str, ctx: CallContext) -> ErpCustomer | None:
        record = await self._read(CUSTOMER, erp_id, ctx)
        return erp_customer(record, self._maps) if record is not None else None

    async def find_customer_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpCustomer | None:
        return await self.get_customer(external_id_key(gateway_ref), ctx)

    # --- sales orders -------------------------------------------------------------------------

    async def _sales_order(self, record: dict[str, Any], ctx: CallContext) -> ErpSalesOrder:
        """The canonical order, reading its fulfillments or invoices when they decide its status."""
        needed = documents_needed(record)
        order_id = str(record.get("id", ""))
        shipments: list[ErpShipment] = []
        invoices: list[ErpInvoice] = []
        if needed is Documents.SHIPMENTS:
            shipments = await self.list_shipments(order_id, ctx)
        elif needed is Documents.INVOICES:
            invoices = await self.list_invoices(order_id, ctx)
        status, hold_reason = sales_order_status(record, shipments, invoices)
        return erp_sales_order(record, self._maps, status, hold_reason)

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
        record = sales_order_record(
            legal_entity,
            customer.erp_id,
            currency,
            requested_delivery_date,
            items,
            refs,
            self._maps,
        )
        created = await self._create(SALES_ORDER, record, Interaction.SALES_ORDER_CREATE, ctx)
        return await self._sales_order(created, ctx)

    async def get_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder | None:
        record = await self._read(SALES_ORDER, erp_id, ctx)
        return await self._sales_order(record, ctx) if record is not None else None

    async def find_sales_order_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpSalesOrder | None:
        return await self.get_sales_order(external_id_key(gateway_ref), ctx)

    async def cancel_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder:
        path = record_path(SALES_ORDER, erp_id)
        response = await self._send("PATCH", path, ctx, json_body=CANCEL_PATCH)
        if response.status != 204:
            raise error_from_response(response, Interaction.CANCEL, write=True)
        order = await self.get_sales_order(erp_id, ctx)
        if order is None:
            raise bad_response("The ERP cancelled the order but could not show it.")
        return order

    # --- documents the ERP creates ------------------------------------------------------------

    async def _created_from(
        self, record_type: str, sales_order_erp_id: str, ctx: CallContext
    ) -> list[dict[str, Any]]:
        q = created_from_query(sales_order_erp_id)
        if q is None:
            return []
        return await self._reads(record_type, await self._ids(record_type, q, ctx), ctx)

    async def list_shipments(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpShipment]:
        records = await self._created_from(ITEM_FULFILLMENT, sales_order_erp_id, ctx)
        return [erp_shipment(r, self._maps) for r in records]

    async def get_shipment(self, erp_id: str, ctx: CallContext) -> ErpShipment | None:
        record = await self._read(ITEM_FULFILLMENT, erp_id, ctx)
        return erp_shipment(record, self._maps) if record is not None else None

    async def list_invoices(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpInvoice]:
        records = await self._created_from(INVOICE, sales_order_erp_id, ctx)
        return [erp_invoice(r, self._maps) for r in records]

    async def get_invoice(self, erp_id: str, ctx: CallContext) -> ErpInvoice | None:
        record = await self._read(INVOICE, erp_id, ctx)
        return erp_invoice(record, self._maps) if record is not None else None

    # --- quotes: NetSuite has no validate-only mode, so price from reads ----------------------

    async def _item(self, item_id: str, ctx: CallContext) -> dict[str, Any] | None:
        known = self._item_types.get(item_id)
        for record_type in (known,) if known else ITEM_RECORD_TYPES:
            record = await self._read(record_type, item_id, ctx)
            if record is not None:
                self._item_types[item_id] = record_type
                return record
        return None

    async def _tax_rate(self, customer: Mapping[str, Any], ctx: CallContext) -> Decimal | None:
        tax_item = customer.get("taxItem")
        tax_item_id = tax_item.get("id") if isinstance(tax_item, dict) else None
        if tax_item_id is None:
            return None
        record = await self._read(SALES_TAX_ITEM, str(tax_item_id), ctx)
        return tax_rate(record) if record is not None else None

    async def validate_quote(
        self,
        legal_entity: str,
        customer: CustomerContext,
        currency: str,
        requested_delivery_date: dt.date | None,
        items: list[OrderItem],
        ctx: CallContext,
    ) -> ErpQuote:
        legal = self._maps.legal_entity(legal_entity)
        currency_id = self._maps.currency_id(currency)
        item_ids = self._maps.item_ids(items)
        unique_ids = list(dict.fromkeys(item_ids))
        customer_record_, *records = await asyncio.gather(
            self._read(CUSTOMER, customer.erp_id, ctx),
            *(self._item(i, ctx) for i in unique_ids),
        )
        missing = [
            FieldError(f"/items/{n}/product_id", f"The ERP has no product {item.product_id}.")
            for n, (item, item_id) in enumerate(zip(items, item_ids, strict=True))
            if records[unique_ids.index(item_id)] is None
        ]
        if missing:
            raise GatewayError(Code.UNKNOWN_SKU, "Some products do not exist in the ERP.", missing)
        buyer = customer_for_order(customer_record_, legal, currency_id, currency)
        prices = {
            item_id: item_price(record, currency_id)
            for item_id, record in zip(unique_ids, records, strict=True)
            if record is not None
        }
        rate = await self._tax_rate(buyer, ctx)
        return priced_quote(
            items, item_ids, prices, currency, rate, available_credit(buyer, currency)
        )

    # --- health -------------------------------------------------------------------------------

    async def ping(self, ctx: CallContext) -> bool:
        """A token and one tiny list: both the auth server and the record API answer."""
        try:
            response = await self._send("GET", record_path(SUBSIDIARY), ctx, params={"limit": "1"})
        except GatewayError:
            return False
        return response.status == 200

    async def aclose(self) -> None:
        await self._transport.aclose()


def build_netsuite_adapter(
    name: str, config: NetSuiteBackend, env: Mapping[str, str]
) -> NetSuiteRestAdapter:
    """The production adapter: credentials from the environment variables the config names,
    and a pooled aiohttp transport to `base_url`."""
    names = (config.credentials.client_id_env, config.credentials.client_secret_env)
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise ValueError(
            f"backend {name}: environment variable {', '.join(missing)} is not set "
            "(the cloud ERP's OAuth client credentials)"
        )
    transport = AiohttpTransport(
        config.base_url,
        max_connections=config.pool.max_connections,
        keepalive_s=config.pool.keepalive_s,
        timeout_s=config.timeout_s,
    )
    return NetSuiteRestAdapter(name, config, transport, env[names[0]], env[names[1]])
