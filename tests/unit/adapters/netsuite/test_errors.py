"""NetSuite refusals as canonical problems: codes, pointers, technical failures."""

from __future__ import annotations

import pytest

from gateway.adapters.http import ErpResponse
from gateway.adapters.netsuite.errors import error_from_response
from gateway.adapters.netsuite.records import Interaction
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.domain.errors import Code, ErpFailure
from tests.unit.adapters.netsuite.samples import detail, netsuite_error


@pytest.mark.parametrize(
    ("interaction", "path", "code", "pointer"),
    [
        (
            Interaction.SALES_ORDER_CREATE,
            "item.items[0].item",
            Code.UNKNOWN_SKU,
            "/items/0/product_id",
        ),
        (
            Interaction.SALES_ORDER_CREATE,
            "item.items[2].rate",
            Code.PRICE_MISMATCH,
            "/items/2/price/amount",
        ),
        (
            Interaction.SALES_ORDER_CREATE,
            "item.items[1].quantity",
            Code.ERP_REJECTED,
            "/items/1/quantity",
        ),
        (Interaction.SALES_ORDER_CREATE, "entity", Code.CUSTOMER_NOT_FOUND, "/customer_id"),
        (
            Interaction.SALES_ORDER_CREATE,
            "subsidiary",
            Code.CUSTOMER_LEGAL_ENTITY_MISMATCH,
            "/customer_id",
        ),
        (Interaction.SALES_ORDER_CREATE, "currency", Code.ERP_REJECTED, "/currency"),
        (Interaction.CUSTOMER_CREATE, "vatRegNumber", Code.TAX_ID_REQUIRED, "/tax_id"),
        (Interaction.CUSTOMER_CREATE, "terms", Code.INVALID_PAYMENT_TERMS, "/payment_terms"),
        (Interaction.CUSTOMER_CREATE, "subsidiary", Code.ERP_REJECTED, "/legal_entity"),
        (
            Interaction.CUSTOMER_CREATE,
            "addressBook.items[0].addressBookAddress.zip",
            Code.ERP_REJECTED,
            "/addresses/0/postal_code",
        ),
    ],
)
def test_netsuite_refusals_become_business_problems_pointing_into_the_canonical_request(
    interaction: Interaction, path: str, code: Code, pointer: str
) -> None:
    text = f"Error while accessing a resource. Invalid value for {path}."
    error = error_from_response(netsuite_error(400, detail(path, text)), interaction, write=True)
    assert error.code is code
    assert error.status == 422
    assert [e.pointer for e in error.errors] == [pointer]
    assert error.detail == text  # NetSuite's words are kept for the user


def test_a_refusal_without_a_known_path_is_erp_rejected_with_netsuites_detail() -> None:
    response = netsuite_error(400, detail(None, "Something the gateway has no rule for."))
    error = error_from_response(response, Interaction.SALES_ORDER_CREATE, write=True)
    assert (error.code, error.errors) == (Code.ERP_REJECTED, [])
    assert error.detail == "Something the gateway has no rule for."


def test_a_refused_cancel_is_invalid_state() -> None:
    response = netsuite_error(400, detail("orderStatus", "You cannot cancel a billed order."))
    error = error_from_response(response, Interaction.CANCEL, write=True)
    assert error.code is Code.INVALID_STATE
    assert "billed" in error.detail


@pytest.mark.parametrize(
    ("status", "body", "code", "ambiguous"),
    [
        (500, b"{}", Code.ERP_UNAVAILABLE, True),
        (503, b"<html>down</html>", Code.ERP_UNAVAILABLE, False),
        (429, b"{}", Code.ERP_UNAVAILABLE, False),
        (400, b'{"d": {"results": [', Code.ERP_BAD_RESPONSE, False),
        (400, b'{"title": "Bad Request"}', Code.ERP_BAD_RESPONSE, False),
    ],
)
def test_technical_failures_are_retryable_problems(
    status: int, body: bytes, code: Code, ambiguous: bool
) -> None:
    error = error_from_response(
        ErpResponse(status, {}, body), Interaction.SALES_ORDER_CREATE, write=True
    )
    assert error.code is code
    assert error.retryable
    assert isinstance(error, ErpFailure) and error.ambiguous is ambiguous


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "expected"),
    [
        (429, "CONCURRENCY_LIMIT_EXCEEDED", None, "1"),
        (429, "CONCURRENCY_LIMIT_EXCEEDED", "7", "7"),
        # Passed on as whole seconds, at least one: never 0, never a date or a negative.
        (429, "CONCURRENCY_LIMIT_EXCEEDED", "0", "1"),
        (429, "CONCURRENCY_LIMIT_EXCEEDED", "-5", "1"),
        (429, "CONCURRENCY_LIMIT_EXCEEDED", "Wed, 21 Oct 2015 07:28:00 GMT", "1"),
        # Capped: an ERP asking for a day would have the CRM wait a day.
        (429, "CONCURRENCY_LIMIT_EXCEEDED", "86400", "300"),
        (400, "REQUEST_LIMIT_EXCEEDED", None, "1"),
        (400, "SSS_REQUEST_LIMIT_EXCEEDED", None, "1"),
    ],
)
def test_concurrency_governance_is_erp_unavailable_to_retry_after_never_ambiguous(
    status: int, code: str, retry_after: str | None, expected: str
) -> None:
    answer = netsuite_error(status, detail(None, "Concurrent request limit exceeded.", code))
    headers = {"Retry-After": retry_after} if retry_after else {}
    error = error_from_response(
        ErpResponse(status, headers, answer.body), Interaction.SALES_ORDER_CREATE, write=True
    )
    assert error.code is Code.ERP_UNAVAILABLE
    assert error.headers == {"Retry-After": expected}
    assert isinstance(error, ErpFailure) and error.ambiguous is False  # refused on arrival


def test_with_the_value_maps_a_refusal_names_skus_and_keeps_netsuites_words(
    maps: NetSuiteMaps,
) -> None:
    said = (
        "Error while accessing a resource. You have entered an Invalid Field Value 1002 for "
        "the following field: item.items[1].item"
    )
    response = netsuite_error(400, detail("item.items[1].item", said))
    error = error_from_response(response, Interaction.SALES_ORDER_CREATE, write=True, maps=maps)
    assert error.code is Code.UNKNOWN_SKU
    assert error.detail == "Invalid value GADGET-2 for the SKU"
    assert [(e.pointer, e.detail) for e in error.errors] == [
        ("/items/1/product_id", "Invalid value GADGET-2 for the SKU")
    ]
    assert error.erp_message == said
    assert "1002" not in error.detail
    assert error.problem("corr")["erp_message"] == said
