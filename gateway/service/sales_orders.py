"""Sales orders: create (and quote) for a known customer, read and cancel at the order's home.

Not validation or policy (pipeline steps did that), not ERP mapping (the adapters do) and not
HTTP (see `gateway.api.sales_orders`).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.adapters.base import CustomerContext
from gateway.config.routes import Replication
from gateway.domain.errors import Code, FieldError, GatewayError, business, not_found
from gateway.domain.ids import new_gateway_id
from gateway.domain.models import (
    OrderItem,
    QuoteRequest,
    QuoteResult,
    SalesOrder,
    SalesOrderCreate,
    SalesOrderStatus,
)
from gateway.domain.operations import Kind
from gateway.pipeline.context import RequestContext
from gateway.service.erp_calls import ErpCalls
from gateway.service.replication import copy_customer, not_migrated
from gateway.service.views import quote_view, sales_order_view
from gateway.service.xrefs import bind_created, references
from gateway.store.base import Store, XrefRecord


def check_price_currencies(currency: str, items: Sequence[OrderItem]) -> None:
    """400 unless every item is priced in the order's currency (the ERPs price in one)."""
    errors = [
        FieldError(f"/items/{i}/price/currency", f"Must be the order's currency, {currency}.")
        for i, item in enumerate(items)
        if item.price.currency != currency
    ]
    if errors:
        raise GatewayError(
            Code.VALIDATION_FAILED, "Every item must be priced in the order's currency.", errors
        )


class SalesOrders:
    def __init__(self, erp: ErpCalls, store: Store, replication: Replication) -> None:
        self._erp = erp
        self._store = store
        self._replication = replication

    async def order_customer(
        self, ctx: RequestContext, customer_id: str, legal_entity: str, *, copy: bool = True
    ) -> CustomerContext:
        """The order's customer as the ERP the order goes to knows it; 422 unless it exists, is
        visible to the client and belongs to the order's legal entity. A customer not present
        in that ERP yet is copied there first (once), unless copies are off or not wanted
        (`copy`: a quote creates nothing)."""
        pointer = "/customer_id"
        entitlement = ctx.entitlement
        assert entitlement is not None, "authorization runs before handlers"
        if customer_id in ctx.related:  # read with the request's admission
            record = ctx.related[customer_id]
        else:
            record = await self._store.get_xref(customer_id)
        if (
            record is None
            or record.kind is not Kind.CUSTOMER
            or not entitlement.may_act_for(record.legal_entity)
        ):
            raise business(
                Code.CUSTOMER_NOT_FOUND,
                f"Customer {customer_id} does not exist. Create it first, or look it up by its "
                "external_ref.",
                FieldError(pointer, "Unknown customer."),
            )
        if record.legal_entity != legal_entity:
            raise business(
                Code.CUSTOMER_LEGAL_ENTITY_MISMATCH,
                f"Customer {customer_id} belongs to legal entity {record.legal_entity}, not "
                f"{legal_entity}. An order must use its customer's legal entity.",
                FieldError("/legal_entity", f"The customer belongs to {record.legal_entity}."),
            )
        backend = ctx.system_of_record
        document = record.document_in(backend)
        if document is None:
            # The legal entity has moved ERP but this customer has not moved with it yet.
            if self._replication is Replication.OFF or not copy:
                raise not_migrated(customer_id, legal_entity, backend, quote=not copy)
            copied = await copy_customer(
                self._erp.caller(ctx),
                self._store,
                record,
                backend,
                self._erp.timeouts(),
                ctx.deadline,
            )
            document = copied.document_in(backend)
            assert document is not None, "copy_customer binds the customer in the target"
        return CustomerContext(erp_id=document.erp_id, legal_entity=record.legal_entity)

    async def create(self, ctx: RequestContext, request: SalesOrderCreate) -> SalesOrder:
        check_price_currencies(request.currency, request.items)
        gateway_id = new_gateway_id(Kind.SALES_ORDER)
        refs = references(ctx, request.external_ref, gateway_id)
        # Searched first: where an earlier attempt's order is not found decides the ERP a new
        # one goes to, and so where its customer must be.
        erp = await self._erp.earlier_attempt(
            ctx, lambda a, call: a.find_sales_order_by_gateway_ref(refs.gateway_ref, call)
        )
        customer = await self.order_customer(ctx, request.customer_id, request.legal_entity)
        if erp is None:
            erp = await self._erp.call(
                ctx,
                lambda a, call: a.create_sales_order(
                    request.legal_entity,
                    customer,
                    request.currency,
                    request.requested_delivery_date,
                    list(request.items),
                    refs,
                    call,
                ),
            )
        record = await bind_created(
            self._store,
            ctx,
            Kind.SALES_ORDER,
            gateway_id,
            legal_entity=request.legal_entity,
            erp_id=erp.erp_id,
            erp_document_number=erp.document_number,
            refs=refs,
            parent_id=request.customer_id,
        )
        return sales_order_view(erp, record)

    async def get(self, ctx: RequestContext, record: XrefRecord) -> SalesOrder:
        erp = await self._erp.call(ctx, lambda a, call: a.get_sales_order(record.erp_id, call))
        if erp is None:
            raise not_found(f"No sales order {record.gateway_id}.")
        return sales_order_view(erp, record)

    async def cancel(self, ctx: RequestContext, record: XrefRecord) -> SalesOrder:
        if ctx.reconcile:  # an earlier attempt may have cancelled it already
            current = await self._erp.call(
                ctx, lambda a, call: a.get_sales_order(record.erp_id, call)
            )
            if current is not None and current.status is SalesOrderStatus.CANCELLED:
                return sales_order_view(current, record)
        erp = await self._erp.call(ctx, lambda a, call: a.cancel_sales_order(record.erp_id, call))
        return sales_order_view(erp, record)

    async def validate_quote(self, ctx: RequestContext, request: QuoteRequest) -> QuoteResult:
        check_price_currencies(request.currency, request.items)
        customer = await self.order_customer(
            ctx, request.customer_id, request.legal_entity, copy=False
        )
        erp = await self._erp.call(
            ctx,
            lambda a, call: a.validate_quote(
                request.legal_entity,
                customer,
                request.currency,
                request.requested_delivery_date,
                list(request.items),
                call,
            ),
        )
        return quote_view(erp, request.legal_entity, request.customer_id)
