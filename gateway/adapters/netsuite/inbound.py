"""NetSuite records to canonical results: customers, sales orders and their status (read with
their fulfillments and invoices where those decide it), item fulfillments and invoices.

Not the records sent (see `outbound.py`) nor refusals (see `errors.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from gateway.adapters.base import (
    ErpCustomer,
    ErpInvoice,
    ErpLine,
    ErpSalesOrder,
    ErpShipment,
    ErpShipmentLine,
)
from gateway.adapters.netsuite.fields import (
    date_field,
    money,
    money_in,
    number,
    quantity_of,
    ref_id,
    ref_name,
    required_text,
    sublist,
    text_field,
)
from gateway.adapters.netsuite.records import CREDIT_HOLD_FIELD, Documents
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.adapters.prices import minor_unit, unit_price
from gateway.adapters.value_maps import LEGAL_ENTITY, PAYMENT_TERMS, SKU
from gateway.domain.models import (
    AddressType,
    CustomerAddress,
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    SalesOrderStatus,
    ShipmentStatus,
)

# NetSuite's sales-order statuses: the letter REST sends as `orderStatus.id`, and its name
# (`orderStatus.refName`, and the `status` field). C is set by the Cancel button of NetSuite's
# user interface; H by closing every line (how the gateway cancels, see `cancellation.py`).
ORDER_STATUS_LABELS = {
    "A": "Pending Approval",
    "B": "Pending Fulfillment",
    "C": "Cancelled",
    "D": "Partially Fulfilled",
    "E": "Pending Billing/Partially Fulfilled",
    "F": "Pending Billing",
    "G": "Billed",
    "H": "Closed",
}
_ORDER_STATUS_NAMES = {name.lower(): letter for letter, name in ORDER_STATUS_LABELS.items()}
_ORDER_STATUS_CODES = frozenset(ORDER_STATUS_LABELS)


_ENDED = frozenset({"C", "H"})
_FULFILLING = frozenset({"D", "E", "F"})
_FULLY_FULFILLED = "F"
_BILLED = "G"
_SHIPPED_STATUS = ("C", "shipped")
_PAID_INVOICE = "paid in full"
_CANCELLED_INVOICE = frozenset({"voided", "cancelled", "rejected"})


def _addresses(record: Mapping[str, Any]) -> tuple[CustomerAddress, ...]:
    """The default billing address (else the first), then a separate default shipping one."""
    lines = sublist(record, "addressBook")
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
            line1=text_field(raw, "addr1") or "",
            line2=text_field(raw, "addr2"),
            city=text_field(raw, "city") or "",
            postal_code=text_field(raw, "zip") or "",
            region=text_field(raw, "state"),
            country=ref_id(raw.get("country")) or "",
        )
    except ValidationError:
        # An address typed into NetSuite by hand need not fit the canonical schema.
        return None


def erp_customer(record: Mapping[str, Any], maps: NetSuiteMaps) -> ErpCustomer:
    erp_id = required_text(record, "id")
    currency = maps.currency_code(record)
    blocked = record.get("isInactive") is True or ref_id(record.get("creditHoldOverride")) == "ON"
    credit_limit = record.get("creditLimit")
    subsidiary = ref_id(record.get("subsidiary"))
    terms = ref_id(record.get("terms"))
    return ErpCustomer(
        erp_id=erp_id,
        document_number=text_field(record, "entityId") or erp_id,
        status=CustomerStatus.BLOCKED if blocked else CustomerStatus.ACTIVE,
        legal_name=text_field(record, "companyName") or text_field(record, "entityId") or erp_id,
        legal_entity=maps.unmapped.canonical(
            maps.legal_entity_of_subsidiary, LEGAL_ENTITY, subsidiary or ""
        ),
        currency=currency,
        external_ref=text_field(record, "accountNumber"),
        gateway_ref=text_field(record, "externalId"),
        tax_id=text_field(record, "vatRegNumber"),
        email=text_field(record, "email"),
        payment_terms=maps.unmapped.canonical(maps.terms_of_id, PAYMENT_TERMS, terms or ""),
        credit_limit=money(credit_limit, currency) if credit_limit is not None else None,
        addresses=_addresses(record),
    )


def sku_of(item: Any, maps: NetSuiteMaps) -> str:
    item_id = ref_id(item)
    if item_id is None:
        raise KeyError("item")
    # One the maps do not know shows as NetSuite's item name (else its id), reported.
    return maps.unmapped.canonical(maps.sku_of_item, SKU, item_id) or ref_name(item) or item_id


def order_status_code(record: Mapping[str, Any]) -> str:
    """NetSuite's letter for the order's state, from `orderStatus` or else `status`."""
    code = ref_id(record.get("orderStatus"))
    if code is not None and code in _ORDER_STATUS_CODES:
        return code
    for field in ("orderStatus", "status"):
        value = record.get(field)
        for name in (ref_name(value), ref_id(value)):
            if name and name.lower() in _ORDER_STATUS_NAMES:
                return _ORDER_STATUS_NAMES[name.lower()]
    raise ValueError("sales order without a status")


def documents_needed(record: Mapping[str, Any]) -> Documents:
    """Which documents must be read to tell the canonical status of this order."""
    return needed_documents(order_status_code(record), record)


def needed_documents(code: str, record: Mapping[str, Any]) -> Documents:
    """`documents_needed`, the order's `order_status_code` read already."""
    if code in _ENDED or record.get(CREDIT_HOLD_FIELD) is True:
        return Documents.NONE
    if code in _FULFILLING:
        return Documents.SHIPMENTS
    if code == _BILLED:
        return Documents.INVOICES
    return Documents.NONE


