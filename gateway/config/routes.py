"""The schema of `routes.yaml`: legal-entity reference data, ordered routing rules, the default.

Not the matching (see `gateway.routing.rules`) and not cross-file checks (see `lint.py`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from gateway.domain.models import CountryCode, CurrencyCode, LegalEntityCode

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
BACKEND_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"  # also the stem of backends/<name>.yaml
BackendName = Annotated[str, Field(pattern=BACKEND_NAME_PATTERN, max_length=64)]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_-]*$", max_length=16)]
OperationGlob = Annotated[str, Field(pattern=r"^[a-z_.*?\[\]!-]+$", max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LegalEntityRef(_Model):
    """One legal entity's reference facts (`legal_entities:` in routes.yaml)."""

    name: Annotated[str, Field(min_length=1, max_length=120)]
    region: RegionCode
    country: CountryCode
    currency: CurrencyCode


class RuleMatch(_Model):
    """What a rule matches: every given key must match (AND); within a key, any value (OR).

    An absent key matches everything; operations are glob patterns over operation names.
    """

    operations: Annotated[list[OperationGlob], Field(min_length=1)] | None = None
    regions: Annotated[list[RegionCode], Field(min_length=1)] | None = None
    legal_entities: Annotated[list[LegalEntityCode], Field(min_length=1)] | None = None


class RouteRule(_Model):
    """One routing rule (`rules:` in routes.yaml, in order; the first match wins)."""

    id: RuleId
    description: str | None = None
    match: RuleMatch = RuleMatch()
    backend: BackendName


class RoutesConfig(_Model):
    """`routes.yaml`."""

    legal_entities: Annotated[dict[LegalEntityCode, LegalEntityRef], Field(min_length=1)]
    rules: list[RouteRule] = []
    default_backend: BackendName
