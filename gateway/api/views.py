"""Canonical views of ERP documents: ERP results plus xref records -> API resources.

Not ERP mapping (the adapters did that); this only adds gateway ids and the record's facts.
"""

from __future__ import annotations

from gateway.adapters.base import (
    ErpCustomer,
    ErpInvoice,
    ErpLine,
    ErpQuote,
    ErpSalesOrder,
    ErpShipment,
)
from gateway.domain.models import (
    Customer,
    Invoice,
    PricedLine,
    QuoteResult,
    SalesOrder,
    Shipment,
    ShipmentLine,
)
from gateway.store.base import XrefRecord


def _lines(lines: list[ErpLine]) -> list[PricedLine]:
    return [
        PricedLine(sku=ln.sku, quantity=ln.quantity, unit_price=ln.unit_price, amount=ln.amount)
        for ln in lines
    ]


def customer_view(erp: ErpCustomer, record: XrefRecord) -> Customer:
    return Customer(
        id=record.gateway_id,
        status=erp.status,
        erp_reference=erp.document_number,
        external_ref=erp.external_ref or record.external_ref,
        legal_entity=record.legal_entity,
        name=erp.name,
        tax_id=erp.tax_id,
        email=erp.email,
        currency=erp.currency or "",
        payment_terms=erp.payment_terms,
        credit_limit=erp.credit_limit,
        address=erp.address,
    )


def sales_order_view(erp: ErpSalesOrder, record: XrefRecord) -> SalesOrder:
    return SalesOrder(
        id=record.gateway_id,
        status=erp.status,
        hold_reason=erp.hold_reason,
        erp_reference=erp.document_number,
        external_ref=erp.external_ref or record.external_ref,
        legal_entity=record.legal_entity,
        customer_id=record.parent_id or "",
        currency=erp.currency,
        requested_delivery_date=erp.requested_delivery_date,
        lines=_lines(erp.lines),
        net_amount=erp.net_amount,
        tax_amount=erp.tax_amount,
        total_amount=erp.total_amount,
    )


def shipment_view(erp: ErpShipment, record: XrefRecord) -> Shipment:
    return Shipment(
        id=record.gateway_id,
        sales_order_id=record.parent_id or "",
        status=erp.status,
        erp_reference=erp.document_number,
        shipped_at=erp.shipped_at,
        lines=[ShipmentLine(sku=ln.sku, quantity=ln.quantity) for ln in erp.lines],
    )


def invoice_view(erp: ErpInvoice, record: XrefRecord) -> Invoice:
    return Invoice(
        id=record.gateway_id,
        sales_order_id=record.parent_id,
        status=erp.status,
        erp_reference=erp.document_number,
        currency=erp.currency,
        invoice_date=erp.invoice_date,
        due_date=erp.due_date,
        net_amount=erp.net_amount,
        tax_amount=erp.tax_amount,
        total_amount=erp.total_amount,
    )


def quote_view(erp: ErpQuote, legal_entity: str, customer_id: str) -> QuoteResult:
    return QuoteResult(
        valid=True,
        legal_entity=legal_entity,
        customer_id=customer_id,
        currency=erp.currency,
        lines=_lines(erp.lines),
        net_amount=erp.net_amount,
        tax_amount=erp.tax_amount,
        total_amount=erp.total_amount,
        credit_check=erp.credit_check,
    )
