"""Customer handlers: create in the routed ERP, read from the record's home, find by CRM ref.

Not validation or policy (pipeline steps did that) and not ERP mapping (the adapters do).
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from gateway.adapters.base import References
from gateway.api.calls import call_erp, found_or_created, json_response
from gateway.api.views import customer_view
from gateway.api.xrefs import bind_created
from gateway.domain.errors import not_found
from gateway.domain.ids import gateway_reference, new_gateway_id
from gateway.domain.models import Customer, CustomerCreate, Page
from gateway.domain.operations import Kind
from gateway.pipeline.context import RequestContext
from gateway.pipeline.entitlements import entitlement_for
from gateway.store.base import XrefRecord

MAX_LOOKUP_MATCHES = 20
LOOKUP_CONCURRENCY = 4


async def create_customer(ctx: RequestContext) -> Response:
    request: CustomerCreate = ctx.payload
    gateway_id = new_gateway_id(Kind.CUSTOMER)
    refs = References(
        request.external_ref, gateway_reference(ctx.client_id, ctx.idempotency_key, gateway_id)
    )
    erp = await found_or_created(
        ctx,
        lambda a, call: a.find_customer_by_gateway_ref(refs.gateway_ref, call),
        lambda a, call: a.create_customer(request, refs, call),
    )
    record = await bind_created(
        ctx,
        Kind.CUSTOMER,
        gateway_id,
        legal_entity=request.legal_entity,
        erp_id=erp.erp_id,
        erp_document_number=erp.document_number,
        refs=refs,
    )
    location = f"/{ctx.api_version}/customers/{record.gateway_id}"
    return json_response(customer_view(erp, record), 201, {"Location": location})


async def _read_customer(ctx: RequestContext, record: XrefRecord) -> Customer | None:
    erp = await call_erp(ctx, lambda a, call: a.get_customer(record.erp_id, call), record.backend)
    return customer_view(erp, record) if erp is not None else None


async def get_customer(ctx: RequestContext) -> Response:
    assert ctx.record is not None
    customer = await _read_customer(ctx, ctx.record)
    if customer is None:
        raise not_found(f"No customer {ctx.record.gateway_id}.")
    return json_response(customer)


async def find_customers(ctx: RequestContext) -> Response:
    """Customers created with this CRM reference, in the legal entities the client may see."""
    entitlement = entitlement_for(ctx)
    records = await ctx.runtime.store.find_xrefs_by_external_ref(
        Kind.CUSTOMER, ctx.query.external_ref
    )
    # external_ref is not unique: read at most the newest few matches, a few at a time, so one
    # lookup cannot fan out into a burst of ERP calls.
    visible = [r for r in records if entitlement.may_act_for(r.legal_entity)]
    newest = visible[-MAX_LOOKUP_MATCHES:]
    gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def read(record: XrefRecord) -> Customer | None:
        async with gate:
            return await _read_customer(ctx, record)

    found = await asyncio.gather(*(read(r) for r in newest))
    return json_response(Page[Customer](items=[c for c in found if c is not None]))
