"""The ERP client on the request path: one small interface over a pooled keep-alive transport.

Not ERP-specific: auth mechanics (CSRF, OAuth) and payloads belong to the adapters.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.adapters.priority import after_clients
from gateway.config.backends import DEFAULT_MAX_RESPONSE_BYTES, BackendConnection, RetryPolicy
from gateway.domain.digits import ascii_digits
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
        Infinity, which are no JSON, or nesting deeper than 1024) is a bad response. Integers
        beyond 64 bits, which orjson refuses, are read by the standard library instead."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            pass  # rare: an integer beyond 64 bits, or no JSON at all
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


@dataclass(frozen=True)
class RetryHooks:
    """What a transport asks before a retry and tells after it, from outside the adapters:
    `permit` spends a request of the ERP's budget (False: no retry); `observe` counts it."""

    permit: Callable[[], Awaitable[bool]] | None = None
    observe: Callable[[str], None] | None = None


# What a connection that could not be made is called (an operator's check tells it apart).
UNREACHABLE = "The ERP is not reachable."
# Statuses worth repeating a read for: the ERP (or what fronts it) says it could not answer now.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Time a retry needs left before the deadline to be worth starting.
_MIN_ATTEMPT_S = 0.05

# The longest Retry-After an ERP's refusal passes on to the gateway's client. The client
# retries the same request; an ERP asking for hours (a maintenance window, a misconfigured
# proxy) would have it wait that long whenever the ERP is back, past what the gateway itself
# ever asks (its breaker's cool-down, a few seconds for a full budget). Five minutes: a client
# coming back sooner is shed or refused at once by the breaker, at no cost to the ERP.
MAX_ERP_RETRY_AFTER_S = 300


class _Failed(Exception):
    """One attempt's failure: the ErpFailure it becomes, and whether the attempt may be repeated
    (`reason` says why, for the retry metric; None: it may not)."""

    def __init__(self, failure: ErpFailure, reason: str | None) -> None:
        super().__init__(failure.detail)
        self.failure = failure
        self.reason = reason


