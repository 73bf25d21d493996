"""The trace flags passed on to the ERPs: only `sampled`, as W3C Trace Context Level 1 has it."""

from __future__ import annotations

from gateway.observability.trace_context import trace_context_from

VALID_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VALID_PARENT = "00f067aa0ba902b7"


def test_unknown_trace_flags_are_zeroed_in_what_is_propagated() -> None:
    # W3C Trace Context Level 1, 3.2.2.5 "Other Flags": the behaviour of flags other than
    # `sampled` is not defined, "Vendors MUST set those to zero". The caller's 0xff must not
    # reach the ERP as it came: only the sampled bit (01) is passed on.
    trace = trace_context_from(f"00-{VALID_TRACE}-{VALID_PARENT}-ff", None)
    assert trace.trace_id == VALID_TRACE
    assert trace.outgoing().endswith("-01")


def test_unknown_trace_flags_are_zeroed_when_not_sampled() -> None:
    trace = trace_context_from(f"00-{VALID_TRACE}-{VALID_PARENT}-fe", None)
    assert trace.outgoing().endswith("-00")
