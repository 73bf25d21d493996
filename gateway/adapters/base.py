"""The adapter contract: what the gateway asks of any ERP, in canonical terms plus ERP ids.

Not an implementation; `sap/` and `netsuite/` are. Adapters never see gateway ids:
the caller maps ERP ids to gateway ids through the xref.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from gateway.domain.models import (
    CreditCheck,
    CustomerAddress,
    CustomerCreate,
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    OrderItem,
    SalesOrderStatus,
    ShipmentStatus,
)


@dataclass(frozen=True)
class CallContext:
    """What travels with every ERP call: tracing headers and the request's absolute deadline.

    `deadline` is in `time.monotonic()` seconds; the ERP interaction must end by then.
    `operation` names the adapter operation the call serves (`create_sales_order`), for logs.
    """

    correlation_id: str
    traceparent: str | None = None
    tracestate: str | None = None
    deadline: float | None = None
    operation: str = ""

    def serving(self, operation: str) -> CallContext:
        """This context for the calls of one adapter operation."""
        # Not dataclasses.replace: once per ERP call, and five times cheaper spelled out.
        return CallContext(
            self.correlation_id, self.traceparent, self.tracestate, self.deadline, operation
        )

    def trace_headers(self) -> dict[str, str]:
        headers = {"X-Correlation-ID": self.correlation_id}
        if self.traceparent:
            headers["traceparent"] = self.traceparent
            if self.tracestate:
                headers["tracestate"] = self.tracestate
        return headers


@dataclass(frozen=True)
class References:
    """The two references of DESIGN.md: the CRM's (not unique) and the gateway's (unique)."""

    external_ref: str | None
    gateway_ref: str


@dataclass(frozen=True)
class ErpNotice:
    """A warning the ERP gave with a success (SAP's `sap-message` header...): its text in
    canonical terms (SKUs, legal entities, not materials or company codes) and as the ERP said."""

    message: str
    erp_message: str | None = None


@dataclass(frozen=True)
class ErpCustomer:
    erp_id: str
    document_number: str  # what a user of the ERP sees (SAP BP number, NetSuite entityId)
    status: CustomerStatus
    legal_name: str
    legal_entity: str | None
    currency: str | None
    external_ref: str | None = None
    gateway_ref: str | None = None
    tax_id: str | None = None
    email: str | None = None
    payment_terms: str | None = None  # canonical code, e.g. NET30
    credit_limit: Decimal | None = None
    addresses: tuple[CustomerAddress, ...] = ()  # the billing address first
    display_name: str | None = None
    notices: tuple[ErpNotice, ...] = ()


@dataclass(frozen=True)
class ErpLine:
    sku: str  # canonical SKU
    quantity: int
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class ErpSalesOrder:
    erp_id: str
    document_number: str
    status: SalesOrderStatus
    customer_erp_id: str
    currency: str
    lines: list[ErpLine]
    net_amount: Decimal
    tax_amount: Decimal | None = None
    total_amount: Decimal | None = None
    hold_reason: HoldReason | None = None
    requested_delivery_date: dt.date | None = None
    external_ref: str | None = None
    gateway_ref: str | None = None
    notices: tuple[ErpNotice, ...] = ()


@dataclass(frozen=True)
class ErpShipmentLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ErpShipment:
    erp_id: str
    document_number: str
    sales_order_erp_id: str
    status: ShipmentStatus
    shipped_at: dt.date | None
    lines: list[ErpShipmentLine] = field(default_factory=list)


@dataclass(frozen=True)
class ErpInvoice:
    erp_id: str
    document_number: str
    sales_order_erp_id: str | None
    status: InvoiceStatus
    currency: str
    net_amount: Decimal
    total_amount: Decimal
    tax_amount: Decimal | None = None
    invoice_date: dt.date | None = None
    due_date: dt.date | None = None


@dataclass(frozen=True)
class ErpQuote:
    currency: str
    lines: list[ErpLine]
    net_amount: Decimal
    credit_check: CreditCheck
    tax_amount: Decimal | None = None
    total_amount: Decimal | None = None
    notices: tuple[ErpNotice, ...] = ()


@dataclass(frozen=True)
class CustomerContext:
    """What an order-side call needs to know of the customer, from the xref."""

    erp_id: str
    legal_entity: str


@dataclass(frozen=True)
class DoctorCheck:
    """One check of whether an ERP is set up as the gateway needs it (`gateway doctor`): its
    name, whether it passed, and what was found, with the fix when it failed."""

    name: str
    ok: bool
    message: str


class ErpAdapter(Protocol):
    """One ERP backend. Every method raises `GatewayError` for business refusals (422 codes with
    pointers into the canonical request) and technical failures (erp_timeout, erp_unavailable,
    erp_bad_response); it never lets a transport exception escape.
    """

    name: str
    kind: str

    async def create_customer(
        self, request: CustomerCreate, refs: References, ctx: CallContext
    ) -> ErpCustomer: ...

    async def get_customer(self, erp_id: str, ctx: CallContext) -> ErpCustomer | None: ...

    async def find_customer_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpCustomer | None: ...

    async def create_sales_order(
        self,
        legal_entity: str,
        customer: CustomerContext,
        currency: str,
        requested_delivery_date: dt.date | None,
        items: list[OrderItem],
        refs: References,
        ctx: CallContext,
    ) -> ErpSalesOrder: ...

    async def get_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder | None: ...

    async def find_sales_order_by_gateway_ref(
        self, gateway_ref: str, ctx: CallContext
    ) -> ErpSalesOrder | None: ...

    async def cancel_sales_order(self, erp_id: str, ctx: CallContext) -> ErpSalesOrder: ...

    async def list_shipments(
        self, sales_order_erp_id: str, ctx: CallContext
    ) -> list[ErpShipment]: ...

    async def get_shipment(self, erp_id: str, ctx: CallContext) -> ErpShipment | None: ...

    async def list_invoices(
        self, sales_order_erp_id: str, ctx: CallContext
    ) -> list[ErpInvoice]: ...

    async def get_invoice(self, erp_id: str, ctx: CallContext) -> ErpInvoice | None: ...

    async def validate_quote(
        self,
        legal_entity: str,
        customer: CustomerContext,
        currency: str,
        requested_delivery_date: dt.date | None,
        items: list[OrderItem],
        ctx: CallContext,
    ) -> ErpQuote: ...

    async def ping(self, ctx: CallContext) -> bool: ...

    async def diagnose(self, ctx: CallContext) -> list[DoctorCheck]:
        """Whether the ERP is ready for the gateway, check by check: login, services, custom
        fields, the value maps' keys (`gateway doctor`)."""
        ...

    async def aclose(self) -> None: ...
