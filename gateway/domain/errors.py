"""The one exception family of the gateway: each error carries the RFC 9457 problem it becomes.

Raised where the fact is known; rendered as problem+json only in `gateway.api.problems`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PROBLEM_BASE = "https://gateway.example/problems/"
QUOTA_EXCEEDED_TYPE = "https://iana.org/assignments/http-problem-types#quota-exceeded"


class Category(StrEnum):
    BUSINESS = "business"
    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    IDEMPOTENCY = "idempotency"
    TECHNICAL = "technical"


class Code(StrEnum):
    """The closed list of problem codes of API v1 (new codes only at a new version)."""

    # business (422)
    UNKNOWN_SKU = "unknown_sku"
    PRICE_MISMATCH = "price_mismatch"
    TAX_ID_REQUIRED = "tax_id_required"
    INVALID_PAYMENT_TERMS = "invalid_payment_terms"
    CUSTOMER_NOT_FOUND = "customer_not_found"
    CUSTOMER_LEGAL_ENTITY_MISMATCH = "customer_legal_entity_mismatch"
    INVALID_STATE = "invalid_state"
    ERP_REJECTED = "erp_rejected"
    # validation
    VALIDATION_FAILED = "validation_failed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    HEADERS_TOO_LARGE = "headers_too_large"
    UNSUPPORTED_VERSION = "unsupported_version"
    VERSION_SUNSET = "version_sunset"
    # not found
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"  # a path served, not with this method (405)
    # auth
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    # rate limit
    RATE_LIMITED = "rate_limited"
    # idempotency
    IDEMPOTENCY_KEY_MISSING = "idempotency_key_missing"
    IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
    # technical (retryable)
    ERP_TIMEOUT = "erp_timeout"
    ERP_UNAVAILABLE = "erp_unavailable"
    ERP_BAD_RESPONSE = "erp_bad_response"
    STORE_UNAVAILABLE = "store_unavailable"
    REQUEST_TIMEOUT = "request_timeout"
    GATEWAY_BUSY = "gateway_busy"
    LEGAL_ENTITY_FROZEN = "legal_entity_frozen"
    # a bug in the gateway; never expected, still a problem document
    INTERNAL_ERROR = "internal_error"


# Codes only a request that no operation took is answered with: a method its path does not
# take. The OpenAPI documents describe the operations, so they leave these out: a client of
# them never sends such a request, and their `code` enum stays the closed list published.
ROUTE_ONLY_CODES = frozenset({Code.METHOD_NOT_ALLOWED})


@dataclass(frozen=True)
class _CodeSpec:
    category: Category
    status: int
    title: str


_SPECS: dict[Code, _CodeSpec] = {
    Code.UNKNOWN_SKU: _CodeSpec(Category.BUSINESS, 422, "Unknown product"),
    Code.PRICE_MISMATCH: _CodeSpec(Category.BUSINESS, 422, "Price differs from the ERP's"),
    Code.TAX_ID_REQUIRED: _CodeSpec(Category.BUSINESS, 422, "Tax id required"),
    Code.INVALID_PAYMENT_TERMS: _CodeSpec(Category.BUSINESS, 422, "Invalid payment terms"),
    Code.CUSTOMER_NOT_FOUND: _CodeSpec(Category.BUSINESS, 422, "Customer not found"),
    Code.CUSTOMER_LEGAL_ENTITY_MISMATCH: _CodeSpec(
        Category.BUSINESS, 422, "Customer belongs to another legal entity"
    ),
    Code.INVALID_STATE: _CodeSpec(Category.BUSINESS, 422, "Not allowed in the record's state"),
    Code.ERP_REJECTED: _CodeSpec(Category.BUSINESS, 422, "Rejected by the ERP"),
    Code.VALIDATION_FAILED: _CodeSpec(Category.VALIDATION, 400, "Request validation failed"),
    Code.PAYLOAD_TOO_LARGE: _CodeSpec(Category.VALIDATION, 413, "Payload too large"),
    Code.UNSUPPORTED_MEDIA_TYPE: _CodeSpec(Category.VALIDATION, 415, "Unsupported media type"),
    Code.HEADERS_TOO_LARGE: _CodeSpec(Category.VALIDATION, 431, "Request header fields too large"),
    Code.UNSUPPORTED_VERSION: _CodeSpec(Category.VALIDATION, 400, "Unsupported API version"),
    Code.VERSION_SUNSET: _CodeSpec(Category.VALIDATION, 410, "API version sunset"),
    Code.NOT_FOUND: _CodeSpec(Category.NOT_FOUND, 404, "Not found"),
    # Nothing at this path for this method: a client acting on the category treats it as the
    # 404 it was before; the status and `Allow` say which methods the path takes.
    Code.METHOD_NOT_ALLOWED: _CodeSpec(Category.NOT_FOUND, 405, "Method not allowed"),
    Code.UNAUTHORIZED: _CodeSpec(Category.AUTH, 401, "Unauthorized"),
    Code.FORBIDDEN: _CodeSpec(Category.AUTH, 403, "Forbidden"),
    Code.RATE_LIMITED: _CodeSpec(Category.RATE_LIMIT, 429, "Too many requests"),
    Code.IDEMPOTENCY_KEY_MISSING: _CodeSpec(
        Category.IDEMPOTENCY, 400, "Idempotency-Key header required"
    ),
    Code.IDEMPOTENCY_KEY_INVALID: _CodeSpec(Category.IDEMPOTENCY, 400, "Invalid Idempotency-Key"),
    Code.IDEMPOTENCY_KEY_REUSED: _CodeSpec(
        Category.IDEMPOTENCY, 422, "Idempotency-Key reused for another request"
    ),
    Code.IDEMPOTENCY_IN_PROGRESS: _CodeSpec(
        Category.IDEMPOTENCY, 409, "A request with this Idempotency-Key is in progress"
    ),
    Code.ERP_TIMEOUT: _CodeSpec(Category.TECHNICAL, 504, "ERP timed out"),
    Code.ERP_UNAVAILABLE: _CodeSpec(Category.TECHNICAL, 503, "ERP unavailable"),
    Code.ERP_BAD_RESPONSE: _CodeSpec(Category.TECHNICAL, 502, "ERP sent a bad response"),
    Code.STORE_UNAVAILABLE: _CodeSpec(Category.TECHNICAL, 503, "Gateway state store unavailable"),
    # The client sent its request too slowly: sending it again, promptly, is the remedy.
    Code.REQUEST_TIMEOUT: _CodeSpec(Category.TECHNICAL, 408, "Request not received in time"),
    # This instance cannot take the request (its connections at their limit, or it is
    # stopping and cut the request off): another instance can, after Retry-After.
    Code.GATEWAY_BUSY: _CodeSpec(Category.TECHNICAL, 503, "Gateway busy or stopping"),
    # A cutover is running: the same write succeeds once the freeze ends (Retry-After).
    Code.LEGAL_ENTITY_FROZEN: _CodeSpec(Category.TECHNICAL, 503, "Legal entity frozen"),
    Code.INTERNAL_ERROR: _CodeSpec(Category.TECHNICAL, 500, "Internal error"),
}


def spec_of(code: Code) -> tuple[Category, int, str]:
    s = _SPECS[code]
    return s.category, s.status, s.title


@dataclass(frozen=True)
class FieldError:
    """One bad field: a JSON pointer (RFC 6901) into the client's request and what is wrong."""

    pointer: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail}