class AiohttpTransport:
    """Pooled keep-alive connections to one base URL (aiohttp: ~0.2 ms CPU a request).

    Cookies are not kept here: an adapter that needs a session (SAP) handles its cookie itself,
    so that the session it binds a CSRF token to is explicit.

    Each attempt has its own connect and read timeouts inside the interaction's `timeout_s` and
    the caller's deadline. An attempt is repeated (`retries`) only where that is safe: a read
    whatever went wrong, or that the ERP answered 429/502/503/504; a write only when the
    connection was never made, so the ERP cannot have seen it. Never an ambiguous write.

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
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        retries: RetryPolicy | None = None,
        hooks: RetryHooks | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        backend: str = "",
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._retries = retries or RetryPolicy(attempts=1)
        self._hooks = hooks or RetryHooks()
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
        send_headers = CIMultiDict(headers or {})
        data: bytes | None = None
        if json_body is not None:
            data = orjson.dumps(json_body)  # compact UTF-8, as the ERP's JSON APIs take it
            send_headers.setdefault("Content-Type", "application/json")
        elif form is not None:
            data = urlencode(dict(form)).encode("ascii")
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        safe = method.upper() in _SAFE_METHODS
        if deadline is None:  # the interaction, retries and their waits included, is bounded
            deadline = time.monotonic() + self._timeout_s
        attempt = 1
        while True:
            try:
                response = await self._attempt(method, path, params, send_headers, data, deadline)
            except _Failed as failed:
                if failed.reason is None or not await self._retry(
                    attempt, deadline, failed.reason, None
                ):
                    raise failed.failure from failed.__cause__
            else:
                # A shadow sample's answer waits for the loop to be idle before it is read.
                await after_clients()
                if not safe or response.status not in _RETRY_STATUSES:
                    return response
                reason = f"http_{response.status}"
                if not await self._retry(attempt, deadline, reason, response.header("Retry-After")):
                    return response
            attempt += 1

    async def _retry(
        self, attempt: int, deadline: float | None, reason: str, retry_after: str | None
    ) -> bool:
        """Whether to try again after `attempt` failed for `reason`, having waited the backoff:
        not past the policy's attempts, only if the wait and a useful attempt fit before the
        deadline, and only with a request of the ERP's budget to spend."""
        policy = self._retries
        if attempt >= policy.attempts:
            return False
        ceiling = min(policy.max_backoff_s, policy.backoff_s * 2 ** (attempt - 1))
        wait = random.uniform(0, ceiling)  # full jitter: retries of many requests spread out
        asked = retry_after_seconds(retry_after)
        if asked is not None:
            wait = max(wait, asked)
        if deadline is not None and deadline - time.monotonic() < wait + _MIN_ATTEMPT_S:
            return False
        permit = self._hooks.permit
        if permit is not None and not await permit():
            return False
        if self._hooks.observe is not None:
            self._hooks.observe(reason)
        log.info(
            "ERP request retried",
            extra={"backend": self._backend, "attempt": attempt + 1, "reason": reason},
        )
        await asyncio.sleep(wait)
        return True

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        send_headers: CIMultiDict[str],
        data: bytes | None,
        deadline: float | None,
    ) -> ErpResponse:
        """One try; `_Failed` says what it becomes and whether it may be repeated."""
        try:
            total = remaining_seconds(deadline, self._timeout_s)
        except ErpFailure as failure:
            raise _Failed(failure, None) from None
        session = self._ensure_session()
        connect = self._connect_timeout_s
        read = self._read_timeout_s
        timeout = aiohttp.ClientTimeout(
            total=total,
            sock_connect=min(connect, total) if connect is not None else None,
            # A silence as long as the whole attempt is the total's to end: a read timer no
            # shorter would only be set again on every chunk the ERP sends.
            sock_read=read if read is not None and read < total else None,
        )
        # Anything but a failure to connect may have reached the ERP: for a write, the outcome
        # is then unknown. Reads are safe to repeat whatever happened.
        writes = method.upper() not in _SAFE_METHODS
        read_again = None if writes else "read_failed"
        try:
            async with session.request(
                method,
                self._base_url + path,
                params=params,
                headers=send_headers,
                data=data,
                timeout=timeout,
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
            too_large = ErpFailure(
                Code.ERP_BAD_RESPONSE,
                "The ERP's answer is larger than this backend allows (max_response_bytes).",
                ambiguous=writes,
            )
            raise _Failed(too_large, None) from None  # the same answer again would be no smaller
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            unreachable = ErpFailure(Code.ERP_UNAVAILABLE, UNREACHABLE, ambiguous=False)
            raise _Failed(unreachable, "connect_failed") from exc
        except TimeoutError as exc:
            timed_out = ErpFailure(
                Code.ERP_TIMEOUT,
                "The ERP did not answer in time; the outcome is unknown. Retry the same request "
                "with the same Idempotency-Key.",
                ambiguous=writes,
            )
            raise _Failed(timed_out, None if writes else "timeout") from exc
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            broken = ErpFailure(
                Code.ERP_BAD_RESPONSE,
                "The connection to the ERP broke before it answered; the outcome is unknown.",
                ambiguous=writes,
            )
            raise _Failed(broken, read_again) from exc

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


def retry_after_delay(retry_after: str | None) -> str | None:
    """An ERP's Retry-After as the gateway passes it on to its client: whole seconds, at least
    one (a `0` would have every client retry at once, into the same refusal) and at most
    `MAX_ERP_RETRY_AFTER_S`; None for none, or for what is no delay-seconds (an HTTP date, a
    negative or broken value)."""
    seconds = retry_after_seconds(retry_after)
    if seconds is None:
        return None
    return str(max(1, int(min(seconds, MAX_ERP_RETRY_AFTER_S))))


def retry_after_seconds(retry_after: str | None, now: float | None = None) -> float | None:
    """A Retry-After as seconds to wait; None for none or a broken value. Given `now`, an HTTP
    date too (seconds from `now` to it, at least 0): a webhook subscriber that asks for
    minutes is waited for. Without it, delay-seconds only (not worth parsing for an ERP: one
    that asks for minutes will not be waited for inside one request anyway)."""
    text = (retry_after or "").strip()
    if ascii_digits(text):
        return float(text)
    if now is None or not text:
        return None
    try:
        at = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:  # "-0000": UTC, as HTTP dates are
        at = at.replace(tzinfo=dt.UTC)
    return max(0.0, at.timestamp() - now)


def transport_for(
    name: str, config: BackendConnection, hooks: RetryHooks | None = None
) -> AiohttpTransport:
    """The pooled transport a backend's configuration describes."""
    return AiohttpTransport(
        config.base_url,
        max_connections=config.pool.max_connections,
        keepalive_s=config.pool.keepalive_s,
        timeout_s=config.timeout_s,
        connect_timeout_s=config.connect_timeout,
        read_timeout_s=config.read_timeout,
        retries=config.retries,
        hooks=hooks,
        max_response_bytes=config.max_response_bytes,
        backend=name,
    )
