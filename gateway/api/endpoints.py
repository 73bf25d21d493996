"""The endpoint table: each HTTP endpoint of the domain API and the operation it performs.

One table for every version (the core speaks the newest; see `gateway.domain.versions`). Not the
handlers (see `handlers.py`) nor the ERP routing rules (see `gateway.routing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, Field

from gateway.api import handlers
from gateway.api.handlers import ApiHandler
from gateway.api.openapi_examples import RECORD_IDS
from gateway.domain.events import CLOUDEVENTS_BATCH_JSON, EventBatch
from gateway.domain.expected import Expected
from gateway.domain.ids import MAX_GATEWAY_ID_LENGTH
from gateway.domain.models import (
    Customer,
    CustomerCreate,
    ExternalRef,
    Invoice,
    Page,
    QuoteRequest,
    QuoteResult,
    SalesOrder,
    SalesOrderCreate,
    Shipment,
    Strict,
)
from gateway.domain.operations import Kind, Operation
from gateway.pipeline.operation import OperationSpec


class CustomerLookup(Strict):
    model_config = Strict.model_config | {"strict": False}
    external_ref: Annotated[
        ExternalRef,
        Field(description="The CRM's reference of the customer; the newest 20 matches."),
    ]


class InvoiceQuery(Strict):
    model_config = Strict.model_config | {"strict": False}
    sales_order_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_GATEWAY_ID_LENGTH,
            description="The sales order (gateway id) whose invoices to list.",
            examples=[RECORD_IDS[Kind.SALES_ORDER]],
        ),
    ]


class EventsQuery(Strict):
    model_config = Strict.model_config | {"strict": False}
    after: Annotated[
        str | None,
        Field(
            max_length=64,
            pattern=r"^[0-9-]+$",
            description="Where to continue: the cursor of the previous answer's "
            '`Link: <...>; rel="next"`; absent: from the oldest event kept.',
            examples=["1764504000000-0"],
        ),
        Expected(
            "Enter the cursor of the previous answer's next link: digits and dashes, such as "
            "1764504000000-0."
        ),
    ] = None
    limit: Annotated[
        int, Field(ge=1, le=500, description="The most events in one answer.", examples=[100])
    ] = 100


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: its method and path (relative to the version prefix: `/v1`, `/v2` or
    none), the operation it performs, its handler, and what a success returns (for OpenAPI)."""

    method: str
    path: str
    spec: OperationSpec
    handler: ApiHandler
    response_model: type[BaseModel]
    summary: str
    success_status: int = 200
    media_type: str = "application/json"


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/customers",
        OperationSpec(Operation.CUSTOMERS_CREATE, body_model=CustomerCreate),
        handlers.create_customer,
        Customer,
        "Create a customer in the legal entity's ERP",
        201,
    ),
    Endpoint(
        "GET",
        "/customers",
        OperationSpec(Operation.CUSTOMERS_READ, query_model=CustomerLookup),
        handlers.find_customers,
        Page[Customer],
        "Find customers by the CRM's reference",
    ),
    Endpoint(
        "GET",
        "/customers/{id}",
        OperationSpec(Operation.CUSTOMERS_READ, record_kind=Kind.CUSTOMER),
        handlers.get_customer,
        Customer,
        "Read a customer",
    ),
    Endpoint(
        "POST",
        "/sales-orders",
        OperationSpec(Operation.SALES_ORDERS_CREATE, body_model=SalesOrderCreate),
        handlers.create_sales_order,
        SalesOrder,
        "Create a sales order for a known customer",
        201,
    ),
    Endpoint(
        "GET",
        "/sales-orders/{id}",
        OperationSpec(Operation.SALES_ORDERS_READ, record_kind=Kind.SALES_ORDER),
        handlers.get_sales_order,
        SalesOrder,
        "Read a sales order",
    ),
    Endpoint(
        "POST",
        "/sales-orders/{id}/cancel",
        OperationSpec(Operation.SALES_ORDERS_CANCEL, record_kind=Kind.SALES_ORDER),
        handlers.cancel_sales_order,
        SalesOrder,
        "Cancel a sales order",
    ),
    Endpoint(
        "GET",
        "/sales-orders/{id}/shipments",
        OperationSpec(Operation.SHIPMENTS_READ, record_kind=Kind.SALES_ORDER),
        handlers.list_shipments,
        Page[Shipment],
        "List a sales order's shipments",
    ),
    Endpoint(
        "GET",
        "/invoices",
        OperationSpec(
            Operation.INVOICES_READ,
            query_model=InvoiceQuery,
            record_kind=Kind.SALES_ORDER,
            record_param="sales_order_id",
            record_in_query=True,
        ),
        handlers.list_invoices,
        Page[Invoice],
        "List a sales order's invoices",
    ),
    Endpoint(
        "GET",
        "/invoices/{id}",
        OperationSpec(Operation.INVOICES_READ, record_kind=Kind.INVOICE),
        handlers.get_invoice,
        Invoice,
        "Read an invoice",
    ),
    Endpoint(
        "GET",
        "/sales-orders/{id}/events",
        OperationSpec(Operation.SALES_ORDERS_READ, record_kind=Kind.SALES_ORDER),
        handlers.list_order_events,
        EventBatch,
        "List a sales order's events (its timeline, CloudEvents)",
        media_type=CLOUDEVENTS_BATCH_JSON,
    ),
    Endpoint(
        "GET",
        "/events",
        OperationSpec(Operation.SALES_ORDERS_READ, query_model=EventsQuery),
        handlers.list_events,
        EventBatch,
        "Poll the events of the legal entities the client may see, after a cursor",
        media_type=CLOUDEVENTS_BATCH_JSON,
    ),
    Endpoint(
        "POST",
        "/quotes/validate",
        OperationSpec(Operation.QUOTES_VALIDATE, body_model=QuoteRequest),
        handlers.validate_quote,
        QuoteResult,
        "Validate and price an order without creating it",
    ),
)
