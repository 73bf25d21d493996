"""The SAP adapter fed generated answers through a fake transport: whatever SAP sends, every
operation ends in its result or a `GatewayError` (a refusal, or erp_bad_response), never in
another exception (which the gateway would answer 500)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.adapters.base import CallContext, CustomerContext
from gateway.adapters.http import ErpResponse
from gateway.adapters.sap import SapODataAdapter
from gateway.domain.errors import GatewayError
from tests.fake_transport import FakeTransport, SentRequest, empty_response
from tests.unit.adapters.bodies import FUZZ, STATUSES, bodies, ends_cleanly
from tests.unit.adapters.fakes import context, csrf_answer, sap_adapter
from tests.unit.adapters.sap.samples import (
    LINES,
    REFS,
    billing_entity,
    bp_entity,
    customer,
    delivery_entity,
    sap_error,
    so_entity,
)

ENTITIES = [
    so_entity(OverallSDProcessStatus="C"),
    so_entity(),
    bp_entity(),
    delivery_entity(OverallGoodsMovementStatus="C", ActualGoodsMovementDate="/Date(0)/"),
    billing_entity(InvoiceClearingStatus="C"),
]
SAMPLES = [
    *({"d": entity} for entity in ENTITIES),
    *({"d": {"results": [entity]}} for entity in ENTITIES),
    sap_error(("V1/841", "Price differs", "to_Item(SalesOrderItem='10')/ConditionRateValue")),
    sap_error(("/IWBEP/CM_MGW_RT/020", "Resource not found", "")),
]
ANSWERS = st.tuples(STATUSES, bodies(*SAMPLES))
BUYER = CustomerContext("0001000001", "DE01")

Operation = Callable[[SapODataAdapter, CallContext], Awaitable[Any]]
OPERATIONS: dict[str, Operation] = {
    "create_customer": lambda a, ctx: a.create_customer(customer(), REFS, ctx),
    "get_customer": lambda a, ctx: a.get_customer("0001000001", ctx),
    "find_customer_by_gateway_ref": lambda a, ctx: a.find_customer_by_gateway_ref("gw-1", ctx),
    "create_sales_order": lambda a, ctx: a.create_sales_order(
        "DE01", BUYER, "EUR", None, LINES, REFS, ctx
    ),
    "get_sales_order": lambda a, ctx: a.get_sales_order("0010000001", ctx),
    "find_sales_order_by_gateway_ref": lambda a, ctx: a.find_sales_order_by_gateway_ref(
        "gw-2", ctx
    ),
    "cancel_sales_order": lambda a, ctx: a.cancel_sales_order("0010000001", ctx),
    "list_shipments": lambda a, ctx: a.list_shipments("0010000001", ctx),
    "list_invoices": lambda a, ctx: a.list_invoices("0010000001", ctx),
    "validate_quote": lambda a, ctx: a.validate_quote("DE01", BUYER, "EUR", None, LINES, ctx),
}


def _answering(data: st.DataObject) -> Callable[[SentRequest], ErpResponse]:
    """SAP hands out its CSRF token and accepts item PATCHes; every other answer is drawn."""

    def answer(sent: SentRequest) -> ErpResponse:
        if sent.header("x-csrf-token") == "Fetch":
            return csrf_answer()
        if sent.method == "PATCH":
            return empty_response(204)
        status, body = data.draw(ANSWERS)
        return ErpResponse(status, {"Content-Type": "application/json"}, body)

    return answer


@pytest.mark.parametrize("operation", OPERATIONS)
@FUZZ
@given(data=st.data())
def test_no_sap_answer_makes_an_operation_raise_anything_but_a_gateway_error(
    operation: str, data: st.DataObject
) -> None:
    adapter = sap_adapter(FakeTransport(responder=_answering(data)))
    ends_cleanly(lambda: OPERATIONS[operation](adapter, context()), GatewayError)
