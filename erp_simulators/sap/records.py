"""The legacy ERP's business data: business partners, sales orders, deliveries, billing documents.

Not the OData protocol (see `odata`) nor business rules (see `partners`, `sales`, `fulfillment`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

# First numbers of each internal number range (all documents have 10 digits).
_NUMBER_RANGES = {
    "business_partner": 1_000_000,
    "sales_order": 10_000_000,
    "delivery": 80_000_000,
    "billing_document": 90_000_000,
}

# Life-cycle stages of a sales order, in order; `/_sim/advance` moves an order along them.
STAGES = ("accepted", "in_fulfillment", "shipped", "invoiced", "paid")


@dataclass
class PartnerAddress:
    address_id: str
    street: str
    street_suffix: str
    city: str
    postal_code: str
    region: str
    country: str
    language: str
    emails: list[str] = field(default_factory=list)


@dataclass
class CustomerCompany:
    company_code: str
    payment_terms: str
    reconciliation_account: str


@dataclass
class CustomerSalesArea:
    sales_organization: str
    distribution_channel: str
    division: str
    currency: str
    payment_terms: str


@dataclass
class BusinessPartner:
    number: str
    category: str
    grouping: str
    name1: str
    name2: str
    name3: str
    name4: str
    first_name: str
    last_name: str
    external_id: str
    search_term: str
    gateway_ref: str
    credit_limit: Decimal | None
    created_ms: int
    roles: list[str] = field(default_factory=list)
    addresses: list[PartnerAddress] = field(default_factory=list)
    taxes: list[tuple[str, str]] = field(default_factory=list)  # (BPTaxType, BPTaxNumber)
    is_customer: bool = False
    companies: list[CustomerCompany] = field(default_factory=list)
    sales_areas: list[CustomerSalesArea] = field(default_factory=list)
    blocked: bool = False

    @property
    def full_name(self) -> str:
        if self.category == "1":
            return f"{self.first_name} {self.last_name}".strip()
        # as SAP shows it: Name 3 and Name 4 are kept, not part of the (81-character) full name
        return " ".join(name for name in (self.name1, self.name2) if name)

    def sales_area(self, org: str, channel: str, division: str) -> CustomerSalesArea | None:
        for area in self.sales_areas:
            if (area.sales_organization, area.distribution_channel, area.division) == (
                org,
                channel,
                division,
            ):
                return area
        return None


@dataclass
class SalesOrderItem:
    number: str
    material: str
    description: str
    quantity: Decimal
    unit: str
    net_price: Decimal
    expected_price: Decimal | None
    net_amount: Decimal
    tax_amount: Decimal
    changed_us: int
    rejection_reason: str = ""

    @property
    def rejected(self) -> bool:
        return self.rejection_reason != ""


@dataclass
class SalesOrder:
    number: str
    order_type: str
    sales_organization: str
    distribution_channel: str
    division: str
    sold_to: str
    purchase_order: str
    gateway_ref: str
    requested_delivery_ms: int | None
    currency: str
    payment_terms: str
    created_ms: int
    changed_us: int
    credit_blocked: bool
    credit_checked: bool
    items: list[SalesOrderItem]
    stage: str = STAGES[0]
    deliveries: list[str] = field(default_factory=list)
    billing_documents: list[str] = field(default_factory=list)
    # What pricing and availability said when the order was entered: answered once, with the
    # create (SAP's sap-message header), never stored on the document.
    warnings: list[tuple[str, str, str]] = field(default_factory=list)  # (code, text, target)

    def open_items(self) -> list[SalesOrderItem]:
        return [item for item in self.items if not item.rejected]

    @property
    def net_amount(self) -> Decimal:
        return sum((i.net_amount for i in self.open_items()), Decimal("0.00"))

    @property
    def tax_amount(self) -> Decimal:
        return sum((i.tax_amount for i in self.open_items()), Decimal("0.00"))

    @property
    def gross_amount(self) -> Decimal:
        return self.net_amount + self.tax_amount

    @property
    def fully_rejected(self) -> bool:
        return all(item.rejected for item in self.items)

    def item(self, number: str) -> SalesOrderItem | None:
        for item in self.items:
            if item.number == number:
                return item
        return None


@dataclass
class DeliveryItem:
    number: str
    material: str
    quantity: Decimal
    unit: str
    sales_order: str
    sales_order_item: str


@dataclass
class Delivery:
    number: str
    sold_to: str
    shipping_point: str
    created_ms: int
    planned_goods_issue_ms: int
    goods_issue_ms: int | None
    items: list[DeliveryItem]
    version: int = 1  # DeliveryVersion: its ETag, counted up by each change


@dataclass
class BillingItem:
    number: str
    material: str
    quantity: Decimal
    unit: str
    net_amount: Decimal
    tax_amount: Decimal
    sales_order: str
    sales_order_item: str
    delivery: str
    delivery_item: str


@dataclass
class BillingDocument:
    number: str
    sold_to: str
    company_code: str
    sales_organization: str
    currency: str
    payment_terms: str
    billing_date_ms: int
    items: list[BillingItem]
    changed_us: int = 0  # LastChangeDateTime: its ETag
    cleared: bool = False
    cancelled: bool = False

    @property
    def net_amount(self) -> Decimal:
        return sum((i.net_amount for i in self.items), Decimal("0.00"))

    @property
    def tax_amount(self) -> Decimal:
        return sum((i.tax_amount for i in self.items), Decimal("0.00"))


class Ledger:
    """Everything the ERP holds, with the indexes its frequent `$filter`s need."""

    partners: dict[str, BusinessPartner]
    orders: dict[str, SalesOrder]
    deliveries: dict[str, Delivery]
    billing_documents: dict[str, BillingDocument]
    partners_by_ref: defaultdict[str, list[str]]
    orders_by_ref: defaultdict[str, list[str]]
    orders_by_sold_to: defaultdict[str, list[str]]

    def __init__(self) -> None:
        self._last_us = 0
        self.clear()

    def clear(self) -> None:
        """Empty this same object (the services hold on to it) and restart the number ranges."""
        self.partners = {}
        self.orders = {}
        self.deliveries = {}
        self.billing_documents = {}
        self.partners_by_ref = defaultdict(list)
        self.orders_by_ref = defaultdict(list)
        self.orders_by_sold_to = defaultdict(list)
        self._counters = dict.fromkeys(_NUMBER_RANGES, 0)

    def next_number(self, kind: str) -> str:
        self._counters[kind] += 1
        return f"{_NUMBER_RANGES[kind] + self._counters[kind]:010d}"

    def now_us(self) -> int:
        """A strictly increasing change timestamp, so each change gives a new ETag."""
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return self._last_us

    def add_partner(self, partner: BusinessPartner) -> None:
        self.partners[partner.number] = partner
        if partner.gateway_ref:
            self.partners_by_ref[partner.gateway_ref].append(partner.number)

    def add_order(self, order: SalesOrder) -> None:
        self.orders[order.number] = order
        if order.gateway_ref:
            self.orders_by_ref[order.gateway_ref].append(order.number)
        self.orders_by_sold_to[order.sold_to].append(order.number)

    def customer_count(self) -> int:
        return sum(1 for p in self.partners.values() if p.is_customer)


def today_ms() -> int:
    """Midnight UTC of today, as an Edm.DateTime date in milliseconds."""
    return (int(time.time()) // 86400) * 86400 * 1000
