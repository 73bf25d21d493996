"""The schema of `policies/operations.yaml` (optional): how long a request may take, and how
long the transaction journal, the audit trail and the domain events' timelines, documents' states
and dead letters keep what they record. Not the recording (see `gateway.pipeline.journal`,
`gateway.service.order_events`) nor the deadline's enforcement (see `gateway.service.erp_calls`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from gateway.config.base import ConfigModel

MAX_AUDIT_ENTRIES = 100_000_000  # the most `audit.max_entries` may keep
DEFAULT_REQUEST_TIMEOUT_S = 15.0
# Longer, and no client is still waiting (Envoy's default route timeout is 15 s, Kong's 60 s);
# a request's idempotency key, ERP slot and replay lock are held that long too.
MAX_REQUEST_TIMEOUT_S = 300.0
# What the journal and the dead letters keep, bounded alike: an hour to 90 days; a thousand
# to ten million entries (each field says of what).
RetentionSeconds = Annotated[int, Field(ge=3600, le=90 * 86400)]
MostEntries = Annotated[int, Field(ge=1000, le=10_000_000)]


class RequestsPolicy(ConfigModel):
    """`requests:`: how long the gateway works on one request."""

    timeout_s: Annotated[
        float,
        Field(
            gt=0,
            le=MAX_REQUEST_TIMEOUT_S,
            description="Seconds from a request's arrival to its deadline (above 0, at most "
            "300): every step, ERP call and retry ends by then, and a request still at work is "
            "answered with a retryable problem (504 erp_timeout while it waits on an ERP); a "
            "backend's timeout_s bounds its ERP interaction within it (`gateway check` warns of "
            "one not below it). A reload sets it for the requests arriving after it.",
        ),
    ] = DEFAULT_REQUEST_TIMEOUT_S


class JournalPolicy(ConfigModel):
    """`journal:`: the transaction journal's retention in the store."""

    enabled: Annotated[
        bool,
        Field(
            description="Whether transactions are journaled (and their outcomes audited); off "
            "only to measure what it costs: without it there is nothing to replay."
        ),
    ] = True
    retention_s: Annotated[
        RetentionSeconds,
        Field(
            description="Seconds a transaction stays in the journal after it arrived "
            "(1 h to 90 d).",
        ),
    ] = 7 * 86400
    max_entries: Annotated[
        MostEntries, Field(description="Most transactions kept; beyond it the oldest go first.")
    ] = 100_000


class AuditPolicy(ConfigModel):
    """`audit:`: the audit trail's size in the store."""

    max_entries: Annotated[
        int,
        Field(
            ge=10_000,
            le=MAX_AUDIT_ENTRIES,
            description="Most audit entries kept; beyond it the oldest are trimmed and the "
            "chain is anchored at the first one kept (export and archive before that).",
        ),
    ] = 1_000_000


class TimelinesPolicy(ConfigModel):
    """`events.timelines:`: how long an order's timeline stays in the store."""

    retention_s: Annotated[
        int,
        Field(
            ge=3600,
            le=366 * 86400,
            description="Seconds an order's timeline stays after its last event (1 h to 366 d).",
        ),
    ] = 90 * 86400


class DocumentsPolicy(ConfigModel):
    """`events.documents:`: how long the last state seen of each order stays in the store."""

    retention_s: Annotated[
        int,
        Field(
            ge=86400,
            le=3660 * 86400,
            description="Seconds the last state the gateway saw of an order (what its next "
            "change is compared with) stays after its last change (1 d to 3660 d; at least the "
            "timelines' retention). An order changed again after that is taken as it is then: "
            "nothing recorded for it, its later changes counted afresh from `sequence` 1.",
        ),
    ] = 400 * 86400


class DeadLettersPolicy(ConfigModel):
    """`events.dead_letters:`: the webhook dead letters' retention in the store."""

    retention_s: Annotated[
        RetentionSeconds,
        Field(
            description="Seconds a dead letter stays after its last try, for an operator to "
            "replay it (1 h to 90 d).",
        ),
    ] = 7 * 86400
    max_entries: Annotated[
        MostEntries, Field(description="Most dead letters kept; beyond it the oldest go first.")
    ] = 100_000


class EventsRetentionPolicy(ConfigModel):
    """`events:`: how long the domain events' timelines and dead letters stay in the store."""

    timelines: Annotated[TimelinesPolicy, Field(description="Each order's timeline.")] = (
        TimelinesPolicy()
    )
    documents: Annotated[
        DocumentsPolicy, Field(description="The last state seen of each order.")
    ] = DocumentsPolicy()
    dead_letters: Annotated[
        DeadLettersPolicy, Field(description="The webhook deliveries past their last try.")
    ] = DeadLettersPolicy()

    @field_validator("documents")
    @classmethod
    def _states_outlast_timelines(
        cls, documents: DocumentsPolicy, info: ValidationInfo
    ) -> DocumentsPolicy:
        # A timeline outliving its order's state would get events counted afresh from 1
        # after those it holds.
        timelines = info.data.get("timelines")
        if timelines is not None and documents.retention_s < timelines.retention_s:
            raise ValueError(
                "documents.retention_s must be at least timelines.retention_s (an order's "
                "state is what its timeline's next event is counted from)"
            )
        return documents


class OperationsPolicy(ConfigModel):
    """`policies/operations.yaml`: how long a request may take, and what the journal, the
    audit trail and the domain events keep."""

    requests: Annotated[RequestsPolicy, Field(description="Each request's deadline.")] = (
        RequestsPolicy()
    )
    journal: Annotated[JournalPolicy, Field(description="The transaction journal.")] = (
        JournalPolicy()
    )
    audit: Annotated[AuditPolicy, Field(description="The audit trail.")] = AuditPolicy()
    events: Annotated[
        EventsRetentionPolicy,
        Field(description="The domain events' timelines and webhook dead letters."),
    ] = EventsRetentionPolicy()
