"""OpenTelemetry spans: one server span per request, one client span per ERP call, exported
over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Not trace-context parsing (see `trace_context.py`): without an exporter nothing is recorded
and the gateway keeps its own W3C ids, at no cost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace import Span as OtelSpan

from gateway.observability.trace_context import TraceContext

SERVICE_NAME = "erp-coexistence-gateway"
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

Span = OtelSpan


@dataclass(frozen=True)
class Telemetry:
    tracer: trace.Tracer
    provider: TracerProvider

    def shutdown(self) -> None:
        """Export what is buffered, then stop (on graceful shutdown)."""
        self.provider.shutdown()


def telemetry_with(processor: SpanProcessor) -> Telemetry:
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(processor)
    return Telemetry(provider.get_tracer("gateway"), provider)


def telemetry_from_env(env: Mapping[str, str]) -> Telemetry | None:
    """OTLP/HTTP export configured by the standard OTEL_* variables, or None when unset."""
    if not any(env.get(name) for name in _ENDPOINT_VARIABLES):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return telemetry_with(BatchSpanProcessor(OTLPSpanExporter()))


def start_server_span(
    telemetry: Telemetry,
    method: str,
    path: str,
    operation: str,
    correlation_id: str,
    incoming: TraceContext,
) -> tuple[Span, TraceContext]:
    """The request's span, continuing the caller's trace, and the trace context that names it
    (so that logs, problems and the ERP calls all name the span that was exported)."""
    parent = None
    if incoming.parent_id is not None:
        remote = SpanContext(
            trace_id=int(incoming.trace_id, 16),
            span_id=int(incoming.parent_id, 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(int(incoming.flags, 16)),
        )
        parent = trace.set_span_in_context(NonRecordingSpan(remote))
    span = telemetry.tracer.start_span(
        f"{method} {operation}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": method,
            "url.path": path,
            "gateway.operation": operation,
            "gateway.correlation_id": correlation_id,
        },
    )
    own = span.get_span_context()
    traced = replace(
        incoming,
        trace_id=format(own.trace_id, "032x"),
        span_id=format(own.span_id, "016x"),
    )
    return span, traced


def end_server_span(span: Span, status: int, attributes: Mapping[str, str] | None = None) -> None:
    span.set_attribute("http.response.status_code", status)
    for name, value in (attributes or {}).items():
        span.set_attribute(name, value)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


@contextlib.contextmanager
def erp_span(telemetry: Telemetry, server: Span, backend: str) -> Iterator[str]:
    """A client span for one ERP call; yields the traceparent that names it."""
    span = telemetry.tracer.start_span(
        f"erp {backend}",
        context=trace.set_span_in_context(server),
        kind=SpanKind.CLIENT,
        attributes={"gateway.backend": backend},
    )
    own = span.get_span_context()
    try:
        yield f"00-{own.trace_id:032x}-{own.span_id:016x}-{int(own.trace_flags):02x}"
    except BaseException as exc:
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        span.end()
