"""Journal step: every domain transaction (create, cancel, quote) leaves one journal entry —
who asked, for which legal entity, where it was routed and by which rule, what the ERP
answered, and the states it passed through — written off the request's critical path.

Attempts at one transaction (the CRM's retries under one Idempotency-Key, an operator's
replays) join one entry. An answer from the key's stored outcome, or a refusal for traffic
(429, 409 in progress), is added to the entry's states without settling it: it says nothing
new about the transaction. The step also counts the business figures (orders by outcome,
acceptance time, customers created) and records write outcomes in the audit trail.

Not the storage (see `gateway.store.journal`) nor replays (see `gateway.ops.replay`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import operator
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from gateway.config.idempotency import IdempotencyPolicy
from gateway.domain.errors import Category, ClientAborted, Code, ErpFailure, GatewayError
from gateway.domain.ids import base32_prefix_lower, random_bytes
from gateway.domain.operations import WRITE_OPERATIONS, Operation
from gateway.observability.metrics import (
    CUSTOMERS_CREATED_BY,
    ORDER_ACCEPTANCE_SECONDS_BY,
    ORDERS_BY,
)
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.cut_off import cut_off_answer, cut_off_here
from gateway.pipeline.idempotency import REPLAYED_HEADER, sent_key
from gateway.pipeline.operation import OperationSpec
from gateway.store.audit import AuditTrail
from gateway.store.journal import JournalLog, JournalRecord

JOURNALED = frozenset(
    {
        Operation.CUSTOMERS_CREATE,
        Operation.SALES_ORDERS_CREATE,
        Operation.SALES_ORDERS_CANCEL,
        Operation.QUOTES_VALIDATE,
    }
)
# Statuses an entry ends in; "failed" is technical (retry or replay), "rejected" is not.
ACCEPTED, ON_HOLD, REJECTED, FAILED = "accepted", "on_hold", "rejected", "failed"
STATUSES = ("received", "routed", "submitted", ACCEPTED, ON_HOLD, REJECTED, FAILED)
# Answers that say nothing about the transaction itself: refused for traffic or a freeze (the
# client sends it again unchanged, later), or for a different request sent under its key.
_NOT_AN_ATTEMPT = frozenset(
    {
        Code.RATE_LIMITED.value,
        Code.IDEMPOTENCY_IN_PROGRESS.value,
        Code.IDEMPOTENCY_KEY_REUSED.value,
        Code.LEGAL_ENTITY_FROZEN.value,
    }
)
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"
# Facts an attempt learns on its way (where it went, what the ERP made of it): kept from an
# earlier attempt when a later one ends before learning them.
_LEARNED = frozenset(
    {
        "legal_entity",
        "rule",
        "backend",
        "gateway_id",
        "erp_document",
        "document_status",
        "trace_id",
        "idempotency_key_sha256",
    }
)
_LEARNED_OF = operator.itemgetter(*sorted(_LEARNED))
# What a refused correction does not replace: the request the entry keeps (for the next
# correction) and where that request was bound, not where the refused body would have gone.
_OF_THE_REQUEST = ("request", "legal_entity", "rule", "backend")
# Every field an entry shows, None until some attempt learns it.
ENTRY_FIELDS = (
    "operation",
    "status",
    "http_status",
    "error",
    "outcome_unknown",
    "client",
    *sorted(_LEARNED),
    "correlation_id",
    "config_version",
    "api_version",
    "instance",
)


def transaction_id(client_id: str, idempotency_key: str | None) -> str:
    """A transaction's journal id: from its client and Idempotency-Key, so that every attempt
    under that key joins one entry; random for a request without a key."""
    if idempotency_key is None:
        digest = random_bytes(16)
    else:
        digest = hashlib.sha256(f"{client_id}\0{idempotency_key}".encode()).digest()
    return "tx_" + base32_prefix_lower(digest, 26)


def key_digest(idempotency_key: str | None) -> str | None:
    """What the journal shows of an Idempotency-Key: its SHA-256, which the CRM can compute
    from its own key to find the transaction."""
    if idempotency_key is None:
        return None
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


@dataclass(frozen=True)
class _Outcome:
    status: str  # one of STATUSES' final ones, or "replayed" / "refused" (not settling)
    http_status: int
    error: dict[str, str] | None = None
    outcome_unknown: bool = False

    @property
    def settles(self) -> bool:
        return self.status in (ACCEPTED, ON_HOLD, REJECTED, FAILED)


def _outcome(
    ctx: RequestContext, response: Response | None, error: BaseException | None
) -> _Outcome:
    if isinstance(error, asyncio.CancelledError) and cut_off_here():
        # The server stopping cut it off, answered 503: a failure to retry, its outcome unknown
        # once it reached the ERP (its key stays in progress for the ERP's commit window).
        stopped = cut_off_answer(ctx)
        problem = {
            "category": stopped.category.value,
            "code": stopped.code.value,
            "detail": stopped.detail,
        }
        write = ctx.spec.operation in WRITE_OPERATIONS
        return _outcome_of_problem(problem, stopped.status, ambiguous=write and ctx.forwarded)
    if isinstance(error, GatewayError):
        problem = {
            "category": error.category.value,
            "code": error.code.value,
            "detail": error.detail,
        }
        ambiguous = isinstance(error, ErpFailure) and error.ambiguous
        return _outcome_of_problem(problem, error.status, ambiguous)
    if response is None:  # an unexpected error: the app answers 500
        problem = {"category": Category.TECHNICAL.value, "code": "internal_error", "detail": ""}
        return _Outcome(FAILED, 500, problem)
    if _replayed(response):
        return _Outcome("replayed", response.status_code)
    if response.status_code >= 400:
        return _outcome_of_problem(_problem_of(response), response.status_code, False)
    document = ctx.document
    if document is not None and document.status == "on_hold":
        return _Outcome(ON_HOLD, response.status_code)
    return _Outcome(ACCEPTED, response.status_code)


_REPLAYED_NAME = REPLAYED_HEADER.lower().encode("latin-1")


def _replayed(response: Response) -> bool:
    """Whether `response` is a stored outcome answered again: its first `Idempotent-Replayed`
    says "true" (as `response.headers.get` reads it, without building the headers)."""
    for name, value in response.raw_headers:
        if name == _REPLAYED_NAME:
            return value == b"true"
    return False


def _outcome_of_problem(problem: dict[str, str], status: int, ambiguous: bool) -> _Outcome:
    if problem.get("code") in _NOT_AN_ATTEMPT:
        return _Outcome("refused", status, problem)
    final = FAILED if problem.get("category") == Category.TECHNICAL.value else REJECTED
    return _Outcome(final, status, problem, ambiguous)


def _problem_of(response: Response) -> dict[str, str]:
    """The category, code and detail of a problem the pipeline answered as a response (a
    stored business refusal); a rare path, so the body is read back."""
    try:
        body = json.loads(bytes(response.body))
    except (ValueError, UnicodeDecodeError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    category = body.get("category") or (
        Category.TECHNICAL.value if response.status_code >= 500 else Category.BUSINESS.value
    )
    return {
        "category": str(category),
        "code": str(body.get("code", "")),
        "detail": str(body.get("detail", "")),
    }


class Journal:
    """Pipeline step, after authorization (the client is known): journals each transaction's
    attempt once it is answered, whatever the answer. It reads the Idempotency-Key first:
    an attempt refused before its key is claimed (its body invalid) is still filed under it."""

    def __init__(
        self,
        journal: JournalLog,
        audit: AuditTrail,
        config_version: str,
        idempotency: IdempotencyPolicy,
    ) -> None:
        self._journal = journal
        self._audit = audit
        self._config_version = config_version
        self._idempotency = idempotency

    @staticmethod
    def applies(spec: OperationSpec) -> bool:
        return spec.operation in JOURNALED

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        # Only in the pipelines of journaled operations (`applies`).
        ctx.idempotency_key = sent_key(ctx, self._idempotency)
        response: Response | None = None
        error: BaseException | None = None
        try:
            response = await call_next(ctx)
            return response
        except ClientAborted:
            raise  # the request never arrived whole: nothing was attempted
        except BaseException as exc:
            error = exc
            raise
        finally:
            if not isinstance(error, ClientAborted):
                self._record(ctx, response, error)

    def _record(
        self, ctx: RequestContext, response: Response | None, error: BaseException | None
    ) -> None:
        # An attempt that held its key ended when it settled it: the key's next claim follows
        # it from there (`JournalRecord.after_ms`).
        ended = ctx.settled_at if ctx.settled_at is not None else time.time()
        outcome = _outcome(ctx, response, error)
        operation = ctx.spec.operation
        client = ctx.client_id
        entry_id = ctx.journal_id or transaction_id(client, ctx.idempotency_key)
        ctx.journal_id = entry_id
        by = f"replay by {ctx.replayed_by}" if ctx.replayed_by else "client"
        correlation_id = ctx.correlation_id
        states: list[dict[str, Any]] = [
            {"state": "received", "at": ctx.arrived_at, "correlation_id": correlation_id, "by": by}
        ]
        if ctx.routed_at is not None:
            states.append(
                {"state": "routed", "at": ctx.routed_at, "correlation_id": correlation_id, "by": by}
            )
        if ctx.submitted_at is not None:
            states.append(
                {
                    "state": "submitted",
                    "at": ctx.submitted_at,
                    "correlation_id": correlation_id,
                    "by": by,
                }
            )
        final: dict[str, Any] = {
            "state": outcome.status,
            "at": ended,
            "correlation_id": correlation_id,
            "by": by,
        }
        if outcome.error is not None:
            final["code"] = outcome.error.get("code")
        states.append(final)
        settling = outcome.settles
        fields: dict[str, Any]
        if settling:
            fields = self._fields(ctx, outcome, operation, client)
            # Nor does a refused correction replace the request.
            if ctx.replayed_by and outcome.status == REJECTED:
                for field in _OF_THE_REQUEST:
                    fields.pop(field, None)
        else:
            # Nothing new about the transaction; a first sighting still names it.
            fields = {"operation": operation, "client": client, "status": "received"}
        # A client's attempt refused before it held its key (its body invalid) is the
        # transaction's outcome only if it is the first the journal sees of it: under a key
        # already settled, or failed, it is another request sent under that key.
        settles = settling and not (
            ctx.idempotency_key is not None and ctx.claim is None and not ctx.replayed_by
        )
        record = JournalRecord(
            id=entry_id,
            arrived_at=ctx.arrived_at,
            ended_at=ended,
            fields=fields,
            states=states,
            open=outcome.status == FAILED and operation in WRITE_OPERATIONS,
            settles=settles,
            after_ms=ctx.after_ms,
        )
        self._journal.record(record)
        if settling:
            self._count(ctx, outcome, operation, ended)
            if operation in WRITE_OPERATIONS or ctx.replayed_by:
                self._audit.record(
                    "transaction",
                    ctx.replayed_by or client,
                    {
                        "id": entry_id,
                        "operation": operation,
                        "status": outcome.status,
                        "client": client,
                        "legal_entity": ctx.legal_entity,
                        "backend": ctx.reconcile_on or ctx.backend,
                        "gateway_id": fields.get("gateway_id"),
                        "erp_document": fields.get("erp_document"),
                        "code": (outcome.error or {}).get("code"),
                        "correlation_id": ctx.correlation_id,
                        "instance": INSTANCE,
                    },
                )

    def _fields(
        self, ctx: RequestContext, outcome: _Outcome, operation: str, client: str
    ) -> dict[str, Any]:
        """A settling attempt's fields. What it did not get to know (a refused correction is
        never routed) is left out, so as not to erase what an earlier attempt found."""
        document = ctx.document
        record = ctx.record
        fields = {
            "operation": operation,
            "status": outcome.status,
            "http_status": outcome.http_status,
            "error": outcome.error,
            "outcome_unknown": outcome.outcome_unknown,
            "client": client,
            "legal_entity": ctx.legal_entity,
            "rule": ctx.served_by,
            "config_version": self._config_version,
            "backend": ctx.reconcile_on or ctx.backend,
            "gateway_id": (document.gateway_id if document else None)
            or (record.gateway_id if record else None),
            "erp_document": (document.erp_reference if document else None)
            or (record.erp_id if record else None),
            "document_status": document.status if document else None,
            "idempotency_key_sha256": key_digest(ctx.idempotency_key),
            "correlation_id": ctx.correlation_id,
            "trace_id": ctx.trace.trace_id if ctx.trace else None,
            "api_version": ctx.api_version,
            "instance": INSTANCE,
            "request": _request_of(ctx),
        }
        if None in _LEARNED_OF(fields):  # not for a create that got its document
            return {k: v for k, v in fields.items() if v is not None or k not in _LEARNED}
        return fields

    @staticmethod
    def _count(ctx: RequestContext, outcome: _Outcome, operation: str, ended: float) -> None:
        legal_entity = ctx.legal_entity
        backend = ctx.reconcile_on or ctx.backend
        if legal_entity is None or backend is None:
            return
        if operation == Operation.SALES_ORDERS_CREATE and outcome.status != FAILED:
            ORDERS_BY.labels(legal_entity, backend, outcome.status).inc()
            if outcome.status != REJECTED:
                ORDER_ACCEPTANCE_SECONDS_BY.labels(legal_entity, backend).observe(
                    max(0.0, ended - ctx.arrived_at)
                )
        elif operation == Operation.CUSTOMERS_CREATE and outcome.status == ACCEPTED:
            CUSTOMERS_CREATED_BY.labels(legal_entity, backend).inc()


def _request_of(ctx: RequestContext) -> dict[str, Any]:
    """What a replay sends again: the request as the client sent it (its key kept apart, for
    the replay only; the API shows its digest)."""
    request = ctx.request
    body: Any = None
    if ctx.raw_body is not None:
        try:
            body = orjson.loads(ctx.raw_body)
        except orjson.JSONDecodeError:
            body = None
        if body is not None and not _writable(ctx.raw_body, body):
            body = None  # kept as a body that is no JSON, or its entry could never be written
    return {
        "method": request.method,
        "path": ctx.path,
        "path_params": dict(request.path_params),
        # Only a query the operation takes (none of the journaled ones do): any other is
        # refused, and is no more kept than it was used (an `access_token` would be).
        "query": request.scope["query_string"].decode() if ctx.spec.query_model else "",
        "body": body,
        "idempotency_key": ctx.idempotency_key,
    }


# orjson reads JSON nested up to 1024 deep but writes it 254 deep at most; the entry keeps the
# body two levels down (its fields' `request`, then `body`).
_WRITTEN_DEPTH = 254 - 2


def _writable(raw: bytes, body: Any) -> bool:
    """Whether orjson can write `body` (parsed from `raw`) where the entry keeps it. Encoded to
    tell only when `raw` holds brackets enough to nest that deep (each level opens one): the
    journal's entry encodes it once already, and a body can be a megabyte."""
    if len(raw) <= _WRITTEN_DEPTH or raw.count(b"[") + raw.count(b"{") <= _WRITTEN_DEPTH:
        return True
    try:
        orjson.dumps({"request": {"body": body}})
    except orjson.JSONEncodeError:
        return False
    return True


def public_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as the admin API shows it: every field (None where unknown), the request
    without its Idempotency-Key."""
    shown = {**dict.fromkeys(ENTRY_FIELDS), **entry}
    request = shown.get("request")
    if isinstance(request, dict):
        shown["request"] = {k: v for k, v in request.items() if k != "idempotency_key"}
    return shown
