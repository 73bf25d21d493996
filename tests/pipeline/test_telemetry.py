"""OpenTelemetry: a server span per request continuing the caller's trace, a client span per
ERP call, and the ERP told the client span's id as its parent."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.observability.spans import telemetry_from_env, telemetry_with
from gateway.store.memory import MemoryStore
from tests.e2e import payloads
from tests.harness import in_process_gateway

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


async def test_spans_continue_the_callers_trace_and_name_the_erp_calls_parent() -> None:
    exporter = InMemorySpanExporter()
    telemetry = telemetry_with(SimpleSpanProcessor(exporter))
    async with in_process_gateway(MemoryStore(), telemetry=telemetry) as gw, gw.client() as api:
        response = await api.post(
            "/v1/customers",
            json=payloads.customer("US01"),
            headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        )
        assert response.status_code == 201
    spans = {span.kind: span for span in exporter.get_finished_spans()}
    server, client = spans[SpanKind.SERVER], spans[SpanKind.CLIENT]
    assert f"{server.context.trace_id:032x}" == CALLER_TRACE
    assert server.parent is not None and f"{server.parent.span_id:016x}" == CALLER_SPAN
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 201
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    sent = gw.erps["cloud"].contexts[-1].traceparent
    assert sent == f"00-{CALLER_TRACE}-{client.context.span_id:016x}-01"


async def test_a_problem_is_recorded_on_the_server_span() -> None:
    exporter = InMemorySpanExporter()
    telemetry = telemetry_with(SimpleSpanProcessor(exporter))
    async with in_process_gateway(MemoryStore(), telemetry=telemetry) as gw, gw.client() as api:
        assert (await api.get("/v1/customers/cus_missing")).status_code == 404
    (server,) = exporter.get_finished_spans()
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 404


def test_telemetry_is_off_unless_an_otlp_endpoint_is_configured() -> None:
    assert telemetry_from_env({}) is None
    enabled = telemetry_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert enabled is not None
    enabled.shutdown()
