"""Shipments and invoices: documents the ERP creates on its own, given stable gateway ids.

Not ERP mapping (the adapters do that) and not HTTP (see `gateway.api.documents`); read where
the sales order lives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.adapters.base import ErpInvoice, ErpShipment
from gateway.domain.errors import not_found
from gateway.domain.models import Invoice, Shipment
from gateway.domain.operations import Kind
from gateway.pipeline.context import RequestContext
from gateway.service.erp_calls import ErpCalls
from gateway.service.views import invoice_view, shipment_view
from gateway.service.xrefs import xref_for_erp_document
from gateway.store.base import Store, XrefRecord


class Documents:
    def __init__(self, erp: ErpCalls, store: Store) -> None:
        self._erp = erp
        self._store = store

    async def _with_ids(
        self,
        order: XrefRecord,
        kind: Kind,
        documents: Sequence[ErpShipment] | Sequence[ErpInvoice],
    ) -> list[XrefRecord]:
        """The gateway record of each document of `order`, minted on first sight."""
        return list(
            await asyncio.gather(
                *(
                    xref_for_erp_document(self._store, kind, order, d.erp_id, d.document_number)
                    for d in documents
                )
            )
        )

    async def shipments(self, ctx: RequestContext, order: XrefRecord) -> list[Shipment]:
        shipments = await self._erp.call(ctx, lambda a, call: a.list_shipments(order.erp_id, call))
        records = await self._with_ids(order, Kind.SHIPMENT, shipments)
        return [shipment_view(s, r) for s, r in zip(shipments, records, strict=True)]

    async def invoices(self, ctx: RequestContext, order: XrefRecord) -> list[Invoice]:
        invoices = await self._erp.call(ctx, lambda a, call: a.list_invoices(order.erp_id, call))
        records = await self._with_ids(order, Kind.INVOICE, invoices)
        return [invoice_view(i, r) for i, r in zip(invoices, records, strict=True)]

    async def invoice(self, ctx: RequestContext, record: XrefRecord) -> Invoice:
        invoice = await self._erp.call(ctx, lambda a, call: a.get_invoice(record.erp_id, call))
        if invoice is None:
            raise not_found(f"No invoice {record.gateway_id}.")
        return invoice_view(invoice, record)
