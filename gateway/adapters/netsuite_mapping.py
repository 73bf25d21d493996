"""Canonical requests to NetSuite REST records and back, and NetSuite's errors to problems.

Not the client (see `netsuite_rest`): plain functions over dicts, testable without a network.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote as url_quote

from pydantic import ValidationError

from gateway.adapters.base import (
    ErpCustomer,
    ErpInvoice,
    ErpLine,
    ErpQuote,
    ErpSalesOrder,
    ErpShipment,
    ErpShipmentLine,
    References,
)
from gateway.adapters.http import ErpFailure, ErpResponse
from gateway.config.backends import NetSuiteLegalEntity, NetSuiteValueMaps
from gateway.domain.errors import Code, FieldError, GatewayError
from gateway.domain.models import (
    Address,
    AddressType,
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

RECORD_ROOT = "/services/rest/record/v1"
CUSTOMER = "customer"
SALES_ORDER = "salesOrder"
ITEM_FULFILLMENT = "itemFulfillment"
INVOICE = "invoice"
SALES_TAX_ITEM = "salesTaxItem"
SUBSIDIARY = "subsidiary"
# Item internal ids are unique across item types, but each type has its own endpoint; the
# value maps only know the id, so the adapter tries these in turn and remembers the answer.
ITEM_RECORD_TYPES = ("inventoryItem", "serviceSaleItem", "nonInventorySaleItem")
BASE_PRICE_LEVEL_ID = "1"
CREDIT_HOLD_FIELD = "custbody_credit_hold"
DUPLICATE_RECORD_CODE = "DUP_RCRD"
DEFAULT_TOKEN_TTL_S = 600.0  # when a token answer leaves out `expires_in`

# NetSuite sales-order statuses (`orderStatus` letters; `status` names the same states).
_ORDER_STATUS_NAMES = {
    "pending approval": "A",
    "pending fulfillment": "B",
    "cancelled": "C",
    "partially fulfilled": "D",
    "pending billing/partially fulfilled": "E",
    "pending billing": "F",
    "billed": "G",
    "closed": "H",
}
_ENDED = frozenset({"C", "H"})
_FULFILLING = frozenset({"D", "E", "F"})
_FULLY_FULFILLED = "F"
_BILLED = "G"
_SHIPPED_STATUS = ("C", "shipped")
_PAID_INVOICE = "paid in full"
_CANCELLED_INVOICE = frozenset({"voided", "cancelled", "rejected"})

# Minor units of the currencies that do not have two (ISO 4217); the rest have two.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}
_MAX_JSON_DIGITS = 15  # what a JSON number (an IEEE double) carries exactly

P = ParamSpec("P")
R = TypeVar("R")


class Documents(StrEnum):
    """Which documents decide an order's canonical status beyond its own fields."""

    NONE = "none"
    SHIPMENTS = "shipments"
    INVOICES = "invoices"


class Interaction(StrEnum):
    """What the gateway was doing when NetSuite refused: decides codes and pointers."""

    CUSTOMER_CREATE = "customer_create"
    SALES_ORDER_CREATE = "sales_order_create"
    CANCEL = "cancel"
    READ = "read"


