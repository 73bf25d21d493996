"""The one place a `GatewayError` becomes an `application/problem+json` response (RFC 9457).

Not where errors are decided: they are raised where the fact is known.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_from_bytes

from starlette.responses import Response

from gateway.domain.errors import Code, GatewayError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("gateway.problems")
# What a path may hold as it is (RFC 3986 3.3: pchar and `/`, besides letters and digits, which
# are never escaped); anything else is escaped, and a `%` begins an escape only before two hex
# digits.
_PATH_CHARS = "/!$&'()*+,;=:@-._~"
_STRAY_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def instance_of(scope: Mapping[str, Any]) -> str:
    """A problem's `instance` (RFC 9457 3.1.5, a URI reference): the request's path as the client
    sent it, escapes kept. Not the ASGI `path`, which is unescaped: `a%2Fb` would read as the
    path `a/b`, and `a%20b` or `%C3%A9` as no URI at all. Without the query, which a server may
    or may not leave on `raw_path`."""
    raw: bytes | None = scope.get("raw_path")
    if raw is None:  # a server that keeps no raw path: the unescaped one, escaped again
        return quote_from_bytes(scope["path"].encode("utf-8"), safe=_PATH_CHARS)
    path = _STRAY_PERCENT.sub(b"%25", raw.split(b"?", 1)[0])
    return quote_from_bytes(path, safe=_PATH_CHARS + "%")


def problem_body(error: GatewayError, correlation_id: str, instance: str | None = None) -> bytes:
    return json.dumps(error.problem(correlation_id, instance), separators=(",", ":")).encode()


def problem_response(
    error: GatewayError, correlation_id: str, instance: str | None = None
) -> Response:
    return Response(
        problem_body(error, correlation_id, instance),
        status_code=error.status,
        headers=error.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def internal_error() -> GatewayError:
    """What a client sees of a bug: no stack trace, no internal name."""
    return GatewayError(
        Code.INTERNAL_ERROR,
        "The gateway failed unexpectedly; the incident is logged under this correlation id.",
    )
