"""Canonical views of ERP documents: ERP results plus xref records -> API resources.

Not ERP mapping (the adapters did that); this only adds gateway ids and the record's facts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.adapters.base import (
    ErpCustomer,
    ErpInvoice,
    ErpLine,
    ErpNotice,
    ErpQuote,
    ErpSalesOrder,
    ErpShipment,
)
from gateway.domain.models import (
    Customer,
    Invoice,
    QuoteResult,
    SalesOrder,
    Shipment,
)
from gateway.store.base import XrefRecord

# Each view validates its resource as one document (`model_validate` of nested dicts): one
# call into pydantic's validator, where a model built of models validated each one on its own
# (seven calls for an order of one line, more than twice the time).
Fields = dict[str, Any]


def _money(amount: Decimal, currency: str) -> Fields:
    return {"amount": amount, "currency": currency}


def _optional_money(amount: Decimal | None, currency: str) -> Fields | None:
    return _money(amount, currency) if amount is not None else None


def _items(lines: list[ErpLine], currency: str) -> list[Fields]:
    return [
        {
            "product_id": ln.sku,
            "quantity": ln.quantity,
            "price": _money(ln.unit_price, currency),
            "amount": _money(ln.amount, currency),
        }
        for ln in lines
    ]


def _notices(notices: tuple[ErpNotice, ...]) -> list[Fields]:
    return [{"message": n.message, "erp_message": n.erp_message} for n in notices]


def customer_view(erp: ErpCustomer, record: XrefRecord) -> Customer:
    return Customer.model_validate(
        {
            "id": record.gateway_id,
            "status": erp.status,
            "erp_reference": erp.document_number,
            "external_ref": erp.external_ref or record.external_ref,
            "legal_entity": record.legal_entity,
            "legal_name": erp.legal_name,
            "display_name": erp.display_name,
            "tax_id": erp.tax_id,
            "email": erp.email,
            "currency": erp.currency or "",
            "payment_terms": erp.payment_terms,
            "credit_limit": erp.credit_limit,
            "addresses": list(erp.addresses),
            "warnings": _notices(erp.notices),
        }
    )


def sales_order_view(erp: ErpSalesOrder, record: XrefRecord) -> SalesOrder:
    return SalesOrder.model_validate(
        {
            "id": record.gateway_id,
            "status": erp.status,
            "hold_reason": erp.hold_reason,
            "erp_reference": erp.document_number,
            "external_ref": erp.external_ref or record.external_ref,
            "legal_entity": record.legal_entity,
            "customer_id": record.parent_id or "",
            "currency": erp.currency,
            "requested_delivery_date": erp.requested_delivery_date,
            "items": _items(erp.lines, erp.currency),
            "net_amount": _money(erp.net_amount, erp.currency),
            "tax_amount": _optional_money(erp.tax_amount, erp.currency),
            "total_amount": _optional_money(erp.total_amount, erp.currency),
            "warnings": _notices(erp.notices),
        }
    )


def shipment_view(erp: ErpShipment, record: XrefRecord) -> Shipment:
    return Shipment.model_validate(
        {
            "id": record.gateway_id,
            "sales_order_id": record.parent_id or "",
            "status": erp.status,
            "erp_reference": erp.document_number,
            "shipped_at": erp.shipped_at,
            "items": [{"product_id": ln.sku, "quantity": ln.quantity} for ln in erp.lines],
        }
    )


def invoice_view(erp: ErpInvoice, record: XrefRecord) -> Invoice:
    return Invoice.model_validate(
        {
            "id": record.gateway_id,
            "sales_order_id": record.parent_id,
            "status": erp.status,
            "erp_reference": erp.document_number,
            "currency": erp.currency,
            "invoice_date": erp.invoice_date,
            "due_date": erp.due_date,
            "net_amount": _money(erp.net_amount, erp.currency),
            "tax_amount": _optional_money(erp.tax_amount, erp.currency),
            "total_amount": _money(erp.total_amount, erp.currency),
        }
    )


def quote_view(erp: ErpQuote, legal_entity: str, customer_id: str) -> QuoteResult:
    return QuoteResult.model_validate(
        {
            "valid": True,
            "legal_entity": legal_entity,
            "customer_id": customer_id,
            "currency": erp.currency,
            "items": _items(erp.lines, erp.currency),
            "net_amount": _money(erp.net_amount, erp.currency),
            "tax_amount": _optional_money(erp.tax_amount, erp.currency),
            "total_amount": _optional_money(erp.total_amount, erp.currency),
            "credit_check": erp.credit_check,
            "warnings": _notices(erp.notices),
        }
    )