# --- value maps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetSuiteMaps:
    """The backend's value maps in both directions, compiled once per adapter."""

    legal_entities: Mapping[str, NetSuiteLegalEntity]
    legal_entity_of_subsidiary: Mapping[str, str]
    terms: Mapping[str, str]
    terms_of_id: Mapping[str, str]
    items: Mapping[str, str]
    sku_of_item: Mapping[str, str]
    currencies: Mapping[str, str]
    currency_of_id: Mapping[str, str]

    @classmethod
    def from_config(cls, maps: NetSuiteValueMaps) -> NetSuiteMaps:
        return cls(
            legal_entities=dict(maps.legal_entities),
            legal_entity_of_subsidiary=_reverse(
                {le: ids.subsidiary for le, ids in maps.legal_entities.items()}
            ),
            terms=dict(maps.payment_terms),
            terms_of_id=_reverse(maps.payment_terms),
            items=dict(maps.skus),
            sku_of_item=_reverse(maps.skus),
            currencies=dict(maps.currencies),
            currency_of_id=_reverse(maps.currencies),
        )

    def legal_entity(self, code: str, pointer: str = "/legal_entity") -> NetSuiteLegalEntity:
        ids = self.legal_entities.get(code)
        if ids is None:
            raise GatewayError(
                Code.ERP_REJECTED,
                f"Legal entity {code} has no subsidiary in this ERP's configuration.",
                [FieldError(pointer, "Not set up in the ERP.")],
            )
        return ids

    def currency_id(self, code: str, pointer: str = "/currency") -> str:
        currency_id = self.currencies.get(code)
        if currency_id is None:
            raise GatewayError(
                Code.ERP_REJECTED,
                f"Currency {code} is not set up in this ERP.",
                [FieldError(pointer, "Currency not set up in the ERP.")],
            )
        return currency_id

    def terms_id(self, code: str) -> str:
        terms_id = self.terms.get(code)
        if terms_id is None:
            known = ", ".join(sorted(self.terms))
            raise GatewayError(
                Code.INVALID_PAYMENT_TERMS,
                f"Payment terms {code} are not known; use one of {known}.",
                [FieldError("/payment_terms", f"Unknown payment terms; use one of {known}.")],
            )
        return terms_id

    def item_ids(self, items: Sequence[OrderItem]) -> list[str]:
        """The item internal id of each order item; unknown products are refused together."""
        unknown: list[FieldError] = []
        skus: list[str] = []
        for i, item in enumerate(items):
            if item.product_id not in self.items:
                unknown.append(
                    FieldError(f"/items/{i}/product_id", f"Unknown SKU {item.product_id}.")
                )
                skus.append(item.product_id)
        if unknown:
            names = ", ".join(dict.fromkeys(skus))
            raise GatewayError(Code.UNKNOWN_SKU, f"Unknown product(s): {names}.", unknown)
        return [self.items[item.product_id] for item in items]

    def currency_code(self, record: Mapping[str, Any], field: str = "currency") -> str | None:
        value = record.get(field)
        currency_id = _ref_id(value)
        if currency_id is None:
            return None
        name = value.get("refName") if isinstance(value, dict) else None
        return self.currency_of_id.get(currency_id) or (name if isinstance(name, str) else None)


def _reverse(mapping: Mapping[str, str]) -> dict[str, str]:
    """Value -> key; where two keys share a value, the first one listed wins."""
    reverse: dict[str, str] = {}
    for key, value in mapping.items():
        reverse.setdefault(value, key)
    return reverse


# --- numbers and small readers ----------------------------------------------------------------


def minor_unit(currency: str | None) -> Decimal:
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency or "", 2))


