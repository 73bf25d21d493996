"""The v1 route table: each HTTP route of the domain API and the operation it performs.

Not the handlers (see `customers.py`, `sales_orders.py`, `documents.py`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gateway.api import customers, documents, sales_orders
from gateway.api.operations import OperationSpec
from gateway.domain.models import (
    CustomerCreate,
    ExternalRef,
    QuoteRequest,
    SalesOrderCreate,
    Strict,
)
from gateway.domain.operations import Kind, Operation


class CustomerLookup(Strict):
    model_config = Strict.model_config | {"strict": False}
    external_ref: ExternalRef


class InvoiceQuery(Strict):
    model_config = Strict.model_config | {"strict": False}
    sales_order_id: Annotated[str, Field(min_length=1, max_length=64)]


# (method, path, spec); paths are relative to the version prefix.
ROUTES: list[tuple[str, str, OperationSpec]] = [
    (
        "POST",
        "/customers",
        OperationSpec(
            Operation.CUSTOMERS_CREATE, customers.create_customer, body_model=CustomerCreate
        ),
    ),
    (
        "GET",
        "/customers",
        OperationSpec(
            Operation.CUSTOMERS_READ, customers.find_customers, query_model=CustomerLookup
        ),
    ),
    (
        "GET",
        "/customers/{id}",
        OperationSpec(Operation.CUSTOMERS_READ, customers.get_customer, record_kind=Kind.CUSTOMER),
    ),
    (
        "POST",
        "/sales-orders",
        OperationSpec(
            Operation.SALES_ORDERS_CREATE,
            sales_orders.create_sales_order,
            body_model=SalesOrderCreate,
        ),
    ),
    (
        "GET",
        "/sales-orders/{id}",
        OperationSpec(
            Operation.SALES_ORDERS_READ,
            sales_orders.get_sales_order,
            record_kind=Kind.SALES_ORDER,
        ),
    ),
    (
        "POST",
        "/sales-orders/{id}/cancel",
        OperationSpec(
            Operation.SALES_ORDERS_CANCEL,
            sales_orders.cancel_sales_order,
            record_kind=Kind.SALES_ORDER,
        ),
    ),
    (
        "GET",
        "/sales-orders/{id}/shipments",
        OperationSpec(
            Operation.SHIPMENTS_READ, documents.list_shipments, record_kind=Kind.SALES_ORDER
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
        ),
    ),
    (
        "GET",
        "/invoices/{id}",
        OperationSpec(Operation.INVOICES_READ, documents.get_invoice, record_kind=Kind.INVOICE),
    ),
    (
        "POST",
        "/quotes/validate",
        OperationSpec(
            Operation.QUOTES_VALIDATE, sales_orders.validate_quote, body_model=QuoteRequest
        ),
    ),
]
