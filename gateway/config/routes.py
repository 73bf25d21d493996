"""The schema of `routes.yaml`: legal-entity reference data, ordered routing rules, the default.

Not the matching (see `gateway.routing.rules`) and not cross-file checks (see `lint.py`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gateway.config.base import ConfigModel
from gateway.domain.models import CountryCode, CurrencyCode, LegalEntityCode

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
BACKEND_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"  # also the stem of backends/<name>.yaml
BackendName = Annotated[str, Field(pattern=BACKEND_NAME_PATTERN, max_length=64)]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_-]*$", max_length=16)]
OperationGlob = Annotated[str, Field(pattern=r"^[a-z_.*?\[\]!-]+$", max_length=64)]


class LegalEntityRef(ConfigModel):
    """One legal entity's reference facts (`legal_entities:` in routes.yaml)."""

    name: Annotated[str, Field(min_length=1, max_length=120)]
    region: RegionCode
    country: CountryCode
    currency: CurrencyCode


class RuleMatch(ConfigModel):
    """What a rule matches: every given key must match (AND); within a key, any value (OR).

    An absent key matches everything; operations are glob patterns over operation names.
    """

    operations: Annotated[list[OperationGlob], Field(min_length=1)] | None = None
    regions: Annotated[list[RegionCode], Field(min_length=1)] | None = None
    legal_entities: Annotated[list[LegalEntityCode], Field(min_length=1)] | None = None


class RouteRule(ConfigModel):
    """One routing rule (`rules:` in routes.yaml, in order; the first match wins)."""

    id: RuleId
    description: str | None = None
    match: RuleMatch = RuleMatch()
    backend: BackendName


class RoutesConfig(ConfigModel):
    """`routes.yaml`."""

    legal_entities: Annotated[dict[LegalEntityCode, LegalEntityRef], Field(min_length=1)]
    rules: list[RouteRule] = []
    default_backend: BackendName
