"""The NetSuite adapter fed generated answers through a fake transport: whatever NetSuite sends
(tokens, create answers, records, lists, errors), every operation ends in its result or a
`GatewayError` (a refusal, or erp_bad_response), never in another exception (which the gateway
would answer 500). `GatewayReferenceTaken`, the adapter's own fact for the idempotency layer, may
also end a create."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.adapters.base import CallContext, CustomerContext
from gateway.adapters.http import ErpResponse
from gateway.adapters.netsuite import NetSuiteRestAdapter
from gateway.domain.errors import GatewayError, GatewayReferenceTaken
from tests.canonical import order_item
from tests.fake_transport import FakeTransport, SentRequest, empty_response
from tests.unit.adapters.bodies import FUZZ, STATUSES, bodies, ends_cleanly
from tests.unit.adapters.fakes import NETSUITE_TOKEN, context, netsuite_adapter, token_answer
from tests.unit.adapters.netsuite.samples import (
    REFS,
    customer_document,
    customer_request,
    detail,
    fulfillment_document,
    invoice_document,
    order_document,
)

RECORDS = "http://cloud.invalid/services/rest/record/v1"
ITEM = {
    "id": "1001",
    "price": {
        "items": [
            {"currencyPage": {"id": "1"}, "priceLevel": {"id": "1"}, "price": 19.99},
            {"currencyPage": {"id": "1"}, "priceLevel": {"id": "1"}, "price": 149},
        ]
    },
}
SAMPLES = [
    order_document(),
    order_document(orderStatus={"id": "F", "refName": "Pending Billing"}),
    order_document(orderStatus={"id": "G", "refName": "Billed"}),
    customer_document(taxItem={"id": "11"}, creditLimit=1000, balance=10, subsidiary={"id": "2"}),
    fulfillment_document(),
    invoice_document(currency={"id": "1"}),
    ITEM,
    {"id": "11", "rate": "8.25%"},
    {"links": [], "count": 1, "hasMore": False, "items": [{"id": "7002"}], "offset": 0},
    {"status": 404, "o:errorDetails": [detail(None, "No such record.", "NONEXISTENT_ID")]},
    {"status": 400, "o:errorDetails": [detail("externalId", "Duplicate.", "DUP_RCRD")]},
    {"status": 400, "o:errorDetails": [detail("item.items[0].rate", "Stale price.")]},
]
ANSWERS = st.tuples(STATUSES, bodies(*SAMPLES))
TOKENS = st.one_of(st.just((200, NETSUITE_TOKEN)), st.tuples(STATUSES, bodies(NETSUITE_TOKEN)))
LOCATIONS = st.one_of(
    st.sampled_from([f"{RECORDS}/salesOrder/7001", f"{RECORDS}/customer/301", None]),
    st.text(max_size=40),
)
BUYER = CustomerContext("301", "US01")
LINES = [order_item("WIDGET-1", 3, Decimal("19.99")), order_item("GADGET-2", 1, Decimal("149"))]

Operation = Callable[[NetSuiteRestAdapter, CallContext], Awaitable[Any]]
OPERATIONS: dict[str, Operation] = {
    "create_customer": lambda a, ctx: a.create_customer(customer_request(), REFS, ctx),
    "get_customer": lambda a, ctx: a.get_customer("301", ctx),
    "create_sales_order": lambda a, ctx: a.create_sales_order(
        "US01", BUYER, "USD", None, LINES, REFS, ctx
    ),
    "get_sales_order": lambda a, ctx: a.get_sales_order("7001", ctx),
    "cancel_sales_order": lambda a, ctx: a.cancel_sales_order("7001", ctx),
    "list_shipments": lambda a, ctx: a.list_shipments("7001", ctx),
    "list_invoices": lambda a, ctx: a.list_invoices("7001", ctx),
    "validate_quote": lambda a, ctx: a.validate_quote("US01", BUYER, "USD", None, LINES, ctx),
}


def _answering(data: st.DataObject) -> Callable[[SentRequest], ErpResponse]:
    """Every answer drawn: the token grant (mostly good), creates and cancels (mostly accepted),
    and whatever any read gets."""

    def answer(sent: SentRequest) -> ErpResponse:
        if sent.form is not None:  # the client-credentials grant
            status, body = data.draw(TOKENS)
            if isinstance(body, dict):
                return token_answer()
            return ErpResponse(status, {}, body)
        if sent.method in ("POST", "PATCH") and data.draw(st.booleans()):
            location = data.draw(LOCATIONS) if sent.method == "POST" else None
            return empty_response(204, {"Location": location} if location is not None else {})
        status, raw = data.draw(ANSWERS)
        return ErpResponse(status, {"Content-Type": "application/json"}, raw)

    return answer


@pytest.mark.parametrize("operation", OPERATIONS)
@FUZZ
@given(data=st.data())
def test_no_netsuite_answer_makes_an_operation_raise_anything_but_a_gateway_error(
    operation: str, data: st.DataObject
) -> None:
    adapter = netsuite_adapter(FakeTransport(responder=_answering(data)))
    ends_cleanly(
        lambda: OPERATIONS[operation](adapter, context()), GatewayError, GatewayReferenceTaken
    )
