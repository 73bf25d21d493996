"""The cloud ERP's books: customers, sales orders, fulfillments and invoices, and their rules.

Not HTTP (see `app`) and not JSON documents (see `documents`); refusals are `RecordError`s.

NetSuite-like state kept here, as the REST records show it:
- `salesOrder.orderStatus` letters: A Pending Approval, B Pending Fulfillment, C Cancelled,
  D Partially Fulfilled, E Pending Billing/Partially Fulfilled, F Pending Billing, G Billed,
  H Closed. An order over the customer's credit is saved as A with `custbody_credit_hold: true`.
  An integration sets `orderStatus` only to approve (A to B); it ends an order by closing its
  lines (`item.items[].isClosed`), which makes it H once every line is closed.
- Credit: `customer.creditLimit` against `balance` (open invoices) plus `unbilledOrders`
  (approved orders not yet billed), compared with the order's `total` (tax included).
- `itemFulfillment.shipStatus`: A Picked, B Packed, C Shipped. `invoice.status`: Open, Paid In Full.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from erp_simulators.netsuite import reference as ref
from erp_simulators.netsuite.errors import (
    DUP_RCRD,
    RecordError,
    invalid_field_value,
    not_found,
    user_error,
)
from erp_simulators.netsuite.fields import (
    JsonObject,
    boolean,
    date,
    invalid_value,
    missing_value,
    number,
    reject_unknown_fields,
    sublist,
    text,
)
from erp_simulators.netsuite.fields import reference as reference_id
from erp_simulators.netsuite.records import (
    BILLED,
    CANCELLED,
    CLOSED,
    INVOICE_OPEN,
    INVOICE_PAID,
    ORDER_STATUS_NAMES,
    PENDING_APPROVAL,
    PENDING_BILLING,
    PENDING_FULFILLMENT,
    PICKED,
    SHIPPED,
    STAGES,
    Address,
    Customer,
    Invoice,
    ItemFulfillment,
    OrderLine,
    SalesOrder,
    counts_as_unbilled,
    money,
    shown,
)

CUSTOMER_FIELDS = frozenset(
    {
        "externalId",
        "entityId",
        "companyName",
        "isPerson",
        "email",
        "phone",
        "subsidiary",
        "currency",
        "terms",
        "creditLimit",
        "vatRegNumber",
        "accountNumber",
        "addressBook",
        "comments",
        "isInactive",
    }
)
# What an update (an upsert of an existing customer) may change.
CUSTOMER_UPDATE_FIELDS = CUSTOMER_FIELDS - {
    "externalId",
    "entityId",
    "subsidiary",
    "currency",
    "addressBook",
    "isPerson",
}
ADDRESS_LINE_FIELDS = frozenset(
    {"defaultBilling", "defaultShipping", "isResidential", "label", "addressBookAddress"}
)
ADDRESS_FIELDS = frozenset(
    {"addressee", "attention", "addr1", "addr2", "addr3", "city", "state", "zip", "country"}
)
ORDER_FIELDS = frozenset(
    {
        "externalId",
        "entity",
        "subsidiary",
        "currency",
        "terms",
        "tranDate",
        "shipDate",
        "otherRefNum",
        "memo",
        "orderStatus",
        "item",
    }
)
ORDER_LINE_FIELDS = frozenset({"item", "quantity", "rate", "amount", "description"})
ORDER_PATCH_FIELDS = frozenset({"orderStatus", "memo", "otherRefNum", "shipDate", "item"})
ORDER_PATCH_LINE_FIELDS = frozenset({"line", "isClosed"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def duplicate_external_id(record_label: str, external_id: str) -> RecordError:
    return RecordError(
        400,
        DUP_RCRD,
        f"A {record_label} record with the external ID {external_id} already exists.",
        "externalId",
    )


class Books:
    """Every record of one simulated account. Single-threaded: each change runs without awaiting,
    so concurrent requests on the event loop never see half a change."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.customers: dict[str, Customer] = {}
        self.sales_orders: dict[str, SalesOrder] = {}
        self.fulfillments: dict[str, ItemFulfillment] = {}
        self.invoices: dict[str, Invoice] = {}
        self.external_ids: dict[str, dict[str, str]] = {"customer": {}, "salesOrder": {}}
        # Entities and transactions number their internal ids separately, as NetSuite does.
        self._entity_ids = itertools.count(301)
        self._transaction_ids = itertools.count(7001)
        self._document_numbers: dict[str, itertools.count[int]] = {}

    def counts(self) -> dict[str, int]:
        return {"customers": len(self.customers), "sales_orders": len(self.sales_orders)}

    def _document_number(self, prefix: str) -> str:
        counter = self._document_numbers.setdefault(prefix, itertools.count(1))
        return f"{prefix}-{next(counter):06d}"

    # --- exposure -----------------------------------------------------------------------------

    def balance(self, customer: Customer) -> Decimal:
        """Open receivables: what the customer's invoices still owe."""
        return customer.balance

    def unbilled_orders(self, customer: Customer) -> Decimal:
        """Approved orders not billed yet (held, cancelled and closed orders do not count)."""
        return customer.unbilled

    def _set_status(self, order: SalesOrder, status: str) -> None:
        """Every change of an order's status goes here, to keep its customer's exposure right."""
        before = counts_as_unbilled(order)
        order.status = status
        after = counts_as_unbilled(order)
        if before != after:
            order.customer.unbilled += order.total if after else -order.total

    # --- customers ----------------------------------------------------------------------------

    def create_customer(self, body: JsonObject) -> Customer:
        reject_unknown_fields(body, CUSTOMER_FIELDS)
        external_id = text(body, "externalId", "externalId", 255)
        if external_id is not None and external_id in self.external_ids["customer"]:
            raise duplicate_external_id("customer", external_id)
        company_name = text(body, "companyName", "companyName", 83)
        if company_name is None:
            raise missing_value("Company Name", "companyName")
        subsidiary = self._subsidiary(body)
        currency = self._currency(body, subsidiary.currency_id)
        terms = self._terms(body, None)
        credit_limit = number(body, "creditLimit", "creditLimit")
        if credit_limit is not None and credit_limit < 0:
            raise invalid_value("creditLimit")
        email = text(body, "email", "email", 254)
        if email is not None and "@" not in email:
            raise user_error("Please enter a valid email address.", "email")
        vat = text(body, "vatRegNumber", "vatRegNumber", 20)
        if vat is None and subsidiary.country in ref.EU_COUNTRIES:
            raise user_error(
                "Please enter value(s) for: VAT Registration Number. Customers of subsidiary "
                f"{subsidiary.id} ({subsidiary.country}) must have one.",
                "vatRegNumber",
            )
        addresses = [
            self._address(line, index)
            for index, line in enumerate(sublist(body, "addressBook", "addressBook") or [])
        ]
        entity_id = text(body, "entityId", "entityId", 83)
        phone = text(body, "phone", "phone", 32)
        account_number = text(body, "accountNumber", "accountNumber", 99)
        comments = text(body, "comments", "comments", 999)
        is_inactive = boolean(body, "isInactive", "isInactive") or False
        # Everything is valid: only now are an internal id and an entity number used up.
        internal_id = str(next(self._entity_ids))
        customer = Customer(
            id=internal_id,
            entity_id=entity_id or self._document_number("CUST"),
            company_name=company_name,
            subsidiary=subsidiary,
            currency=currency,
            tax_item=ref.TAX_ITEM_BY_COUNTRY.get(subsidiary.country),
            created=_now(),
            external_id=external_id,
            email=email,
            phone=phone,
            terms=terms,
            credit_limit=money(credit_limit, currency) if credit_limit is not None else None,
            vat_reg_number=vat,
            account_number=account_number,
            comments=comments,
            is_inactive=is_inactive,
            addresses=addresses,
        )
        self.customers[internal_id] = customer
        if external_id is not None:
            self.external_ids["customer"][external_id] = internal_id
        return customer

    def update_customer(self, customer: Customer, body: JsonObject) -> Customer:
        """The fields an update may change (an upsert of an existing customer), all or none."""
        reject_unknown_fields(body, CUSTOMER_UPDATE_FIELDS)
        company_name = text(body, "companyName", "companyName", 83)
        email = text(body, "email", "email", 254)
        if email is not None and "@" not in email:
            raise user_error("Please enter a valid email address.", "email")
        terms = self._terms(body, customer.terms)
        credit_limit = number(body, "creditLimit", "creditLimit")
        if credit_limit is not None and credit_limit < 0:
            raise invalid_value("creditLimit")
        changes = {
            "company_name": company_name,
            "email": email,
            "phone": text(body, "phone", "phone", 32),
            "credit_limit": (
                money(credit_limit, customer.currency) if credit_limit is not None else None
            ),
            "vat_reg_number": text(body, "vatRegNumber", "vatRegNumber", 20),
            "account_number": text(body, "accountNumber", "accountNumber", 99),
            "comments": text(body, "comments", "comments", 999),
            "is_inactive": boolean(body, "isInactive", "isInactive"),
        }
        for name, value in changes.items():
            if value is not None:
                setattr(customer, name, value)
        customer.terms = terms
        return customer

    def _subsidiary(self, body: JsonObject) -> ref.Subsidiary:
        subsidiary_id = reference_id(body, "subsidiary", "subsidiary")
        if subsidiary_id is None:
            raise missing_value("Primary Subsidiary", "subsidiary")
        subsidiary = ref.SUBSIDIARIES.get(subsidiary_id)
        if subsidiary is None:
            raise invalid_field_value(subsidiary_id, "subsidiary")
        return subsidiary

    def _currency(self, body: JsonObject, default_id: str) -> ref.Currency:
        currency_id = reference_id(body, "currency", "currency") or default_id
        currency = ref.CURRENCIES.get(currency_id)
        if currency is None:
            raise invalid_field_value(currency_id, "currency")
        return currency

    def _terms(self, body: JsonObject, default: ref.Term | None) -> ref.Term | None:
        terms_id = reference_id(body, "terms", "terms")
        if terms_id is None:
            return default
        terms = ref.TERMS.get(terms_id)
        if terms is None:
            raise invalid_field_value(terms_id, "terms")
        return terms

    def _address(self, line: JsonObject, index: int) -> Address:
        line_path = f"addressBook.items[{index}]"
        reject_unknown_fields(line, ADDRESS_LINE_FIELDS, line_path + ".")
        path = line_path + ".addressBookAddress"
        raw = line.get("addressBookAddress")
        if not isinstance(raw, dict):
            raise invalid_value(path)
        reject_unknown_fields(raw, ADDRESS_FIELDS, path + ".")
        country = raw.get("country")
        if isinstance(country, dict):
            country = country.get("id")
        if not isinstance(country, str) or len(country) != 2 or not country.isalpha():
            raise invalid_value(path + ".country")
        parts = {
            name: text(raw, name, f"{path}.{name}", 150) for name in ADDRESS_FIELDS - {"country"}
        }
        return Address(
            country=country.upper(),
            label=text(line, "label", f"{line_path}.label", 150),
            default_billing=boolean(line, "defaultBilling", f"{line_path}.defaultBilling") or False,
            default_shipping=boolean(line, "defaultShipping", f"{line_path}.defaultShipping")
            or False,
            **parts,
        )

    # --- sales orders -------------------------------------------------------------------------

    def create_sales_order(self, body: JsonObject) -> SalesOrder:
        reject_unknown_fields(body, ORDER_FIELDS)
        external_id = text(body, "externalId", "externalId", 255)
        if external_id is not None and external_id in self.external_ids["salesOrder"]:
            raise duplicate_external_id("sales order", external_id)
        customer = self._order_customer(body)
        subsidiary = self._order_subsidiary(body, customer)
        currency = self._currency(body, customer.currency.id)
        if currency.id != customer.currency.id:
            raise user_error(
                f"The currency {currency.symbol} is not a currency of customer "
                f"{customer.entity_id}, who trades in {customer.currency.symbol}.",
                "currency",
            )
        terms = self._terms(body, customer.terms)
        requested_status = reference_id(body, "orderStatus", "orderStatus")
        if requested_status not in (None, PENDING_APPROVAL, PENDING_FULFILLMENT):
            raise invalid_field_value(requested_status, "orderStatus")
        raw_lines = sublist(body, "item", "item")
        if not raw_lines:
            raise user_error("You must enter at least one line item for this transaction.", "item")
        lines = [self._order_line(raw, index, currency) for index, raw in enumerate(raw_lines)]
        subtotal = sum((line.amount for line in lines), money(Decimal(0), currency))
        tax_item = customer.tax_item
        tax_rate = tax_item.rate if tax_item else Decimal(0)
        tax_total = money(subtotal * tax_rate / 100, currency)
        total = subtotal + tax_total
        available = (
            customer.credit_limit - self.balance(customer) - self.unbilled_orders(customer)
            if customer.credit_limit is not None
            else None
        )
        credit_hold = available is not None and total > available
        status = PENDING_APPROVAL if credit_hold else requested_status or PENDING_FULFILLMENT
        tran_date = date(body, "tranDate", "tranDate") or dt.date.today()
        ship_date = date(body, "shipDate", "shipDate")
        other_ref = text(body, "otherRefNum", "otherRefNum", 45)
        memo = text(body, "memo", "memo", 999)
        internal_id = str(next(self._transaction_ids))
        order = SalesOrder(
            id=internal_id,
            tran_id=self._document_number("SO"),
            customer=customer,
            subsidiary=subsidiary,
            currency=currency,
            terms=terms,
            tran_date=tran_date,
            lines=lines,
            subtotal=subtotal,
            tax_item=tax_item,
            tax_total=tax_total,
            total=total,
            status=status,
            credit_hold=credit_hold,
            created=_now(),
            external_id=external_id,
            other_ref_num=other_ref,
            ship_date=ship_date,
            memo=memo,
        )
        self.sales_orders[internal_id] = order
        customer.order_ids.append(internal_id)
        if counts_as_unbilled(order):
            customer.unbilled += order.total
        if external_id is not None:
            self.external_ids["salesOrder"][external_id] = internal_id
        return order

    def _order_customer(self, body: JsonObject) -> Customer:
        entity_id = reference_id(body, "entity", "entity")
        if entity_id is None:
            raise missing_value("Customer", "entity")
        customer = self.customers.get(entity_id)
        if customer is None or customer.is_inactive:
            raise invalid_field_value(entity_id, "entity")
        return customer

    def _order_subsidiary(self, body: JsonObject, customer: Customer) -> ref.Subsidiary:
        subsidiary_id = reference_id(body, "subsidiary", "subsidiary") or customer.subsidiary.id
        subsidiary = ref.SUBSIDIARIES.get(subsidiary_id)
        if subsidiary is None:
            raise invalid_field_value(subsidiary_id, "subsidiary")
        if subsidiary.id != customer.subsidiary.id:
            # NetSuite's own words, with internal ids (the gateway turns them into its codes).
            raise user_error(
                f"Invalid entity reference key {customer.id} for subsidiary {subsidiary.id}.",
                "subsidiary",
            )
        return subsidiary

    def _order_line(self, raw: JsonObject, index: int, currency: ref.Currency) -> OrderLine:
        path = f"item.items[{index}]"
        reject_unknown_fields(raw, ORDER_LINE_FIELDS, path + ".")
        item_id = reference_id(raw, "item", path + ".item")
        if item_id is None:
            raise missing_value("Item", path + ".item")
        item = ref.ITEMS.get(item_id)
        if item is None:
            raise invalid_field_value(item_id, path + ".item")
        quantity = number(raw, "quantity", path + ".quantity")
        if quantity is None:
            raise missing_value("Quantity", path + ".quantity")
        if quantity <= 0 or quantity != quantity.to_integral_value():
            raise invalid_value(path + ".quantity")
        price = ref.price_of(item, currency)
        rate = number(raw, "rate", path + ".rate")
        if rate is None:
            rate = price
        elif rate != price:
            raise user_error(
                f"The rate {shown(rate, currency)} of item {item.id} on line {index + 1} differs "
                f"from its {ref.BASE_PRICE_LEVEL_NAME} of {price} {currency.symbol}. Use the "
                "current price.",
                path + ".rate",
            )
        amount = money(rate * quantity, currency)
        given_amount = number(raw, "amount", path + ".amount")
        # An amount entered is kept in the currency's precision, as any amount field is.
        if given_amount is not None and money(given_amount, currency) != amount:
            raise user_error(
                f"The amount {given_amount} on line {index + 1} is not quantity times rate "
                f"({amount}).",
                path + ".amount",
            )
        return OrderLine(
            line=index + 1,
            item=item,
            quantity=int(quantity),
            rate=rate,  # a rate keeps its decimals: 6.125 dinars a unit, amounts in 0.01
            amount=amount,
            description=text(raw, "description", path + ".description", 999),
        )

    def update_sales_order(self, order: SalesOrder, body: JsonObject) -> SalesOrder:
        reject_unknown_fields(body, ORDER_PATCH_FIELDS)
        status = reference_id(body, "orderStatus", "orderStatus")
        closing = self._lines_to_close(order, body)
        memo = text(body, "memo", "memo", 999)
        other_ref = text(body, "otherRefNum", "otherRefNum", 45)
        ship_date = date(body, "shipDate", "shipDate")
        # Over REST an order's status is set only to approve it (A to B): Cancel is a button of
        # NetSuite's user interface, so an integration closes the order's lines instead (H).
        if status == PENDING_FULFILLMENT and order.status == PENDING_APPROVAL:
            if order.credit_hold:
                raise user_error(
                    f"Sales order {order.tran_id} is on credit hold and cannot be approved.",
                    "orderStatus",
                )
            self._set_status(order, PENDING_FULFILLMENT)
        elif status is not None and status != order.status:
            raise invalid_field_value(status, "orderStatus")
        if closing:
            self._close_lines(order, closing)
        order.memo = memo if memo is not None else order.memo
        order.other_ref_num = other_ref if other_ref is not None else order.other_ref_num
        order.ship_date = ship_date if ship_date is not None else order.ship_date
        return order

    def _lines_to_close(self, order: SalesOrder, body: JsonObject) -> list[OrderLine]:
        raw_lines = sublist(body, "item", "item") or []
        by_number = {line.line: line for line in order.lines}
        closing = []
        for index, raw in enumerate(raw_lines):
            path = f"item.items[{index}]"
            reject_unknown_fields(raw, ORDER_PATCH_LINE_FIELDS, path + ".")
            line_number = number(raw, "line", path + ".line")
            line = by_number.get(int(line_number)) if line_number is not None else None
            if line is None:
                raise invalid_value(path + ".line")
            if boolean(raw, "isClosed", path + ".isClosed"):
                closing.append(line)
        return closing

    def _close_lines(self, order: SalesOrder, lines: list[OrderLine]) -> None:
        if order.status in (CANCELLED, BILLED, CLOSED):
            raise user_error(
                f"Lines of sales order {order.tran_id} cannot be closed: its status is "
                f"{ORDER_STATUS_NAMES[order.status]}.",
                "item",
            )
        for line in lines:
            line.is_closed = True
        if all(line.is_closed for line in order.lines):
            self._set_status(order, CLOSED)

    # --- the passage of time ------------------------------------------------------------------

    def stage(self, order: SalesOrder) -> str:
        invoices = [self.invoices[i] for i in order.invoice_ids]
        if invoices:
            return "paid" if all(i.status == INVOICE_PAID for i in invoices) else "invoiced"
        fulfillments = [self.fulfillments[f] for f in order.fulfillment_ids]
        if fulfillments:
            shipped = all(f.ship_status == SHIPPED for f in fulfillments)
            return "shipped" if shipped else "in_fulfillment"
        return "accepted"

    def advance(self, to: str | None, order_id: str | None) -> list[dict[str, Any]]:
        """Move open, approved, uncancelled orders forward: one stage, or up to `to`."""
        if to is not None and to not in STAGES[1:]:
            raise user_error(f"'to' must be one of {', '.join(STAGES[1:])}.", "to")
        if order_id is not None:
            order = self.sales_orders.get(order_id)
            if order is None:
                raise not_found()
            orders = [order]
        else:
            orders = sorted(self.sales_orders.values(), key=lambda o: int(o.id))
        changes = []
        for order in orders:
            if order.credit_hold or order.status in (PENDING_APPROVAL, CANCELLED, CLOSED):
                continue
            before = self.stage(order)
            target = STAGES.index(to) if to else STAGES.index(before) + 1
            while STAGES.index(self.stage(order)) < min(target, len(STAGES) - 1):
                self._step(order)
            after = self.stage(order)
            if after != before:
                changes.append(
                    {
                        "salesOrder": order.id,
                        "tranId": order.tran_id,
                        "from": before,
                        "to": after,
                        "orderStatus": ORDER_STATUS_NAMES[order.status],
                        "itemFulfillments": list(order.fulfillment_ids),
                        "invoices": list(order.invoice_ids),
                    }
                )
        return changes

    def _step(self, order: SalesOrder) -> None:
        stage = self.stage(order)
        today = dt.date.today()
        if stage == "accepted":
            open_lines = [line for line in order.lines if not line.is_closed]
            fulfillment = ItemFulfillment(
                id=str(next(self._transaction_ids)),
                tran_id=self._document_number("IF"),
                order=order,
                tran_date=today,
                ship_status=PICKED,
                lines=[(line, line.quantity) for line in open_lines],
                created=_now(),
            )
            for line in open_lines:
                line.quantity_fulfilled = line.quantity
            self.fulfillments[fulfillment.id] = fulfillment
            order.fulfillment_ids.append(fulfillment.id)
            self._set_status(order, PENDING_BILLING)
        elif stage == "in_fulfillment":
            for fulfillment_id in order.fulfillment_ids:
                shipment = self.fulfillments[fulfillment_id]
                shipment.ship_status = SHIPPED
                shipment.tran_date = today
        elif stage == "shipped":
            days = order.terms.days_until_due if order.terms else 0
            invoice = Invoice(
                id=str(next(self._transaction_ids)),
                tran_id=self._document_number("INV"),
                order=order,
                tran_date=today,
                due_date=today + dt.timedelta(days=days),
                subtotal=order.subtotal,
                tax_total=order.tax_total,
                total=order.total,
                amount_remaining=order.total,
                status=INVOICE_OPEN,
                created=_now(),
            )
            for line in order.lines:
                line.quantity_billed = line.quantity_fulfilled
            self.invoices[invoice.id] = invoice
            order.invoice_ids.append(invoice.id)
            order.customer.balance += invoice.amount_remaining
            self._set_status(order, BILLED)
        elif stage == "invoiced":
            for invoice_id in order.invoice_ids:
                invoice = self.invoices[invoice_id]
                order.customer.balance -= invoice.amount_remaining
                invoice.amount_remaining = Decimal("0.00")
                invoice.status = INVOICE_PAID
