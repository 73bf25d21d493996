"""Shipment and invoice handlers: documents the ERP creates on its own, given stable ids.

Not ERP mapping (the adapters do that); read where the sales order lives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.responses import Response

from gateway.adapters.base import ErpInvoice, ErpShipment
from gateway.api.calls import call_erp, json_response
from gateway.api.views import invoice_view, shipment_view
from gateway.api.xrefs import xref_for_erp_document
from gateway.domain.errors import not_found
from gateway.domain.models import Invoice, Page, Shipment
from gateway.domain.operations import Kind
from gateway.pipeline.context import RequestContext
from gateway.store.base import XrefRecord


async def _with_ids(
    ctx: RequestContext, kind: Kind, documents: Sequence[ErpShipment] | Sequence[ErpInvoice]
) -> list[XrefRecord]:
    """The gateway record of each document of the request's sales order, minted on first sight."""
    order = ctx.record
    assert order is not None
    store = ctx.runtime.store
    return list(
        await asyncio.gather(
            *(
                xref_for_erp_document(store, kind, order, d.erp_id, d.document_number)
                for d in documents
            )
        )
    )


async def list_shipments(ctx: RequestContext) -> Response:
    order = ctx.record
    assert order is not None
    shipments = await call_erp(ctx, lambda a, call: a.list_shipments(order.erp_id, call))
    records = await _with_ids(ctx, Kind.SHIPMENT, shipments)
    items = [shipment_view(s, r) for s, r in zip(shipments, records, strict=True)]
    return json_response(Page[Shipment](items=items))


async def list_invoices(ctx: RequestContext) -> Response:
    order = ctx.record
    assert order is not None
    invoices = await call_erp(ctx, lambda a, call: a.list_invoices(order.erp_id, call))
    records = await _with_ids(ctx, Kind.INVOICE, invoices)
    items = [invoice_view(i, r) for i, r in zip(invoices, records, strict=True)]
    return json_response(Page[Invoice](items=items))


async def get_invoice(ctx: RequestContext) -> Response:
    record = ctx.record
    assert record is not None
    invoice = await call_erp(ctx, lambda a, call: a.get_invoice(record.erp_id, call))
    if invoice is None:
        raise not_found(f"No invoice {record.gateway_id}.")
    return json_response(invoice_view(invoice, record))
