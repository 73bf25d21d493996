"""Idempotency step: exactly-once POSTs per the IETF Idempotency-Key draft (STANDARDS.md).

Not the storage (the Store claims keys atomically) and not reconciliation with the ERP (the
handlers search by the gateway reference when `ctx.reconcile` is set).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from gateway.api.problems import problem_response
from gateway.domain.errors import Category, Code, GatewayError
from gateway.domain.operations import Operation
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.store.base import StoredResponse


class Requirement(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    OFF = "off"


class IdempotencyPolicy(BaseModel):
    """`policies/idempotency.yaml`: which operations take keys, and for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retention_s: Annotated[int, Field(ge=60, le=30 * 86400)] = 86400
    lease_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    operations: dict[Operation, Requirement] = {
        Operation.SALES_ORDERS_CREATE: Requirement.REQUIRED,
        Operation.SALES_ORDERS_CANCEL: Requirement.REQUIRED,
        Operation.CUSTOMERS_CREATE: Requirement.OPTIONAL,
    }


# -- behaviour -----------------------------------------------------------------------------

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
DOCS = "https://gateway.example/docs#idempotency"
_KEPT_HEADERS = ("content-type", "location")
_MAX_KEY = 255


def _invalid(detail: str) -> GatewayError:
    return GatewayError(Code.IDEMPOTENCY_KEY_INVALID, detail, extra={"documentation": DOCS})


def parse_key(values: list[str]) -> str | None:
    """The key from the header: an sf-string (`"abc"`) or, as many SDKs send it, bare."""
    if not values:
        return None
    if len(values) > 1:
        raise _invalid("Send exactly one Idempotency-Key header.")
    raw = values[0].strip()
    key = _sf_string(raw) if raw.startswith('"') else raw
    if not 1 <= len(key) <= _MAX_KEY or not all(" " <= ch <= "~" for ch in key):
        raise _invalid("An Idempotency-Key is 1 to 255 printable ASCII characters.")
    return key


def _sf_string(raw: str) -> str:
    """RFC 8941 sf-string: quoted, with only \\" and \\\\ as escapes."""
    if len(raw) < 2 or not raw.endswith('"'):
        raise _invalid("The Idempotency-Key is not a valid structured-field string.")
    chars: list[str] = []
    escaped = False
    for ch in raw[1:-1]:
        if escaped:
            if ch not in '"\\':
                raise _invalid("The Idempotency-Key has an invalid escape.")
            chars.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            raise _invalid("The Idempotency-Key is not a valid structured-field string.")
        else:
            chars.append(ch)
    if escaped:
        raise _invalid("The Idempotency-Key has an invalid escape.")
    return "".join(chars)


def fingerprint(ctx: RequestContext) -> str:
    """What makes two requests "the same": method, path and canonical body."""
    body = ctx.payload.model_dump(mode="json") if ctx.payload is not None else None
    canonical = json.dumps(
        [ctx.request.method, ctx.request.url.path, body], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(stored: StoredResponse) -> Response:
    response = Response(stored.body, stored.status, headers=stored.headers)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _stored(response: Response, backend: str | None) -> StoredResponse:
    headers = {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS}
    return StoredResponse(response.status_code, headers, bytes(response.body), backend)


def _definitive(ctx: RequestContext, response: Response) -> bool:
    """An outcome to keep: the ERP was asked and answered for good (accepted or refused)."""
    return ctx.forwarded and response.status_code < 500


class Idempotency:
    """Pipeline step: claim, replay or refuse by key; store definitive outcomes only."""

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        policy = ctx.runtime.idempotency
        requirement = policy.operations.get(ctx.spec.operation, Requirement.OFF)
        if requirement is Requirement.OFF:
            return await call_next(ctx)
        key = parse_key(ctx.request.headers.getlist(HEADER))
        if key is None:
            if requirement is Requirement.REQUIRED:
                raise GatewayError(
                    Code.IDEMPOTENCY_KEY_MISSING,
                    f"This operation needs an {HEADER} header; send a new unique key per "
                    "intended request and the same key on its retries.",
                    extra={"documentation": DOCS},
                )
            return await call_next(ctx)

        store = ctx.runtime.store
        scoped = f"{ctx.client_id}:{key}"
        owner = uuid.uuid4().hex
        claim = await store.claim_idempotency(
            scoped, fingerprint(ctx), owner, policy.lease_s, policy.retention_s
        )
        if claim.state == "completed" and claim.response is not None:
            return _replay(claim.response)
        if claim.state == "mismatch":
            raise GatewayError(
                Code.IDEMPOTENCY_KEY_REUSED,
                f"This {HEADER} was used for a different request; use a new key.",
            )
        if claim.state == "in_progress":
            raise GatewayError(
                Code.IDEMPOTENCY_IN_PROGRESS,
                "A request with this key is still being processed; retry it unchanged.",
                headers={"Retry-After": "1"},
            )

        ctx.idempotency_key = key
        if claim.attempts > 0 and claim.backend:
            # An earlier attempt reached this ERP with an unknown outcome: go back there (even
            # if the routes changed since) and look for its document before submitting again.
            ctx.backend = claim.backend
            ctx.reconcile = True

        async def record_forwarding(backend: str) -> None:
            # Before the ERP is asked: should this attempt die, the next one reconciles there.
            await store.mark_forwarded(scoped, owner, backend)

        ctx.before_forward = record_forwarding
        try:
            response = await call_next(ctx)
        except GatewayError as error:
            if error.category is Category.TECHNICAL or not ctx.forwarded:
                await store.release_idempotency(scoped, owner)
                raise
            response = problem_response(error, ctx.correlation_id, ctx.request.url.path)
            for name, value in error.headers.items():
                response.headers[name] = value
        except BaseException:
            await store.release_idempotency(scoped, owner)
            raise
        if _definitive(ctx, response):
            await store.complete_idempotency(
                scoped, owner, _stored(response, ctx.backend), policy.retention_s
            )
        else:
            await store.release_idempotency(scoped, owner)
        return response
