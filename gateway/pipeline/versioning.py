"""Versioning step: which API version serves a request, its deprecation headers, and the
upgrade of an older version's request and downgrade of its response (resource or problem).

Not the version changes themselves (see `gateway.api.versions`); this only applies them.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from email.utils import format_datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from gateway.api.versions import LATEST, VERSIONS, downgrade_response, upgrade_request
from gateway.api.versions.v1_models import V1_REQUESTS
from gateway.domain.errors import Code, FieldError, GatewayError
from gateway.domain.operations import Operation
from gateway.pipeline.body import parse_json_model, read_body

if TYPE_CHECKING:
    from gateway.config.loader import GatewayConfig
    from gateway.pipeline.chain import Handler
    from gateway.pipeline.context import RequestContext

VERSION_HEADER = "API-Version"
CHANGELOG_PATH = "/changelog"
_JSON_TYPES = ("application/json", "application/problem+json")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VersionPolicy(_Model):
    """One version's lifecycle (`policies/api-versions.yaml`, `versions:` map)."""

    deprecated: dt.date | None = None  # from this day: Deprecation and Link headers
    sunset: dt.date | None = None  # from this day: 410 version_sunset

    @model_validator(mode="after")
    def _sunset_after_deprecation(self) -> VersionPolicy:
        deprecated, sunset = self.deprecated, self.sunset
        if sunset is not None and deprecated is not None and sunset < deprecated:
            raise ValueError("sunset must not be before deprecated")
        return self


class ApiVersionsPolicy(_Model):
    """`policies/api-versions.yaml` (optional): version lifecycles and the default version."""

    versions: dict[Annotated[str, Field(pattern=r"^v\d+$")], VersionPolicy] = {}
    default: str = LATEST  # the version of unversioned paths for clients without a pin

    @model_validator(mode="after")
    def _known_versions(self) -> ApiVersionsPolicy:
        unknown = sorted({*self.versions, self.default} - set(VERSIONS))
        if unknown:
            raise ValueError(
                f"unknown API version(s) {', '.join(unknown)}; supported: {', '.join(VERSIONS)}"
            )
        return self


# -- behaviour -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionTable:
    """The policy compiled for the request path: headers formatted once, pins by client."""

    default: str
    pins: dict[str, str]
    headers: dict[str, dict[str, str]]  # version -> deprecation headers
    sunset_at: dict[str, float]  # version -> epoch seconds from which it answers 410


def _midnight_utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def lifecycle_headers(version: str, policy: VersionPolicy) -> dict[str, str]:
    """RFC 9745 `Deprecation`, RFC 8594 `Sunset`, and a `Link` to the version's changelog."""
    headers: dict[str, str] = {}
    if policy.deprecated is not None:
        headers["Deprecation"] = f"@{int(_midnight_utc(policy.deprecated).timestamp())}"
        headers["Link"] = f'<{CHANGELOG_PATH}#{version}>; rel="deprecation"'
    if policy.sunset is not None:
        headers["Sunset"] = format_datetime(_midnight_utc(policy.sunset), usegmt=True)
    return headers


def compile_versions(config: GatewayConfig) -> VersionTable:
    policy = config.api_versions
    return VersionTable(
        default=policy.default,
        pins={c.id: c.api_version for c in config.clients.clients if c.api_version},
        headers={v: lifecycle_headers(v, p) for v, p in policy.versions.items()},
        sunset_at={
            v: _midnight_utc(p.sunset).timestamp()
            for v, p in policy.versions.items()
            if p.sunset is not None
        },
    )


def version_sunset(version: str) -> GatewayError:
    return GatewayError(
        Code.VERSION_SUNSET,
        f"API version {version} has been retired; see {CHANGELOG_PATH} for how to move to "
        f"{LATEST}.",
        extra={"supported_versions": list(VERSIONS)},
    )


