"""Customers: create in the routed ERP, read from the record's home, find by the CRM's reference.

Not validation or policy (pipeline steps did that), not ERP mapping (the adapters do) and not
HTTP (see `gateway.api.customers`).
"""

from __future__ import annotations

import asyncio

from gateway.domain.errors import not_found
from gateway.domain.models import Customer, CustomerCreate
from gateway.domain.operations import Kind
from gateway.pipeline.context import RequestContext
from gateway.pipeline.routing import record_placement
from gateway.routing.affinity import new_customer_id
from gateway.routing.rules import RoutingTable
from gateway.service.erp_calls import ErpCalls
from gateway.service.views import customer_view
from gateway.service.xrefs import bind_created, references
from gateway.store.base import Store, XrefRecord

MAX_LOOKUP_MATCHES = 20
LOOKUP_CONCURRENCY = 4


class Customers:
    def __init__(self, erp: ErpCalls, store: Store, routing: RoutingTable) -> None:
        self._erp = erp
        self._store = store
        self._routing = routing

    async def create(self, ctx: RequestContext, request: CustomerCreate) -> Customer:
        # The id carries the bucket the creation was routed by: its orders follow it.
        gateway_id = new_customer_id(request.external_ref)
        refs = references(ctx, request.external_ref, gateway_id)
        erp = await self._erp.found_or_created(
            ctx,
            lambda a, call: a.find_customer_by_gateway_ref(refs.gateway_ref, call),
            lambda a, call: a.create_customer(request, refs, call),
        )
        record = await bind_created(
            self._store,
            ctx,
            Kind.CUSTOMER,
            gateway_id,
            legal_entity=request.legal_entity,
            erp_id=erp.erp_id,
            erp_document_number=erp.document_number,
            refs=refs,
        )
        return customer_view(erp, record)

    async def _read(self, ctx: RequestContext, record: XrefRecord, backend: str) -> Customer | None:
        """The customer as `backend` holds it (one of the ERPs it is present in)."""
        document = record.document_in(backend) or record.home
        erp = await self._erp.call(
            ctx, lambda a, call: a.get_customer(document.erp_id, call), document.backend
        )
        return customer_view(erp, record) if erp is not None else None

    async def get(self, ctx: RequestContext, record: XrefRecord) -> Customer:
        """The customer, read where the routing step placed the request."""
        customer = await self._read(ctx, record, ctx.system_of_record)
        if customer is None:
            raise not_found(f"No customer {record.gateway_id}.")
        return customer

    async def find(self, ctx: RequestContext, external_ref: str) -> list[Customer]:
        """Customers created with this CRM reference, in the legal entities the client may see."""
        entitlement = ctx.entitlement
        assert entitlement is not None, "authorization runs before handlers"
        records = await self._store.find_xrefs_by_external_ref(Kind.CUSTOMER, external_ref)
        # external_ref is not unique: read at most the newest few matches, a few at a time, so
        # one lookup cannot fan out into a burst of ERP calls.
        visible = [r for r in records if entitlement.may_act_for(r.legal_entity)]
        newest = visible[-MAX_LOOKUP_MATCHES:]
        gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

        async def read(record: XrefRecord) -> Customer | None:
            placed = record_placement(self._routing, ctx.spec.operation, record, ctx.arrived_at)
            # A lookup names no legal entity, so admission took no ERP's budget: each read
            # takes its own (`ErpCalls.call`).
            async with gate:
                return await self._read(ctx, record, placed.backend)

        reads = [asyncio.ensure_future(read(r)) for r in newest]
        try:
            found = await asyncio.gather(*reads)
        except BaseException:
            # The lookup is answered with this failure: the other reads are of use to nobody.
            # Cancelled, and awaited so that each gives back its share of its ERP's budget.
            for pending in reads:
                pending.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
            raise
        return [c for c in found if c is not None]
