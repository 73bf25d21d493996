"""Body step: reads the request body within its size limit and time, and validates it against
the schema: JSON only, each key once, no control characters in strings.

Not business rules (the handlers and the ERPs judge those); only media type, shape, types, size.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import json
import typing
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.domain.digits import ascii_digits
from gateway.domain.errors import ClientAborted, Code, FieldError, GatewayError
from gateway.domain.models import CLIENT_REQUEST
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.operation import OperationSpec

MAX_BODY_BYTES = 1024 * 1024
BODY_TIMEOUT_S = 10.0  # from the first byte of the body to the last
JSON_MEDIA_TYPE = "application/json"


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
    return _schema_problem(_field_errors(exc), what)


def _schema_problem(errors: list[FieldError], what: str) -> GatewayError:
    return GatewayError(
        Code.VALIDATION_FAILED,
        f"The {what} does not match the schema: {len(errors)} problem(s), see `errors`.",
        errors,
    )


def require_json(request: Request) -> None:
    """415 unless the body is declared as JSON (`application/json` or `application/*+json`,
    UTF-8 if a charset is named), once, and uncompressed: the gateway never guesses what a body
    is."""
    declared = request.headers.getlist("content-type")
    if len(declared) != 1:
        detail = (
            "The request has no Content-Type"
            if not declared
            else "The request has more than one Content-Type header"
        )
        raise _unsupported(f"{detail}; send `Content-Type: {JSON_MEDIA_TYPE}`.")
    media_type, _, parameters = declared[0].partition(";")
    media_type = media_type.strip().lower()
    is_json = media_type == JSON_MEDIA_TYPE or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    if not is_json:
        raise _unsupported(
            f"The body is declared as {media_type or 'nothing'!r}; this API takes "
            f"`Content-Type: {JSON_MEDIA_TYPE}` only."
        )
    for parameter in parameters.split(";") if parameters else ():
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise _unsupported("JSON is UTF-8: send `charset=utf-8` or no charset.")
    _require_identity(request)


def _require_identity(request: Request) -> None:
    """415 for a body sent compressed (`Content-Encoding: gzip`...): the gateway reads bodies as
    sent, so one it took for JSON would be refused as malformed, a problem that misleads. RFC
    7694: the answer names the coding it takes in `Accept-Encoding`."""
    fields = request.headers.getlist("content-encoding")
    if not fields:  # nearly always
        return
    codings = [coding.strip().lower() for field in fields for coding in field.split(",")]
    sent = [coding for coding in codings if coding and coding != "identity"]
    if sent:
        raise GatewayError(
            Code.UNSUPPORTED_MEDIA_TYPE,
            f"The body is sent with `Content-Encoding: {', '.join(sent)}`; this API takes "
            "bodies uncompressed: send it without Content-Encoding.",
            headers={"Accept-Encoding": "identity"},
        )


def _unsupported(detail: str) -> GatewayError:
    return GatewayError(
        Code.UNSUPPORTED_MEDIA_TYPE, detail, headers={"Accept-Post": JSON_MEDIA_TYPE}
    )


async def read_body(
    request: Request, limit: int = MAX_BODY_BYTES, timeout_s: float | None = None
) -> bytes:
    """The body, or 413 as soon as it is known to exceed `limit` (declared or streamed), or
    408 (and the connection closed) when it does not arrive whole within `timeout_s` (by
    default the app's, `gateway serve --body-timeout`, for every endpoint alike). A chunked
    body the server cannot frame ends the stream with the server's 400, let through as it is
    (`gateway.server.GuardedProtocol._refuse_body`)."""
    if timeout_s is None:
        timeout_s = getattr(request.app.state, "body_timeout_s", BODY_TIMEOUT_S)
    declared = request.headers.get("content-length")
    if declared is not None and ascii_digits(declared) and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise GatewayError(
            Code.REQUEST_TIMEOUT,
            f"The request body did not arrive within {timeout_s:g} s; send it again, whole.",
            headers={"Connection": "close"},
        ) from None
    except ClientDisconnect:
        raise ClientAborted from None
    return b"".join(chunks)


def without_bom(raw: bytes) -> bytes:
    """`raw` without a leading UTF-8 byte order mark. RFC 8259 8.1 forbids sending one but lets
    a parser ignore one, and some clients send one (.NET's `Encoding.UTF8`, Windows
    PowerShell): the JSON after it is the body, for the schema, the idempotency fingerprint
    and the journal alike. The mark is not whitespace, so neither orjson nor pydantic skip it."""
    return raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw


def _too_large(limit: int) -> GatewayError:
    return GatewayError(
        Code.PAYLOAD_TOO_LARGE, f"The request body exceeds the limit of {limit} bytes."
    )


class _Keys(dict[str, Any]):
    """A JSON object that remembers the keys it was given more than once."""

    repeated: tuple[str, ...] = ()


class _Objects:
    """The parser's hook for objects: each as a `_Keys`, and whether any repeated a key."""

    def __init__(self) -> None:
        self.repeats = False

    def __call__(self, pairs: list[tuple[str, Any]]) -> _Keys:
        obj = _Keys(pairs)
        if len(obj) != len(pairs):
            counts = Counter(key for key, _ in pairs)
            obj.repeated = tuple(key for key, count in counts.items() if count > 1)
            self.repeats = True
        return obj


def repeated_keys(raw: bytes) -> list[str]:
    """Pointers to every key a JSON document gives twice in one object (a parser would keep
    one of them silently); empty for a document that is not JSON (the schema says why)."""
    objects = _Objects()
    try:
        document = json.loads(raw, object_pairs_hook=objects)
    except (ValueError, RecursionError):  # nested past the interpreter's stack: not for us
        return []
    if not objects.repeats:  # nearly always: no pointers to build
        return []
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, _Keys):
            found += [f"{pointer}/{_escaped(k)}" for k in node.repeated]
            stack += [(f"{pointer}/{_escaped(k)}", v) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(f"{pointer}/{i}", v) for i, v in enumerate(node)]
    return sorted(set(found))