def money(value: Any, currency: str | None) -> Decimal:
    """A NetSuite amount (a JSON number) as an exact Decimal in the currency's minor unit."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TypeError(f"not an amount: {value!r}")
    return Decimal(str(value)).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def json_number(value: Decimal, pointer: str) -> float:
    """A Decimal as the JSON number NetSuite expects; refused if a double would change it."""
    as_float = float(value)
    if len(value.as_tuple().digits) > _MAX_JSON_DIGITS or Decimal(repr(as_float)) != value:
        raise GatewayError(
            Code.ERP_REJECTED,
            f"{value} has more digits than the ERP keeps.",
            [FieldError(pointer, "Too many digits for the ERP.")],
        )
    return as_float


def line_amount(item: OrderItem, currency: str) -> Decimal:
    amount = item.price.amount * item.quantity
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def _ref_name(value: Any) -> str | None:
    name = value.get("refName") if isinstance(value, dict) else None
    return name if isinstance(name, str) else None


def _text(record: Mapping[str, Any], field: str) -> str | None:
    value = record.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise TypeError(f"{field} is not text")
    return str(value)


def _required_text(record: Mapping[str, Any], field: str) -> str:
    value = _text(record, field)
    if value is None:
        raise KeyError(field)
    return value


def _date(record: Mapping[str, Any], field: str) -> dt.date | None:
    value = _text(record, field)
    return dt.date.fromisoformat(value[:10]) if value else None


def _sublist(record: Mapping[str, Any], field: str) -> list[dict[str, Any]]:
    value = record.get(field)
    items = value.get("items") if isinstance(value, dict) else None
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError(f"{field} is not a sublist")
    return items


def _quantity(value: Any) -> int:
    quantity = Decimal(str(value))
    if quantity != quantity.to_integral_value():
        raise ValueError("fractional quantity")
    return int(quantity)


def bad_response(detail: str, *, ambiguous: bool = False) -> ErpFailure:
    return ErpFailure(Code.ERP_BAD_RESPONSE, detail, ambiguous=ambiguous)


def reading(function: Callable[P, R]) -> Callable[P, R]:
    """Turns a malformed ERP document into erp_bad_response instead of a crash."""

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise bad_response("The ERP sent a record the gateway could not read.") from exc

    return guarded


# --- paths ------------------------------------------------------------------------------------


def record_path(record_type: str, key: str | None = None) -> str:
    if key is None:
        return f"{RECORD_ROOT}/{record_type}"
    return f"{RECORD_ROOT}/{record_type}/{url_quote(key, safe=':')}"


def external_id_key(gateway_ref: str) -> str:
    return "eid:" + gateway_ref


def created_from_query(sales_order_erp_id: str) -> str | None:
    """The `q` that lists documents created from an order; None for an id NetSuite never has."""
    if not sales_order_erp_id.isdigit():
        return None
    return f"createdFrom ANY_OF [{sales_order_erp_id}]"


def record_id_from_location(location: str | None, record_type: str) -> str:
    """The internal id in a create's `Location` header. Without one the outcome is unknown: the
    record may exist, so the failure is ambiguous (the retry searches by gateway reference)."""
    marker = f"/{record_type}/"
    if location and marker in location:
        internal_id = location.rstrip("/").rpartition("/")[2]
        if internal_id.isdigit():
            return internal_id
    raise bad_response(
        "The ERP did not say where it saved the record; the outcome is unknown.", ambiguous=True
    )


# --- canonical -> NetSuite --------------------------------------------------------------------


def customer_record(
    request: CustomerCreate, refs: References, maps: NetSuiteMaps
) -> dict[str, Any]:
    """The `customer` record for a create; refuses inputs the value maps cannot translate."""
    legal = maps.legal_entity(request.legal_entity)
    currency_id = maps.currency_id(request.currency)
    terms_id = maps.terms_id(request.payment_terms)
    record: dict[str, Any] = {
        "externalId": refs.gateway_ref,
        "companyName": request.legal_name,
        "isPerson": False,
        "subsidiary": {"id": legal.subsidiary},
        "currency": {"id": currency_id},
        "terms": {"id": terms_id},
        "creditLimit": json_number(request.credit_limit, "/credit_limit"),
        "addressBook": {"items": _address_book(request)},
    }
    if refs.external_ref:
        # The CRM's account reference, where NetSuite keeps a customer's account number.
        record["accountNumber"] = refs.external_ref
    if request.email:
        record["email"] = request.email
    if request.tax_id:
        record["vatRegNumber"] = request.tax_id
    return record


def _address_book(request: CustomerCreate) -> list[dict[str, Any]]:
    """One address book line per canonical address, in the request's order (so NetSuite's
    `addressBook.items[n]` error paths point at `/addresses/n`); the billing address is also
    the default shipping one unless a shipping address is given."""
    ships_to_billing = request.shipping_address is None
    return [
        {
            "defaultBilling": address.type is AddressType.BILLING,
            "defaultShipping": address.type is AddressType.SHIPPING or ships_to_billing,
            "addressBookAddress": _book_address(address),
        }
        for address in request.addresses
    ]


def _book_address(address: Address) -> dict[str, Any]:
    book_address: dict[str, Any] = {
        "addr1": address.line1,
        "city": address.city,
        "zip": address.postal_code,
        "country": {"id": address.country},
    }
    if address.line2:
        book_address["addr2"] = address.line2
    if address.region:
        book_address["state"] = address.region
    return book_address


def sales_order_record(
    legal_entity: str,
    customer_erp_id: str,
    currency: str,
    requested_delivery_date: dt.date | None,
    order_items: Sequence[OrderItem],
    refs: References,
    maps: NetSuiteMaps,
) -> dict[str, Any]:
    """The `salesOrder` record for a create; refuses inputs the value maps cannot translate."""
    legal = maps.legal_entity(legal_entity)
    currency_id = maps.currency_id(currency)
    item_ids = maps.item_ids(order_items)
    items = [
        {
            "item": {"id": item_id},
            "quantity": item.quantity,
            "rate": json_number(item.price.amount, f"/items/{i}/price/amount"),
            "amount": json_number(line_amount(item, currency), f"/items/{i}/price/amount"),
        }
        for i, (item, item_id) in enumerate(zip(order_items, item_ids, strict=True))
    ]
    record: dict[str, Any] = {
        "externalId": refs.gateway_ref,
        "entity": {"id": customer_erp_id},
        "subsidiary": {"id": legal.subsidiary},
        "currency": {"id": currency_id},
        "item": {"items": items},
    }
    if refs.external_ref:
        record["otherRefNum"] = refs.external_ref
    if requested_delivery_date is not None:
        record["shipDate"] = requested_delivery_date.isoformat()
    return record


CANCEL_PATCH: dict[str, Any] = {"orderStatus": {"id": "C"}}


# --- NetSuite -> canonical --------------------------------------------------------------------


def _addresses(record: Mapping[str, Any]) -> tuple[CustomerAddress, ...]:
    """The default billing address (else the first), then a separate default shipping one."""
    lines = _sublist(record, "addressBook")
    if not lines:
        return ()
    billing = next((a for a in lines if a.get("defaultBilling") is True), lines[0])
    shipping = next((a for a in lines if a.get("defaultShipping") is True), billing)
    typed = [(billing, AddressType.BILLING)]
    if shipping is not billing:
        typed.append((shipping, AddressType.SHIPPING))
    found = (_address(line.get("addressBookAddress"), kind) for line, kind in typed)
    return tuple(a for a in found if a is not None)


def _address(raw: Any, kind: AddressType) -> CustomerAddress | None:
    if not isinstance(raw, dict):
        return None
    try:
        return CustomerAddress(
            type=kind,
            line1=_text(raw, "addr1") or "",
            line2=_text(raw, "addr2"),
            city=_text(raw, "city") or "",
            postal_code=_text(raw, "zip") or "",
            region=_text(raw, "state"),
            country=_ref_id(raw.get("country")) or "",
        )
    except ValidationError:
        # An address typed into NetSuite by hand need not fit the canonical schema.
        return None


@reading
def erp_customer(record: Mapping[str, Any], maps: NetSuiteMaps) -> ErpCustomer:
    erp_id = _required_text(record, "id")
    currency = maps.currency_code(record)
    blocked = record.get("isInactive") is True or _ref_id(record.get("creditHoldOverride")) == "ON"
    credit_limit = record.get("creditLimit")
    subsidiary = _ref_id(record.get("subsidiary"))
    terms = _ref_id(record.get("terms"))
    return ErpCustomer(
        erp_id=erp_id,
        document_number=_text(record, "entityId") or erp_id,
        status=CustomerStatus.BLOCKED if blocked else CustomerStatus.ACTIVE,
        legal_name=_text(record, "companyName") or _text(record, "entityId") or erp_id,
        legal_entity=maps.legal_entity_of_subsidiary.get(subsidiary) if subsidiary else None,
        currency=currency,
        external_ref=_text(record, "accountNumber"),
        gateway_ref=_text(record, "externalId"),
        tax_id=_text(record, "vatRegNumber"),
        email=_text(record, "email"),
        payment_terms=maps.terms_of_id.get(terms) if terms else None,
        credit_limit=money(credit_limit, currency) if credit_limit is not None else None,
        addresses=_addresses(record),
    )


def _sku(item: Any, maps: NetSuiteMaps) -> str:
    item_id = _ref_id(item)
    if item_id is None:
        raise KeyError("item")
    return maps.sku_of_item.get(item_id) or _ref_name(item) or item_id


def order_status_code(record: Mapping[str, Any]) -> str:
    """NetSuite's letter for the order's state, from `orderStatus` or else `status`."""
    code = _ref_id(record.get("orderStatus"))
    if code is not None and code in _ORDER_STATUS_NAMES.values():
        return code
    for field in ("orderStatus", "status"):
        value = record.get(field)
        for name in (_ref_name(value), _ref_id(value)):
            if name and name.lower() in _ORDER_STATUS_NAMES:
                return _ORDER_STATUS_NAMES[name.lower()]
    raise ValueError("sales order without a status")


def documents_needed(record: Mapping[str, Any]) -> Documents:
    """Which documents must be read to tell the canonical status of this order."""
    code = order_status_code(record)
    if code in _ENDED or record.get(CREDIT_HOLD_FIELD) is True:
        return Documents.NONE
    if code in _FULFILLING:
        return Documents.SHIPMENTS
    if code == _BILLED:
        return Documents.INVOICES
    return Documents.NONE


@reading
def sales_order_status(
    record: Mapping[str, Any],
    shipments: Sequence[ErpShipment] = (),
    invoices: Sequence[ErpInvoice] = (),
) -> tuple[SalesOrderStatus, HoldReason | None]:
    """The canonical status (and hold reason) of an order, given its fulfillments or invoices."""
    code = order_status_code(record)
    if code in _ENDED:
        return SalesOrderStatus.CANCELLED, None
    if record.get(CREDIT_HOLD_FIELD) is True:
        return SalesOrderStatus.ON_HOLD, HoldReason.CREDIT
    if code in _FULFILLING:
        all_shipped = bool(shipments) and all(s.status is ShipmentStatus.SHIPPED for s in shipments)
        if code == _FULLY_FULFILLED and all_shipped:
            return SalesOrderStatus.SHIPPED, None
        if any(s.status is ShipmentStatus.SHIPPED for s in shipments):
            return SalesOrderStatus.PARTIALLY_SHIPPED, None
        return SalesOrderStatus.IN_FULFILLMENT, None
    if code == _BILLED:
        live = [i for i in invoices if i.status is not InvoiceStatus.CANCELLED]
        if live and all(i.status is InvoiceStatus.PAID for i in live):
            return SalesOrderStatus.PAID, None
        return SalesOrderStatus.INVOICED, None
    return SalesOrderStatus.ACCEPTED, None


@reading
def erp_sales_order(
    record: Mapping[str, Any],
    maps: NetSuiteMaps,
    status: SalesOrderStatus,
    hold_reason: HoldReason | None,
) -> ErpSalesOrder:
    currency = maps.currency_code(record)
    lines = [
        ErpLine(
            sku=_sku(line.get("item"), maps),
            quantity=_quantity(line["quantity"]),
            unit_price=money(line["rate"], currency),
            amount=money(line["amount"], currency),
        )
        for line in _sublist(record, "item")
    ]
    net = record.get("subtotal")
    tax = record.get("taxTotal")
    total = record.get("total")
    customer = _ref_id(record.get("entity"))
    if customer is None or currency is None:
        raise KeyError("entity or currency")
    return ErpSalesOrder(
        erp_id=_required_text(record, "id"),
        document_number=_required_text(record, "tranId"),
        status=status,
        customer_erp_id=customer,
        currency=currency,
        lines=lines,
        net_amount=(
            money(net, currency)
            if net is not None
            else sum((ln.amount for ln in lines), Decimal(0))
        ),
        tax_amount=money(tax, currency) if tax is not None else None,
        total_amount=money(total, currency) if total is not None else None,
        hold_reason=hold_reason,
        requested_delivery_date=_date(record, "shipDate"),
        external_ref=_text(record, "otherRefNum"),
        gateway_ref=_text(record, "externalId"),
    )


@reading
def erp_shipment(record: Mapping[str, Any], maps: NetSuiteMaps) -> ErpShipment:
    ship_status = record.get("shipStatus") or record.get("status")
    shipped = any(
        (name or "").lower() in _SHIPPED_STATUS
        for name in (_ref_id(ship_status), _ref_name(ship_status))
    )
    order = _ref_id(record.get("createdFrom"))
    if order is None:
        raise KeyError("createdFrom")
    return ErpShipment(
        erp_id=_required_text(record, "id"),
        document_number=_required_text(record, "tranId"),
        sales_order_erp_id=order,
        status=ShipmentStatus.SHIPPED if shipped else ShipmentStatus.PENDING,
        shipped_at=_date(record, "tranDate") if shipped else None,
        lines=[
            ErpShipmentLine(sku=_sku(line.get("item"), maps), quantity=_quantity(line["quantity"]))
            for line in _sublist(record, "item")
        ],
    )


@reading
def erp_invoice(record: Mapping[str, Any], maps: NetSuiteMaps) -> ErpInvoice:
    currency = maps.currency_code(record)
    if currency is None:
        raise KeyError("currency")
    status_value = record.get("status")
    names = {(n or "").lower() for n in (_ref_id(status_value), _ref_name(status_value))}
    if _PAID_INVOICE in names:
        status = InvoiceStatus.PAID
    elif names & _CANCELLED_INVOICE:
        status = InvoiceStatus.CANCELLED
    else:
        status = InvoiceStatus.OPEN
    tax = record.get("taxTotal")
    return ErpInvoice(
        erp_id=_required_text(record, "id"),
        document_number=_required_text(record, "tranId"),
        sales_order_erp_id=_ref_id(record.get("createdFrom")),
        status=status,
        currency=currency,
        net_amount=money(record["subtotal"], currency),
        total_amount=money(record["total"], currency),
        tax_amount=money(tax, currency) if tax is not None else None,
        invoice_date=_date(record, "tranDate"),
        due_date=_date(record, "dueDate"),
    )


# --- quotes -----------------------------------------------------------------------------------


@reading
def item_price(item: Mapping[str, Any], currency_id: str) -> Decimal | None:
    """The item's base price in a currency, from its expanded `price` sublist."""
    for price in _sublist(item, "price"):
        level = price.get("priceLevel")
        if _ref_id(price.get("currencyPage")) != currency_id:
            continue
        if _ref_id(level) != BASE_PRICE_LEVEL_ID and _ref_name(level) != "Base Price":
            continue
        quantity = price.get("quantity")
        minimum = quantity.get("value") if isinstance(quantity, dict) else quantity
        if minimum in (None, "", 0, "0") and price.get("price") is not None:
            return Decimal(str(price["price"]))
    return None


