"""The per-request context the pipeline steps fill in, in order, and the handler reads.

Not behaviour: each field is set by exactly one step (named beside it).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from gateway.adapters.base import CallContext
from gateway.pipeline.tracing import TraceContext

if TYPE_CHECKING:
    from gateway.api.operations import OperationSpec
    from gateway.routing.rules import RouteDecision
    from gateway.runtime import Runtime
    from gateway.store.base import XrefRecord


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: its client id, the token's subject and its scopes."""

    client_id: str
    subject: str
    issuer: str
    scopes: frozenset[str]


@dataclass
class RequestContext:
    request: Request
    spec: OperationSpec
    runtime: Runtime  # one config snapshot for the whole request, even across a reload
    api_version: str = "v1"
    arrived: float = field(default_factory=time.monotonic)
    deadline: float = 0.0  # set on arrival from the runtime's request timeout
    correlation_id: str = ""  # tracing step
    trace: TraceContext | None = None  # tracing step
    span: Any = None  # tracing step: the request's OpenTelemetry span, when telemetry is on
    principal: Principal | None = None  # auth step
    payload: Any = None  # body step: the validated request model
    query: Any = None  # body step: the validated query model
    record: XrefRecord | None = None  # records step: the record the request addresses
    legal_entity: str | None = None  # records step
    backend: str | None = None  # routing step: the system of record for this request
    route: RouteDecision | None = None  # routing step
    idempotency_key: str | None = None  # admission step
    reconcile: bool = False  # admission step: an earlier attempt's outcome is unknown
    forwarded: bool = False  # set when an ERP call is made: the request left the gateway
    erp_deadlines: dict[str, float] = field(default_factory=dict)  # by backend, from 1st call
    # Awaited once, just before the first ERP call, with the backend's name (admission step).
    before_forward: Callable[[str], Awaitable[None]] | None = None
    response_headers: dict[str, str] = field(default_factory=dict)  # added by any step

    def call_context(self) -> CallContext:
        """What the ERP call carries: correlation id, our span's traceparent, the deadline."""
        trace = self.trace
        return CallContext(
            correlation_id=self.correlation_id,
            traceparent=trace.outgoing() if trace else None,
            tracestate=trace.tracestate if trace else None,
            deadline=self.deadline,
        )

    @property
    def client_id(self) -> str:
        assert self.principal is not None, "auth step runs before any handler"
        return self.principal.client_id
