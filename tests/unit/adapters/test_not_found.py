"""Only an ERP's own not-found (its error envelope and code, with HTTP 404) makes a record gone:
a 404 page from a proxy, an empty or `null` body, or a 200 of `null`, is a retryable bad
response, since the gateway knows the record exists."""

from __future__ import annotations

import pytest

from gateway.adapters.http import ErpResponse
from gateway.domain.errors import Code, ErpFailure, GatewayError
from tests.fake_transport import FakeTransport, json_response
from tests.unit.adapters.fakes import context, netsuite_adapter, sap_adapter, token_answer
from tests.unit.adapters.netsuite.samples import detail
from tests.unit.adapters.sap.samples import sap_error

NO_SERVICE = "/IWFND/MED/170"
NO_SERVICE_TEXT = (
    "No service found for namespace '/SAP/', name 'API_SALES_ORDER_SRV', version '0001'"
)
PROXY_PAGE = b"<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
NOT_SAPS = [
    ErpResponse(404, {"Content-Type": "text/html"}, PROXY_PAGE),
    ErpResponse(404, {}, b""),
    ErpResponse(404, {"Content-Type": "application/json"}, b"null"),
    json_response(404, {"message": "Not Found"}),  # an API gateway's own JSON
    json_response(404, {"error": "not found"}),  # not SAP's envelope either
    json_response(200, None),
]
NOT_NETSUITES = [
    *NOT_SAPS,
    json_response(404, {"o:errorDetails": [detail(None, "No route.", "INVALID_URL")]}),
]


async def _bad_response(call: object) -> ErpFailure:
    with pytest.raises(GatewayError) as raised:
        await call  # type: ignore[misc]
    assert isinstance(raised.value, ErpFailure)
    return raised.value


async def test_sap_saying_an_entity_does_not_exist_is_not_found() -> None:
    missing = sap_error(("/IWBEP/CM_MGW_RT/020", "Resource not found for segment", ""))
    transport = FakeTransport([json_response(404, missing)])

    assert await sap_adapter(transport).get_sales_order("0099999999", context()) is None


@pytest.mark.parametrize("status", [404, 403])
async def test_sap_gateway_without_the_service_is_a_bad_response_not_a_missing_record(
    status: int,
) -> None:
    # SAP Gateway's hub answers 404 with its own message when the service is not there for the
    # gateway (not activated in /IWFND/MAINT_SERVICE, no system alias): that says nothing of
    # the record, and an operator has to act. Some releases answer it 403: no refused logon.
    no_service = sap_error((NO_SERVICE, NO_SERVICE_TEXT, ""))
    transport = FakeTransport([json_response(status, no_service)])

    error = await _bad_response(sap_adapter(transport).get_sales_order("0010000001", context()))

    assert (error.code, error.status, error.retryable) == (Code.ERP_BAD_RESPONSE, 502, True)
    assert NO_SERVICE in error.detail and "/IWFND/MAINT_SERVICE" in error.detail


@pytest.mark.parametrize("answer", NOT_SAPS, ids=lambda r: f"{r.status}-{r.body[:20]!r}")
async def test_any_other_legacy_answer_for_a_known_order_is_a_retryable_bad_response(
    answer: ErpResponse,
) -> None:
    transport = FakeTransport([answer])

    error = await _bad_response(sap_adapter(transport).get_sales_order("0010000001", context()))

    assert (error.code, error.status, error.retryable) == (Code.ERP_BAD_RESPONSE, 502, True)


async def test_netsuite_saying_a_record_does_not_exist_is_not_found() -> None:
    missing = {"o:errorDetails": [detail(None, "The record does not exist.", "NONEXISTENT_ID")]}
    transport = FakeTransport([token_answer(), json_response(404, missing)])

    assert await netsuite_adapter(transport).get_sales_order("9999", context()) is None


@pytest.mark.parametrize("answer", NOT_NETSUITES, ids=lambda r: f"{r.status}-{r.body[:20]!r}")
async def test_any_other_cloud_answer_for_a_known_order_is_a_retryable_bad_response(
    answer: ErpResponse,
) -> None:
    transport = FakeTransport([token_answer(), answer])

    error = await _bad_response(netsuite_adapter(transport).get_sales_order("7001", context()))

    assert (error.code, error.status, error.retryable) == (Code.ERP_BAD_RESPONSE, 502, True)


async def test_a_cancel_answered_404_without_nonexistent_id_is_a_bad_response_not_a_404() -> None:
    no_route = {"o:errorDetails": [detail(None, "No route.", "INVALID_URL")]}
    transport = FakeTransport([token_answer(), json_response(404, no_route)])

    error = await _bad_response(netsuite_adapter(transport).cancel_sales_order("7001", context()))

    assert error.code is Code.ERP_BAD_RESPONSE
