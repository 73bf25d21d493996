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

    name: Annotated[
        str,
        Field(min_length=1, max_length=120, description="The legal entity's name, for people."),
    ]
    region: Annotated[
        RegionCode,
        Field(description="Its region (e.g. NA, EMEA, APAC): what a rule's `regions:` matches."),
    ]
    country: Annotated[CountryCode, Field(description="Its country, ISO 3166-1 alpha-2.")]
    currency: Annotated[CurrencyCode, Field(description="Its currency, ISO 4217.")]


class RuleMatch(ConfigModel):
    """What a rule matches: every given key must match (AND); within a key, any value (OR).

    An absent key matches everything; operations are glob patterns over operation names.
    """

    operations: Annotated[
        Annotated[list[OperationGlob], Field(min_length=1)] | None,
        Field(description="Operation globs, e.g. `sales_orders.*` or `*`; absent: every one."),
    ] = None
    regions: Annotated[
        Annotated[list[RegionCode], Field(min_length=1)] | None,
        Field(description="Regions of `legal_entities:`; absent: every region."),
    ] = None
    legal_entities: Annotated[
        Annotated[list[LegalEntityCode], Field(min_length=1)] | None,
        Field(description="Legal entity codes of `legal_entities:`; absent: every one."),
    ] = None


class RouteRule(ConfigModel):
    """One routing rule (`rules:` in routes.yaml, in order; the first match wins)."""

    id: Annotated[
        RuleId, Field(description="A unique id, shown by `gateway explain` and in metrics.")
    ]
    description: Annotated[str | None, Field(description="Why the rule exists, for people.")] = None
    match: Annotated[
        RuleMatch,
        Field(description="What the rule matches; every given key must match. Absent: all."),
    ] = RuleMatch()
    backend: Annotated[
        BackendName,
        Field(description="Where what matches goes: a file name under backends/, no `.yaml`."),
    ]


class RoutesConfig(ConfigModel):
    """`routes.yaml`: which ERP is the system of record for new requests.

    Legal-entity reference data, ordered routing rules (the first match wins) and the backend
    for everything no rule matches.
    """

    legal_entities: Annotated[
        dict[LegalEntityCode, LegalEntityRef],
        Field(min_length=1, description="Legal entity code -> name, region, country, currency."),
    ]
    rules: Annotated[
        list[RouteRule], Field(description="Routing rules, in order; the first match wins.")
    ] = []
    default_backend: Annotated[
        BackendName,
        Field(description="Where what no rule matches goes: a file name under backends/."),
    ]
