"""Records as NetSuite's REST web services write them: links, `{"id", "refName"}` references,
`{"items": [...]}` sublists (expanded on request), paged collections, empty fields left out.

Not the rules (see `books`); reading only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from erp_simulators.netsuite import reference as ref
from erp_simulators.netsuite.books import Books
from erp_simulators.netsuite.errors import RecordError, not_found
from erp_simulators.netsuite.records import (
    INVOICE_PAID,
    ORDER_STATUS_NAMES,
    SHIP_STATUS_NAMES,
    Address,
    Customer,
    Invoice,
    ItemFulfillment,
    OrderLine,
    SalesOrder,
)

RECORD_ROOT = "/services/rest/record/v1"
Document = dict[str, Any]


def _compact(document: Document) -> Document:
    """NetSuite leaves empty fields out of a record rather than writing null."""
    return {k: v for k, v in document.items() if v is not None}


class Renderer:
    """Writes the records of one `Books` with links under one base URL."""

    def __init__(self, books: Books, base_url: str, *, custom_fields: bool = True) -> None:
        self.books = books
        self.root = base_url.rstrip("/") + RECORD_ROOT
        # An account without the custom fields shows none of them on its records.
        self.custom_fields = custom_fields

    def href(self, record_type: str, internal_id: str, *rest: str) -> str:
        return "/".join((self.root, record_type, internal_id, *rest))

    def links(self, record_type: str, internal_id: str, *rest: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": self.href(record_type, internal_id, *rest)}]

    def reference_field(self, record_type: str, internal_id: str, ref_name: str | None) -> Document:
        return _compact(
            {
                "links": self.links(record_type, internal_id),
                "id": internal_id,
                "refName": ref_name,
            }
        )

    def subsidiary_ref(self, s: ref.Subsidiary) -> Document:
        return self.reference_field("subsidiary", s.id, s.name)

    def currency_ref(self, c: ref.Currency) -> Document:
        # As NetSuite names a reference: the currency's name ("Euro"); its ISO code is the
        # currency record's `symbol`.
        return self.reference_field("currency", c.id, c.name)

    def terms_ref(self, t: ref.Term | None) -> Document | None:
        return self.reference_field("term", t.id, t.name) if t else None

    def tax_item_ref(self, t: ref.SalesTaxItem | None) -> Document | None:
        return self.reference_field("salesTaxItem", t.id, t.item_id) if t else None

    def sublist(
        self,
        record_type: str,
        internal_id: str,
        name: str,
        lines: list[Document],
        expand: bool,
    ) -> Document:
        links = self.links(record_type, internal_id, name)
        if not expand:
            return {"links": links}
        return {
            "links": links,
            "count": len(lines),
            "hasMore": False,
            "items": lines,
            "offset": 0,
            "totalResults": len(lines),
        }

    # --- records ------------------------------------------------------------------------------

    def customer(self, c: Customer, expand: bool) -> Document:
        balance = self.books.balance(c)
        return _compact(
            {
                "links": self.links("customer", c.id),
                "id": c.id,
                "entityId": c.entity_id,
                "externalId": c.external_id,
                "companyName": c.company_name,
                "isPerson": False,
                "email": c.email,
                "phone": c.phone,
                "subsidiary": self.subsidiary_ref(c.subsidiary),
                "currency": self.currency_ref(c.currency),
                "terms": self.terms_ref(c.terms),
                "creditLimit": c.credit_limit,
                "balance": balance,
                "unbilledOrders": self.books.unbilled_orders(c),
                "overdueBalance": Decimal("0.00"),
                "vatRegNumber": c.vat_reg_number,
                "accountNumber": c.account_number,
                "taxable": c.tax_item is not None,
                "taxItem": self.tax_item_ref(c.tax_item),
                "comments": c.comments,
                "isInactive": c.is_inactive,
                "entityStatus": {"id": "13", "refName": "CUSTOMER-Closed Won"},
                "dateCreated": _timestamp(c.created),
                "addressBook": self.sublist(
                    "customer",
                    c.id,
                    "addressBook",
                    [self.address_line(a, i) for i, a in enumerate(c.addresses)],
                    expand,
                ),
            }
        )

    def address_line(self, a: Address, index: int) -> Document:
        return _compact(
            {
                "links": [],
                "id": str(index + 1),
                "label": a.label or a.addr1,
                "defaultBilling": a.default_billing,
                "defaultShipping": a.default_shipping,
                "addressBookAddress": _compact(
                    {
                        "links": [],
                        "addressee": a.addressee,
                        "attention": a.attention,
                        "addr1": a.addr1,
                        "addr2": a.addr2,
                        "addr3": a.addr3,
                        "city": a.city,
                        "state": a.state,
                        "zip": a.zip,
                        "country": {"id": a.country, "refName": ref.COUNTRY_NAMES.get(a.country)},
                    }
                ),
            }
        )

    def _item_ref(self, item: ref.Item) -> Document:
        return self.reference_field(item.record_type, item.id, item.item_id)

    def _order_line(self, line: OrderLine) -> Document:
        return _compact(
            {
                "links": [],
                "line": line.line,
                "item": self._item_ref(line.item),
                "description": line.description,
                "quantity": line.quantity,
                "rate": line.rate,
                "amount": line.amount,
                "price": {"id": ref.BASE_PRICE_LEVEL_ID, "refName": ref.BASE_PRICE_LEVEL_NAME},
                "isClosed": line.is_closed,
                "quantityFulfilled": line.quantity_fulfilled,
                "quantityBilled": line.quantity_billed,
            }
        )

    def _entity_ref(self, c: Customer) -> Document:
        return self.reference_field("customer", c.id, f"{c.entity_id} {c.company_name}")

    def sales_order(self, o: SalesOrder, expand: bool) -> Document:
        status_name = ORDER_STATUS_NAMES[o.status]
        return _compact(
            {
                "links": self.links("salesOrder", o.id),
                "id": o.id,
                "tranId": o.tran_id,
                "externalId": o.external_id,
                "otherRefNum": o.other_ref_num,
                "entity": self._entity_ref(o.customer),
                "subsidiary": self.subsidiary_ref(o.subsidiary),
                "currency": self.currency_ref(o.currency),
                "terms": self.terms_ref(o.terms),
                "tranDate": o.tran_date.isoformat(),
                "shipDate": o.ship_date.isoformat() if o.ship_date else None,
                "memo": o.memo,
                "orderStatus": {"id": o.status, "refName": status_name},
                "status": {"id": status_name, "refName": status_name},
                "custbody_credit_hold": o.credit_hold if self.custom_fields else None,
                "subtotal": o.subtotal,
                "taxItem": self.tax_item_ref(o.tax_item),
                "taxRate": o.tax_item.rate if o.tax_item else None,
                "taxTotal": o.tax_total,
                "total": o.total,
                "createdDate": _timestamp(o.created),
                "item": self.sublist(
                    "salesOrder", o.id, "item", [self._order_line(ln) for ln in o.lines], expand
                ),
            }
        )

    def _created_from(self, o: SalesOrder) -> Document:
        return self.reference_field("salesOrder", o.id, f"Sales Order #{o.tran_id}")

    def item_fulfillment(self, f: ItemFulfillment, expand: bool) -> Document:
        status_name = SHIP_STATUS_NAMES[f.ship_status]
        lines = [
            {
                "links": [],
                "line": index + 1,
                "orderLine": line.line,
                "item": self._item_ref(line.item),
                "quantity": quantity,
                "itemReceive": True,
            }
            for index, (line, quantity) in enumerate(f.lines)
        ]
        return {
            "links": self.links("itemFulfillment", f.id),
            "id": f.id,
            "tranId": f.tran_id,
            "tranDate": f.tran_date.isoformat(),
            "createdFrom": self._created_from(f.order),
            "entity": self._entity_ref(f.order.customer),
            "subsidiary": self.subsidiary_ref(f.order.subsidiary),
            "shipStatus": {"id": f.ship_status, "refName": status_name},
            "status": {"id": status_name, "refName": status_name},
            "createdDate": _timestamp(f.created),
            "item": self.sublist("itemFulfillment", f.id, "item", lines, expand),
        }

    def invoice(self, inv: Invoice, expand: bool) -> Document:
        o = inv.order
        lines = [
            {
                "links": [],
                "line": line.line,
                "item": self._item_ref(line.item),
                "quantity": line.quantity_billed,
                "rate": line.rate,
                "amount": line.amount,
            }
            for line in o.lines
            if line.quantity_billed
        ]
        return _compact(
            {
                "links": self.links("invoice", inv.id),
                "id": inv.id,
                "tranId": inv.tran_id,
                "tranDate": inv.tran_date.isoformat(),
                "dueDate": inv.due_date.isoformat(),
                "createdFrom": self._created_from(o),
                "entity": self._entity_ref(o.customer),
                "subsidiary": self.subsidiary_ref(o.subsidiary),
                "currency": self.currency_ref(o.currency),
                "terms": self.terms_ref(o.terms),
                "status": {"id": inv.status, "refName": inv.status},
                "subtotal": inv.subtotal,
                "taxTotal": inv.tax_total,
                "total": inv.total,
                "amountRemaining": inv.amount_remaining,
                "amountPaid": inv.total - inv.amount_remaining,
                "paidInFull": inv.status == INVOICE_PAID,
                "createdDate": _timestamp(inv.created),
                "item": self.sublist("invoice", inv.id, "item", lines, expand),
            }
        )

    # --- reference records --------------------------------------------------------------------

    def subsidiary(self, s: ref.Subsidiary, _: bool) -> Document:
        currency = ref.CURRENCIES[s.currency_id]
        return {
            "links": self.links("subsidiary", s.id),
            "id": s.id,
            "name": s.name,
            "country": {"id": s.country, "refName": ref.COUNTRY_NAMES.get(s.country, s.country)},
            "currency": self.currency_ref(currency),
            "isInactive": False,
        }

    def term(self, t: ref.Term, _: bool) -> Document:
        return {
            "links": self.links("term", t.id),
            "id": t.id,
            "name": t.name,
            "daysUntilNetDue": t.days_until_due,
            "isInactive": False,
        }

    def currency(self, c: ref.Currency, _: bool) -> Document:
        return {
            "links": self.links("currency", c.id),
            "id": c.id,
            "name": c.name,
            "symbol": c.symbol,
            "currencyPrecision": c.precision,
            "isBaseCurrency": c.id == "1",
            "isInactive": False,
        }

    def item(self, i: ref.Item, expand: bool) -> Document:
        prices = [
            {
                "links": [],
                "currencyPage": self.currency_ref(c),
                "priceLevel": {"id": ref.BASE_PRICE_LEVEL_ID, "refName": ref.BASE_PRICE_LEVEL_NAME},
                "quantity": {"value": 0},
                "price": ref.price_of(i, c),
            }
            for c in ref.CURRENCIES.values()
        ]
        return {
            "links": self.links(i.record_type, i.id),
            "id": i.id,
            "itemId": i.item_id,
            "displayName": i.display_name,
            "isInactive": False,
            "price": self.sublist(i.record_type, i.id, "price", prices, expand),
        }

    def sales_tax_item(self, t: ref.SalesTaxItem, _: bool) -> Document:
        return {
            "links": self.links("salesTaxItem", t.id),
            "id": t.id,
            "itemId": t.item_id,
            "rate": t.rate,
            "country": {"id": t.country, "refName": ref.COUNTRY_NAMES.get(t.country, t.country)},
            "isInactive": False,
        }


def _timestamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- looking records up by type -------------------------------------------------------------


def _items_of(record_type: str) -> dict[str, ref.Item]:
    return {k: v for k, v in ref.ITEMS.items() if v.record_type == record_type}


RecordTable = Callable[[Books], dict[str, Any]]
# record type -> (its records in the books, how one is written, whether it has external ids)
RECORD_TYPES: dict[str, tuple[RecordTable, Callable[[Renderer, Any, bool], Document]]] = {
    "customer": (lambda b: b.customers, Renderer.customer),
    "salesOrder": (lambda b: b.sales_orders, Renderer.sales_order),
    "itemFulfillment": (lambda b: b.fulfillments, Renderer.item_fulfillment),
    "invoice": (lambda b: b.invoices, Renderer.invoice),
    "subsidiary": (lambda _: ref.SUBSIDIARIES, Renderer.subsidiary),
    "term": (lambda _: ref.TERMS, Renderer.term),
    "currency": (lambda _: ref.CURRENCIES, Renderer.currency),
    "salesTaxItem": (lambda _: ref.SALES_TAX_ITEMS, Renderer.sales_tax_item),
    **{t: ((lambda _, t=t: _items_of(t)), Renderer.item) for t in ref.ITEM_RECORD_TYPES},  # type: ignore[misc]
}


def unknown_record_type(record_type: str) -> RecordError:
    return RecordError(
        404, "INVALID_RCRD_TYPE", f"Record type '{record_type}' does not exist.", None
    )


def find_record(books: Books, record_type: str, key: str) -> Any:
    """The record named by internal id or by `eid:<externalId>`; a 404 `RecordError` if none."""
    if record_type not in RECORD_TYPES:
        raise unknown_record_type(record_type)
    table = RECORD_TYPES[record_type][0](books)
    if key.startswith("eid:"):
        internal_id = books.external_ids.get(record_type, {}).get(key[4:])
        if internal_id is None:
            raise not_found()
        key = internal_id
    record = table.get(key)
    if record is None:
        raise not_found()
    return record


def render_record(renderer: Renderer, record_type: str, record: Any, expand: bool) -> Document:
    return RECORD_TYPES[record_type][1](renderer, record, expand)


def all_records(books: Books, record_type: str) -> Iterable[Any]:
    if record_type not in RECORD_TYPES:
        raise unknown_record_type(record_type)
    table = RECORD_TYPES[record_type][0](books)
    return (table[k] for k in sorted(table, key=int))


def collection(
    renderer: Renderer,
    record_type: str,
    ids: list[str],
    offset: int,
    limit: int,
    page_href: Callable[[int], str],
) -> Document:
    """A page of a record collection: ids and links only, as NetSuite lists records."""
    page = ids[offset : offset + limit]
    has_more = offset + limit < len(ids)
    links = [{"rel": "self", "href": page_href(offset)}]
    if has_more:
        links.append({"rel": "next", "href": page_href(offset + limit)})
    return {
        "links": links,
        "count": len(page),
        "hasMore": has_more,
        "items": [{"links": renderer.links(record_type, i), "id": i} for i in page],
        "offset": offset,
        "totalResults": len(ids),
    }
