"""The adapter for the cloud ERP (NetSuite REST records): what each canonical operation is in
NetSuite's records, behind the `ErpAdapter` protocol.

Not the HTTP mechanics (see `client.py`, `auth.py`) nor the mapping (`outbound.py`,
`inbound.py`, `quotes.py`, `cancellation.py`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Coroutine, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.adapters.answers import AnswerBoundary
from gateway.adapters.base import (
    CallContext,
    CustomerContext,
    DoctorCheck,
    ErpCustomer,
    ErpInvoice,
    ErpQuote,
    ErpSalesOrder,
    ErpShipment,
    References,
)
from gateway.adapters.http import ErpTransport, transport_for
from gateway.adapters.netsuite.auth import authorizer_for
from gateway.adapters.netsuite.cancellation import closing_patch
from gateway.adapters.netsuite.client import NetSuiteClient
from gateway.adapters.netsuite.credentials import NetSuiteCredentials, netsuite_credentials
from gateway.adapters.netsuite.doctor import diagnose
from gateway.adapters.netsuite.fields import held_line_amounts, required_text
from gateway.adapters.netsuite.inbound import (
    erp_customer,
    erp_invoice,
    erp_sales_order,
    erp_shipment,
    needed_documents,
    order_status,
    order_status_code,
)
from gateway.adapters.netsuite.outbound import customer_record, sales_order_record
from gateway.adapters.netsuite.quotes import (
    available_credit,
    customer_for_order,
    item_price,
    priced_quote,
    tax_rate,
)
from gateway.adapters.netsuite.records import (
    CUSTOMER,
    INVOICE,
    ITEM_FULFILLMENT,
    ITEM_RECORD_TYPES,
    SALES_ORDER,
    SALES_TAX_ITEM,
    SUBSIDIARY,
    Documents,
    Interaction,
    created_from_query,
    external_id_key,
    record_path,
)
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.adapters.value_maps import CountUnmapped, UnmappedCodes
from gateway.config.backends import NETSUITE_KIND, NetSuiteBackend
from gateway.domain.errors import Code, FieldError, GatewayError
from gateway.domain.models import CustomerCreate, OrderItem


class NetSuiteRestAdapter:
    """One NetSuite-style backend, behind the `ErpAdapter` protocol."""

    kind = NETSUITE_KIND

    def __init__(
        self,
        name: str,
        config: NetSuiteBackend,
        transport: ErpTransport,
        credentials: NetSuiteCredentials,
        count_unmapped: CountUnmapped | None = None,
    ) -> None:
        self.name = name
        # Every NetSuite answer is mapped through this one boundary (here, in the client and
        # in the token fetch).
        self._answers = AnswerBoundary(name)
        self._maps = NetSuiteMaps.from_config(
            config.value_maps, UnmappedCodes(name, count_unmapped)
        )
        auth = authorizer_for(
            credentials, transport, config.base_url, config.token_path, self._answers
        )
        self._client = NetSuiteClient(transport, auth, self._answers, self._maps)
        self._credentials = credentials
        self._item_types: dict[str, str] = {}  # item internal id -> the record type it has

    # --- customers ----------------------------------------------------------------------------

    async def create_customer(
        self, request: CustomerCreate, refs: References, ctx: CallContext
    ) -> ErpCustomer:
        ctx = ctx.serving("create_customer")
        record = customer_record(request, refs, self._maps)
        created = await self._client.create(CUSTOMER, record, Interaction.CUSTOMER_CREATE, ctx)
        await self._read_currencies([created], ctx, write=True)
        return self._answers.mapped(ctx, lambda: erp_customer(created, self._maps), write=True)

    async def get_customer(self, erp_id: str, ctx: CallContext) -> ErpCustomer | None:
        return await self._customer(erp_id, ctx.serving("get_customer"))

    async def find_customer_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpCustomer | None:
        ctx = ctx.serving("find_customer_by_gateway_ref")
        return await self._customer(external_id_key(gateway_ref), ctx)

    async def _customer(self, key: str, ctx: CallContext) -> ErpCustomer | None:
        record = await self._client.read(CUSTOMER, key, ctx)
        if record is None:
            return None
        await self._read_currencies([record], ctx)
        return self._answers.mapped(ctx, lambda: erp_customer(record, self._maps))

    async def _read_currencies(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext, *, write: bool = False
    ) -> None:
        """Reads from NetSuite, once per adapter, the ISO code of each currency `records` name
        that the value maps lack (`currencies.py`), so that they map to ISO codes only."""
        unread = self._maps.currencies_to_read(records)
        if unread:
            await self._maps.read_currencies.read(
                unread, self._client, self._answers, ctx, write=write
            )

    # --- sales orders -------------------------------------------------------------------------

    async def _sales_order(
        self, record: dict[str, Any], ctx: CallContext, *, write: bool = False
    ) -> ErpSalesOrder:
        """The canonical order, reading its fulfillments or invoices when they decide its status."""
        code, needed, order_id = self._answers.mapped(
            ctx, functools.partial(_order_facts, record), write=write
        )
        shipments: list[ErpShipment] = []
        invoices: list[ErpInvoice] = []
        if needed is Documents.SHIPMENTS:
            shipments = await self.list_shipments(order_id, ctx)
        elif needed is Documents.INVOICES:
            invoices = await self.list_invoices(order_id, ctx)
        await self._read_currencies((record,), ctx, write=write)

        def canonical() -> ErpSalesOrder:
            status, hold_reason = order_status(code, record, shipments, invoices)
            return erp_sales_order(record, self._maps, status, hold_reason)

        return self._answers.mapped(ctx, canonical, write=write)

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
        ctx = ctx.serving("create_sales_order")
        record = sales_order_record(
            legal_entity,
            customer.erp_id,
            currency,
            requested_delivery_date,
            items,
            refs,
            self._maps,
        )
        created = await self._client.create(
            SALES_ORDER, record, Interaction.SALES_ORDER_CREATE, ctx
        )
        return await self._sales_order(created, ctx, write=True)

    def get_sales_order(
        self, erp_id: str, ctx: CallContext
    ) -> Coroutine[Any, Any, ErpSalesOrder | None]:
        # A plain function: one coroutine a read, not two.
        return self._order(erp_id, ctx.serving("get_sales_order"))

    async def find_sales_order_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpSalesOrder | None:
        ctx = ctx.serving("find_sales_order_by_gateway_ref")
        return await self._order(external_id_key(gateway_ref), ctx)

    async def _order(self, key: str, ctx: CallContext) -> ErpSalesOrder | None:
        record = await self._client.read(SALES_ORDER, key, ctx)
        return await self._sales_order(record, ctx) if record is not None else None

    async def cancel_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder:
        """Closes the order's lines (NetSuite's way to end an order over REST): Closed, H."""
        ctx = ctx.serving("cancel_sales_order")
        order = await self._client.read(SALES_ORDER, erp_id, ctx)
        if order is None:
            raise GatewayError(Code.NOT_FOUND, "The ERP has no such sales order.")
        patch = self._answers.mapped(ctx, lambda: closing_patch(order))
        if patch is None:  # cancelled or closed already: the cancel was sent before
            return await self._sales_order(order, ctx)
        path = record_path(SALES_ORDER, erp_id)
        response = await self._client.send("PATCH", path, ctx, json_body=patch)
        if response.status != 204:
            raise self._client.refusal(response, Interaction.CANCEL, ctx, write=True)
        closed = await self._order(erp_id, ctx)
        if closed is None:
            raise self._answers.bad_response(
                ctx,
                "the order cannot be read back after its cancel",
                write=False,
                detail="The ERP cancelled the order but could not show it.",
            )
        return closed

    # --- documents the ERP creates ------------------------------------------------------------

    async def _created_from(
        self, record_type: str, sales_order_erp_id: str, ctx: CallContext
    ) -> list[dict[str, Any]]:
        q = created_from_query(sales_order_erp_id)
        if q is None:
            return []
        return await self._client.reads(
            record_type, await self._client.ids(record_type, q, ctx), ctx
        )

    async def list_shipments(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpShipment]:
        ctx = ctx.serving("list_shipments")
        records = await self._created_from(ITEM_FULFILLMENT, sales_order_erp_id, ctx)
        return self._answers.mapped(ctx, lambda: [erp_shipment(r, self._maps) for r in records])

    async def get_shipment(self, erp_id: str, ctx: CallContext) -> ErpShipment | None:
        ctx = ctx.serving("get_shipment")
        record = await self._client.read(ITEM_FULFILLMENT, erp_id, ctx)
        if record is None:
            return None
        return self._answers.mapped(ctx, lambda: erp_shipment(record, self._maps))

    async def list_invoices(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpInvoice]:
        ctx = ctx.serving("list_invoices")
        records = await self._created_from(INVOICE, sales_order_erp_id, ctx)
        await self._read_currencies(records, ctx)
        return self._answers.mapped(ctx, lambda: [erp_invoice(r, self._maps) for r in records])

    async def get_invoice(self, erp_id: str, ctx: CallContext) -> ErpInvoice | None:
        ctx = ctx.serving("get_invoice")
        record = await self._client.read(INVOICE, erp_id, ctx)
        if record is None:
            return None
        await self._read_currencies([record], ctx)
        return self._answers.mapped(ctx, lambda: erp_invoice(record, self._maps))

    # --- quotes: NetSuite has no validate-only mode, so price from reads ----------------------

    async def _item(self, item_id: str, ctx: CallContext) -> dict[str, Any] | None:
        known = self._item_types.get(item_id)
        for record_type in (known,) if known else ITEM_RECORD_TYPES:
            record = await self._client.read(record_type, item_id, ctx)
            if record is not None:
                self._item_types[item_id] = record_type
                return record
        return None

    async def _tax_rate(self, customer: Mapping[str, Any], ctx: CallContext) -> Decimal | None:
        tax_item = customer.get("taxItem")
        tax_item_id = tax_item.get("id") if isinstance(tax_item, dict) else None
        if tax_item_id is None:
            return None
        record = await self._client.read(SALES_TAX_ITEM, str(tax_item_id), ctx)
        if record is None:
            return None
        return self._answers.mapped(ctx, lambda: tax_rate(record))

    async def validate_quote(
        self,
        legal_entity: str,
        customer: CustomerContext,
        currency: str,
        requested_delivery_date: dt.date | None,
        items: list[OrderItem],
        ctx: CallContext,
    ) -> ErpQuote:
        ctx = ctx.serving("validate_quote")
        legal = self._maps.legal_entity(legal_entity)
        currency_id = self._maps.currency_id(currency)
        item_ids = self._maps.item_ids(items)
        # Refused before anything is read, as the order would be before it is sent.
        amounts = held_line_amounts(items, currency)
        unique_ids = list(dict.fromkeys(item_ids))
        customer_record_, *records = await asyncio.gather(
            self._client.read(CUSTOMER, customer.erp_id, ctx),
            *(self._item(i, ctx) for i in unique_ids),
        )
        missing = [
            FieldError(f"/items/{n}/product_id", f"The ERP has no product {item.product_id}.")
            for n, (item, item_id) in enumerate(zip(items, item_ids, strict=True))
            if records[unique_ids.index(item_id)] is None
        ]
        if missing:
            raise GatewayError(Code.UNKNOWN_SKU, "Some products do not exist in the ERP.", missing)
        buyer, prices = self._answers.mapped(
            ctx,
            lambda: (
                customer_for_order(customer_record_, legal, currency_id, currency),
                {
                    item_id: item_price(record, currency_id)
                    for item_id, record in zip(unique_ids, records, strict=True)
                    if record is not None
                },
            ),
        )
        rate = await self._tax_rate(buyer, ctx)
        return self._answers.mapped(
            ctx,
            lambda: priced_quote(
                items, amounts, item_ids, prices, currency, rate, available_credit(buyer, currency)
            ),
        )

    # --- health -------------------------------------------------------------------------------

    async def diagnose(self, ctx: CallContext) -> list[DoctorCheck]:
        """Whether the account is ready for the gateway, check by check (`gateway doctor`)."""
        return await diagnose(self._client, self._maps, self._credentials, ctx)

    async def ping(self, ctx: CallContext) -> bool:
        """A token and one tiny list: both the auth server and the record API answer."""
        try:
            response = await self._client.send(
                "GET", record_path(SUBSIDIARY), ctx, params={"limit": "1"}
            )
        except GatewayError:
            return False
        return response.status == 200

    async def aclose(self) -> None:
        await self._client.aclose()


def _order_facts(record: dict[str, Any]) -> tuple[str, Documents, str]:
    """An order's NetSuite status letter, the documents that decide its canonical status, and
    its internal id (what `_sales_order` reads before it reads those documents)."""
    code = order_status_code(record)
    return code, needed_documents(code, record), required_text(record, "id")


def build_netsuite_adapter(
    name: str,
    config: NetSuiteBackend,
    env: Mapping[str, str],
    config_dir: Path | None = None,
    transport: ErpTransport | None = None,
    count_unmapped: CountUnmapped | None = None,
) -> NetSuiteRestAdapter:
    """The production adapter: credentials from the environment variables (and key file) the
    config names, and the pooled transport the backend's configuration describes (or
    `transport`); `count_unmapped` counts the codes of NetSuite's answers its value maps do not
    know."""
    credentials = netsuite_credentials(name, config, env, config_dir)
    transport = transport or transport_for(name, config)
    return NetSuiteRestAdapter(name, config, transport, credentials, count_unmapped)
