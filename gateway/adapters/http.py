"""The ERP client on the request path: one small interface over a pooled keep-alive transport.

Not ERP-specific: auth mechanics (CSRF, OAuth) and payloads belong to the adapters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.config.backends import DEFAULT_MAX_RESPONSE_BYTES
from gateway.domain.errors import Code, ErpFailure

log = logging.getLogger("gateway.adapters")


@dataclass(frozen=True)
class ErpResponse:
    status: int
    headers: CIMultiDictProxy[str] | Mapping[str, str]
    body: bytes = b""
    cookies: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON; an ERP that answers with something else (including NaN or
        Infinity, which are no JSON, or nesting deeper than Python parses) is a bad response."""
        try:
            return json.loads(self.body, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise ErpFailure(
                Code.ERP_BAD_RESPONSE, "The ERP sent a response the gateway could not read."
            ) from exc

    def header(self, name: str) -> str | None:
        if isinstance(self.headers, CIMultiDictProxy):
            return self.headers.get(name)
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class ErpTransport(Protocol):
    """Sends one HTTP request to one ERP backend and returns its whole answer."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> ErpResponse: ...

    async def aclose(self) -> None: ...


def remaining_seconds(deadline: float | None, cap: float) -> float:
    """Seconds left before `deadline` (monotonic), at most `cap`; raises erp_timeout at zero."""
    if deadline is None:
        return cap
    left = deadline - time.monotonic()
    if left <= 0:
        raise ErpFailure(Code.ERP_TIMEOUT, "The ERP did not answer in time.", ambiguous=False)
    return min(left, cap)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _TooLarge(Exception):
    """The answer is bigger than the backend allows; `declared` if its Content-Length said so."""

    def __init__(self, declared: int | None) -> None:
        super().__init__(declared)
        self.declared = declared


class AiohttpTransport:
    """Pooled keep-alive connections to one base URL (aiohttp: ~0.2 ms CPU a request).

    Cookies are not kept here: an adapter that needs a session (SAP) handles its cookie itself,
    so that the session it binds a CSRF token to is explicit.

    An answer is read at most `max_response_bytes` far, counted after decompression: aiohttp
    inflates a compressed body as it is read, a bounded piece at a time, so a gzip bomb stops
    at the cap too. A bigger answer is 502 erp_bad_response and its connection is closed.
    """

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 32,
        keepalive_s: float = 30.0,
        timeout_s: float = 10.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        backend: str = "",
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._timeout_s = timeout_s
        self._max_response_bytes = max_response_bytes
        self._backend = backend
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:  # a replaced backend's transport: never reopened behind our back
            raise ErpFailure(Code.ERP_UNAVAILABLE, "The ERP connection pool was shut down.")
        # Created lazily so that the session binds to the running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=self._keepalive_s,
                enable_cleanup_closed=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                raise_for_status=False,
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> ErpResponse:
        timeout = remaining_seconds(deadline, self._timeout_s)
        session = self._ensure_session()
        url = self._base_url + path
        data: Any = None
        send_headers = CIMultiDict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            send_headers.setdefault("Content-Type", "application/json")
        elif form is not None:
            data = aiohttp.FormData(dict(form))
        # Anything but a failure to connect may have reached the ERP: for a write, the outcome
        # is then unknown. Reads are safe to repeat whatever happened.
        writes = method.upper() not in _SAFE_METHODS
        try:
            async with session.request(
                method,
                url,
                params=params,
                headers=send_headers,
                data=data,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                body = await self._body(response, method)
                cookies = {name: morsel.value for name, morsel in response.cookies.items()}
                return ErpResponse(response.status, response.headers, body, cookies)
        except _TooLarge as exc:
            log.warning(
                "ERP answer over the size cap",
                extra={
                    "backend": self._backend,
                    "correlation_id": send_headers.get("X-Correlation-ID"),
                    "method": method,
                    "path": path,
                    "max_response_bytes": self._max_response_bytes,
                    "declared_bytes": exc.declared,
                },
            )
            raise ErpFailure(
                Code.ERP_BAD_RESPONSE,
                "The ERP's answer is larger than this backend allows (max_response_bytes).",
                ambiguous=writes,
            ) from None
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise ErpFailure(
                Code.ERP_UNAVAILABLE, "The ERP is not reachable.", ambiguous=False
            ) from exc
        except TimeoutError as exc:
            raise ErpFailure(
                Code.ERP_TIMEOUT,
                "The ERP did not answer in time; the outcome is unknown. Retry the same request "
                "with the same Idempotency-Key.",
                ambiguous=writes,
            ) from exc
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            raise ErpFailure(
                Code.ERP_BAD_RESPONSE,
                "The connection to the ERP broke before it answered; the outcome is unknown.",
                ambiguous=writes,
            ) from exc

    async def _body(self, response: aiohttp.ClientResponse, method: str) -> bytes:
        """The whole (decoded) body, read no further than the cap; the connection of an answer
        over it is closed, never handed back to the pool half read."""
        cap = self._max_response_bytes
        declared = response.content_length
        if declared is not None and declared > cap and method.upper() != "HEAD":
            response.close()
            raise _TooLarge(declared)
        chunks: list[bytes] = []
        size = 0
        content = response.content
        while chunk := await content.readany():
            size += len(chunk)
            if size > cap:
                response.close()
                raise _TooLarge(None)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None and not self._session.closed:
            await self._session.close()