def sales_order_status(
    record: Mapping[str, Any],
    shipments: Sequence[ErpShipment] = (),
    invoices: Sequence[ErpInvoice] = (),
) -> tuple[SalesOrderStatus, HoldReason | None]:
    """The canonical status (and hold reason) of an order, given its fulfillments or invoices."""
    return order_status(order_status_code(record), record, shipments, invoices)


def order_status(
    code: str,
    record: Mapping[str, Any],
    shipments: Sequence[ErpShipment],
    invoices: Sequence[ErpInvoice],
) -> tuple[SalesOrderStatus, HoldReason | None]:
    """`sales_order_status`, the order's `order_status_code` read already."""
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


def erp_sales_order(
    record: Mapping[str, Any],
    maps: NetSuiteMaps,
    status: SalesOrderStatus,
    hold_reason: HoldReason | None,
) -> ErpSalesOrder:
    currency = maps.currency_code(record)
    unit = minor_unit(currency)
    lines = [
        ErpLine(
            sku=sku_of(line.get("item"), maps),
            quantity=quantity_of(line["quantity"]),
            unit_price=unit_price(number(line["rate"]), unit),
            amount=money_in(line["amount"], unit),
        )
        for line in sublist(record, "item")
    ]
    net = record.get("subtotal")
    tax = record.get("taxTotal")
    total = record.get("total")
    customer = ref_id(record.get("entity"))
    if customer is None or currency is None:
        raise KeyError("entity or currency")
    return ErpSalesOrder(
        erp_id=required_text(record, "id"),
        document_number=required_text(record, "tranId"),
        status=status,
        customer_erp_id=customer,
        currency=currency,
        lines=lines,
        net_amount=(
            money_in(net, unit) if net is not None else sum((ln.amount for ln in lines), Decimal(0))
        ),
        tax_amount=money_in(tax, unit) if tax is not None else None,
        total_amount=money_in(total, unit) if total is not None else None,
        hold_reason=hold_reason,
        requested_delivery_date=date_field(record, "shipDate"),
        external_ref=text_field(record, "otherRefNum"),
        gateway_ref=text_field(record, "externalId"),
    )


def erp_shipment(record: Mapping[str, Any], maps: NetSuiteMaps) -> ErpShipment:
    ship_status = record.get("shipStatus") or record.get("status")
    shipped = any(
        (name or "").lower() in _SHIPPED_STATUS
        for name in (ref_id(ship_status), ref_name(ship_status))
    )
    order = ref_id(record.get("createdFrom"))
    if order is None:
        raise KeyError("createdFrom")
    return ErpShipment(
        erp_id=required_text(record, "id"),
        document_number=required_text(record, "tranId"),
        sales_order_erp_id=order,
        status=ShipmentStatus.SHIPPED if shipped else ShipmentStatus.PENDING,
        shipped_at=date_field(record, "tranDate") if shipped else None,
        lines=[
            ErpShipmentLine(
                sku=sku_of(line.get("item"), maps), quantity=quantity_of(line["quantity"])
            )
            for line in sublist(record, "item")
        ],
    )


def erp_invoice(record: Mapping[str, Any], maps: NetSuiteMaps) -> ErpInvoice:
    currency = maps.currency_code(record)
    if currency is None:
        raise KeyError("currency")
    status_value = record.get("status")
    names = {(n or "").lower() for n in (ref_id(status_value), ref_name(status_value))}
    if _PAID_INVOICE in names:
        status = InvoiceStatus.PAID
    elif names & _CANCELLED_INVOICE:
        status = InvoiceStatus.CANCELLED
    else:
        status = InvoiceStatus.OPEN
    tax = record.get("taxTotal")
    return ErpInvoice(
        erp_id=required_text(record, "id"),
        document_number=required_text(record, "tranId"),
        sales_order_erp_id=ref_id(record.get("createdFrom")),
        status=status,
        currency=currency,
        net_amount=money(record["subtotal"], currency),
        total_amount=money(record["total"], currency),
        tax_amount=money(tax, currency) if tax is not None else None,
        invoice_date=date_field(record, "tranDate"),
        due_date=date_field(record, "dueDate"),
    )
