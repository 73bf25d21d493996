"""Replays: an operator sends a journaled transaction again, through the same pipeline, as the
client it belongs to, under its own Idempotency-Key (so under its own gateway reference).

What may be replayed: a technical failure, as it was (its key reconciles with the ERP first
when the first outcome is unknown, and a key the CRM has since completed answers with that
outcome, so no replay ever leaves a second document); a business rejection, only with a
corrected body (the rejection stored under the key is dropped first, so the key can carry the
correction). Never an accepted or held transaction, nor one still in progress.

Not the HTTP endpoint (see `gateway.api.operations`) nor the pipeline (composed by the app).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.domain.errors import Code, FieldError, GatewayError, echoed, not_found
from gateway.domain.ids import MAX_GATEWAY_ID_LENGTH, random_hex
from gateway.observability.trace_context import CORRELATION_HEADER, correlation_id_from
from gateway.pipeline.context import Principal, RequestContext
from gateway.pipeline.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.pipeline.idempotency import scoped_key
from gateway.pipeline.journal import FAILED, REJECTED
from gateway.pipeline.operation import OperationSpec
from gateway.runtime import Runtime
from gateway.store.base import StoreUnavailable
from gateway.store.journal import iso_ms

REPLAY_ISSUER = "gateway-replay"

Dispatch = Callable[[RequestContext], Awaitable[Response]]
"""Runs a replay's context through the replay pipeline of the operation (given by the app)."""


@dataclass(frozen=True)
class ReplayOutcome:
    """What a replay got: the HTTP status and body the client would have, and its journal id."""

    transaction_id: str
    status: int
    answer: Any
    correlation_id: str


def no_transaction(transaction_id: str) -> GatewayError:
    """The 404 of a transaction the journal does not hold, showing a bounded prefix of an id
    longer than any the gateway issues (none such is looked up: see `is_too_long`)."""
    return not_found(f"No transaction {echoed(transaction_id)} in the journal.")


def is_too_long(gateway_id: str) -> bool:
    """Whether a path id is longer than any the gateway issues, so names nothing to look up."""
    return len(gateway_id) > MAX_GATEWAY_ID_LENGTH


def _invalid_state(detail: str) -> GatewayError:
    return GatewayError(Code.INVALID_STATE, detail)


def _replayable(entry: Mapping[str, Any], corrected: bool) -> dict[str, Any]:
    """The request to send again; 422 invalid_state when this transaction may not be replayed
    (so, or without a correction)."""
    status = entry.get("status")
    request = entry.get("request")
    if not isinstance(request, dict) or not request.get("path"):
        raise _invalid_state("The journal holds no request to replay for this transaction.")
    if status == FAILED:
        if corrected:
            raise _invalid_state(
                "A technical failure is replayed as it was sent; a corrected body would be "
                "another request under the same Idempotency-Key."
            )
        if entry.get("outcome_unknown") and not request.get("idempotency_key"):
            raise _invalid_state(
                "The ERP may have this transaction and it has no Idempotency-Key to reconcile "
                "with: look for it in the ERP (by correlation id) before sending it again."
            )
        return request
    if status == REJECTED:
        if not corrected:
            raise _invalid_state(
                "The ERP rejected this transaction on business grounds; replay it with a "
                "corrected body (the request's JSON body)."
            )
        return request
    raise _invalid_state(f"A transaction that is {status} is not replayed.")