@reading
def tax_rate(tax_item: Mapping[str, Any]) -> Decimal:
    """A tax code's rate as a fraction (NetSuite shows percent, e.g. 8.25 or "8.25%")."""
    rate = tax_item["rate"]
    text = str(rate).strip().rstrip("%") if not isinstance(rate, bool) else ""
    return Decimal(text) / 100


def customer_for_order(
    customer: Mapping[str, Any] | None,
    legal: NetSuiteLegalEntity,
    currency_id: str,
    currency: str,
) -> Mapping[str, Any]:
    """Refuses, as NetSuite refuses an order, a customer that cannot buy in this subsidiary."""
    if customer is None or customer.get("isInactive") is True:
        raise GatewayError(
            Code.CUSTOMER_NOT_FOUND,
            "The customer does not exist in the ERP, or is inactive there.",
            [FieldError("/customer_id", "Unknown customer.")],
        )
    if _ref_id(customer.get("subsidiary")) != legal.subsidiary:
        raise GatewayError(
            Code.CUSTOMER_LEGAL_ENTITY_MISMATCH,
            "The customer is not a customer of the order's legal entity in the ERP.",
            [FieldError("/customer_id", "The customer belongs to another legal entity.")],
        )
    customer_currency = _ref_id(customer.get("currency"))
    if customer_currency is not None and customer_currency != currency_id:
        raise GatewayError(
            Code.ERP_REJECTED,
            f"The customer does not trade in {currency}.",
            [FieldError("/currency", "Not a currency of this customer.")],
        )
    return customer


