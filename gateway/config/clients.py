"""The schema of `policies/clients.yaml`: each API client's scopes, legal entities and tier.

Not the entitlement checks (see `gateway.pipeline.entitlements`); only what the file says.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.config.api_versions import OPTIONAL_VERSION_SCHEMA, OptionalVersion
from gateway.config.base import ConfigModel
from gateway.domain.versions import VERSIONS


class ClientConfig(ConfigModel):
    """One API client (`policies/clients.yaml`, `clients:` list)."""

    id: Annotated[
        str,
        Field(
            min_length=1, max_length=128, description="Matched against the token's client claim."
        ),
    ]
    description: Annotated[str | None, Field(description="Who the client is, for people.")] = None
    issuer: Annotated[
        str | None,
        Field(
            pattern=r"^[a-z0-9][a-z0-9_-]*$",
            description="The `name` of the issuer (policies/auth.yaml) whose tokens speak for "
            "this client; a token of another issuer naming it is refused. Required when "
            "auth.yaml trusts more than one issuer.",
        ),
    ] = None
    scopes: Annotated[
        list[str], Field(description="What it may call, e.g. `sales_orders:write`.")
    ] = []
    legal_entities: Annotated[
        list[str] | Literal["*"],
        Field(description='The legal entities it may act for: a list of codes, or "*" for all.'),
    ] = "*"
    rate_limit: Annotated[
        str, Field(min_length=1, description="Its tier: a name under `tiers:` in rate-limits.yaml.")
    ]
    shadow_values: Annotated[
        bool,
        Field(
            description="Whether the shadow report may show this client's field values in its "
            "example pairs; otherwise only their type and length."
        ),
    ] = False
    api_version: Annotated[
        OptionalVersion,
        Field(
            description=f"Its pin: the API version of unversioned paths ({', '.join(VERSIONS)}); "
            "absent: the default of api-versions.yaml.",
            json_schema_extra=OPTIONAL_VERSION_SCHEMA,
        ),
    ] = None


class ClientsPolicy(ConfigModel):
    """`policies/clients.yaml`: each API client's scopes, legal entities and rate-limit tier."""

    clients: Annotated[list[ClientConfig], Field(description="The API clients the gateway serves.")]
