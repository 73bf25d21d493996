"""What the ERP receives of the caller's W3C trace context when the caller's headers come as
several fields (W3C Trace Context Level 1, 3.3.1.1 and the W3C test suite's
test_traceparent_duplicated, test_tracestate_multiple_headers_different_keys and
test_tracestate_duplicated_keys)."""

from __future__ import annotations

import uuid

from gateway.store.memory import MemoryStore
from tests.e2e import payloads
from tests.harness import in_process_gateway

TRACE_A = "12345678901234567890123456789011"
TRACE_B = "12345678901234567890123456789012"
PARENT = "1234567890123456"


async def _create_with(headers: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    """Create a customer with `headers`; what the ERP was sent (traceparent, tracestate)."""
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post(
            "/v1/customers",
            json=payloads.customer("US01"),
            headers=[("Idempotency-Key", str(uuid.uuid4())), *headers],
        )
        assert response.status_code == 201, response.text
        ctx = gw.erps["cloud"].contexts[-1]
        return ctx.traceparent, ctx.tracestate


async def test_tracestate_sent_as_several_fields_is_combined() -> None:
    # "When receiving multiple tracestate header fields, they MUST be combined into a single
    # header according to RFC7230."
    _, tracestate = await _create_with(
        [
            ("traceparent", f"00-{TRACE_B}-{PARENT}-00"),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", "rojo=1,congo=2"),
            ("tracestate", "baz=3"),
        ]
    )
    assert tracestate == "foo=1,bar=2,rojo=1,congo=2,baz=3"


async def test_a_key_repeated_across_tracestate_fields_drops_the_tracestate() -> None:
    _, tracestate = await _create_with(
        [
            ("traceparent", f"00-{TRACE_B}-{PARENT}-00"),
            ("tracestate", "foo=1"),
            ("tracestate", "foo=2"),
        ]
    )
    assert tracestate is None


async def test_two_traceparent_fields_start_a_new_trace() -> None:
    # W3C test suite, test_traceparent_duplicated: a request with two traceparent headers
    # must restart the trace (neither trace id continued).
    traceparent, _ = await _create_with(
        [
            ("traceparent", f"00-{TRACE_A}-{PARENT}-01"),
            ("traceparent", f"00-{TRACE_B}-{PARENT}-01"),
        ]
    )
    assert traceparent is not None
    trace_id = traceparent.split("-")[1]
    assert trace_id not in (TRACE_A, TRACE_B)
