"""The route table: each HTTP route of the domain API and the operation it performs.

One table for every version (the core speaks the newest; see `gateway.api.versions`). Not the
handlers (see `customers.py`, `sales_orders.py`, `documents.py`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gateway.api import customers, documents, sales_orders
from gateway.api.operations import OperationSpec
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


class CustomerLookup(Strict):
    model_config = Strict.model_config | {"strict": False}
    external_ref: ExternalRef


class InvoiceQuery(Strict):
    model_config = Strict.model_config | {"strict": False}
    sales_order_id: Annotated[str, Field(min_length=1, max_length=64)]


# (method, path, spec); paths are relative to the version prefix (`/v1`, `/v2` or none).
ROUTES: list[tuple[str, str, OperationSpec]] = [
    (
        "POST",
        "/customers",
        OperationSpec(
            Operation.CUSTOMERS_CREATE,
            customers.create_customer,
            body_model=CustomerCreate,
            response_model=Customer,
            success_status=201,
            summary="Create a customer in the legal entity's ERP",
        ),
    ),
    (
        "GET",
        "/customers",
        OperationSpec(
            Operation.CUSTOMERS_READ,
            customers.find_customers,
            query_model=CustomerLookup,
            response_model=Page[Customer],
            summary="Find customers by the CRM's reference",
        ),
    ),
    (
        "GET",
        "/customers/{id}",
        OperationSpec(
            Operation.CUSTOMERS_READ,
            customers.get_customer,
            record_kind=Kind.CUSTOMER,
            response_model=Customer,
            summary="Read a customer",
        ),
    ),
    (
        "POST",
        "/sales-orders",
        OperationSpec(
            Operation.SALES_ORDERS_CREATE,
            sales_orders.create_sales_order,
            body_model=SalesOrderCreate,
            response_model=SalesOrder,
            success_status=201,
            summary="Create a sales order for a known customer",
        ),
    ),
    (
        "GET",
        "/sales-orders/{id}",
        OperationSpec(
            Operation.SALES_ORDERS_READ,
            sales_orders.get_sales_order,
            record_kind=Kind.SALES_ORDER,
            response_model=SalesOrder,
            summary="Read a sales order",
        ),
    ),
    (
        "POST",
        "/sales-orders/{id}/cancel",
        OperationSpec(
            Operation.SALES_ORDERS_CANCEL,
            sales_orders.cancel_sales_order,
            record_kind=Kind.SALES_ORDER,
            response_model=SalesOrder,
            summary="Cancel a sales order",
        ),
    ),
    (
        "GET",
        "/sales-orders/{id}/shipments",
        OperationSpec(
            Operation.SHIPMENTS_READ,
            documents.list_shipments,
            record_kind=Kind.SALES_ORDER,
            response_model=Page[Shipment],
            summary="List a sales order's shipments",
        ),
    ),
    (
        "GET",
        "/invoices",
        OperationSpec(
            Operation.INVOICES_READ,
            documents.list_invoices,
            query_model=InvoiceQuery,
            record_kind=Kind.SALES_ORDER,
            record_param="sales_order_id",
            record_in_query=True,
            response_model=Page[Invoice],
            summary="List a sales order's invoices",
        ),
    ),
    (
        "GET",
        "/invoices/{id}",
        OperationSpec(
            Operation.INVOICES_READ,
            documents.get_invoice,
            record_kind=Kind.INVOICE,
            response_model=Invoice,
            summary="Read an invoice",
        ),
    ),
    (
        "POST",
        "/quotes/validate",
        OperationSpec(
            Operation.QUOTES_VALIDATE,
            sales_orders.validate_quote,
            body_model=QuoteRequest,
            response_model=QuoteResult,
            summary="Validate and price an order without creating it",
        ),
    ),
]
