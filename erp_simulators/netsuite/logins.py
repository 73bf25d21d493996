"""Who a record request comes from: its bearer token or its token-based authentication
signature, checked; and the login audit trail that says why a login was refused.

Not the checks themselves (see `oauth`, `tba`); NetSuite tells the caller only "Invalid login
attempt" and keeps the reason in its Login Audit Trail, and so does this simulator.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from erp_simulators.netsuite.oauth import TokenIssuer
from erp_simulators.netsuite.tba import TbaError, TbaVerifier

AUDIT_SIZE = 200
_DEFAULT_PORTS = {"http": 80, "https": 443}


def request_url(request: Request) -> str:
    """The URL a client signed (RFC 5849 section 3.4.1.2): scheme and host in lower case, the
    port unless it is the scheme's default, and the path as sent, without the query."""
    url = request.url
    scheme = url.scheme.lower()
    host = (url.hostname or "").lower()
    port = url.port
    authority = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else url.path
    return f"{scheme}://{authority}{path.partition('?')[0]}"


def query_pairs(request: Request) -> list[tuple[str, str]]:
    raw = request.scope.get("query_string", b"").decode("latin-1")
    return parse_qsl(raw, keep_blank_values=True)


@dataclass
class Logins:
    """Checks each record request's credentials; remembers recent logins and their outcome."""

    tokens: TokenIssuer
    tba: TbaVerifier
    audit: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=AUDIT_SIZE))

    def record(self, method: str, client_id: str | None, failure: str | None) -> None:
        self.audit.append(
            {
                "time": time.time(),
                "method": method,
                "client_id": client_id,
                "status": "Failure" if failure else "Success",
                "detail": failure,
            }
        )

    def caller(self, request: Request) -> str | None:
        """The client ID (consumer key) of the integration calling, or None (401)."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            holder = self.tokens.holder(credentials.strip())
            if holder is None:
                self.record("OAuth 2.0", None, "Invalid or expired access token.")
            return holder
        if scheme == "oauth":
            try:
                client_id = self.tba.principal(
                    request.method, request_url(request), query_pairs(request), credentials
                )
            except TbaError as refused:
                self.record("Token-based", None, str(refused))
                return None
            return client_id
        self.record("Unknown", None, "No OAuth 2.0 token or TBA signature.")
        return None
