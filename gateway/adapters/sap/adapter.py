"""The adapter for the legacy ERP (SAP S/4HANA OData v2): what each canonical operation is in
SAP's services, behind the `ErpAdapter` protocol.

Not the HTTP mechanics (see `client.py`) nor the payload mapping (`outbound.py`, `inbound.py`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

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
from gateway.adapters.sap.client import SapClient
from gateway.adapters.sap.doctor import diagnose
from gateway.adapters.sap.errors import Subject, at_billing_address
from gateway.adapters.sap.inbound import (
    customer_from_sap,
    delivery_status,
    document_numbers,
    invoice_from_sap,
    open_items,
    quote_from_sap,
    sales_order_from_sap,
    shipment_from_sap,
    with_follow_on,
)
from gateway.adapters.sap.odata import entity_of, entity_path, equals_filter, text_of
from gateway.adapters.sap.outbound import (
    customer_payload,
    rejection_payload,
    sales_order_payload,
    simulation_payload,
)
from gateway.adapters.sap.services import (
    BILLING_DOCUMENTS,
    BILLING_EXPAND,
    BILLING_ITEMS,
    BILLING_SELECT,
    BUSINESS_PARTNERS,
    CUSTOMER_EXPAND,
    CUSTOMER_SELECT,
    DELIVERIES,
    DELIVERY_EXPAND,
    DELIVERY_ITEM_SELECT,
    DELIVERY_ITEMS,
    DELIVERY_SELECT,
    GATEWAY_REF_FIELD,
    ORDER_EXPAND,
    ORDER_SELECT,
    SALES_ORDER_ITEMS,
    SALES_ORDER_SERVICE,
    SALES_ORDERS,
    SIMULATIONS,
)
from gateway.adapters.sap.terms import SapTerms
from gateway.adapters.sap.value_maps import SapMaps
from gateway.adapters.value_maps import CountUnmapped, UnmappedCodes
from gateway.config.backends import SAP_KIND, SapBackend, credentials_from
from gateway.domain.errors import GatewayError, not_found
from gateway.domain.models import CustomerCreate, OrderItem, SalesOrderStatus

D = TypeVar("D")
_CUSTOMER_READ = {"$expand": CUSTOMER_EXPAND, "$select": CUSTOMER_SELECT}
_ORDER_READ = {"$expand": ORDER_EXPAND, "$select": ORDER_SELECT}
_DELIVERY_READ = {"$expand": DELIVERY_EXPAND, "$select": DELIVERY_SELECT}
_BILLING_READ = {"$expand": BILLING_EXPAND, "$select": BILLING_SELECT}


class SapODataAdapter:
    """One SAP backend. Reuses one CSRF session for all writes; refetches it once on a 403.
    What SAP says with a success (`sap-message`) reaches the result as notices, and every SAP
    text the user sees names SKUs and legal entities, never materials or company codes."""

    kind = SAP_KIND

    def __init__(
        self,
        name: str,
        config: SapBackend,
        transport: ErpTransport,
        username: str,
        password: str,
        count_unmapped: CountUnmapped | None = None,
    ) -> None:
        self.name = name
        self._logon = (username, config.sap_client)
        # Every SAP answer is mapped through this one boundary (here and in the client).
        self._answers = AnswerBoundary(name)
        self._maps = SapMaps.from_config(config.value_maps, UnmappedCodes(name, count_unmapped))
        self._client = SapClient(
            transport,
            username,
            password,
            config.sap_client,
            self._answers,
            SapTerms(self._maps),
        )

    @property
    def client(self) -> SapClient:
        """The HTTP client, for checks of the tenant's set-up (see `doctor.py`)."""
        return self._client

    @property
    def maps(self) -> SapMaps:
        return self._maps

    # --- customers ------------------------------------------------------------------------------

    async def create_customer(
        self, request: CustomerCreate, refs: References, ctx: CallContext
    ) -> ErpCustomer:
        ctx = ctx.serving("create_customer")
        payload = customer_payload(request, refs, self._maps)
        response = await self._client.write("POST", BUSINESS_PARTNERS, payload, ctx)
        try:
            body = self._client.answer(response, Subject.CUSTOMER, ctx, write=True)
        except GatewayError as error:
            raise at_billing_address(error, request.billing_index) from None
        customer = self._answers.mapped(
            ctx, lambda: customer_from_sap(entity_of(body), self._maps), write=True
        )
        return replace(customer, notices=self._client.notices(response))

    async def get_customer(self, erp_id: str, ctx: CallContext) -> ErpCustomer | None:
        ctx = ctx.serving("get_customer")
        path = entity_path(BUSINESS_PARTNERS, BusinessPartner=erp_id)
        body = await self._client.read(path, _CUSTOMER_READ, ctx)
        if body is None:
            return None
        return self._answers.mapped(ctx, lambda: customer_from_sap(entity_of(body), self._maps))

    async def find_customer_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpCustomer | None:
        ctx = ctx.serving("find_customer_by_gateway_ref")
        row = await self._by_gateway_ref(BUSINESS_PARTNERS, _CUSTOMER_READ, gateway_ref, ctx)
        if row is None:
            return None
        return self._answers.mapped(ctx, lambda: customer_from_sap(row, self._maps))

    async def _by_gateway_ref(
        self, entity_set: str, read: Mapping[str, str], gateway_ref: str, ctx: CallContext
    ) -> dict[str, Any] | None:
        """The one entity of `entity_set` whose custom field holds the gateway reference."""
        query = {"$filter": equals_filter(GATEWAY_REF_FIELD, gateway_ref), **read, "$top": "1"}
        rows = await self._client.read_rows(entity_set, query, ctx)
        return rows[0] if rows else None

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
        ctx = ctx.serving("create_sales_order")
        entity = self._maps.legal_entity(legal_entity)
        payload = sales_order_payload(
            entity, customer.erp_id, currency, requested_delivery_date, items, self._maps, refs
        )
        response = await self._client.write("POST", SALES_ORDERS, payload, ctx)
        body = self._client.answer(response, Subject.SALES_ORDER, ctx, write=True)
        created, order = self._answers.mapped(ctx, lambda: self._order_of(body), write=True)
        order = await self._with_follow_on(order, created, ctx)
        return replace(order, notices=self._client.notices(response))

    async def get_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder | None:
        ctx = ctx.serving("get_sales_order")
        found = await self._order_entity(erp_id, ctx)
        if found is None:
            return None
        entity, order = found
        return await self._with_follow_on(order, entity, ctx)

    async def find_sales_order_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpSalesOrder | None:
        ctx = ctx.serving("find_sales_order_by_gateway_ref")
        row = await self._by_gateway_ref(SALES_ORDERS, _ORDER_READ, gateway_ref, ctx)
        if row is None:
            return None
        order = self._answers.mapped(ctx, lambda: sales_order_from_sap(row, self._maps))
        return await self._with_follow_on(order, row, ctx)

    async def cancel_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder:
        """Reject every open item (a PATCH each; items carry no ETag), then read the order back.
        SAP itself refuses once a delivery exists (invalid_state)."""
        ctx = ctx.serving("cancel_sales_order")
        found = await self._order_entity(erp_id, ctx)
        if found is None:
            raise not_found("No such sales order in the ERP.")
        entity, order = found
        if order.status is SalesOrderStatus.CANCELLED:
            return order
        # One item after the other: SAP locks the whole order while an item changes.
        for item in self._answers.mapped(ctx, lambda: open_items(entity)):
            path = entity_path(SALES_ORDER_ITEMS, SalesOrder=erp_id, SalesOrderItem=item)
            response = await self._client.write("PATCH", path, rejection_payload(), ctx)
            if response.status not in (200, 204):
                raise self._client.refusal(response, Subject.CANCEL, ctx, write=True)
        cancelled = await self.get_sales_order(erp_id, ctx)
        if cancelled is None:
            raise self._answers.bad_response(
                ctx,
                "the order was not found right after its items were rejected",
                write=False,
                detail="The ERP lost the order it just changed.",
            )
        return cancelled

    async def _order_entity(
        self, erp_id: str, ctx: CallContext
    ) -> tuple[dict[str, Any], ErpSalesOrder] | None:
        """The raw A_SalesOrder with its items and its canonical reading (header only)."""
        body = await self._client.read(self._order_path(erp_id), _ORDER_READ, ctx)
        if body is None:
            return None
        return self._answers.mapped(ctx, lambda: self._order_of(body))

    def _order_of(self, body: Any) -> tuple[dict[str, Any], ErpSalesOrder]:
        entity = entity_of(body)
        return entity, sales_order_from_sap(entity, self._maps)

    async def _with_follow_on(
        self, order: ErpSalesOrder, entity: Mapping[str, Any], ctx: CallContext
    ) -> ErpSalesOrder:
        """An order in fulfilment, read on in its deliveries (goods issued: shipped) and, once
        goods are issued, its billing documents (invoiced, paid)."""
        if order.status is not SalesOrderStatus.IN_FULFILLMENT:
            return order
        query = {
            "$filter": equals_filter("ReferenceSDDocument", order.erp_id),
            "$select": DELIVERY_ITEM_SELECT,
        }
        rows = await self._client.read_rows(DELIVERY_ITEMS, query, ctx)
        movements = self._answers.mapped(
            ctx, lambda: [text_of(row, "GoodsMovementStatus") for row in rows]
        )
        issued = "C" in movements
        invoices = await self.list_invoices(order.erp_id, ctx) if issued else []
        fully = self._answers.mapped(ctx, lambda: delivery_status(entity) == "C")
        return with_follow_on(order, movements, invoices, fully_delivered=fully)

    @staticmethod
    def _order_path(erp_id: str) -> str:
        return entity_path(SALES_ORDERS, SalesOrder=erp_id)

    # --- shipments and invoices -----------------------------------------------------------------

    async def list_shipments(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpShipment]:
        ctx = ctx.serving("list_shipments")
        return await self._follow_on_documents(
            DELIVERY_ITEMS,
            ("ReferenceSDDocument", sales_order_erp_id),
            "DeliveryDocument",
            lambda number: self.get_shipment(number, ctx),
            ctx,
        )

    async def get_shipment(self, erp_id: str, ctx: CallContext) -> ErpShipment | None:
        ctx = ctx.serving("get_shipment")
        path = entity_path(DELIVERIES, DeliveryDocument=erp_id)
        body = await self._client.read(path, _DELIVERY_READ, ctx)
        if body is None:
            return None
        return self._answers.mapped(ctx, lambda: shipment_from_sap(entity_of(body), self._maps))

    async def list_invoices(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpInvoice]:
        ctx = ctx.serving("list_invoices")
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
        query = {"$filter": equals_filter(*order_reference), "$select": number_field}
        rows = await self._client.read_rows(item_set, query, ctx)
        numbers = self._answers.mapped(ctx, lambda: document_numbers(rows, number_field))
        found = await asyncio.gather(*(read_one(n) for n in numbers))
        return [document for document in found if document is not None]

    async def get_invoice(self, erp_id: str, ctx: CallContext) -> ErpInvoice | None:
        ctx = ctx.serving("get_invoice")
        path = entity_path(BILLING_DOCUMENTS, BillingDocument=erp_id)
        body = await self._client.read(path, _BILLING_READ, ctx)
        if body is None:
            return None
        return self._answers.mapped(ctx, lambda: invoice_from_sap(entity_of(body)))

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
        ctx = ctx.serving("validate_quote")
        entity = self._maps.legal_entity(legal_entity)
        payload = simulation_payload(
            entity, customer.erp_id, currency, requested_delivery_date, items, self._maps
        )
        response = await self._client.write("POST", SIMULATIONS, payload, ctx)
        body = self._client.answer(response, Subject.SALES_ORDER, ctx, write=False)
        quote = self._answers.mapped(ctx, lambda: quote_from_sap(entity_of(body), self._maps))
        return replace(quote, notices=self._client.notices(response))

    async def ping(self, ctx: CallContext) -> bool:
        try:
            response = await self._client.send("GET", SALES_ORDER_SERVICE + "/", ctx)
        except GatewayError:
            return False
        return response.status == 200

    async def diagnose(self, ctx: CallContext) -> list[DoctorCheck]:
        """Whether the tenant is ready for the gateway, check by check (`gateway doctor`)."""
        return await diagnose(self, ctx, *self._logon)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_sap_adapter(
    name: str,
    config: SapBackend,
    env: Mapping[str, str],
    transport: ErpTransport | None = None,
    count_unmapped: CountUnmapped | None = None,
) -> SapODataAdapter:
    """The production adapter: credentials from `env`, the pooled transport the backend's
    configuration describes (or `transport`); `count_unmapped` counts the codes of SAP's answers
    its value maps do not know."""
    username, password = credentials_from(name, config, env)
    transport = transport or transport_for(name, config)
    return SapODataAdapter(name, config, transport, username, password, count_unmapped)
