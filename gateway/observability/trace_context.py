"""The ids that tie a request together: its correlation id (Zalando's rule) and its W3C Trace
Context (traceparent, tracestate), parsed from the caller's headers or started fresh.

Not spans or their export (see `spans.py`) and not the pipeline step (`gateway.pipeline.tracing`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.domain.ids import new_uuid4, random_hex

CORRELATION_HEADER = "X-Correlation-ID"
_CORRELATION_KEY = CORRELATION_HEADER.lower().encode("latin-1")
_CORRELATION_RE = re.compile(r"[A-Za-z0-9._~+/=-]{1,128}")
_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_MAX_TRACESTATE_MEMBERS = 32
_MAX_TRACESTATE_CHARS = 512  # what W3C says to propagate at least; beyond it, members go
_LONG_MEMBER_CHARS = 128  # members longer than this are the first to go
# A list-member, `key=value`, by the grammar of W3C Trace Context Level 1 (section 3.3.1.3).
_MEMBER_RE = re.compile(
    r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)


@dataclass(slots=True)  # not frozen: made on every request, and never changed once made
class TraceContext:
    trace_id: str
    span_id: str  # our span, the parent-id of what we send on
    parent_id: str | None  # the caller's span, when it sent a valid traceparent
    flags: str
    tracestate: str | None = None

    def outgoing(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def incoming_ids(raw_headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None, str]:
    """The caller's X-Correlation-ID (its first), traceparent and tracestate, as they are, read
    in one pass over a request's ASGI headers (names lower-case), for `correlation_id_from` and
    `trace_context_from`: a traceparent sent twice is none (a new trace), and tracestate
    fields are combined, as W3C Trace Context has it (3.3.1.1)."""
    correlation: str | None = None
    parents: list[str] = []
    states: list[str] = []
    for name, value in raw_headers:
        if name == b"traceparent":
            parents.append(value.decode("latin-1"))
        elif name == b"tracestate":
            states.append(value.decode("latin-1"))
        elif name == _CORRELATION_KEY and correlation is None:
            correlation = value.decode("latin-1")
    return correlation, parents[0] if len(parents) == 1 else None, ",".join(states)


def correlation_id_from(header: str | None) -> str:
    """The caller's correlation id when well-formed, else a fresh UUID."""
    if header and _CORRELATION_RE.fullmatch(header):
        return header
    return new_uuid4()


def trace_context_from(traceparent: str | None, tracestate: str | None) -> TraceContext:
    """Continue a valid W3C trace, or start a new one (and drop tracestate with a bad parent).
    `tracestate` is every tracestate field the caller sent, joined with commas."""
    match = _TRACEPARENT_RE.match(traceparent.strip()) if traceparent else None
    if match:
        version, trace_id, parent_id, flags, rest = match.groups()
        valid = (
            version != "ff"
            and trace_id != _ZERO_TRACE
            and parent_id != _ZERO_SPAN
            and not (version == "00" and rest)
        )
        if valid:
            # Only `sampled` is defined; other flags are passed on as zero (W3C, 3.2.2.5).
            sampled = "01" if int(flags, 16) & 1 else "00"
            return TraceContext(
                trace_id, random_hex(8), parent_id, sampled, _valid_tracestate(tracestate)
            )
    ids = random_hex(24)  # a new trace: its span id (8 bytes) and trace id (16), in one draw
    return TraceContext(ids[16:], ids[:16], None, "01", None)


def _valid_tracestate(tracestate: str | None) -> str | None:
    """The tracestate to pass on, within W3C's limits: none if a member is malformed or a key
    repeats; the first 32 members at most; within 512 characters, dropping members longer than
    128 characters first, then members from the end."""
    if not tracestate:
        return None
    members = [m for m in (p.strip(" \t") for p in tracestate.split(",")) if m]
    if not members or not all(_MEMBER_RE.fullmatch(m) for m in members):
        return None
    keys = [m.partition("=")[0] for m in members]
    if len(set(keys)) != len(keys):
        return None
    members = members[:_MAX_TRACESTATE_MEMBERS]
    if len(",".join(members)) > _MAX_TRACESTATE_CHARS:
        members = [m for m in members if len(m) <= _LONG_MEMBER_CHARS]
    while members and len(",".join(members)) > _MAX_TRACESTATE_CHARS:
        members.pop()
    return ",".join(members) or None
