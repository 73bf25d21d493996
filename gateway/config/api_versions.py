"""The schema of `policies/api-versions.yaml` (optional): each API version's lifecycle and the
default version. Not the negotiation (see `gateway.pipeline.versioning`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from gateway.config.base import ConfigModel
from gateway.domain.versions import LATEST, VERSIONS


def _known_version(version: str | None) -> str | None:
    if version is not None and version not in VERSIONS:
        raise ValueError(f"unknown API version; supported: {', '.join(VERSIONS)}")
    return version


# A version a client is pinned to or a subscription's events are in, where absent means the
# default: one of VERSIONS, as the validator accepts and the schema offers an editor.
OptionalVersion = Annotated[str | None, AfterValidator(_known_version)]
OPTIONAL_VERSION_SCHEMA: dict[str, Any] = {"anyOf": [{"enum": list(VERSIONS)}, {"type": "null"}]}


class VersionPolicy(ConfigModel):
    """One version's lifecycle (`policies/api-versions.yaml`, `versions:` map)."""

    deprecated: Annotated[
        dt.date | None,
        Field(description="From this day: Deprecation, Sunset and Link headers (YYYY-MM-DD)."),
    ] = None
    sunset: Annotated[
        dt.date | None,
        Field(description="From this day: 410 version_sunset (YYYY-MM-DD)."),
    ] = None

    @model_validator(mode="after")
    def _sunset_after_deprecation(self) -> VersionPolicy:
        deprecated, sunset = self.deprecated, self.sunset
        if sunset is not None and deprecated is not None and sunset < deprecated:
            raise ValueError("sunset must not be before deprecated")
        return self


class ApiVersionsPolicy(ConfigModel):
    """`policies/api-versions.yaml` (optional): version lifecycles and the default version."""

    versions: Annotated[
        dict[Annotated[str, Field(pattern=r"^v[0-9]+$")], VersionPolicy],
        Field(
            description="Version -> lifecycle; a version not listed is current.",
            # What `_known_versions` accepts, so that an editor can offer them.
            json_schema_extra={"propertyNames": {"enum": list(VERSIONS)}},
        ),
    ] = {}
    default: Annotated[
        str,
        Field(
            description=f"The version of unversioned paths for clients without a pin "
            f"({', '.join(VERSIONS)}); absent: the newest.",
            json_schema_extra={"enum": list(VERSIONS)},
        ),
    ] = LATEST

    @model_validator(mode="after")
    def _known_versions(self) -> ApiVersionsPolicy:
        unknown = sorted({*self.versions, self.default} - set(VERSIONS))
        if unknown:
            raise ValueError(
                f"unknown API version(s) {', '.join(unknown)}; supported: {', '.join(VERSIONS)}"
            )
        return self

    @model_validator(mode="after")
    def _newest_not_sunset(self) -> ApiVersionsPolicy:
        """The newest version is where a sunset sends clients: sunset, every request of it
        would be 410, told to move to that same version."""
        newest = self.versions.get(LATEST)
        if newest is not None and newest.sunset is not None:
            raise ValueError(
                f"{LATEST} is the newest API version and cannot have a sunset: there would be "
                "no version left to move to"
            )
        return self