class Replays:
    """Replays journaled transactions on the current runtime."""

    def __init__(
        self,
        current: Callable[[], Runtime],
        dispatch: Dispatch,
        specs: Mapping[str, OperationSpec],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._current = current
        self._dispatch = dispatch
        self._specs = specs
        self._clock = clock

    async def replay(
        self,
        transaction_id: str,
        corrected_body: Any | None,
        actor: str,
        client_ip: str | None = None,
    ) -> ReplayOutcome:
        """Replay one transaction for the operator `actor` at `client_ip`; one replay of it at
        a time (two at once, a double click or two operators, are 409 for the second), each
        deciding on the journal as the one before it left it."""
        if is_too_long(transaction_id):  # nor a lock taken in its name
            raise no_transaction(transaction_id)
        runtime = self._current()
        lock, token = f"replay:{transaction_id}", random_hex(16)
        if not await runtime.store.acquire_slot(lock, 1, token, runtime.request_timeout_s + 5):
            raise GatewayError(
                Code.IDEMPOTENCY_IN_PROGRESS,
                "Another replay of this transaction is running; look at its outcome in a moment.",
                headers={"Retry-After": "1"},
            )
        try:
            return await self._replay(runtime, transaction_id, corrected_body, actor, client_ip)
        finally:
            with contextlib.suppress(StoreUnavailable):  # else it runs out with its lease
                await runtime.store.release_slot(lock, token)

    async def _replay(
        self,
        runtime: Runtime,
        transaction_id: str,
        corrected_body: Any | None,
        actor: str,
        client_ip: str | None,
    ) -> ReplayOutcome:
        await runtime.journal.flush()  # the latest attempt decides what may be replayed
        entry = await runtime.store.journal.entry(transaction_id)
        if entry is None:
            raise no_transaction(transaction_id)
        corrected = corrected_body is not None
        request = _replayable(entry, corrected)
        client = str(entry.get("client"))
        entitlement = runtime.entitlements.get(client)
        if entitlement is None:
            raise _invalid_state(f"Client {client} is no longer registered (clients.yaml).")
        operation = str(entry.get("operation"))
        spec = self._specs.get(operation)
        if spec is None:
            raise _invalid_state(f"Operation {operation} is not replayed.")
        key = request.get("idempotency_key")
        if corrected and key:
            await runtime.store.forget_refusal(scoped_key(client, key))
        body = corrected_body if corrected else request.get("body")
        correlation_id = correlation_id_from(None)
        http_request = _request(request, body, key, correlation_id, client_ip)
        ctx = RequestContext(
            http_request,
            spec,
            path_version=str(entry.get("api_version") or ""),
            arrived_at=self._clock(),
            journal_id=transaction_id,
            replayed_by=actor,
            # It settles the entry as read here, though this host's clock be behind the one
            # that wrote it.
            after_ms=iso_ms(str(entry["updated_at"])),
        )
        ctx.deadline = ctx.arrived + runtime.request_timeout_s
        ctx.config_version = runtime.config.version
        if entry.get("outcome_unknown") and entry.get("backend"):
            # The ERP may have the first attempt's document: look for it there first, whether
            # or not the key's record is still kept (24 h; the journal keeps the entry 7 days).
            ctx.reconcile_on = str(entry["backend"])
        # The operator acts for the client as its own issuer would: a client bound to an
        # issuer (clients.yaml `issuer:`) takes no other's word, and the replay's is none.
        issuer = entitlement.issuer or REPLAY_ISSUER
        ctx.principal = Principal(client, f"replay by {actor}", issuer, entitlement.scopes)
        response = await self._dispatch(ctx)
        runtime.audit.record(
            "admin.replay",
            actor,
            {
                "id": transaction_id,
                "operation": operation,
                "client": client,
                "corrected": corrected,
                "status": response.status_code,
                "correlation_id": correlation_id,
            },
            client_ip,
        )
        await runtime.journal.flush()
        return ReplayOutcome(transaction_id, response.status_code, _json(response), correlation_id)


def _request(
    request: Mapping[str, Any],
    body: Any,
    key: str | None,
    correlation_id: str,
    client_ip: str | None,
) -> Request:
    """The transaction's HTTP request, built again for the pipeline: its method, path, path
    parameters, query and body, its Idempotency-Key, and a correlation id of its own; it
    comes from the operator's address (`client_ip` in its access line)."""
    raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    headers = [(CORRELATION_HEADER.lower().encode(), correlation_id.encode())]
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))]
    if key:
        headers.append((IDEMPOTENCY_HEADER.lower().encode(), _header_value(key)))
    path = str(request["path"])
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": str(request.get("method", "POST")),
        "scheme": "http",
        "server": ("replay", 0),
        "client": (client_ip, 0) if client_ip else None,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": str(request.get("query") or "").encode(),
        "headers": headers,
        "path_params": dict(request.get("path_params") or {}),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(scope, receive)


def _header_value(key: str) -> bytes:
    """The key as the Idempotency-Key header carries it: a structured-field string."""
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'.encode()


def _json(response: Response) -> Any:
    try:
        return json.loads(bytes(response.body))
    except (ValueError, UnicodeDecodeError):
        return None


def corrected_body_of(raw: bytes) -> Any | None:
    """The corrected body a replay request carries (`{"body": {...}}`), or None for none."""
    if not raw.strip():
        return None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
        raise GatewayError(
            Code.VALIDATION_FAILED,
            "The replay request is not JSON.",
            [FieldError("", 'Send {} or {"body": {...}} with the corrected request body.')],
        ) from None
    if not isinstance(document, dict) or set(document) - {"body"}:
        raise GatewayError(
            Code.VALIDATION_FAILED,
            "A replay request holds at most `body`, the corrected request body.",
            [FieldError("", 'Send {} or {"body": {...}}.')],
        )
    body = document.get("body")
    if body is not None and not isinstance(body, dict):
        raise GatewayError(
            Code.VALIDATION_FAILED,
            "`body` is the corrected request body, a JSON object.",
            [FieldError("/body", "Expected an object.")],
        )
    return body
