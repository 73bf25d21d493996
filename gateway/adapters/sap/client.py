"""The SAP OData v2 client: Basic auth, the `sap-client`, and one CSRF session (a token bound
to its session cookie) reused for every write and refetched once after a 403.

SAP binds the token to the user's session (its cookies), not to a service: one session serves
the writes to every service. It is fetched at the service written to, so a service SAP has not
activated stops only the writes to it, with SAP's message.

Not what the calls mean (see `adapter.py`) nor payloads (`outbound.py`, `inbound.py`).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from http.cookies import CookieError, SimpleCookie
from typing import Any

from multidict import CIMultiDictProxy

from gateway.adapters.answers import AnswerBoundary
from gateway.adapters.base import CallContext, ErpNotice
from gateway.adapters.http import ErpResponse, ErpTransport
from gateway.adapters.sap.errors import (
    Subject,
    error_from_sap,
    is_not_found,
    missing_service,
    notices_from,
    technical_error,
)
from gateway.adapters.sap.odata import SAP_CLIENT, next_request, page_of
from gateway.adapters.sap.services import MAX_PAGES, ODATA_ROOT
from gateway.adapters.sap.terms import SapTerms
from gateway.domain.errors import GatewayError

CSRF_HEADER = "x-csrf-token"
CSRF_FETCH = "Fetch"
CSRF_REQUIRED = "required"
_BUSINESS_STATUSES = frozenset({400, 409, 422})


@dataclass(frozen=True)
class CsrfSession:
    """A CSRF token and the session cookie it is bound to: they only work together."""

    token: str
    cookie: str


class SapClient:
    """Calls to one SAP system; one CSRF session for all writes, fetched once at a time."""

    def __init__(
        self,
        transport: ErpTransport,
        username: str,
        password: str,
        sap_client: str,
        answers: AnswerBoundary,
        terms: SapTerms,
    ) -> None:
        self._transport = transport
        self._answers = answers
        self._terms = terms
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._authorization = "Basic " + credentials
        self._client = {SAP_CLIENT: sap_client}
        self._session: CsrfSession | None = None
        self._session_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _headers(self, ctx: CallContext, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {
            "Authorization": self._authorization,
            "Accept": "application/json",
            **ctx.trace_headers(),
        }
        if self._session is not None:
            headers["Cookie"] = self._session.cookie  # stay in one SAP session, not a logon each
        headers.update(extra or {})
        return headers

    async def send(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> ErpResponse:
        return await self._transport.request(
            method,
            path,
            params={**self._client, **(query or {})},
            headers=self._headers(ctx, headers),
            json_body=body,
            deadline=ctx.deadline,
        )

    async def read(
        self, path: str, query: Mapping[str, str], ctx: CallContext
    ) -> dict[str, Any] | None:
        """A GET's JSON document; None when SAP itself says the entity does not exist (any other
        404, or a body that is no document, is a bad response: the record is not known gone)."""
        response = await self.send("GET", path, ctx, query=query)
        if response.status == 404 and self._answers.mapped(ctx, lambda: is_not_found(response)):
            return None
        body = self.answer(response, Subject.READ, ctx, write=False)
        if not isinstance(body, dict):
            raise self._answers.bad_response(
                ctx, f"a JSON {type(body).__name__} instead of an OData document", write=False
            )
        return body

    async def read_rows(
        self, path: str, query: Mapping[str, str], ctx: CallContext
    ) -> list[dict[str, Any]]:
        """Every entity of a collection: SAP pages big answers itself (`__next`), and each
        page is asked for in turn, up to MAX_PAGES."""
        rows: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            response = await self.send("GET", path, ctx, query=query)
            page, link = self._answers.mapped(
                ctx, partial(page_of, self.answer(response, Subject.READ, ctx, write=False))
            )
            rows.extend(page)
            if link is None:
                return rows
            path, query = self._answers.mapped(
                ctx, partial(next_request, link, path, ODATA_ROOT, self._client[SAP_CLIENT])
            )
        raise self._answers.bad_response(
            ctx,
            f"more than {MAX_PAGES} pages",
            write=False,
            detail="The ERP's answer runs to more pages than the gateway reads.",
        )

    def notices(self, response: ErpResponse) -> tuple[ErpNotice, ...]:
        """The warnings SAP sent with a success (`sap-message`), for the user to see."""
        return notices_from(response.header("sap-message"), self._terms)

    async def write(
        self,
        method: str,
        path: str,
        body: Any,
        ctx: CallContext,
        headers: Mapping[str, str] | None = None,
    ) -> ErpResponse:
        """A modifying request under the CSRF session; one refetch and retry after a 403."""
        service = _service_root(path)
        session = await self._csrf_session(service, ctx, stale=None)
        response = await self._send_with(session, method, path, body, ctx, headers)
        if response.status == 403 and _csrf_required(response):
            session = await self._csrf_session(service, ctx, stale=session)
            response = await self._send_with(session, method, path, body, ctx, headers)
        return response

    async def _send_with(
        self,
        session: CsrfSession,
        method: str,
        path: str,
        body: Any,
        ctx: CallContext,
        headers: Mapping[str, str] | None,
    ) -> ErpResponse:
        extra = {**(headers or {}), CSRF_HEADER: session.token, "Cookie": session.cookie}
        return await self.send(method, path, ctx, body=body, headers=extra)

    async def _csrf_session(
        self, service: str, ctx: CallContext, stale: CsrfSession | None
    ) -> CsrfSession:
        """The current session, fetched (at `service`) once however many requests need it at
        the same time."""
        current = self._session
        if current is not None and current is not stale:
            return current
        async with self._session_lock:
            current = self._session
            if current is not None and current is not stale:
                return current  # another request fetched it while this one waited
            self._session = await self._fetch_session(service, ctx)
            return self._session

    async def _fetch_session(self, service: str, ctx: CallContext) -> CsrfSession:
        """A token and its session, from a GET of the service document: a HEAD's answer has no
        body, which is where SAP Gateway says why it refuses (a service not activated)."""
        response = await self._transport.request(
            "GET",
            service,
            params=self._client,
            headers={
                "Authorization": self._authorization,
                "Accept": "application/json",
                CSRF_HEADER: CSRF_FETCH,
                **ctx.trace_headers(),
            },
            deadline=ctx.deadline,
        )
        if response.status != 200:
            raise missing_service(response) or technical_error(response.status, write=False)
        token = response.header(CSRF_HEADER)
        cookies = dict(response.cookies) or _set_cookies(response)
        if not token or token.lower() == CSRF_REQUIRED or not cookies:
            raise self._answers.bad_response(
                ctx,
                "no CSRF token and session cookie in the answer",
                write=False,
                detail="The ERP did not hand out a CSRF token.",
            )
        cookie = "; ".join(f"{name}={value}" for name, value in sorted(cookies.items()))
        return CsrfSession(token=token, cookie=cookie)

    def answer(
        self, response: ErpResponse, subject: Subject, ctx: CallContext, *, write: bool
    ) -> Any:
        """The JSON of a 2xx answer, or the refusal it means, raised. A write SAP accepted but
        whose answer is garbled may have committed: that bad response is ambiguous."""
        if 200 <= response.status < 300:
            return self._answers.mapped(ctx, response.json, write=write)
        raise self.refusal(response, subject, ctx, write=write)

    def refusal(
        self, response: ErpResponse, subject: Subject, ctx: CallContext, *, write: bool
    ) -> GatewayError:
        return self._answers.refusal(
            ctx,
            lambda: _refusal(response, subject, self._terms, write=write),
            read=subject is Subject.READ,
        )


def _refusal(
    response: ErpResponse, subject: Subject, terms: SapTerms, *, write: bool
) -> GatewayError:
    if response.status in _BUSINESS_STATUSES:
        return error_from_sap(response.json(), subject, terms)
    missing = missing_service(response)
    if missing is not None:
        return missing
    return technical_error(response.status, write=write, retry_after=response.header("retry-after"))


def _service_root(path: str) -> str:
    """The root of the service an entity path is in (`.../API_BUSINESS_PARTNER/`)."""
    service = path.removeprefix(ODATA_ROOT + "/").split("/", 1)[0]
    return f"{ODATA_ROOT}/{service}/"


def _csrf_required(response: ErpResponse) -> bool:
    return (response.header(CSRF_HEADER) or "").lower() == CSRF_REQUIRED


def _set_cookies(response: ErpResponse) -> dict[str, str]:
    """Cookies from raw Set-Cookie headers, for transports that do not parse them."""
    headers = response.headers
    raw = headers.getall("set-cookie", []) if isinstance(headers, CIMultiDictProxy) else []
    if not raw and (single := response.header("set-cookie")):
        raw = [single]
    cookies: dict[str, str] = {}
    for line in raw:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(line)
        except CookieError:
            continue
        cookies.update({name: morsel.value for name, morsel in jar.items()})
    return cookies
