"""Operator endpoints under `/admin`, for callers with the `gateway:admin` scope.

Not the domain API: these change or show the gateway itself (config reloads for now).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.problems import problem_response
from gateway.config.issues import ConfigIssue
from gateway.domain.errors import Code, FieldError, GatewayError
from gateway.domain.operations import ADMIN_SCOPE
from gateway.observability.trace_context import CORRELATION_HEADER, correlation_id_from
from gateway.pipeline.auth import authorization_of
from gateway.pipeline.entitlements import registered, require_scope
from gateway.runtime import Runtime

AdminHandler = Callable[[Request], Awaitable[Response]]


class ReloadStatus(Protocol):
    @property
    def generation(self) -> int: ...
    @property
    def loaded_at(self) -> float: ...
    @property
    def last_attempt_at(self) -> float | None: ...
    @property
    def last_error(self) -> Sequence[ConfigIssue]: ...


class ConfigReloader(Protocol):
    """What the admin endpoints need of the reloader (`gateway.ops.reload.Reloader`)."""

    @property
    def status(self) -> ReloadStatus: ...

    async def reload(self) -> Sequence[ConfigIssue]: ...


def _admin(handler: AdminHandler, current: Callable[[], Runtime]) -> AdminHandler:
    async def endpoint(request: Request) -> Response:
        correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
        runtime = current()
        try:
            principal = await runtime.authenticator.authenticate(authorization_of(request.headers))
            require_scope(principal, registered(runtime.entitlements, principal), ADMIN_SCOPE)
            response = await handler(request)
        except GatewayError as error:
            response = problem_response(error, correlation_id, request.url.path)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    return endpoint


def admin_routes(reloader: ConfigReloader, current: Callable[[], Runtime]) -> list[Route]:
    async def reload(_: Request) -> Response:
        issues = await reloader.reload()
        if issues:
            raise GatewayError(
                Code.VALIDATION_FAILED,
                "The new configuration was refused; the running configuration is unchanged.",
                [FieldError("", str(issue)) for issue in issues],
                extra={
                    "issues": [
                        {"file": i.file, "line": i.line, "message": i.message} for i in issues
                    ]
                },
            )
        return JSONResponse({"status": "reloaded", "generation": reloader.status.generation})

    async def show(_: Request) -> Response:
        status = reloader.status
        return JSONResponse(
            {
                "generation": status.generation,
                "loaded_at": status.loaded_at,
                "last_attempt_at": status.last_attempt_at,
                "last_error": [str(i) for i in status.last_error],
            }
        )

    return [
        Route("/admin/config/reload", _admin(reload, current), methods=["POST"]),
        Route("/admin/config", _admin(show, current), methods=["GET"]),
    ]
