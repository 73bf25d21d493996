"""The records of the simulated NetSuite account as plain data, and their status codes.

Not the rules that create and change them (see `books`), nor their JSON form (see `documents`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from erp_simulators.netsuite import reference as ref

PENDING_APPROVAL, PENDING_FULFILLMENT, CANCELLED = "A", "B", "C"
PARTIALLY_FULFILLED, PENDING_BILLING_PARTIALLY_FULFILLED, PENDING_BILLING = "D", "E", "F"
BILLED, CLOSED = "G", "H"
ORDER_STATUS_NAMES = {
    PENDING_APPROVAL: "Pending Approval",
    PENDING_FULFILLMENT: "Pending Fulfillment",
    CANCELLED: "Cancelled",
    PARTIALLY_FULFILLED: "Partially Fulfilled",
    PENDING_BILLING_PARTIALLY_FULFILLED: "Pending Billing/Partially Fulfilled",
    PENDING_BILLING: "Pending Billing",
    BILLED: "Billed",
    CLOSED: "Closed",
}
PICKED, PACKED, SHIPPED = "A", "B", "C"
SHIP_STATUS_NAMES = {PICKED: "Picked", PACKED: "Packed", SHIPPED: "Shipped"}
INVOICE_OPEN, INVOICE_PAID = "Open", "Paid In Full"

# The stages `/_sim/advance` moves an order through, in order.
STAGES = ("accepted", "in_fulfillment", "shipped", "invoiced", "paid")


# Approved orders not yet billed: what `customer.unbilledOrders` adds up.
_UNBILLED_STATUSES = frozenset(
    {PENDING_FULFILLMENT, PARTIALLY_FULFILLED, PENDING_BILLING_PARTIALLY_FULFILLED, PENDING_BILLING}
)


def money(value: Decimal, currency: ref.Currency) -> Decimal:
    """An amount as NetSuite keeps it: rounded to the currency's precision."""
    return value.quantize(currency.minor_unit, rounding=ROUND_HALF_UP)


def shown(value: Decimal, currency: ref.Currency) -> Decimal:
    """An amount as a user would write it: in the currency's precision, unless it has finer
    digits."""
    return money(value, currency) if value == money(value, currency) else value


@dataclass
class Address:
    country: str
    addr1: str | None = None
    addr2: str | None = None
    addr3: str | None = None
    addressee: str | None = None
    attention: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    label: str | None = None
    default_billing: bool = False
    default_shipping: bool = False


@dataclass
class Customer:
    id: str
    entity_id: str
    company_name: str
    subsidiary: ref.Subsidiary
    currency: ref.Currency
    tax_item: ref.SalesTaxItem | None
    created: dt.datetime
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    terms: ref.Term | None = None
    credit_limit: Decimal | None = None
    vat_reg_number: str | None = None
    account_number: str | None = None
    comments: str | None = None
    is_inactive: bool = False
    addresses: list[Address] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)
    # Kept up to date at every change, so a credit check costs the same at any volume.
    balance: Decimal = Decimal("0.00")
    unbilled: Decimal = Decimal("0.00")


@dataclass
class OrderLine:
    line: int
    item: ref.Item
    quantity: int
    rate: Decimal
    amount: Decimal
    description: str | None = None
    is_closed: bool = False
    quantity_fulfilled: int = 0
    quantity_billed: int = 0


@dataclass
class SalesOrder:
    id: str
    tran_id: str
    customer: Customer
    subsidiary: ref.Subsidiary
    currency: ref.Currency
    terms: ref.Term | None
    tran_date: dt.date
    lines: list[OrderLine]
    subtotal: Decimal
    tax_item: ref.SalesTaxItem | None
    tax_total: Decimal
    total: Decimal
    status: str
    credit_hold: bool
    created: dt.datetime
    external_id: str | None = None
    other_ref_num: str | None = None
    ship_date: dt.date | None = None
    memo: str | None = None
    fulfillment_ids: list[str] = field(default_factory=list)
    invoice_ids: list[str] = field(default_factory=list)


@dataclass
class ItemFulfillment:
    id: str
    tran_id: str
    order: SalesOrder
    tran_date: dt.date
    ship_status: str
    lines: list[tuple[OrderLine, int]]
    created: dt.datetime


@dataclass
class Invoice:
    id: str
    tran_id: str
    order: SalesOrder
    tran_date: dt.date
    due_date: dt.date
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    amount_remaining: Decimal
    status: str
    created: dt.datetime


def counts_as_unbilled(order: SalesOrder) -> bool:
    return order.status in _UNBILLED_STATUSES and not order.credit_hold