@reading
def available_credit(customer: Mapping[str, Any], currency: str) -> Decimal | None:
    """Credit limit less open receivables and unbilled orders; None when there is no limit."""
    limit = customer.get("creditLimit")
    if limit is None:
        return None
    exposure = sum(
        (money(customer.get(f) or 0, currency) for f in ("balance", "unbilledOrders")),
        Decimal(0),
    )
    return money(limit, currency) - exposure


def priced_quote(
    items: Sequence[OrderItem],
    item_ids: Sequence[str],
    prices: Mapping[str, Decimal | None],
    currency: str,
    rate: Decimal | None,
    credit: Decimal | None,
) -> ErpQuote:
    """Prices the lines as NetSuite would price the order, refusing stale prices by line."""
    stale = []
    missing = []
    for i, (item, item_id) in enumerate(zip(items, item_ids, strict=True)):
        price = prices.get(item_id)
        sku, quoted = item.product_id, item.price.amount
        if price is None:
            missing.append(
                FieldError(f"/items/{i}/product_id", f"{sku} has no price in {currency}.")
            )
        elif price != quoted:
            stale.append(
                FieldError(
                    f"/items/{i}/price/amount",
                    f"The ERP's price of {sku} is {price} {currency}, not {quoted}.",
                )
            )
    if missing:
        raise GatewayError(
            Code.UNKNOWN_SKU, "Some products cannot be sold in this currency.", missing
        )
    if stale:
        raise GatewayError(
            Code.PRICE_MISMATCH,
            "Prices differ from the ERP's current prices; the quote was stale.",
            stale,
        )
    priced = [
        ErpLine(item.product_id, item.quantity, item.price.amount, line_amount(item, currency))
        for item in items
    ]
    net = sum((ln.amount for ln in priced), Decimal(0))
    unit = minor_unit(currency)
    tax = (net * rate).quantize(unit, rounding=ROUND_HALF_UP) if rate is not None else None
    total = net + (tax or Decimal(0))
    blocked = credit is not None and total > credit
    return ErpQuote(
        currency=currency,
        lines=priced,
        net_amount=net,
        credit_check=CreditCheck.WOULD_BLOCK if blocked else CreditCheck.PASSED,
        tax_amount=tax,
        total_amount=total,
    )


