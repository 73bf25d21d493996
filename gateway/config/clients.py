"""The schema of `policies/clients.yaml`: each API client's scopes, legal entities and tier.

Not the entitlement checks (see `gateway.pipeline.entitlements`); only what the file says.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from gateway.config.base import ConfigModel
from gateway.domain.versions import VERSIONS


class ClientConfig(ConfigModel):
    """One API client (`policies/clients.yaml`, `clients:` list)."""

    id: Annotated[str, Field(min_length=1, max_length=128)]
    description: str | None = None
    scopes: list[str] = []
    legal_entities: list[str] | Literal["*"] = "*"
    rate_limit: Annotated[str, Field(min_length=1)]
    api_version: str | None = None  # the version of unversioned paths for this client

    @field_validator("api_version")
    @classmethod
    def _known_version(cls, version: str | None) -> str | None:
        if version is not None and version not in VERSIONS:
            raise ValueError(f"unknown API version; supported: {', '.join(VERSIONS)}")
        return version


class ClientsPolicy(ConfigModel):
    """`policies/clients.yaml`."""

    clients: list[ClientConfig]
