"""An in-memory ERP adapter for pipeline tests: counts calls, can be slowed or made to fail.

Not a simulator: no HTTP, no ERP mechanics; the simulators cover those over real sockets.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from gateway.adapters.base import (
    CallContext,
    CustomerContext,
    DoctorCheck,
    ErpCustomer,
    ErpInvoice,
    ErpLine,
    ErpQuote,
    ErpSalesOrder,
    ErpShipment,
    References,
)
from gateway.domain.errors import (
    Code,
    ErpFailure,
    FieldError,
    GatewayError,
    GatewayReferenceTaken,
)
from gateway.domain.models import (
    CreditCheck,
    CustomerCreate,
    CustomerStatus,
    OrderItem,
    SalesOrderStatus,
)

UNKNOWN_SKU = "NOPE-1"


class FakeErp:
    kind = "fake"

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[str] = []
        self.customers: dict[str, ErpCustomer] = {}
        self.orders: dict[str, ErpSalesOrder] = {}
        self.delay_s = 0.0
        self.fail_after_commit = False  # commit, then raise an ambiguous timeout
        self.commit_late = False  # raise an ambiguous timeout, commit when told (commit_pending)
        self.taken_references: set[str] = set()  # held by other requests' documents
        self.unknown_skus = {UNKNOWN_SKU}  # products this ERP refuses orders for
        self.down = False  # every call counted, then failed as an unreachable ERP's are
        # These calls counted, then failed as an ERP answering 503 (not ambiguous) fails them.
        self.unavailable: set[str] = set()
        self.pending: list[ErpSalesOrder] = []
        self.contexts: list[CallContext] = []  # what each create was sent with
        self._ids = itertools.count(1000)

    def _record(self, call: str) -> None:
        self.calls.append(call)
        if self.down:
            raise ErpFailure(Code.ERP_UNAVAILABLE, f"The {self.name} ERP is unreachable.")
        if call in self.unavailable:
            raise ErpFailure(Code.ERP_UNAVAILABLE, "The ERP answered 503.")

    async def _pause(self) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)

    def _ambiguous(self) -> None:
        if self.fail_after_commit:
            raise ErpFailure(Code.ERP_TIMEOUT, "timed out after commit", ambiguous=True)

    async def create_customer(
        self, request: CustomerCreate, refs: References, ctx: CallContext
    ) -> ErpCustomer:
        self._record("create_customer")
        self.contexts.append(ctx)
        await self._pause()
        erp_id = str(next(self._ids))
        customer = ErpCustomer(
            erp_id=erp_id,
            document_number=f"C{erp_id}",
            status=CustomerStatus.ACTIVE,
            legal_name=request.legal_name,
            legal_entity=request.legal_entity,
            currency=request.currency,
            external_ref=refs.external_ref,
            gateway_ref=refs.gateway_ref,
            tax_id=request.tax_id,
            email=request.email,
            payment_terms=request.payment_terms,
            credit_limit=request.credit_limit,
            addresses=tuple(request.addresses),
            display_name=request.display_name,
        )
        self.customers[erp_id] = customer
        self._ambiguous()
        return customer

    async def get_customer(self, erp_id: str, ctx: CallContext) -> ErpCustomer | None:
        self._record("get_customer")
        return self.customers.get(erp_id)

    async def find_customer_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpCustomer | None:
        self._record("find_customer")
        return next((c for c in self.customers.values() if c.gateway_ref == gateway_ref), None)

    async def create_sales_order(
        self,
        legal_entity: str,
        customer: CustomerContext,
        currency: str,
        requested_delivery_date: dt.date | None,
        lines: list[OrderItem],
        refs: References,
        ctx: CallContext,
    ) -> ErpSalesOrder:
        self._record("create_sales_order")
        await self._pause()
        if refs.gateway_ref in self.taken_references:
            raise GatewayReferenceTaken(refs.gateway_ref)
        refused = [
            FieldError(f"/items/{i}/product_id", f"No product {ln.product_id} in this ERP.")
            for i, ln in enumerate(lines)
            if ln.product_id in self.unknown_skus
        ]
        if refused:
            raise GatewayError(Code.UNKNOWN_SKU, "The ERP does not sell these products.", refused)
        erp_id = str(next(self._ids))
        priced = [
            ErpLine(ln.product_id, ln.quantity, ln.price.amount, ln.price.amount * ln.quantity)
            for ln in lines
        ]
        order = ErpSalesOrder(
            erp_id=erp_id,
            document_number=f"SO{erp_id}",
            status=SalesOrderStatus.ACCEPTED,
            customer_erp_id=customer.erp_id,
            currency=currency,
            lines=priced,
            net_amount=sum((ln.amount for ln in priced), Decimal(0)),
            requested_delivery_date=requested_delivery_date,
            external_ref=refs.external_ref,
            gateway_ref=refs.gateway_ref,
        )
        if self.commit_late:
            self.pending.append(order)
            raise ErpFailure(Code.ERP_TIMEOUT, "timed out; the ERP is still at it", ambiguous=True)
        self.orders[erp_id] = order
        self._ambiguous()
        return order

    def commit_pending(self) -> None:
        """The ERP finishes what it received before its answer was lost."""
        for order in self.pending:
            self.orders[order.erp_id] = order
        self.pending.clear()

    async def get_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder | None:
        self._record("get_sales_order")
        return self.orders.get(erp_id)

    async def find_sales_order_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpSalesOrder | None:
        self._record("find_sales_order")
        return next((o for o in self.orders.values() if o.gateway_ref == gateway_ref), None)

    async def cancel_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder:
        self._record("cancel_sales_order")
        order = self.orders[erp_id]
        cancelled = ErpSalesOrder(**{**order.__dict__, "status": SalesOrderStatus.CANCELLED})
        self.orders[erp_id] = cancelled
        return cancelled

    async def list_shipments(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpShipment]:
        self._record("list_shipments")
        return []

    async def get_shipment(self, erp_id: str, ctx: CallContext) -> ErpShipment | None:
        return None

    async def list_invoices(self, sales_order_erp_id: str, ctx: CallContext) -> list[ErpInvoice]:
        self._record("list_invoices")
        return []

    async def get_invoice(self, erp_id: str, ctx: CallContext) -> ErpInvoice | None:
        return None

    async def validate_quote(self, *args: Any) -> ErpQuote:
        self._record("validate_quote")
        return ErpQuote("USD", [], Decimal(0), CreditCheck.PASSED)

    async def diagnose(self, ctx: CallContext) -> list[DoctorCheck]:
        return [DoctorCheck("in memory", True, "a fake ERP is always ready")]

    async def ping(self, ctx: CallContext) -> bool:
        return True

    async def aclose(self) -> None:
        return None
