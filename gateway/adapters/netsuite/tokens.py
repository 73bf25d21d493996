"""OAuth 2.0 tokens for the NetSuite REST API: the client-credentials grant (a certificate-signed
assertion, see `assertions.py`), cached until shortly before expiry and renewed in the
background, one fetch at a time.

Not the calls made with them (see `client.py`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping

from gateway.adapters.answers import AnswerBoundary
from gateway.adapters.base import CallContext
from gateway.adapters.http import ErpResponse, ErpTransport, remaining_seconds
from gateway.adapters.netsuite.assertions import token_request
from gateway.adapters.netsuite.credentials import ClientCredentials
from gateway.adapters.netsuite.fields import bad_response
from gateway.domain.errors import Code, ErpFailure

DEFAULT_TOKEN_TTL_S = 600.0  # when a token answer leaves out `expires_in`


def token_from_response(response: ErpResponse) -> tuple[str, float]:
    """The bearer token and its lifetime in seconds from a client-credentials answer."""
    if response.status != 200:
        if response.status >= 500 or response.status == 429:
            raise ErpFailure(Code.ERP_UNAVAILABLE, "The ERP's token service is unavailable.")
        raise ErpFailure(
            Code.ERP_UNAVAILABLE,
            "The ERP refused the gateway's client assertion (its certificate, client id or "
            "scopes); an operator must fix them.",
        )
    body = response.json()
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise bad_response("The ERP's token service sent no access token.")
    try:
        ttl = float(body.get("expires_in") or DEFAULT_TOKEN_TTL_S)
    except (TypeError, ValueError):
        ttl = DEFAULT_TOKEN_TTL_S
    if not math.isfinite(ttl):
        ttl = DEFAULT_TOKEN_TTL_S
    return token, max(ttl, 1.0)


RENEW_MARGIN_S = 60.0  # renew a token this long before it expires (at most half its lifetime)
ACCEPT_JSON = {"Accept": "application/json"}
_LONGEST_FETCH_S = 120.0  # a waiter without a deadline: the longest timeout_s a backend has


def _forget_failure(task: asyncio.Task[str]) -> None:
    # A background renewal nobody awaited must not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()


class BearerTokens:
    """OAuth 2.0 client-credentials tokens for one backend.

    Cached until shortly before `expires_in`, then renewed in the background while the old token
    still works; one fetch at a time, however many requests wait for it.
    """

    def __init__(
        self,
        transport: ErpTransport,
        base_url: str,
        token_path: str,
        credentials: ClientCredentials,
        answers: AnswerBoundary,
    ) -> None:
        self._transport = transport
        self._answers = answers
        self._token_path = token_path
        # NetSuite checks the assertion's audience against its token endpoint's URL.
        self._audience = base_url.rstrip("/") + token_path
        self._credentials = credentials
        self._token: str | None = None
        self._expires_at = 0.0
        self._renew_at = 0.0
        self._fetch: asyncio.Task[str] | None = None

    async def authorization(
        self, method: str, path: str, params: Mapping[str, str] | None, ctx: CallContext
    ) -> str:
        token = self._held(ctx)  # the usual answer, without a coroutine for `current`
        if token is None:
            token = await self.current(ctx)
        return "Bearer " + token

    def refused(self, authorization: str) -> bool:
        """Forget a token the ERP refused; a new one may well be accepted (it expired early)."""
        self.discard(authorization.removeprefix("Bearer "))
        return True

    async def current(self, ctx: CallContext) -> str:
        token = self._held(ctx)
        if token is not None:
            return token
        fetch = self._start_fetch(ctx)
        # Each waiter within its own deadline; the fetch they share within the transport's
        # `timeout_s`, not within the deadline of whichever request started it (a request
        # nearly out of time would fail every other one waiting for the token).
        try:
            async with asyncio.timeout(remaining_seconds(ctx.deadline, _LONGEST_FETCH_S)):
                return await asyncio.shield(fetch)
        except TimeoutError:
            raise ErpFailure(
                Code.ERP_TIMEOUT,
                "The ERP's token endpoint did not answer in time.",
                ambiguous=False,
            ) from None

    def _held(self, ctx: CallContext) -> str | None:
        """The token held, while it is valid (renewed in the background once it is due); None
        when there is none to use but the one a fetch brings."""
        now = time.monotonic()
        if self._token is None or now >= self._expires_at:
            return None
        if now >= self._renew_at:
            self._start_fetch(ctx)
        return self._token

    def discard(self, token: str) -> None:
        """Forget a token the ERP refused (unless a newer one has replaced it already)."""
        if self._token == token:
            self._token = None

    def _start_fetch(self, ctx: CallContext) -> asyncio.Task[str]:
        loop = asyncio.get_running_loop()
        task = self._fetch
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._fetched(ctx))
            task.add_done_callback(_forget_failure)
            self._fetch = task
        return task

    async def _fetched(self, ctx: CallContext) -> str:
        # Signed here, once an hour or so: an RSA signature costs about a millisecond.
        form = token_request(self._credentials, self._audience, int(time.time()))
        response = await self._transport.request(
            "POST",
            self._token_path,
            headers={**ctx.trace_headers(), **ACCEPT_JSON},
            form=form,
            deadline=None,  # the transport's timeout_s: shared, it is no one request's
        )
        token, ttl = self._answers.mapped(ctx, lambda: token_from_response(response))
        now = time.monotonic()
        self._token = token
        self._expires_at = now + ttl
        self._renew_at = now + ttl - min(RENEW_MARGIN_S, ttl / 2)
        return token