# --- tokens -----------------------------------------------------------------------------------


def token_from_response(response: ErpResponse) -> tuple[str, float]:
    """The bearer token and its lifetime in seconds from a client-credentials answer."""
    if response.status != 200:
        if response.status >= 500 or response.status == 429:
            raise ErpFailure(Code.ERP_UNAVAILABLE, "The ERP's token service is unavailable.")
        raise ErpFailure(
            Code.ERP_UNAVAILABLE,
            "The ERP refused the gateway's client credentials; an operator must fix them.",
        )
    body = response.json()
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise bad_response("The ERP's token service sent no access token.")
    try:
        ttl = float(body.get("expires_in") or DEFAULT_TOKEN_TTL_S)
    except (TypeError, ValueError):
        ttl = DEFAULT_TOKEN_TTL_S
    return token, max(ttl, 1.0)


# --- errors -----------------------------------------------------------------------------------

_LINE_PATH = re.compile(r"^item\.items\[(\d+)\]\.(\w+)")
_ADDRESS_PATH = re.compile(r"^addressBook(?:\.items\[(\d+)\](?:\.addressBookAddress)?)?\.?(\w*)")

_CUSTOMER_FIELDS: dict[str, tuple[Code, str]] = {
    "vatRegNumber": (Code.TAX_ID_REQUIRED, "/tax_id"),
    "terms": (Code.INVALID_PAYMENT_TERMS, "/payment_terms"),
    "subsidiary": (Code.ERP_REJECTED, "/legal_entity"),
    "currency": (Code.ERP_REJECTED, "/currency"),
    "email": (Code.ERP_REJECTED, "/email"),
    "companyName": (Code.ERP_REJECTED, "/legal_name"),
    "creditLimit": (Code.ERP_REJECTED, "/credit_limit"),
    "accountNumber": (Code.ERP_REJECTED, "/external_ref"),
}
_ADDRESS_FIELDS = {
    "addr1": "line1",
    "addr2": "line2",
    "city": "city",
    "zip": "postal_code",
    "state": "region",
    "country": "country",
}
_ORDER_FIELDS: dict[str, tuple[Code, str]] = {
    "entity": (Code.CUSTOMER_NOT_FOUND, "/customer_id"),
    "subsidiary": (Code.CUSTOMER_LEGAL_ENTITY_MISMATCH, "/customer_id"),
    "currency": (Code.ERP_REJECTED, "/currency"),
    "shipDate": (Code.ERP_REJECTED, "/requested_delivery_date"),
    "otherRefNum": (Code.ERP_REJECTED, "/external_ref"),
}
_ORDER_LINE_FIELDS: dict[str, tuple[Code, str]] = {
    "item": (Code.UNKNOWN_SKU, "product_id"),
    "rate": (Code.PRICE_MISMATCH, "price/amount"),
    "amount": (Code.ERP_REJECTED, "price/amount"),
    "quantity": (Code.ERP_REJECTED, "quantity"),
}


