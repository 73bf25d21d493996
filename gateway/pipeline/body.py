"""Body step: reads the request body within its size limit and validates it against the schema.

Not business rules (the handlers and the ERPs judge those); only shape, types and size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway.domain.errors import Code, FieldError, GatewayError
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext

MAX_BODY_BYTES = 1024 * 1024


def json_pointer(location: Sequence[int | str]) -> str:
    """RFC 6901 pointer for a pydantic error location."""
    parts = (str(p).replace("~", "~0").replace("/", "~1") for p in location)
    return "/" + "/".join(parts) if location else ""


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        location = err["loc"]
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "Unknown field: this API version does not accept it."
        elif err["type"] == "missing":
            message = "Required field missing."
        errors.append(FieldError(json_pointer(location), message))
    return errors


def validation_problem(exc: ValidationError, what: str = "request body") -> GatewayError:
    errors = _field_errors(exc)
    return GatewayError(
        Code.VALIDATION_FAILED,
        f"The {what} does not match the schema: {len(errors)} problem(s), see `errors`.",
        errors,
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, or 413 as soon as it is known to exceed `limit` (declared or streamed)."""
    declared = request.headers.get("content-length")
    too_large = GatewayError(
        Code.PAYLOAD_TOO_LARGE, f"The request body exceeds the limit of {limit} bytes."
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_model(raw: bytes, model: type[BaseModel]) -> Any:
    """The validated model, or a 400 problem with one pointer per bad field."""
    if not raw.strip():
        raise GatewayError(
            Code.VALIDATION_FAILED,
            "A JSON request body is required.",
            [FieldError("", "Request body is empty.")],
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise GatewayError(
                Code.VALIDATION_FAILED,
                "The request body is not valid JSON.",
                [FieldError("", "Malformed JSON.")],
            ) from None
        raise validation_problem(exc) from None


def parse_query_model(request: Request, model: type[BaseModel]) -> Any:
    params: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise GatewayError(
                Code.VALIDATION_FAILED,
                f"Query parameter `{key}` is given more than once.",
                [FieldError(f"/{key}", "Repeated parameter.")],
            )
        params[key] = value
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise validation_problem(exc, "query string") from None


class ParseBody:
    """Pipeline step: `ctx.payload` from the JSON body (upgraded first when an older version's
    body), `ctx.query` from the query string."""

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        spec = ctx.spec
        if spec.body_model is not None:
            raw = await read_body(ctx.request)
            if ctx.body_upgrade is not None:
                raw = ctx.body_upgrade.body(raw)
            ctx.payload = parse_json_model(raw, spec.body_model)
        if spec.query_model is not None:
            ctx.query = parse_query_model(ctx.request, spec.query_model)
        return await call_next(ctx)
