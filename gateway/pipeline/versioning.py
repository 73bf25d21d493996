"""Versioning step: which API version serves a request, its deprecation headers, and the
upgrade of an older version's request and downgrade of its response (resource or problem).

Not the version changes themselves (see `gateway.domain.versions`); this only applies them. The
policy file's schema is `gateway.config.api_versions`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

import orjson
from starlette.responses import Response

from gateway.config.api_versions import ApiVersionsPolicy, VersionPolicy
from gateway.config.clients import ClientsPolicy
from gateway.domain.errors import Code, FieldError, GatewayError
from gateway.domain.operations import Operation
from gateway.domain.versions import LATEST, VERSIONS, downgrade_response, upgrade_request
from gateway.domain.versions.v1_models import V1_REQUESTS
from gateway.pipeline.auth import Authenticator, authorization_of
from gateway.pipeline.body import parse_json_model
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext

VERSION_HEADER = "API-Version"
CHANGELOG_PATH = "/changelog"
_JSON_TYPES = ("application/json", "application/problem+json")
_NO_HEADERS: Mapping[str, str] = {}


@dataclass(frozen=True)
class VersionTable:
    """The policy compiled for the request path: headers formatted once, pins by client."""

    default: str
    pins: dict[str, str]
    headers: dict[str, dict[str, str]]  # version -> deprecation headers
    sunset_at: dict[str, float]  # version -> epoch seconds from which it answers 410

    def pinned(self, client_id: str) -> str:
        """The version of the client's unversioned paths: its pin, else the default."""
        return self.pins.get(client_id, self.default)

    def retired(self, version: str, now: float) -> bool:
        """Past its sunset at `now` (epoch seconds): answered 410, whatever is asked of it."""
        sunset_at = self.sunset_at.get(version)
        return sunset_at is not None and now >= sunset_at

    def supported(self, now: float) -> list[str]:
        """The versions a client may call at `now`, for the problems that list them: none past
        its sunset, which would only answer 410 to a client that moved to it."""
        return [version for version in VERSIONS if not self.retired(version, now)]


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


def compile_versions(policy: ApiVersionsPolicy, clients: ClientsPolicy) -> VersionTable:
    return VersionTable(
        default=policy.default,
        pins={c.id: c.api_version for c in clients.clients if c.api_version},
        headers={v: lifecycle_headers(v, p) for v, p in policy.versions.items()},
        sunset_at={
            v: _midnight_utc(p.sunset).timestamp()
            for v, p in policy.versions.items()
            if p.sunset is not None
        },
    )


def version_sunset(version: str, supported: list[str]) -> GatewayError:
    return GatewayError(
        Code.VERSION_SUNSET,
        f"API version {version} has been retired; see {CHANGELOG_PATH} for how to move to "
        f"{LATEST}.",
        extra={"supported_versions": supported},
    )


def unsupported_version(version: str, supported: list[str]) -> GatewayError:
    return GatewayError(
        Code.UNSUPPORTED_VERSION,
        f"API version {version} is not supported; supported: {', '.join(supported)}.",
        extra={"supported_versions": supported},
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
    """The upgrade of one request's body to the newest version, applied by the body step when it
    reads the body (so that the steps before it, authentication..., answer first as in v2).

    Remembers a refusal by the older version's schema: its pointers are already that version's.
    """

    def __init__(self, version: str, operation: Operation) -> None:
        self._version = version
        self._operation = operation
        self.refusal: GatewayError | None = None

    def body(self, raw: bytes) -> bytes:
        try:
            return upgraded_body(raw, self._version, self._operation)
        except GatewayError as error:
            self.refusal = error
            raise


def downgraded(response: Response, version: str, operation: Operation) -> Response:
    """A newest-version JSON response as `version` shows it (other media pass unchanged)."""
    media_type = (response.headers.get("content-type") or "").split(";")[0]
    if media_type not in _JSON_TYPES or not response.body:
        return response
    body: Any = orjson.loads(response.body)
    if isinstance(body, dict):
        body = downgrade_response(version, operation, response.status_code, body)
    # The response itself, its body replaced: its headers (the type among them) stay as they
    # are, and only the length follows the new body.
    response.body = orjson.dumps(body)
    response.headers["content-length"] = str(len(response.body))
    return response


def downgraded_error(error: GatewayError, version: str, operation: Operation) -> GatewayError:
    """`error` with its pointers as `version`'s request had its fields."""
    if error.errors:
        problem = {"errors": [e.as_dict() for e in error.errors]}
        problem = downgrade_response(version, operation, error.status, problem)
        error.errors = [FieldError(e["pointer"], e["detail"]) for e in problem["errors"]]
    return error


class Versioning:
    """Pipeline step, right after tracing: sets `ctx.api_version` (the path's, else the client's
    pin, else the default), refuses a sunset version (not to an operator's replay), and serves
    older versions through the chain of version changes. It is outside idempotency, so a
    replay is downgraded exactly as the original answer was."""

    def __init__(self, table: VersionTable, authenticator: Authenticator) -> None:
        self._table = table
        self._authenticator = authenticator

    async def _pinned(self, ctx: RequestContext) -> str:
        """The caller's pinned version for an unversioned path. A caller verified here is the
        authentication step's (it finds `ctx.principal` set); a refused one is judged and
        counted there (refused tokens are held a few seconds, so this costs no second check)."""
        table = self._table
        try:
            request = ctx.request  # its address: a limited one's token is not looked at
            principal = await self._authenticator.authenticate(
                authorization_of(request.scope["headers"]), request.scope
            )
        except GatewayError:
            return table.default
        if ctx.principal is None:  # an operator's replay sets the replayed client's
            ctx.principal = principal
        return table.pinned(principal.client_id)

    def __call__(self, ctx: RequestContext, call_next: Handler) -> Awaitable[Response]:
        if ctx.path_version:
            return self._served(ctx, ctx.path_version, call_next)
        return self._unversioned(ctx, call_next)

    async def _unversioned(self, ctx: RequestContext, call_next: Handler) -> Response:
        return await self._served(ctx, await self._pinned(ctx), call_next)

    def _served(self, ctx: RequestContext, version: str, call_next: Handler) -> Awaitable[Response]:
        """The request served in `version`: the newest one with nothing to do on the way out
        (see `Step`), an older one through its version changes."""
        table = self._table
        ctx.api_version = version
        ctx.response_headers[VERSION_HEADER] = version
        ctx.response_headers.update(table.headers.get(version, _NO_HEADERS))
        # A sunset refuses the clients still calling the version; an operator's replay of a
        # transaction the journal holds in it is the gateway finishing what it took then.
        if table.retired(version, now := time.time()) and not ctx.replayed_by:
            raise version_sunset(version, table.supported(now))
        if version == LATEST:
            return call_next(ctx)
        return self._older(ctx, version, call_next)

    @staticmethod
    async def _older(ctx: RequestContext, version: str, call_next: Handler) -> Response:
        """An older version's request upgraded on its way in, its answer downgraded."""
        operation = ctx.spec.operation
        upgrade = None
        if ctx.spec.body_model is not None:
            upgrade = ctx.body_upgrade = BodyUpgrade(version, operation)
        try:
            response = await call_next(ctx)
        except GatewayError as error:
            if upgrade is None or error is not upgrade.refusal:
                downgraded_error(error, version, operation)
            raise
        return downgraded(response, version, operation)