def upgraded_body(raw: bytes, version: str, operation: Operation) -> bytes:
    """A request body of `version` as the newest version's; 400 with `version`'s pointers when
    it does not match `version`'s schema. An empty body is left for the body step to refuse."""
    model = V1_REQUESTS.get(operation)
    if model is None or not raw.strip():
        return raw
    parsed = parse_json_model(raw, model)
    body = upgrade_request(version, operation, parsed.model_dump(mode="json", exclude_unset=True))
    return json.dumps(body, separators=(",", ":")).encode()


class BodyUpgrade:
    """The upgrade of one request's body to the newest version, done when the body step reads
    it (lazily, so that the steps before it, authentication..., answer first as in v2).

    Remembers a refusal by the older version's schema: its pointers are already that version's.
    """

    def __init__(self, request: Request, version: str, operation: Operation) -> None:
        self._original = request
        self._version = version
        self._operation = operation
        self._sent = False
        self.refusal: GatewayError | None = None
        self.request = Request(request.scope, self._receive)

    async def _receive(self) -> Message:
        if self._sent:
            return {"type": "http.disconnect"}
        try:
            raw = await read_body(self._original)
            body = upgraded_body(raw, self._version, self._operation)
        except GatewayError as error:
            self.refusal = error
            raise
        self._sent = True
        return {"type": "http.request", "body": body, "more_body": False}


def downgraded(response: Response, version: str, operation: Operation) -> Response:
    """A newest-version JSON response as `version` shows it (other media pass unchanged)."""
    media_type = (response.headers.get("content-type") or "").split(";")[0]
    if media_type not in _JSON_TYPES or not response.body:
        return response
    body: Any = json.loads(bytes(response.body))
    if isinstance(body, dict):
        body = downgrade_response(version, operation, response.status_code, body)
    content = json.dumps(body, separators=(",", ":")).encode()
    headers = {
        k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
    }
    return Response(content, response.status_code, headers, media_type=media_type)


def downgraded_error(error: GatewayError, version: str, operation: Operation) -> GatewayError:
    """`error` with its pointers as `version`'s request had its fields."""
    if error.errors:
        problem = {"errors": [e.as_dict() for e in error.errors]}
        problem = downgrade_response(version, operation, error.status, problem)
        error.errors = [FieldError(e["pointer"], e["detail"]) for e in problem["errors"]]
    return error


class Versioning:
    """Pipeline step, right after tracing: sets `ctx.api_version` (the path's, else the client's
    pin, else the default), refuses a sunset version, and serves older versions through the
    chain of version changes. It is outside idempotency, so a replay is downgraded exactly as
    the original answer was."""

    def __init__(self) -> None:
        self._compiled: tuple[GatewayConfig, VersionTable] | None = None

    def _table(self, config: GatewayConfig) -> VersionTable:
        compiled = self._compiled
        if compiled is None or compiled[0] is not config:  # recompiled once per reload
            compiled = (config, compile_versions(config))
            self._compiled = compiled
        return compiled[1]

    async def _pinned(self, ctx: RequestContext, table: VersionTable) -> str:
        """The caller's pinned version for an unversioned path; the authentication step still
        judges the token (verified tokens are cached, so this costs no second check)."""
        try:
            principal = await ctx.runtime.authenticator.authenticate(
                ctx.request.headers.get("authorization")
            )
        except GatewayError:
            return table.default
        return table.pins.get(principal.client_id, table.default)

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        table = self._table(ctx.runtime.config)
        version = ctx.api_version or await self._pinned(ctx, table)
        ctx.api_version = version
        ctx.response_headers[VERSION_HEADER] = version
        ctx.response_headers.update(table.headers.get(version, {}))
        sunset_at = table.sunset_at.get(version)
        if sunset_at is not None and time.time() >= sunset_at:
            raise version_sunset(version)
        if version == LATEST:
            return await call_next(ctx)
        operation = ctx.spec.operation
        upgrade = None
        if ctx.spec.body_model is not None:
            upgrade = BodyUpgrade(ctx.request, version, operation)
            ctx.request = upgrade.request
        try:
            response = await call_next(ctx)
        except GatewayError as error:
            if upgrade is None or error is not upgrade.refusal:
                downgraded_error(error, version, operation)
            raise
        return downgraded(response, version, operation)