def repeated_key_errors(raw: bytes) -> list[FieldError]:
    """An error at every key a JSON body gives twice in one object (`repeated_keys`), for the
    400 of any body the gateway takes."""
    return [FieldError(pointer, "Given more than once.") for pointer in repeated_keys(raw)]


def _escaped(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def parse_json_model(raw: bytes, model: type[BaseModel]) -> Any:
    """The validated model, or a 400 problem with one pointer per bad field."""
    if not raw or raw.isspace():  # `not raw.strip()`, without the copy
        raise GatewayError(
            Code.VALIDATION_FAILED,
            "A JSON request body is required.",
            [FieldError("", "Request body is empty.")],
        )
    repeated = repeated_key_errors(raw)
    if repeated:
        raise GatewayError(
            Code.VALIDATION_FAILED,
            "The request body gives a field more than once; send each field once.",
            repeated,
        )
    try:
        return model.model_validate_json(raw, context=CLIENT_REQUEST)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise GatewayError(
                Code.VALIDATION_FAILED,
                "The request body is not valid JSON.",
                [FieldError("", "Malformed JSON.")],
            ) from None
        raise validation_problem(exc) from None


_NOT_DIGITS = "Enter a whole number in the digits 0-9 alone."


@functools.cache
def _whole_numbers(model: type[BaseModel]) -> frozenset[str]:
    """The parameters of `model` that are whole numbers (`int`, or `int | None`, constrained
    or not)."""
    return frozenset(
        name
        for name, field in model.model_fields.items()
        if int in map(_bare, (field.annotation, *typing.get_args(field.annotation)))
    )


def _bare(annotation: Any) -> Any:
    """`annotation` without its `Annotated` metadata."""
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def parse_query_model(request: Request, model: type[BaseModel]) -> Any:
    """The validated model of the query string, or a 400 problem with one pointer per bad
    parameter. A whole number is its ASCII digits alone: pydantic (as int()) would read `5_0`
    as 50, ` 5` as 5 and `2.0` as 2, a value the client never wrote (a sign is refused too,
    as every bound of a parameter already refuses a number below zero)."""
    params: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise GatewayError(
                Code.VALIDATION_FAILED,
                f"Query parameter `{key}` is given more than once.",
                [FieldError(f"/{key}", "Repeated parameter.")],
            )
        params[key] = value
    whole = _whole_numbers(model)
    errors = [
        FieldError(f"/{key}", _NOT_DIGITS)
        for key, value in params.items()
        if key in whole and not ascii_digits(value)
    ]
    try:
        parsed = model.model_validate(params, context=CLIENT_REQUEST)
    except ValidationError as exc:
        told = {error.pointer for error in errors}
        errors += [error for error in _field_errors(exc) if error.pointer not in told]
    if errors:
        raise _schema_problem(errors, "query string")
    return parsed


class ParseBody:
    """Pipeline step: `ctx.payload` from the JSON body (upgraded first when an older version's
    body), `ctx.query` from the query string."""

    def __init__(self, timeout_s: float = BODY_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s

    @staticmethod
    def applies(spec: OperationSpec) -> bool:
        return spec.body_model is not None or spec.query_model is not None

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        spec = ctx.spec
        if spec.body_model is not None:
            require_json(ctx.request)
            raw = await read_body(ctx.request, timeout_s=self._timeout_s)
            raw = ctx.raw_body = without_bom(raw)
            if ctx.body_upgrade is not None:
                raw = ctx.body_upgrade.body(raw)
            ctx.payload = parse_json_model(raw, spec.body_model)
        if spec.query_model is not None:
            ctx.query = parse_query_model(ctx.request, spec.query_model)
        return await call_next(ctx)
