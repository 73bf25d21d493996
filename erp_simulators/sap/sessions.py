"""Logon and CSRF protection as SAP Gateway does them: Basic auth, session cookie, bound token.

Not the services: this only decides whether a request may run and hands out tokens.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from erp_simulators.sap.catalog import CLIENT, SYSTEM_ID

MODIFYING_METHODS = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})
SESSION_COOKIE = f"SAP_SESSIONID_{SYSTEM_ID}_{CLIENT}"
USER_CONTEXT_COOKIE = "sap-usercontext"


@dataclass
class Session:
    session_id: str
    token: str
    user: str
    expires_at: float


class Sessions:
    """Basic-auth logon and the CSRF tokens bound to session cookies; tokens expire with them."""

    def __init__(self, username: str, password: str, ttl_s: float) -> None:
        self._credentials = (username, password)
        self._ttl_s = ttl_s
        self._sessions: dict[str, Session] = {}
        self.fetches = 0  # token fetches answered, for `/_sim/stats`

    def user_of(self, request: Request) -> str | None:
        """The logged-on user, or None when Basic credentials are missing or wrong."""
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected_user, expected_password = self._credentials
        same_user = secrets.compare_digest(user.upper(), expected_user.upper())
        same_password = secrets.compare_digest(password, expected_password)
        return user.upper() if same_user and same_password else None

    def session_of(self, request: Request, user: str) -> Session | None:
        session = self._sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if session is None or session.user != user:
            return None
        if session.expires_at <= time.monotonic():
            del self._sessions[session.session_id]
            return None
        return session

    def fetch(self, request: Request, user: str) -> Session:
        """The request's live session (its token unchanged), or a new one."""
        self.fetches += 1
        session = self.session_of(request, user)
        if session is None:
            session = Session(
                session_id=secrets.token_urlsafe(24),
                token=secrets.token_urlsafe(18),
                user=user,
                expires_at=time.monotonic() + self._ttl_s,
            )
            self._sessions[session.session_id] = session
        return session

    def token_valid(self, request: Request, user: str) -> bool:
        session = self.session_of(request, user)
        sent = request.headers.get("x-csrf-token", "")
        return session is not None and secrets.compare_digest(sent, session.token)

    def reset(self) -> None:
        self.expire_all()
        self.fetches = 0

    def expire_all(self) -> int:
        expired = len(self._sessions)
        self._sessions.clear()
        return expired


def with_token(response: Response, session: Session) -> Response:
    response.headers["x-csrf-token"] = session.token
    response.set_cookie(SESSION_COOKIE, session.session_id, path="/", httponly=True)
    response.set_cookie(USER_CONTEXT_COOKIE, f"sap-client={CLIENT}", path="/")
    return response


def logon_required() -> Response:
    return Response(
        b"Logon failed",
        401,
        {"WWW-Authenticate": 'Basic realm="SAP"'},
        media_type="text/plain",
    )


def token_required() -> Response:
    return Response(
        b"CSRF token validation failed",
        403,
        {"x-csrf-token": "Required"},
        media_type="text/plain",
    )
