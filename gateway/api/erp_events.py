"""The ERPs' way in: `POST /erp-events/{backend}`, where an ERP pushes its change
notifications, each in its own style, authenticated with the backend's shared secret.

An SAP-style backend sends business events (CloudEvents JSON, `sap.s4.beh.salesorder.v1.
SalesOrder.Changed.v1`, the document key in `data.SalesOrder`, the change stamp in the
`sequence` extension) with `Authorization: Bearer <secret>`; a NetSuite-style backend sends
record-change notifications (`recordType`, `recordId`, `sequence`) signed `X-Signature:
sha256=<hex HMAC-SHA256 of the body>`. Not what a change means (see
`gateway.service.order_events`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.problems import instance_of, internal_error, problem_response
from gateway.config.backends import NetSuiteBackend, SapBackend
from gateway.config.events import BackendEvents
from gateway.domain.digits import ascii_digits
from gateway.domain.errors import Category, Code, FieldError, GatewayError, echoed, not_found
from gateway.domain.events import parse_event
from gateway.observability.event_metrics import ERP_NOTIFICATIONS
from gateway.observability.trace_context import CORRELATION_HEADER, correlation_id_from
from gateway.pipeline.body import read_body, repeated_key_errors, require_json, without_bom
from gateway.runtime import Runtime
from gateway.service.erp_calls import ErpCalls
from gateway.service.order_events import OrderEvents, Subscribers

log = logging.getLogger("gateway.events")

INGRESS_PATH = "/erp-events/{backend}"
MAX_NOTIFICATION_BYTES = 64 * 1024
SAP_SALES_ORDER_EVENT = "sap.s4.beh.salesorder.v1.SalesOrder."
CLOUDEVENTS_VERSION = "1.0"
NETSUITE_SIGNATURE = "x-signature"
_BEARER = "bearer "


def order_events(runtime: Runtime, correlation_id: str) -> OrderEvents:
    """What a notification changed, read back from its ERP within the ERP's budget: its reads
    go on top of no client's request; with no room for one, the notification is shed (503
    with Retry-After, and the ERP sends it again)."""
    subscribers = Subscribers(runtime.config.subscriptions, runtime.entitlements)
    erp = ErpCalls(runtime.backends, runtime.store, None, runtime.rate_limits.backends)
    caller = erp.unadmitted_caller(correlation_id)
    return OrderEvents(runtime.store, subscribers, runtime.event_retention, caller)


def _unauthorized() -> GatewayError:
    return GatewayError(
        Code.UNAUTHORIZED, "The notification is not authenticated with this backend's secret."
    )


def _invalid(pointer: str, detail: str) -> GatewayError:
    return GatewayError(
        Code.VALIDATION_FAILED,
        "The notification is not one this backend sends.",
        errors=[FieldError(pointer, detail)],
    )


def _refused_outcome(error: GatewayError) -> str | None:
    """The metric's outcome of a notification answered with `error`: `unauthorized`,
    `invalid` (400, 413 or 415: not a notification this backend sends) or `retry_later` (a 503 with
    Retry-After, or another technical answer: the ERP sends it again). None for a backend that
    does not push (a 404), whose name is the caller's and no label value."""
    if error.code is Code.UNAUTHORIZED:
        return "unauthorized"
    if error.category is Category.VALIDATION:
        return "invalid"
    if error.category is Category.TECHNICAL:
        return "retry_later"
    return None


def _authenticate(request: Request, body: bytes, kind: str, secret: str) -> None:
    if kind == "sap":
        given = _one(request, "authorization")
        token = given[len(_BEARER) :] if given.lower().startswith(_BEARER) else ""
        if not token or not hmac.compare_digest(token.encode(), secret.encode()):
            raise _unauthorized()
        return
    signature = _one(request, NETSUITE_SIGNATURE)
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise _unauthorized()


def _one(request: Request, header: str) -> str:
    """The request's one `header` (its credential); refused when it sends two, as the domain
    API refuses two Authorization headers: judging one of them would judge another credential
    than a server in front of or behind the gateway may."""
    values = request.headers.getlist(header)
    if len(values) > 1:
        raise _unauthorized()
    return values[0] if values else ""


def _each_key_once(body: bytes) -> None:
    """400 at every key a notification gives twice in one object, as every other body the
    gateway takes is refused: a parser keeps one of the values silently (Python's the last,
    the CloudEvents library's its own), so which order changed would be the parser's guess."""
    repeated = repeated_key_errors(body)
    if repeated:
        raise GatewayError(
            Code.VALIDATION_FAILED, "The notification is not one this backend sends.", repeated
        )