@dataclass
class GatewayError(Exception):
    """An error that becomes one problem document. `code` fixes category, status and title."""

    code: Code
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    type_uri: str | None = None
    # What the ERP said, in its own words and keys, for support (the detail is canonical).
    erp_message: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    @property
    def category(self) -> Category:
        return _SPECS[self.code].category

    @property
    def status(self) -> int:
        return _SPECS[self.code].status

    @property
    def retryable(self) -> bool:
        return self.category is Category.TECHNICAL or self.code in _RETRY_UNCHANGED

    def problem(self, correlation_id: str, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 body, with the gateway's extension members."""
        category, status, title = spec_of(self.code)
        body: dict[str, Any] = {
            "type": self.type_uri or PROBLEM_BASE + self.code.value.replace("_", "-"),
            "title": title,
            "status": status,
            "detail": self.detail,
            "category": category.value,
            "code": self.code.value,
            "retryable": self.retryable,
            "correlation_id": correlation_id,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        if self.erp_message:
            body["erp_message"] = self.erp_message
        body.update(self.extra)
        return body


@dataclass
class RefusedBeforeSending(GatewayError):
    """A refusal an adapter makes itself, before it sends the ERP anything: a SKU, legal entity,
    currency or payment term its value maps do not know, an amount the ERP's API cannot carry.
    The same problem for the client; but the ERP said nothing, so no sign of its health."""


# 409 and 429 are not technical faults, yet the same request may be sent again unchanged.
_RETRY_UNCHANGED = frozenset({Code.IDEMPOTENCY_IN_PROGRESS, Code.RATE_LIMITED})


@dataclass
class ErpFailure(GatewayError):
    """A technical failure talking to an ERP. `ambiguous` means the request may have been
    received and committed (a timeout or dropped connection after sending)."""

    ambiguous: bool = False


CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left before its answer


class ClientAborted(Exception):
    """The client went away before its request was read whole: nobody is left to answer, and
    it is the client's doing, not a server error (logged as 499, the usual convention)."""


class GatewayReferenceTaken(Exception):
    """The ERP already holds a different document under this request's gateway reference.

    A fact the adapters report, not a problem: the idempotency layer decides what it means to
    the client (the same Idempotency-Key sent for another request).
    """


def business(code: Code, detail: str, *errors: FieldError) -> GatewayError:
    return GatewayError(code, detail, list(errors))


ECHOED_CHARS = 64  # the most of a client's text (an id, a path) a problem's detail repeats


def echoed(text: str, limit: int = ECHOED_CHARS) -> str:
    """`text`, from the request, as a problem's detail repeats it: whole up to `limit`
    characters, else its first `limit` and an ellipsis, so that a client sending kilobytes in
    a path does not get (nor the logs and the journal keep) them twice."""
    return text if len(text) <= limit else text[:limit] + "…"


def not_found(detail: str = "No such resource.") -> GatewayError:
    return GatewayError(Code.NOT_FOUND, detail)


def method_not_allowed(method: str, path: str, allowed: Sequence[str]) -> GatewayError:
    """405 for a path the gateway serves, asked with a `method` it does not take; `allowed`
    are the methods it takes, sent as `Allow` (RFC 9110 §15.5.6)."""
    allow = ", ".join(allowed)
    return GatewayError(
        Code.METHOD_NOT_ALLOWED,
        f"{path} does not take {method}; it takes {allow}.",
        headers={"Allow": allow},
    )


def bad_cursor(pointer: str, hint: str) -> GatewayError:
    """400 for a listing's cursor (the query parameter at `pointer`) that this gateway never
    handed out, or not for this listing; `hint` says which to send."""
    return GatewayError(
        Code.VALIDATION_FAILED,
        "The cursor is not one this gateway handed out.",
        [FieldError(pointer, hint)],
    )
