"""The HTTP handlers of the domain API: the validated request in, the service's answer out as
JSON, with the status and headers each operation answers with.

Not what the operations do (see `gateway.service`) nor their endpoints (see `endpoints.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from pydantic import BaseModel
from starlette.responses import Response

from gateway.domain.errors import bad_cursor
from gateway.domain.events import CLOUDEVENTS_BATCH_JSON, batch_json
from gateway.domain.models import Customer, Invoice, Page, QuoteResult, SalesOrder, Shipment
from gateway.pipeline.context import DocumentOutcome, RequestContext
from gateway.pipeline.entitlements import grants
from gateway.service.services import Services
from gateway.store.base import XrefRecord
from gateway.store.events import BadCursor

JSON = "application/json"

ApiHandler = Callable[[RequestContext, Services], Awaitable[Response]]
T = TypeVar("T")


class JsonResponse(Response):
    """A JSON answer, its headers as Starlette's checks of any response make them: the ones
    given, then its `content-length` and `content-type` (built at once, unless it has a status
    without a body or the headers given set either)."""

    media_type = JSON

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        if self.status_code < 200 or self.status_code in (204, 304):
            super().init_headers(headers)
            return
        length = (b"content-length", str(len(self.body)).encode("latin-1"))
        if headers is None:
            self.raw_headers = [length, _CONTENT_TYPE]
            return
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        for name, _ in raw:
            if name in _OWN_HEADERS:
                super().init_headers(headers)
                return
        raw += (length, _CONTENT_TYPE)
        self.raw_headers = raw


_CONTENT_TYPE = (b"content-type", JSON.encode("latin-1"))
_OWN_HEADERS = frozenset({b"content-length", b"content-type"})


def json_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    # The serializer's bytes, as `model_dump_json()` with its defaults makes them (before it
    # decodes them to a str, which was then encoded back).
    return JsonResponse(model.__pydantic_serializer__.to_json(model), status, headers)


def created(ctx: RequestContext, collection: str, resource: Customer | SalesOrder) -> Response:
    """201 with the new resource and its `Location` under the request's API version."""
    location = f"/{ctx.api_version}/{collection}/{resource.id}"
    return json_response(resource, 201, {"Location": location})


def _record(ctx: RequestContext) -> XrefRecord:
    assert ctx.record is not None, "the records step resolves the addressed record"
    return ctx.record


def _noted(ctx: RequestContext, resource: T) -> T:
    """The resource, noted on the context as the transaction's document (for the journal)."""
    if isinstance(resource, QuoteResult):
        ctx.document = DocumentOutcome(None, None, "valid" if resource.valid else "invalid")
    elif isinstance(resource, SalesOrder):
        ctx.document = DocumentOutcome(resource.id, resource.erp_reference, resource.status.value)
    elif isinstance(resource, Customer):
        ctx.document = DocumentOutcome(resource.id, resource.erp_reference, None)
    return resource


async def create_customer(ctx: RequestContext, services: Services) -> Response:
    customer = _noted(ctx, await services.customers.create(ctx, ctx.payload))
    return created(ctx, "customers", customer)


async def get_customer(ctx: RequestContext, services: Services) -> Response:
    return json_response(await services.customers.get(ctx, _record(ctx)))


async def find_customers(ctx: RequestContext, services: Services) -> Response:
    found = await services.customers.find(ctx, ctx.query.external_ref)
    return json_response(Page[Customer](items=found))


async def create_sales_order(ctx: RequestContext, services: Services) -> Response:
    order = _noted(ctx, await services.sales_orders.create(ctx, ctx.payload))
    return created(ctx, "sales-orders", order)


async def get_sales_order(ctx: RequestContext, services: Services) -> Response:
    return json_response(await services.sales_orders.get(ctx, _record(ctx)))


async def cancel_sales_order(ctx: RequestContext, services: Services) -> Response:
    return json_response(_noted(ctx, await services.sales_orders.cancel(ctx, _record(ctx))))


async def validate_quote(ctx: RequestContext, services: Services) -> Response:
    quote = await services.sales_orders.validate_quote(ctx, ctx.payload)
    return json_response(_noted(ctx, quote))


async def list_shipments(ctx: RequestContext, services: Services) -> Response:
    items = await services.documents.shipments(ctx, _record(ctx))
    return json_response(Page[Shipment](items=items))


async def list_invoices(ctx: RequestContext, services: Services) -> Response:
    items = await services.documents.invoices(ctx, _record(ctx))
    return json_response(Page[Invoice](items=items))


async def get_invoice(ctx: RequestContext, services: Services) -> Response:
    return json_response(await services.documents.invoice(ctx, _record(ctx)))


async def list_order_events(ctx: RequestContext, services: Services) -> Response:
    """The order's timeline: its events, oldest first, with their data as the version shows it."""
    bodies = await services.events.timeline(_record(ctx).gateway_id, ctx.api_version, _granted(ctx))
    return Response(batch_json(bodies), 200, media_type=CLOUDEVENTS_BATCH_JSON)


def _granted(ctx: RequestContext) -> Callable[[str], bool]:
    """Whether the caller (its client's policy and its token) has a scope: an event's data is
    shown to those who may read that resource (an invoice's to `invoices:read`)."""
    principal, entitlement = ctx.principal, ctx.entitlement
    assert principal is not None and entitlement is not None, "authorization ran"
    return lambda scope: grants(principal, entitlement, scope)


async def list_events(ctx: RequestContext, services: Services) -> Response:
    """Every event after a cursor that the client may see: the polling fallback of webhooks.
    `Link: <...?after=CURSOR>; rel="next"` says where to continue, even when none came."""
    assert ctx.entitlement is not None, "the authorization step sets the entitlement"
    query = ctx.query
    try:
        bodies, cursor = await services.events.log(
            query.after, query.limit, ctx.entitlement, ctx.api_version, _granted(ctx)
        )
    except BadCursor as exc:
        raise bad_cursor("/after", 'use the cursor of the last Link: rel="next"') from exc
    link = f'</{ctx.api_version}/events?after={cursor}&limit={query.limit}>; rel="next"'
    return Response(batch_json(bodies), 200, {"Link": link}, media_type=CLOUDEVENTS_BATCH_JSON)