def _sap_change(body: bytes) -> tuple[str, int] | None:
    """(sales order, sequence) of an SAP business event; None for another event type."""
    written = _attributes(body)
    # The CloudEvents library takes an event without `specversion` as 1.0 and gives one
    # without `id` an id of its own: CloudEvents 1.0 requires both, so the body must say.
    if written.get("specversion") != CLOUDEVENTS_VERSION:
        raise _invalid("/specversion", f"must be {CLOUDEVENTS_VERSION!r}: a CloudEvents 1.0 event")
    if "id" not in written:
        raise _invalid("/id", "the event's id is missing")
    try:
        event = parse_event(body)
    except ValueError as exc:
        raise _invalid("", str(exc)) from exc
    if not event.get_type().startswith(SAP_SALES_ORDER_EVENT):
        return None
    data = event.get_data()
    order = data.get("SalesOrder") if isinstance(data, dict) else None
    if not isinstance(order, str) or not order:
        raise _invalid("/data/SalesOrder", "the sales order's number is missing")
    sequence = event.get_extension("sequence")
    if sequence is not None:
        text = str(sequence)
        if not ascii_digits(text) or len(text) > _SEQUENCE_DIGITS or int(text) > MAX_SEQUENCE:
            raise _invalid(
                "/sequence", f"must be a non-negative integer up to {MAX_SEQUENCE}, as a string"
            )
        return order, int(text)
    # The CloudEvents library gives an event without `time` the moment it was parsed: that
    # would order an old change delivered late as the newest. The body itself must say.
    at = event.get_time()
    if at is None or "time" not in written:
        raise _invalid("/time", "an event without sequence must have a time")
    return order, int(at.timestamp() * 1_000_000)


# Sequences are compared in the store's scripts, whose numbers are doubles: exact up to 2**53.
MAX_SEQUENCE = 2**53 - 1
_SEQUENCE_DIGITS = len(str(MAX_SEQUENCE))


def _attributes(body: bytes) -> dict[str, Any]:
    """A structured CloudEvent's JSON object, as written: the attributes it holds of its own."""
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past the parser's depth
        raise _invalid("", f"not a CloudEvents JSON event: {exc}") from exc
    if not isinstance(document, dict):
        raise _invalid("", "must be a JSON object: one CloudEvents event")
    return document


def _netsuite_change(body: bytes) -> tuple[str, int] | None:
    """(internal id, sequence) of a sales order's record-change notification."""
    try:
        notice: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past the parser's depth
        raise _invalid("", f"not JSON: {exc}") from exc
    if not isinstance(notice, dict):
        raise _invalid("", "must be a JSON object")
    if notice.get("recordType") != "salesOrder":
        return None
    record_id, sequence = notice.get("recordId"), notice.get("sequence")
    if not isinstance(record_id, str) or not record_id:
        raise _invalid("/recordId", "the record's internal id is missing")
    if (
        not isinstance(sequence, int)
        or isinstance(sequence, bool)
        or not 0 <= sequence <= MAX_SEQUENCE
    ):
        raise _invalid("/sequence", f"must be a non-negative integer up to {MAX_SEQUENCE}")
    return record_id, sequence


def erp_event_routes(
    current: Callable[[], Runtime], recorded: Callable[[], None] | None = None
) -> list[Route]:
    """The ingress route; `recorded` is called when a notification recorded events (to wake
    this process's delivery worker at once)."""

    async def receive(request: Request) -> Response:
        correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
        runtime = current()
        name = request.path_params["backend"]
        pushing = False  # whether `name` is a backend pushing here (a bounded label value)
        try:
            backend = runtime.config.backends.get(name)
            events: BackendEvents | None = backend.events if backend is not None else None
            if backend is None or events is None or events.mode != "push":
                raise not_found(f"Backend {echoed(name)!r} does not push events to this gateway.")
            pushing = True
            kind = "sap" if isinstance(backend, SapBackend) else "netsuite"
            assert isinstance(backend, SapBackend | NetSuiteBackend)
            body = await read_body(request, MAX_NOTIFICATION_BYTES)
            secret = events.secret(runtime.env)
            if not secret:
                raise _unauthorized()  # a backend without its secret accepts nothing
            _authenticate(request, body, kind, secret)  # over the bytes as signed
            require_json(request)  # JSON or CloudEvents JSON, declared: 415 otherwise
            body = without_bom(body)
            _each_key_once(body)
            change = _sap_change(body) if kind == "sap" else _netsuite_change(body)
            if change is None:
                ERP_NOTIFICATIONS.labels(name, "ignored").inc()
                response: Response = JSONResponse({"outcome": "ignored"}, status_code=202)
            else:
                observed = await order_events(runtime, correlation_id).observe(name, *change)
                ERP_NOTIFICATIONS.labels(name, observed.reason).inc()
                if observed.recorded and recorded is not None:
                    recorded()
                response = JSONResponse(
                    {"outcome": observed.reason, "recorded": observed.recorded}, status_code=202
                )
        except GatewayError as error:
            outcome = _refused_outcome(error) if pushing else None
            if outcome is not None:
                ERP_NOTIFICATIONS.labels(name, outcome).inc()
            response = problem_response(error, correlation_id, instance_of(request.scope))
        except Exception:
            log.exception("an ERP notification failed", extra={"correlation_id": correlation_id})
            if pushing:  # a defect: 500, and the ERP sends it again
                ERP_NOTIFICATIONS.labels(name, "error").inc()
            response = problem_response(
                internal_error(), correlation_id, instance_of(request.scope)
            )
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    return [Route(INGRESS_PATH, receive, methods=["POST"])]
