"""The schema of `policies/idempotency.yaml` (optional): which operations take keys, how long
outcomes are kept. Not the key handling (see `gateway.pipeline.idempotency`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field

from gateway.config.base import ConfigModel, off_as_written
from gateway.domain.operations import Operation


class Requirement(StrEnum):
    """Whether an operation takes an Idempotency-Key."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    OFF = "off"


DEFAULT_RETENTION_S = 86400


class IdempotencyPolicy(ConfigModel):
    """`policies/idempotency.yaml`: which operations take keys, and for how long."""

    retention_s: Annotated[
        int,
        Field(
            ge=60,
            le=30 * 86400,
            description="Seconds a definitive outcome is replayed after completion (60 s to 30 d).",
        ),
    ] = DEFAULT_RETENTION_S
    lease_s: Annotated[
        float,
        Field(
            gt=0,
            le=600,
            description="In-flight lease: a key is held this long at least, or to its "
            "request's deadline and the longest commit window after it if later.",
        ),
    ] = 30.0
    ambiguous_grace_s: Annotated[
        float,
        Field(
            ge=0,
            le=600,
            description="After a write timed out, the key stays in progress for the backend's "
            "timeout_s plus this, so the ERP can finish a late commit.",
        ),
    ] = 2.0
    operations: Annotated[
        dict[Operation, Annotated[Requirement, BeforeValidator(off_as_written)]],
        Field(description="Operation -> required, optional or off; an unlisted one is off."),
    ] = {
        Operation.SALES_ORDERS_CREATE: Requirement.REQUIRED,
        Operation.SALES_ORDERS_CANCEL: Requirement.REQUIRED,
        Operation.CUSTOMERS_CREATE: Requirement.OPTIONAL,
    }
