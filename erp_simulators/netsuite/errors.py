"""NetSuite's REST error documents: `{"type", "title", "status", "o:errorDetails": [...]}`.

Not the decisions that refuse a request (see `books`); only how a refusal is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

ERROR_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=error"

# NetSuite's error codes, as the REST web services send them in `o:errorCode`.
USER_ERROR = "USER_ERROR"
DUP_RCRD = "DUP_RCRD"
NONEXISTENT_ID = "NONEXISTENT_ID"
INVALID_LOGIN = "INVALID_LOGIN"
INVALID_CONTENT = "INVALID_CONTENT"
INVALID_PARAMETER = "INVALID_PARAMETER"
CONCURRENCY_LIMIT_EXCEEDED = "CONCURRENCY_LIMIT_EXCEEDED"
UNEXPECTED_ERROR = "UNEXPECTED_ERROR"

RESOURCE_ERROR_PREFIX = "Error while accessing a resource. "

_RFC9110 = "https://www.rfc-editor.org/rfc/rfc9110.html#section-"
_TYPES: dict[int, tuple[str, str]] = {
    400: (_RFC9110 + "15.5.1", "Bad Request"),
    401: (_RFC9110 + "15.5.2", "Unauthorized"),
    403: (_RFC9110 + "15.5.4", "Forbidden"),
    404: (_RFC9110 + "15.5.5", "Not Found"),
    405: (_RFC9110 + "15.5.6", "Method Not Allowed"),
    429: ("https://www.rfc-editor.org/rfc/rfc6585.html#section-4", "Too Many Requests"),
    500: (_RFC9110 + "15.6.1", "Internal Server Error"),
    502: (_RFC9110 + "15.6.3", "Bad Gateway"),
    503: (_RFC9110 + "15.6.4", "Service Unavailable"),
    504: (_RFC9110 + "15.6.5", "Gateway Timeout"),
}
_DEFAULT_DETAILS: dict[int, tuple[str, str]] = {
    401: (
        INVALID_LOGIN,
        "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI "
        "at Setup > Users/Roles > User Management > View Login Audit Trail.",
    ),
    404: (
        NONEXISTENT_ID,
        "The record instance does not exist. Provide a valid record instance ID.",
    ),
    429: (
        CONCURRENCY_LIMIT_EXCEEDED,
        "Concurrent request limit exceeded. Request blocked.",
    ),
}
_SERVER_ERROR_DETAIL = (UNEXPECTED_ERROR, "An unexpected error occurred. Error ID: sim-fault")


@dataclass
class RecordError(Exception):
    """A refusal of one request, carrying what NetSuite would put in its error document."""

    status: int
    code: str
    detail: str
    path: str | None = None
    query_param: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.detail)


def user_error(detail: str, path: str | None = None) -> RecordError:
    """A business refusal (HTTP 400, USER_ERROR) naming the offending field."""
    return RecordError(400, USER_ERROR, RESOURCE_ERROR_PREFIX + detail, path)


def invalid_field_value(value: object, path: str) -> RecordError:
    """NetSuite's wording for a reference to something that does not exist."""
    return user_error(
        f"You have entered an Invalid Field Value {value} for the following field: {path}", path
    )


def not_found() -> RecordError:
    code, detail = _DEFAULT_DETAILS[404]
    return RecordError(404, code, detail)


def error_document(error: RecordError) -> dict[str, Any]:
    type_uri, title = _TYPES.get(error.status, (_RFC9110 + "15.5.1", "Error"))
    detail: dict[str, Any] = {"detail": error.detail, "o:errorCode": error.code}
    if error.path is not None:
        detail["o:errorPath"] = error.path
    if error.query_param is not None:
        detail["o:errorQueryParam"] = error.query_param
    return {"type": type_uri, "title": title, "status": error.status, "o:errorDetails": [detail]}


def error_response_for(error: RecordError, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(error_document(error), separators=(",", ":")).encode("utf-8")
    return Response(body, error.status, headers, media_type=ERROR_MEDIA_TYPE)


def error_response(status: int) -> Response:
    """The document NetSuite answers with for a bare HTTP status (used by injected faults)."""
    code, detail = _DEFAULT_DETAILS.get(status, _SERVER_ERROR_DETAIL)
    if 400 <= status < 500 and status not in _DEFAULT_DETAILS:
        code, detail = USER_ERROR, RESOURCE_ERROR_PREFIX + "The request was refused."
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return error_response_for(RecordError(status, code, detail), headers)
