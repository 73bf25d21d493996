"""The cloud ERP's OAuth 2.0 client-credentials grant as NetSuite has it: a JWT client assertion
signed with the private key of a certificate mapped to the integration, never a client secret;
and the bearer tokens it issues.

Not token-based authentication (see `tba`) nor the HTTP endpoint (see `app`).

What a token request must be (NetSuite's "OAuth 2.0 Client Credentials Flow"): a form POST with
`grant_type=client_credentials`, `client_assertion_type=urn:ietf:params:oauth:client-assertion-
type:jwt-bearer` and `client_assertion`, a JWT whose header names the certificate ID in `kid` and
an allowed algorithm (RSA-PSS or ECDSA: PS256/384/512, ES256/384/512; NetSuite no longer takes
RSA PKCS#1 v1.5, RS256), and whose claims are `iss` (the integration's client ID), `scope`
(`restlets`, `rest_webservices`, `suite_analytics`: a list, or one comma-separated string),
`aud` (the token endpoint's URL), `iat` and `exp` (at most an hour after `iat`). The answer is
`{"access_token", "token_type": "Bearer", "expires_in": "3600"}`; no refresh token.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import jwt

from erp_simulators.netsuite.integrations import REST_WEB_SERVICES, Integration, Integrations

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
MAX_ASSERTION_LIFETIME_S = 3600
CLOCK_SKEW_S = 60
MAX_ASSERTION_BYTES = 16 * 1024


@dataclass
class TokenError(Exception):
    """An RFC 6749 error answer: `{"error": code}` with its HTTP status."""

    status: int
    code: str
    description: str

    def __post_init__(self) -> None:
        super().__init__(self.description)


def _refused(description: str) -> TokenError:
    # RFC 7521 section 4.2: a client assertion that fails is an invalid_client.
    return TokenError(400, "invalid_client", description)


@dataclass(frozen=True)
class IssuedToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float  # monotonic


@dataclass
class TokenIssuer:
    integrations: Integrations
    ttl_s: int
    issued: int = 0
    _live: dict[str, IssuedToken] = field(default_factory=dict)

    def issue(self, authorization: str | None, form_body: bytes, token_url: str) -> dict[str, str]:
        """The token answer for a token request to `token_url`, or a `TokenError`."""
        form = {k: v[0] for k, v in parse_qs(form_body.decode("latin-1")).items()}
        if form.get("grant_type") != GRANT_TYPE:
            raise TokenError(400, "unsupported_grant_type", "Only client_credentials is granted.")
        if authorization or "client_secret" in form:
            raise TokenError(
                401,
                "invalid_client",
                "NetSuite's client credentials flow takes no client secret: send a "
                "client_assertion signed with the private key of a mapped certificate.",
            )
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError(
                400, "invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}."
            )
        assertion = form.get("client_assertion", "")
        if not assertion or len(assertion) > MAX_ASSERTION_BYTES:
            raise TokenError(400, "invalid_request", "A client_assertion is required.")
        integration, scopes = self._verified(assertion, token_url)
        return self._token(integration, scopes)

    def _verified(self, assertion: str, token_url: str) -> tuple[Integration, frozenset[str]]:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.DecodeError:
            raise _refused("The client assertion is not a JWT.") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            raise _refused(
                f"Algorithm {algorithm} is not allowed: use one of {', '.join(ALGORITHMS)}."
            )
        mapped = self.integrations.certificates.get(kid) if isinstance(kid, str) else None
        if mapped is None:
            raise _refused(f"Certificate ID {kid} is not mapped to any integration (kid).")
        integration, key = mapped
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[algorithm],
                audience=token_url,
                issuer=integration.client_id,
                leeway=CLOCK_SKEW_S,
                options={"require": ["iss", "scope", "aud", "iat", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise _refused("The client assertion has expired (exp).") from None
        except jwt.InvalidSignatureError:
            raise _refused("The client assertion's signature does not verify.") from None
        except jwt.InvalidAudienceError:
            raise _refused(f"The client assertion's aud must be {token_url}.") from None
        except jwt.InvalidIssuerError:
            raise _refused(
                "The client assertion's iss is not the certificate's client ID."
            ) from None
        except jwt.PyJWTError as error:
            raise _refused(f"The client assertion is invalid: {error}.") from None
        issued_at, expires = claims["iat"], claims["exp"]
        if not (isinstance(issued_at, int | float) and isinstance(expires, int | float)):
            raise _refused("iat and exp must be numbers.")
        if not 0 < expires - issued_at <= MAX_ASSERTION_LIFETIME_S:
            raise _refused("exp must be after iat, and at most an hour after it.")
        return integration, _scopes(claims["scope"], integration)

    def _token(self, integration: Integration, scopes: frozenset[str]) -> dict[str, str]:
        now = time.monotonic()
        # Forget tokens that have expired, so a long benchmark does not grow the table.
        self._live = {t: i for t, i in self._live.items() if i.expires_at > now}
        token = secrets.token_urlsafe(32)
        self._live[token] = IssuedToken(integration.client_id, scopes, now + self.ttl_s)
        self.issued += 1
        # NetSuite writes `expires_in` as a string.
        return {"access_token": token, "token_type": "Bearer", "expires_in": str(self.ttl_s)}

    def holder(self, token: str) -> str | None:
        """The client ID a live token was issued to, if it may call REST web services."""
        issued = self._live.get(token)
        if issued is None or issued.expires_at <= time.monotonic():
            return None
        return issued.client_id if REST_WEB_SERVICES in issued.scopes else None

    def expire_all(self) -> int:
        count = len(self._live)
        self._live.clear()
        return count

    def live_count(self) -> int:
        now = time.monotonic()
        return sum(1 for issued in self._live.values() if issued.expires_at > now)


def _scopes(raw: object, integration: Integration) -> frozenset[str]:
    if isinstance(raw, str):
        names = [s.strip() for s in raw.replace(" ", ",").split(",")]
    elif isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        names = [s.strip() for s in raw]
    else:
        raise TokenError(400, "invalid_scope", "scope must be a list or a comma-separated string.")
    scopes = frozenset(n for n in names if n)
    if not scopes or not scopes <= integration.scopes:
        allowed = ", ".join(sorted(integration.scopes))
        raise TokenError(400, "invalid_scope", f"The integration's scopes are {allowed}.")
    return scopes