def _customer_pointer(path: str) -> tuple[Code, str] | None:
    if path.startswith("addressBook"):
        match = _ADDRESS_PATH.match(path)
        index, field = match.groups() if match else (None, "")
        # Address book lines are written in the request's order (see `_address_book`).
        address = f"/addresses/{index or 0}"
        return Code.ERP_REJECTED, (
            f"{address}/{_ADDRESS_FIELDS[field]}" if field in _ADDRESS_FIELDS else address
        )
    return _CUSTOMER_FIELDS.get(path)


def _order_pointer(path: str) -> tuple[Code, str] | None:
    match = _LINE_PATH.match(path)
    if match:
        code_and_field = _ORDER_LINE_FIELDS.get(match.group(2))
        if code_and_field is None:
            return Code.ERP_REJECTED, f"/items/{match.group(1)}"
        code, field = code_and_field
        return code, f"/items/{match.group(1)}/{field}"
    return _ORDER_FIELDS.get(path)


_POINTERS: dict[Interaction, Callable[[str], tuple[Code, str] | None]] = {
    Interaction.CUSTOMER_CREATE: _customer_pointer,
    Interaction.SALES_ORDER_CREATE: _order_pointer,
}


def error_details(response: ErpResponse) -> list[dict[str, Any]]:
    """NetSuite's `o:errorDetails`; an error without them is a bad response."""
    body = response.json()
    details = body.get("o:errorDetails") if isinstance(body, dict) else None
    if (
        not isinstance(details, list)
        or not details
        or not all(isinstance(d, dict) for d in details)
    ):
        raise bad_response(f"The ERP answered HTTP {response.status} with an unreadable error.")
    return details


