"""The cloud ERP's OAuth 2.0 client-credentials grant: issuing and checking bearer tokens.

Not the HTTP endpoint (see `app`); only which client may have a token and which tokens are live.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

GRANT_TYPE = "client_credentials"


@dataclass
class TokenError(Exception):
    """An RFC 6749 error answer: `{"error": code}` with its HTTP status."""

    status: int
    code: str
    description: str

    def __post_init__(self) -> None:
        super().__init__(self.description)


@dataclass
class TokenIssuer:
    client_id: str
    client_secret: str
    ttl_s: int
    issued: int = 0
    _live: dict[str, float] = field(default_factory=dict)  # token -> monotonic expiry

    def issue(self, authorization: str | None, form_body: bytes) -> dict[str, str]:
        """The token answer for a token request, or a `TokenError`."""
        form = {k: v[0] for k, v in parse_qs(form_body.decode("latin-1")).items()}
        if form.get("grant_type") != GRANT_TYPE:
            raise TokenError(400, "unsupported_grant_type", "Only client_credentials is granted.")
        client_id, client_secret = _client_credentials(authorization, form)
        if not (
            hmac.compare_digest(client_id.encode(), self.client_id.encode())
            and hmac.compare_digest(client_secret.encode(), self.client_secret.encode())
        ):
            raise TokenError(401, "invalid_client", "Client authentication failed.")
        now = time.monotonic()
        # Forget tokens that have expired, so a long benchmark does not grow the table.
        self._live = {t: end for t, end in self._live.items() if end > now}
        token = secrets.token_urlsafe(32)
        self._live[token] = now + self.ttl_s
        self.issued += 1
        # NetSuite writes `expires_in` as a string.
        return {"access_token": token, "token_type": "Bearer", "expires_in": str(self.ttl_s)}

    def is_live(self, token: str) -> bool:
        end = self._live.get(token)
        return end is not None and end > time.monotonic()

    def expire_all(self) -> int:
        count = len(self._live)
        self._live.clear()
        return count

    def live_count(self) -> int:
        now = time.monotonic()
        return sum(1 for end in self._live.values() if end > now)


def _client_credentials(authorization: str | None, form: dict[str, str]) -> tuple[str, str]:
    """Client id and secret from HTTP Basic (RFC 6749 2.3.1) or, failing that, form fields."""
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TokenError(401, "invalid_client", "Unreadable Basic credentials.") from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise TokenError(401, "invalid_client", "Unreadable Basic credentials.")
        return client_id, secret
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    raise TokenError(401, "invalid_client", "Client authentication is required.")
