"""Binding ERP documents to stable gateway ids through the store's cross-reference.

Not the store (see `gateway.store`): this decides what a new xref record holds.
"""

from __future__ import annotations

import time

from gateway.adapters.base import References
from gateway.domain.ids import gateway_reference, new_gateway_id
from gateway.domain.operations import Kind
from gateway.pipeline.context import RequestContext
from gateway.store.base import Store, XrefRecord


def references(ctx: RequestContext, external_ref: str | None, gateway_id: str) -> References:
    """The two references a new document carries to the ERP: the CRM's, and the gateway's (from
    the client and its idempotency key, so that a retry finds the same document)."""
    return References(
        external_ref, gateway_reference(ctx.client_id, ctx.idempotency_key, gateway_id)
    )


def new_record(
    kind: Kind,
    gateway_id: str,
    *,
    legal_entity: str,
    client_id: str,
    backend: str,
    erp_id: str,
    erp_document_number: str,
    gateway_ref: str,
    external_ref: str | None = None,
    parent_id: str | None = None,
) -> XrefRecord:
    return XrefRecord(
        gateway_id=gateway_id,
        kind=kind,
        legal_entity=legal_entity,
        client_id=client_id,
        backend=backend,
        erp_id=erp_id,
        erp_document_number=erp_document_number,
        gateway_ref=gateway_ref,
        external_ref=external_ref,
        parent_id=parent_id,
        created_at=time.time(),
    )


async def bind_created(
    store: Store,
    ctx: RequestContext,
    kind: Kind,
    gateway_id: str,
    *,
    legal_entity: str,
    erp_id: str,
    erp_document_number: str,
    refs: References,
    parent_id: str | None = None,
) -> XrefRecord:
    """The xref of a document this request created (or reconciled) in its backend; if the
    document already has a gateway id (an earlier attempt bound it), that record.

    Under a key the request holds, unless it reconciles with an earlier attempt, the record
    is bound when admission settles, in the same round trip as the request's outcome; should
    the document have an id already, admission answers again, reconciling (see `admission.py`)."""
    record = new_record(
        kind,
        gateway_id,
        legal_entity=legal_entity,
        client_id=ctx.client_id,
        backend=ctx.system_of_record,
        erp_id=erp_id,
        erp_document_number=erp_document_number,
        gateway_ref=refs.gateway_ref,
        external_ref=refs.external_ref,
        parent_id=parent_id,
    )
    if ctx.claim is not None and not ctx.reconcile:
        ctx.binding = record
        return record
    return await store.put_xref(record)


async def xref_for_erp_document(
    store: Store,
    kind: Kind,
    parent: XrefRecord,
    erp_id: str,
    erp_document_number: str,
) -> XrefRecord:
    """The gateway record of a document the ERP created on its own (a shipment, an invoice),
    minted on first sight; concurrent first sights agree on one id (`put_xref` is atomic)."""
    existing = await store.get_xref_by_erp(parent.backend, kind, erp_id)
    if existing is not None:
        return existing
    gateway_id = new_gateway_id(kind)
    return await store.put_xref(
        new_record(
            kind,
            gateway_id,
            legal_entity=parent.legal_entity,
            client_id=parent.client_id,
            backend=parent.backend,
            erp_id=erp_id,
            erp_document_number=erp_document_number,
            gateway_ref=gateway_reference(parent.client_id, None, gateway_id),
            parent_id=parent.gateway_id,
        )
    )
