"""The answer boundary: an ERP answer of a shape the mapping did not expect is a retryable
erp_bad_response (ambiguous after a write), logged once with the backend and ERP operation;
refusals a mapping raises on purpose pass through."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest

from gateway.adapters.answers import AnswerBoundary
from gateway.adapters.base import CallContext, CustomerContext, References
from gateway.domain.errors import Code, ErpFailure, GatewayError, business
from tests.canonical import order_item
from tests.fake_transport import FakeTransport, empty_response, json_response
from tests.unit.adapters.fakes import (
    context,
    csrf_answer,
    netsuite_adapter,
    sap_adapter,
    token_answer,
)
from tests.unit.adapters.netsuite.samples import order_document
from tests.unit.adapters.sap.samples import so_entity

LOGGER = "gateway.adapters"
LINES = [order_item("WIDGET-1", 1, Decimal("19.99"))]
REFS = References("CRM-OPP-1", "gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _raise(exc: Exception) -> Any:
    raise exc


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("tranId"),
        TypeError("not text"),
        ValueError("sales order without a status"),
        AttributeError("'list' object has no attribute 'get'"),
        InvalidOperation(),
        RecursionError(),
    ],
    ids=lambda exc: type(exc).__name__,
)
@pytest.mark.parametrize("write", [False, True])
def test_any_failure_of_a_mapping_is_a_retryable_bad_response_ambiguous_after_a_write(
    exc: Exception, write: bool
) -> None:
    with pytest.raises(ErpFailure) as raised:
        AnswerBoundary("cloud").mapped(context(), lambda: _raise(exc), write=write)
    failure = raised.value
    assert (failure.code, failure.status, failure.retryable) == (Code.ERP_BAD_RESPONSE, 502, True)
    assert failure.ambiguous is write


def test_a_refusal_the_mapping_raises_on_purpose_passes_through_unchanged() -> None:
    refusal = business(Code.PRICE_MISMATCH, "stale")
    with pytest.raises(GatewayError) as raised:
        AnswerBoundary("cloud").mapped(context(), lambda: _raise(refusal), write=True)
    assert raised.value is refusal


def test_an_unreadable_answer_is_logged_once_with_backend_and_operation_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = context("corr-logged").serving("get_sales_order")
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(ErpFailure):
        AnswerBoundary("legacy").mapped(ctx, lambda: _raise(KeyError("SalesOrder")))
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert (record.backend, record.erp_operation, record.correlation_id) == (  # type: ignore[attr-defined]
        "legacy",
        "get_sales_order",
        "corr-logged",
    )
    assert "SalesOrder" in record.reason  # type: ignore[attr-defined]
    assert record.exc_info is None


def test_a_context_serving_an_operation_keeps_everything_else_it_carries() -> None:
    ctx = CallContext("corr-1", "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "v=1", 12.5, "get")
    assert ctx.serving("cancel_sales_order") == replace(ctx, operation="cancel_sales_order")


# --- through the adapters ------------------------------------------------------------------------


async def _refusal(call: Any) -> GatewayError:
    with pytest.raises(GatewayError) as raised:
        await call
    return raised.value


@pytest.mark.parametrize(
    "record",
    [{}, order_document(orderStatus=None, status=None)],
    ids=["empty object", "order without a status"],
)
async def test_a_cloud_order_read_of_the_wrong_shape_is_a_retryable_bad_response(
    record: dict[str, Any],
) -> None:
    transport = FakeTransport([token_answer(), json_response(200, record)])

    error = await _refusal(netsuite_adapter(transport).get_sales_order("7001", context()))

    assert isinstance(error, ErpFailure)
    assert (error.code, error.retryable, error.ambiguous) == (Code.ERP_BAD_RESPONSE, True, False)


async def test_a_created_cloud_order_read_back_without_a_status_is_an_ambiguous_bad_response() -> (
    None
):
    location = "http://cloud.invalid/services/rest/record/v1/salesOrder/7001"
    transport = FakeTransport(
        [
            token_answer(),
            empty_response(204, {"Location": location}),
            json_response(200, order_document(orderStatus=None, status=None)),
        ]
    )
    adapter = netsuite_adapter(transport)

    error = await _refusal(
        adapter.create_sales_order(
            "US01", CustomerContext("301", "US01"), "USD", None, LINES, REFS, context()
        )
    )

    assert isinstance(error, ErpFailure)
    assert (error.code, error.ambiguous) == (Code.ERP_BAD_RESPONSE, True)


@pytest.mark.parametrize(
    "fields",
    [
        {"RequestedDeliveryDate": "/Date(999999999999999999)/"},  # past the calendar's end
        {"TotalNetAmount": "1E+999999"},  # beyond what decimal arithmetic holds
    ],
    ids=["date out of range", "huge amount"],
)
async def test_a_legacy_order_read_of_the_wrong_shape_is_a_retryable_bad_response(
    fields: dict[str, Any],
) -> None:
    transport = FakeTransport([json_response(200, {"d": so_entity(**fields)})])

    error = await _refusal(sap_adapter(transport).get_sales_order("0010000001", context()))

    assert isinstance(error, ErpFailure)
    assert (error.code, error.retryable) == (Code.ERP_BAD_RESPONSE, True)


async def test_a_legacy_order_created_with_an_unreadable_answer_is_an_ambiguous_bad_response() -> (
    None
):
    answer = {"d": so_entity(RequestedDeliveryDate="/Date(999999999999999999)/")}
    transport = FakeTransport([csrf_answer(), json_response(201, answer)])

    error = await _refusal(
        sap_adapter(transport).create_sales_order(
            "DE01", CustomerContext("0001000001", "DE01"), "EUR", None, LINES, REFS, context()
        )
    )

    assert isinstance(error, ErpFailure)
    assert (error.code, error.ambiguous) == (Code.ERP_BAD_RESPONSE, True)


# A read is the gateway's own query: a refusal of it is nothing the client could fix.
SAP_READ_REFUSAL = {
    "error": {
        "code": "/IWBEP/CM_MGW_RT/022",
        "message": {"lang": "en", "value": "Property YY1_GatewayRef_SDH not found."},
    }
}
NETSUITE_READ_REFUSAL = {
    "title": "Bad Request",
    "status": 400,
    "o:errorDetails": [
        {"detail": "Invalid search query.", "o:errorCode": "INVALID_PARAMETER"},
    ],
}


@pytest.mark.parametrize(
    ("erp", "said"),
    [("legacy", "Property YY1_GatewayRef_SDH not found."), ("cloud", "Invalid search query.")],
)
async def test_an_erp_refusing_the_reconcile_search_is_a_retryable_bad_response_not_a_422(
    erp: str, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    if erp == "legacy":
        adapter: Any = sap_adapter(FakeTransport([json_response(400, SAP_READ_REFUSAL)]))
    else:
        transport = FakeTransport([token_answer(), json_response(400, NETSUITE_READ_REFUSAL)])
        adapter = netsuite_adapter(transport)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        error = await _refusal(adapter.find_sales_order_by_gateway_ref(REFS.gateway_ref, context()))

    # A 422 here would be stored as the retried create's final outcome.
    assert isinstance(error, ErpFailure)
    assert (error.code, error.status, error.retryable) == (Code.ERP_BAD_RESPONSE, 502, True)
    assert (error.ambiguous, error.errors, error.erp_message) == (False, [], None)
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert said in record.reason  # type: ignore[attr-defined]  # for the operator, not the client


async def test_a_cloud_list_query_the_erp_refuses_is_a_retryable_bad_response() -> None:
    transport = FakeTransport([token_answer(), json_response(400, NETSUITE_READ_REFUSAL)])

    error = await _refusal(netsuite_adapter(transport).list_shipments("7001", context()))

    assert isinstance(error, ErpFailure)
    assert (error.code, error.category.value) == (Code.ERP_BAD_RESPONSE, "technical")


async def test_a_quote_the_legacy_erp_refuses_is_still_a_business_problem() -> None:
    refusal = {"error": {"code": "V1/392", "message": {"lang": "en", "value": "No material"}}}
    transport = FakeTransport([csrf_answer(), json_response(400, refusal)])

    error = await _refusal(
        sap_adapter(transport).validate_quote(
            "DE01", CustomerContext("0001000001", "DE01"), "EUR", None, LINES, context()
        )
    )

    assert (error.code, error.status) == (Code.UNKNOWN_SKU, 422)


async def test_a_legacy_order_created_with_a_garbled_sap_message_header_is_created() -> None:
    header = {"sap-message": "[" * 5000}  # within aiohttp's 8190-byte header line
    answer = json_response(201, {"d": so_entity()}, header)
    transport = FakeTransport([csrf_answer(), answer])

    order = await sap_adapter(transport).create_sales_order(
        "DE01", CustomerContext("0001000001", "DE01"), "EUR", None, LINES, REFS, context()
    )

    # SAP committed the order: it is answered, without the notice nobody can read (not a 500).
    assert (order.erp_id, order.notices) == ("0010000001", ())
