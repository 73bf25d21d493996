"""The schema of `policies/idempotency.yaml` (optional): which operations take keys, how long
outcomes are kept. Not the key handling (see `gateway.pipeline.idempotency`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from gateway.config.base import ConfigModel
from gateway.domain.operations import Operation


class Requirement(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    OFF = "off"


class IdempotencyPolicy(ConfigModel):
    """`policies/idempotency.yaml`: which operations take keys, and for how long."""

    retention_s: Annotated[int, Field(ge=60, le=30 * 86400)] = 86400
    lease_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    # After an ambiguous failure (the ERP may still commit), the key stays in progress for the
    # backend's timeout_s plus this grace before a retry may search the ERP and resubmit.
    ambiguous_grace_s: Annotated[float, Field(ge=0, le=600)] = 2.0
    operations: dict[Operation, Requirement] = {
        Operation.SALES_ORDERS_CREATE: Requirement.REQUIRED,
        Operation.SALES_ORDERS_CANCEL: Requirement.REQUIRED,
        Operation.CUSTOMERS_CREATE: Requirement.OPTIONAL,
    }
