"""Every problem code renders as an RFC 9457 document with its category and status."""

from __future__ import annotations

import json

import pytest

from gateway.api.problems import problem_response
from gateway.domain.errors import Category, Code, FieldError, GatewayError

EXPECTED = {
    Code.UNKNOWN_SKU: (Category.BUSINESS, 422, False),
    Code.PRICE_MISMATCH: (Category.BUSINESS, 422, False),
    Code.TAX_ID_REQUIRED: (Category.BUSINESS, 422, False),
    Code.INVALID_PAYMENT_TERMS: (Category.BUSINESS, 422, False),
    Code.CUSTOMER_NOT_FOUND: (Category.BUSINESS, 422, False),
    Code.CUSTOMER_LEGAL_ENTITY_MISMATCH: (Category.BUSINESS, 422, False),
    Code.INVALID_STATE: (Category.BUSINESS, 422, False),
    Code.ERP_REJECTED: (Category.BUSINESS, 422, False),
    Code.VALIDATION_FAILED: (Category.VALIDATION, 400, False),
    Code.PAYLOAD_TOO_LARGE: (Category.VALIDATION, 413, False),
    Code.UNSUPPORTED_MEDIA_TYPE: (Category.VALIDATION, 415, False),
    Code.HEADERS_TOO_LARGE: (Category.VALIDATION, 431, False),
    Code.UNSUPPORTED_VERSION: (Category.VALIDATION, 400, False),
    Code.VERSION_SUNSET: (Category.VALIDATION, 410, False),
    Code.NOT_FOUND: (Category.NOT_FOUND, 404, False),
    Code.METHOD_NOT_ALLOWED: (Category.NOT_FOUND, 405, False),
    Code.UNAUTHORIZED: (Category.AUTH, 401, False),
    Code.FORBIDDEN: (Category.AUTH, 403, False),
    Code.RATE_LIMITED: (Category.RATE_LIMIT, 429, True),
    Code.IDEMPOTENCY_KEY_MISSING: (Category.IDEMPOTENCY, 400, False),
    Code.IDEMPOTENCY_KEY_INVALID: (Category.IDEMPOTENCY, 400, False),
    Code.IDEMPOTENCY_KEY_REUSED: (Category.IDEMPOTENCY, 422, False),
    Code.IDEMPOTENCY_IN_PROGRESS: (Category.IDEMPOTENCY, 409, True),
    Code.ERP_TIMEOUT: (Category.TECHNICAL, 504, True),
    Code.ERP_UNAVAILABLE: (Category.TECHNICAL, 503, True),
    Code.ERP_BAD_RESPONSE: (Category.TECHNICAL, 502, True),
    Code.STORE_UNAVAILABLE: (Category.TECHNICAL, 503, True),
    Code.REQUEST_TIMEOUT: (Category.TECHNICAL, 408, True),
    Code.GATEWAY_BUSY: (Category.TECHNICAL, 503, True),
    Code.LEGAL_ENTITY_FROZEN: (Category.TECHNICAL, 503, True),
    Code.INTERNAL_ERROR: (Category.TECHNICAL, 500, True),
}


def test_every_code_has_an_expected_category_and_status() -> None:
    assert set(EXPECTED) == set(Code)


@pytest.mark.parametrize("code", list(Code))
def test_a_problem_document_carries_category_code_status_and_correlation_id(code: Code) -> None:
    category, status, retryable = EXPECTED[code]
    error = GatewayError(code, "Something to act on.", [FieldError("/lines/0/sku", "Unknown.")])
    response = problem_response(error, "corr-1", "/v1/sales-orders")
    body = json.loads(bytes(response.body))
    assert response.status_code == status
    assert response.media_type == "application/problem+json"
    assert body["status"] == status
    assert body["category"] == category.value
    assert body["code"] == code.value
    assert body["retryable"] is retryable
    assert body["correlation_id"] == "corr-1"
    assert body["instance"] == "/v1/sales-orders"
    assert body["type"].startswith("https://")
    assert body["title"] and body["detail"] == "Something to act on."
    assert body["errors"] == [{"pointer": "/lines/0/sku", "detail": "Unknown."}]
