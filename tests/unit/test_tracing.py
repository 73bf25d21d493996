"""Correlation ids (Zalando's rule) and W3C Trace Context parsing."""

from __future__ import annotations

import re
import uuid

import pytest

from gateway.observability.trace_context import correlation_id_from, trace_context_from

VALID_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VALID_PARENT = "00f067aa0ba902b7"


@pytest.mark.parametrize("value", ["abc", "A.b_c~d+e/f=g-h", "x" * 128])
def test_a_well_formed_correlation_id_is_kept(value: str) -> None:
    assert correlation_id_from(value) == value


@pytest.mark.parametrize("value", [None, "", "x" * 129, "has space", "semi;colon", "ünï"])
def test_a_missing_or_malformed_correlation_id_is_replaced_by_a_uuid(value: str | None) -> None:
    generated = correlation_id_from(value)
    assert generated != value
    assert uuid.UUID(generated)


def test_a_valid_traceparent_is_continued_with_a_new_span() -> None:
    trace = trace_context_from(f"00-{VALID_TRACE}-{VALID_PARENT}-01", "vendor=abc")
    assert trace.trace_id == VALID_TRACE
    assert trace.parent_id == VALID_PARENT
    assert trace.span_id != VALID_PARENT
    assert re.fullmatch(r"[0-9a-f]{16}", trace.span_id)
    assert trace.outgoing() == f"00-{VALID_TRACE}-{trace.span_id}-01"
    assert trace.tracestate == "vendor=abc"


@pytest.mark.parametrize(
    "header",
    [
        f"ff-{VALID_TRACE}-{VALID_PARENT}-01",
        f"00-{'0' * 32}-{VALID_PARENT}-01",
        f"00-{VALID_TRACE}-{'0' * 16}-01",
        f"00-{VALID_TRACE.upper()}-{VALID_PARENT}-01",
        f"00-{VALID_TRACE}-{VALID_PARENT}-01-extra",
        "garbage",
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace_and_drops_tracestate(header: str) -> None:
    trace = trace_context_from(header, "vendor=abc")
    assert trace.trace_id != VALID_TRACE
    assert re.fullmatch(r"[0-9a-f]{32}", trace.trace_id)
    assert trace.parent_id is None
    assert trace.tracestate is None


def test_a_future_version_traceparent_with_extra_fields_is_accepted() -> None:
    trace = trace_context_from(f"01-{VALID_TRACE}-{VALID_PARENT}-01-future", None)
    assert trace.trace_id == VALID_TRACE


def test_tracestate_with_more_than_32_members_is_dropped() -> None:
    state = ",".join(f"k{i}=v" for i in range(33))
    assert trace_context_from(f"00-{VALID_TRACE}-{VALID_PARENT}-01", state).tracestate is None
