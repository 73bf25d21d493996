"""The schema of `policies/operations.yaml` (optional): how long the transaction journal and
the audit trail keep what they record. Not the recording (see `gateway.pipeline.journal`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gateway.config.base import ConfigModel

MAX_AUDIT_ENTRIES = 100_000_000  # the most `audit.max_entries` may keep


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
        int,
        Field(
            ge=3600,
            le=90 * 86400,
            description="Seconds a transaction stays in the journal after it arrived "
            "(1 h to 90 d).",
        ),
    ] = 7 * 86400
    max_entries: Annotated[
        int,
        Field(
            ge=1000,
            le=10_000_000,
            description="Most transactions kept; beyond it the oldest go first.",
        ),
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


class OperationsPolicy(ConfigModel):
    """`policies/operations.yaml`: what the journal and the audit trail keep."""

    journal: Annotated[JournalPolicy, Field(description="The transaction journal.")] = (
        JournalPolicy()
    )
    audit: Annotated[AuditPolicy, Field(description="The audit trail.")] = AuditPolicy()