def same_submission(sent: Mapping[str, Any], saved: Mapping[str, Any]) -> bool:
    """Whether a record saved under our externalId is what we are submitting now (a retry),
    judged on the fields that identify a submission: who, where, what and how many."""

    def ref(record: Mapping[str, Any], name: str) -> Any:
        value = record.get(name)
        return value.get("id") if isinstance(value, Mapping) else value

    def lines(record: Mapping[str, Any]) -> list[tuple[Any, Any]]:
        items = (
            record.get("item", {}).get("items", [])
            if isinstance(record.get("item"), Mapping)
            else []
        )
        return [(ref(i, "item"), float(i.get("quantity", 0))) for i in items]

    fields = [n for n in ("entity", "subsidiary", "companyName") if n in sent]
    return all(ref(sent, n) == ref(saved, n) for n in fields) and lines(sent) == lines(saved)


def is_duplicate_external_id(response: ErpResponse) -> bool:
    if response.status != 400:
        return False
    try:
        details = error_details(response)
    except ErpFailure:
        return False
    return any(
        d.get("o:errorCode") == DUPLICATE_RECORD_CODE or d.get("o:errorPath") == "externalId"
        for d in details
    )


def error_from_response(
    response: ErpResponse, interaction: Interaction, *, write: bool
) -> GatewayError:
    """The gateway error for a NetSuite answer that is not a success."""
    status = response.status
    if status >= 500:
        # A 503 is a refusal before any work; other server errors may follow a commit.
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            f"The ERP failed (HTTP {status}).",
            ambiguous=write and status != 503,
        )
    if status == 429:
        retry_after = response.header("Retry-After")
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            "The ERP is refusing requests for now (concurrency limit).",
            headers={"Retry-After": retry_after} if retry_after else {},
        )
    if status in (401, 403):
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            "The ERP refused the gateway's credentials or role; an operator must fix them.",
        )
    if status < 400:
        return bad_response(f"The ERP answered with unexpected HTTP {status}.", ambiguous=write)
    try:
        details = error_details(response)
    except ErpFailure as unreadable:
        return unreadable
    text = " ".join(str(d.get("detail") or "").strip() for d in details).strip()
    text = text or f"The ERP refused the request (HTTP {status})."
    if status == 404:
        return GatewayError(Code.NOT_FOUND, text)
    if interaction is Interaction.CANCEL:
        return GatewayError(Code.INVALID_STATE, text)
    pointer_of = _POINTERS.get(interaction)
    code: Code | None = None
    errors: list[FieldError] = []
    for detail in details:
        path = detail.get("o:errorPath")
        found = pointer_of(path) if pointer_of and isinstance(path, str) else None
        if found is None:
            continue
        code = code or found[0]
        message = str(detail.get("detail") or "Refused by the ERP.")
        errors.append(FieldError(found[1], message))
    return GatewayError(code or Code.ERP_REJECTED, text, errors)
