"""The v1 request and response schemas, kept only to validate v1 bodies and to document v1.

Not the core's models (see `gateway.domain.models`, the newest version); nothing else uses these.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from gateway.domain import models as latest
from gateway.domain.models import (
    Address,
    CalendarDate,
    CreditCheck,
    CurrencyCode,
    CustomerId,
    CustomerStatus,
    DecimalStr,
    Email,
    ExternalRef,
    HoldReason,
    InvoiceStatus,
    LegalEntityCode,
    NonNegativeDecimalStr,
    Notice,
    PaymentTerms,
    Quantity,
    Resource,
    ShipmentStatus,
    Sku,
    Strict,
    TaxId,
    Text,
)
from gateway.domain.operations import Operation


class CustomerCreate(Strict):
    external_ref: ExternalRef
    legal_entity: LegalEntityCode
    name: Text
    tax_id: TaxId | None = None
    email: Email | None = None
    currency: CurrencyCode
    payment_terms: PaymentTerms
    credit_limit: NonNegativeDecimalStr
    address: Address


class Customer(Resource):
    id: str
    status: CustomerStatus
    erp_reference: str
    external_ref: str | None
    legal_entity: str
    name: str
    tax_id: str | None = None
    email: str | None = None
    currency: str
    payment_terms: str | None = None
    credit_limit: DecimalStr | None = None
    address: Address | None = None
    warnings: list[Notice] = []


class OrderLine(Strict):
    sku: Sku
    quantity: Quantity
    unit_price: NonNegativeDecimalStr


OrderLines = Annotated[list[OrderLine], Field(min_length=1, max_length=500)]


class SalesOrderCreate(Strict):
    external_ref: ExternalRef
    legal_entity: LegalEntityCode
    customer_id: CustomerId
    currency: CurrencyCode
    requested_delivery_date: CalendarDate
    lines: OrderLines


class QuoteRequest(Strict):
    legal_entity: LegalEntityCode
    customer_id: CustomerId
    currency: CurrencyCode
    requested_delivery_date: CalendarDate | None = None
    lines: OrderLines


class SalesOrderStatus(StrEnum):
    """v1's closed list: v2's `partially_shipped` is shown as `in_fulfillment`."""

    ACCEPTED = "accepted"
    ON_HOLD = "on_hold"
    IN_FULFILLMENT = "in_fulfillment"
    SHIPPED = "shipped"
    INVOICED = "invoiced"
    PAID = "paid"
    CANCELLED = "cancelled"


class PricedLine(Resource):
    sku: str
    quantity: int
    unit_price: DecimalStr
    amount: DecimalStr


class SalesOrder(Resource):
    id: str
    status: SalesOrderStatus
    hold_reason: HoldReason | None = None
    erp_reference: str
    external_ref: str | None
    legal_entity: str
    customer_id: str
    currency: str
    requested_delivery_date: dt.date | None
    lines: list[PricedLine]
    net_amount: DecimalStr
    tax_amount: DecimalStr | None = None
    total_amount: DecimalStr | None = None
    warnings: list[Notice] = []


class ShipmentLine(Resource):
    sku: str
    quantity: int


class Shipment(Resource):
    id: str
    sales_order_id: str
    status: ShipmentStatus
    erp_reference: str
    shipped_at: dt.date | None = None
    lines: list[ShipmentLine]


class Invoice(Resource):
    id: str
    sales_order_id: str | None
    status: InvoiceStatus
    erp_reference: str
    currency: str
    invoice_date: dt.date | None = None
    due_date: dt.date | None = None
    net_amount: DecimalStr
    tax_amount: DecimalStr | None = None
    total_amount: DecimalStr


class QuoteResult(Resource):
    valid: bool
    legal_entity: str
    customer_id: str
    currency: str
    lines: list[PricedLine]
    net_amount: DecimalStr
    tax_amount: DecimalStr | None = None
    total_amount: DecimalStr | None = None
    credit_check: CreditCheck
    warnings: list[Notice] = []


# The v1 schema that stands in for each of the newest version's models.
V1_MODELS: dict[type[BaseModel], type[BaseModel]] = {
    latest.CustomerCreate: CustomerCreate,
    latest.Customer: Customer,
    latest.SalesOrderCreate: SalesOrderCreate,
    latest.QuoteRequest: QuoteRequest,
    latest.SalesOrder: SalesOrder,
    latest.Shipment: Shipment,
    latest.Invoice: Invoice,
    latest.QuoteResult: QuoteResult,
}

# What a v1 request body is validated against, before it is upgraded.
V1_REQUESTS: dict[Operation, type[BaseModel]] = {
    Operation.CUSTOMERS_CREATE: CustomerCreate,
    Operation.SALES_ORDERS_CREATE: SalesOrderCreate,
    Operation.QUOTES_VALIDATE: QuoteRequest,
}
