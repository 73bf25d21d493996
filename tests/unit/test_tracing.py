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


PARENT = f"00-{VALID_TRACE}-{VALID_PARENT}-01"


def _members(tracestate: str | None) -> list[str]:
    return tracestate.split(",") if tracestate else []


def test_tracestate_beyond_32_members_loses_the_right_most_ones() -> None:
    state = ",".join(f"k{i}=v" for i in range(40))
    kept = _members(trace_context_from(PARENT, state).tracestate)
    assert kept == [f"k{i}=v" for i in range(32)]


def test_tracestate_beyond_512_characters_loses_long_members_first_then_from_the_end() -> None:
    long_member = "long=" + "x" * 200
    state = ",".join(["first=1", long_member, *(f"k{i}=" + "v" * 40 for i in range(20))])
    kept = _members(trace_context_from(PARENT, state).tracestate)
    assert long_member not in kept
    assert kept[0] == "first=1"
    assert len(",".join(kept)) <= 512
    # From the end: what is kept is a prefix of what remained once the long member went.
    rest = [m for m in state.split(",") if m != long_member]
    assert kept == rest[: len(kept)]
    assert len(",".join(rest[: len(kept) + 1])) > 512


def test_a_100_kb_tracestate_never_reaches_the_erp_whole() -> None:
    state = ",".join(f"k{i}=" + "v" * 250 for i in range(400))
    forwarded = trace_context_from(PARENT, state).tracestate
    assert forwarded is None or len(forwarded) <= 512


@pytest.mark.parametrize("state", ["Upper=1", "k=1,k=2", "k=", "=v", "k=a,b"])
def test_a_malformed_tracestate_is_dropped_whole(state: str) -> None:
    assert trace_context_from(PARENT, state).tracestate is None
