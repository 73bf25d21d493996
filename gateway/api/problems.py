"""The one place a `GatewayError` becomes an `application/problem+json` response (RFC 9457).

Not where errors are decided: they are raised where the fact is known.
"""

from __future__ import annotations

import json
import logging

from starlette.responses import Response

from gateway.domain.errors import Code, GatewayError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("gateway.problems")


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
