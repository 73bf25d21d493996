"""Authentication step: verifies the bearer JWT against the issuers of `policies/auth.yaml`.

Not authorization (see `entitlements.py`): it says who the caller is, not what it may do. Not the
policy file's schema (see `gateway.config.auth`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from starlette.datastructures import Headers
from starlette.responses import Response

from gateway.config.auth import DEFAULT_TOKEN_TYPES, AuthPolicy, IssuerConfig, media_type
from gateway.config.issues import AUTH_FILE, ConfigError, ConfigIssue
from gateway.config.lint import issue_at, issuer_key_file_at
from gateway.config.public_keys import public_key_in
from gateway.domain.errors import Code, GatewayError
from gateway.observability.metrics import AUTH_FAILURES_BY, AUTH_FAILURES_LIMITED
from gateway.pipeline.auth_failures import AuthFailureLimit, AuthFailuresLimited
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import Principal, RequestContext
from gateway.pipeline.keys import JwksKeys, KeySource, StaticKey
from gateway.pipeline.token_verdicts import (
    MAX_REFUSED_TOKENS,
    MAX_VERIFIED_TOKENS,
    REFUSAL_TTL_S,
    TokenVerdicts,
    token_digest,
)

MAX_TOKEN_BYTES = 8192
# The demo issuer's dev-only secret. Published in this repository, so only `gateway demo` trusts
# it: anyone could mint tokens with it.
DEV_DEMO_SECRET = "INSECURE-dev-only-demo-secret-published-in-the-repo"
# RFC 7518 3.2: an HMAC key at least as long as the hash's output, or it can be guessed.
MIN_HMAC_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
_DATE_CLAIMS = ("exp", "iat", "nbf")
_JSON_NUMBERS = (int, float)  # by exact type: a bool is an int to isinstance
_INVALID = "The access token is missing, malformed, expired or not issued for this gateway."


class AuthFailure(StrEnum):
    """Why a request's credentials were refused: the `reason` label of
    `gateway_auth_failures_total`, a closed list (never the token, a secret, nor the client or
    issuer it names, which anyone sending tokens can vary without end). No response says it."""

    MISSING = "missing"  # no Authorization header, or an empty one
    MALFORMED = "malformed"  # not one bearer token, oversized, or not a JWT
    UNKNOWN_ISSUER = "unknown_issuer"  # an `iss` no issuer of policies/auth.yaml has
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"  # `alg` off the issuer's list (none...)
    UNKNOWN_KEY = "unknown_key"  # no key of the issuer's for the token's `kid`
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"  # `nbf` or `iat` in the future, beyond the leeway
    WRONG_AUDIENCE = "wrong_audience"
    INVALID_CLAIMS = "invalid_claims"  # a required claim missing, `typ` or `crit` refused...
    TOO_LONG_LIVED = "too_long_lived"  # issued for longer than the issuer's `max_lifetime_s`
    UNKNOWN_CLIENT = "unknown_client"  # a valid token for no client of clients.yaml (403)


# Every reason shows from the first scrape, at 0: an alert on its rate has a series to read.
for _reason in AuthFailure:
    AUTH_FAILURES_BY.labels(_reason)

# PyJWT's refusals by the reason they show, the most specific first (a bad signature is a
# DecodeError too). Any other PyJWT refusal is a claim it judged invalid.
_JWT_REASONS: tuple[tuple[type[Exception], AuthFailure], ...] = (
    (jwt.ExpiredSignatureError, AuthFailure.EXPIRED),
    (jwt.ImmatureSignatureError, AuthFailure.NOT_YET_VALID),
    (jwt.InvalidAudienceError, AuthFailure.WRONG_AUDIENCE),
    (jwt.InvalidAlgorithmError, AuthFailure.ALGORITHM_NOT_ALLOWED),
    (jwt.InvalidSignatureError, AuthFailure.BAD_SIGNATURE),
    (jwt.DecodeError, AuthFailure.MALFORMED),
    (jwt.InvalidTokenError, AuthFailure.INVALID_CLAIMS),
)


@dataclass
class Unauthenticated(GatewayError):
    """A 401: the request's credentials refused, for `reason` (counted, never answered)."""

    reason: AuthFailure = AuthFailure.MALFORMED


def _reason_of(exc: Exception) -> AuthFailure:
    for kind, reason in _JWT_REASONS:
        if isinstance(exc, kind):
            return reason
    return AuthFailure.MALFORMED  # a header or payload PyJWT could not even read


def _invalid_token(reason: AuthFailure) -> Unauthenticated:
    # One generic detail for every invalid token: no response reveals which check failed.
    return Unauthenticated(
        Code.UNAUTHORIZED,
        _INVALID,
        headers={"WWW-Authenticate": 'Bearer realm="gateway", error="invalid_token"'},
        reason=reason,
    )


_SAID_IN_SECONDS = 300 * 365 * 86_400  # 300 years: below 2**53, so shown exactly


def _too_long_lived(lifetime: float, cap_s: int) -> Unauthenticated:
    # Unlike the generic detail, this one says why: only a token whose signature and every
    # other claim verified gets here, so it tells nothing to anyone but a holder of a genuine
    # token, whose developer needs to know to ask the issuer for shorter ones.
    # Seconds as a whole number while a float holds them exactly; a token signed to last past
    # any calendar gets words, not a 300-digit (or rounded) number.
    shown = f"{math.ceil(lifetime)} s" if lifetime < _SAID_IN_SECONDS else "over 300 years"
    return Unauthenticated(
        Code.UNAUTHORIZED,
        f"The token's lifetime, {shown}, is longer than the issuer allows ({cap_s} s).",
        headers={"WWW-Authenticate": 'Bearer realm="gateway", error="invalid_token"'},
        reason=AuthFailure.TOO_LONG_LIVED,
    )


def lifetime_s(claims: Mapping[str, Any], now: float) -> float:
    """How long a token was issued for: `exp` - `iat`, which no age hides (a token issued for
    ten years is a ten-year credential on its last day); without `iat` (every token verified
    here has one: it is required), the most it is known to last, `exp` - `now`."""
    issued = claims.get("iat")
    return float(claims["exp"]) - (now if issued is None else float(issued))


def authorization_of(raw_headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The request's one Authorization header, from its ASGI headers (names lower-case); 401
    when it sends more than one (a gateway that picked one of them would judge a different
    credential than a server behind it might)."""
    authorization: bytes | None = None
    for name, value in raw_headers:
        if name == b"authorization":
            if authorization is not None:
                raise Unauthenticated(
                    Code.UNAUTHORIZED,
                    "The request has more than one Authorization header; send exactly one.",
                    headers={"WWW-Authenticate": 'Bearer realm="gateway", error="invalid_request"'},
                    reason=AuthFailure.MALFORMED,
                )
            authorization = value
    return None if authorization is None else authorization.decode("latin-1")


def _no_credentials(reason: AuthFailure) -> Unauthenticated:
    return Unauthenticated(
        Code.UNAUTHORIZED,
        "This API needs a bearer token: send `Authorization: Bearer <token>`.",
        headers={"WWW-Authenticate": 'Bearer realm="gateway"'},
        reason=reason,
    )


def token_scopes(claims: Mapping[str, object]) -> frozenset[str] | None:
    """The scopes a token names (`scope`, else `scp`: a space-separated string or a list of
    strings), or None when it carries neither claim. A present claim, even an empty one, is
    what the token grants: reading an empty claim as "no claim" would give it every scope of
    its client."""
    name = "scope" if "scope" in claims else "scp"
    if name not in claims:
        return None
    raw = claims[name]
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list) and all(isinstance(scope, str) for scope in raw):
        return frozenset(raw)
    raise jwt.InvalidTokenError(f"{name} is neither a string nor a list of strings")


def accepted_types(config: IssuerConfig) -> frozenset[str | None]:
    """The media types an issuer's tokens may name in `typ`; None when one may name none."""
    if config.token_types is not None:
        return frozenset(media_type(typ) for typ in config.token_types)
    return frozenset({None, *(media_type(typ) for typ in DEFAULT_TOKEN_TYPES)})


@dataclass(frozen=True)
class IssuerVerifier:
    """One issuer's compiled verification: its key source and the checks PyJWT must make."""

    config: IssuerConfig
    keys: KeySource
    types: frozenset[str | None] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", accepted_types(self.config))

    def typed_for_access(self, header: Mapping[str, object]) -> bool:
        """Whether the token's `typ` is one this issuer's access tokens carry (RFC 8725 3.11):
        a token typed for another use (`secevent+jwt`, `dpop+jwt`...) is no access token."""
        if "typ" not in header:
            return None in self.types
        typ = header["typ"]
        return isinstance(typ, str) and media_type(typ) in self.types

    async def principal(
        self, token: str, kid: str | None, algorithm: str
    ) -> tuple[Principal, float]:
        """The verified caller and the token's expiry (epoch seconds); raises on any failure."""
        cfg = self.config
        key = await self.keys.key_for(kid, algorithm)
        if key is None:
            raise _invalid_token(AuthFailure.UNKNOWN_KEY)
        claims = jwt.decode(
            token,
            key,
            algorithms=list(cfg.algorithms),
            audience=list(cfg.audiences),
            issuer=cfg.issuer,
            leeway=cfg.leeway_s,
            options={"require": _REQUIRED_CLAIMS, "verify_signature": True},
        )
        # RFC 7519 2: a NumericDate is a JSON number. PyJWT reads dates with int(), so it takes
        # "1796000000" (and true, as 1); no other JWT library does, and neither does the gateway.
        if not all(type(claims[c]) in _JSON_NUMBERS for c in _DATE_CLAIMS if c in claims):
            raise _invalid_token(AuthFailure.INVALID_CLAIMS)
        try:
            expires = float(claims["exp"])
            float(claims["iat"])
        except OverflowError:
            # PyJWT takes any JSON integer as a date; one no float holds (10**400) is no time
            # a token could mean, and would fail every use of it below.
            raise _invalid_token(AuthFailure.INVALID_CLAIMS) from None
        # Here, where a token is verified before the authenticator caches it: a refused token
        # is never cached as verified, and a cached one was within the cap.
        if cfg.max_lifetime_s is not None:
            lifetime = lifetime_s(claims, time.time())
            # The leeway, as on `exp`: an issuer may backdate `iat` a little for clock skew.
            if lifetime > cfg.max_lifetime_s + cfg.leeway_s:
                raise _too_long_lived(lifetime, cfg.max_lifetime_s)
        client_id = claims.get(cfg.client_claim)
        if not isinstance(client_id, str) or not client_id:
            raise _invalid_token(AuthFailure.INVALID_CLAIMS)
        principal = Principal(client_id, str(claims["sub"]), cfg.issuer, token_scopes(claims))
        return principal, expires


def _unsafe_secret(config: IssuerConfig, secret: bytes, trust_dev_secret: bool) -> str | None:
    """Why anyone could mint tokens with this HMAC secret and what to do, or None."""
    variable = config.secret_env
    if secret == DEV_DEMO_SECRET.encode("utf-8") and not trust_dev_secret:
        return (
            f"issuer {config.name}: {variable} holds the dev-only demo secret published in this "
            "repository; set a secret of your own (`openssl rand -hex 32`), or unset it to turn "
            "the issuer off"
        )
    needed = max(MIN_HMAC_SECRET_BYTES[alg] for alg in config.algorithms)
    if len(secret) < needed:
        return (
            f"issuer {config.name}: {variable} is {len(secret)} bytes, but "
            f"{', '.join(config.algorithms)} needs at least {needed} (RFC 7518 3.2); set a "
            f"longer one (`openssl rand -hex {needed}`)"
        )
    return None


def key_source(
    config: IssuerConfig,
    index: int,
    base_dir: Path,
    env: Mapping[str, str],
    trust_dev_secret: bool = False,
) -> KeySource | None:
    """Where an issuer's keys come from, or None when its secret is not configured.

    An HMAC secret anyone could know (the published dev secret, unless `trust_dev_secret`: only
    `gateway demo` says so) or guess (shorter than its hash) is a `ConfigError`, never trusted;
    so is a public key file without a key that verifies every algorithm of the issuer, said at
    the line of policies/auth.yaml (in `base_dir`) where its `index`th issuer names it.
    """
    if config.secret_env:
        value = env.get(config.secret_env)
        if not value:
            return None
        secret = value.encode("utf-8")
        unsafe = _unsafe_secret(config, secret, trust_dev_secret)
        if unsafe is not None:
            raise ConfigError([ConfigIssue(AUTH_FILE, None, unsafe)])
        return StaticKey(secret)
    if config.public_key_file:
        try:  # `gateway check` said so at its line; the file may have changed since
            held = public_key_in(base_dir / config.public_key_file, config.algorithms)
            return StaticKey(held.key)
        except ValueError as exc:
            unusable = f"issuer {config.name}: public key file {config.public_key_file!r} {exc}"
            at = issuer_key_file_at(index)
            raise ConfigError([issue_at(base_dir, AUTH_FILE, at, unusable)]) from None
    assert config.jwks_url is not None  # the model requires exactly one key source
    return JwksKeys(config.jwks_url, config.algorithms)


def _bearer_token(authorization: str | None) -> str:
    """The token of an Authorization header's value; `Unauthenticated` when it carries none
    (missing, another scheme, empty, longer than MAX_TOKEN_BYTES)."""
    if not authorization:
        raise _no_credentials(AuthFailure.MISSING)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _no_credentials(AuthFailure.MALFORMED)
    if len(token) > MAX_TOKEN_BYTES:
        raise _invalid_token(AuthFailure.MALFORMED)
    return token


def _unraised(refusal: Unauthenticated) -> Unauthenticated:
    """A fresh copy of `refusal`: what is held and raised again is never an exception that was
    raised (its traceback would keep a request's frames alive), nor one a step may change."""
    return Unauthenticated(
        refusal.code, refusal.detail, headers=dict(refusal.headers), reason=refusal.reason
    )


class Authenticator:
    """Verifies bearer tokens against the configured issuers, with a cache of verified tokens
    and one of refused tokens.

    A verified token is held by its SHA-256 until its `exp` (`verified`), so the hot path does
    not check signatures on every request; a refused one a few seconds (`refused`), so neither
    does a client stuck on a bad token, nor the second look at an unversioned path's token.
    Both are bounded (see `TokenVerdicts`), and both belong to this configuration's
    authenticator: a reload starts them empty.
    """

    def __init__(
        self, verifiers: Mapping[str, IssuerVerifier], limit: AuthFailureLimit | None = None
    ) -> None:
        self._by_issuer = dict(verifiers)
        self.verified: TokenVerdicts[Principal] = TokenVerdicts(MAX_VERIFIED_TOKENS)
        self.refused: TokenVerdicts[Unauthenticated] = TokenVerdicts(MAX_REFUSED_TOKENS)
        self._limit = limit

    @property
    def issuers(self) -> list[str]:
        return list(self._by_issuer)

    async def authenticate_request(
        self, headers: Headers, scope: Mapping[str, Any] | None = None
    ) -> Principal:
        """The caller of a request the gateway answers; each refusal counted in
        `gateway_auth_failures_total` by its reason, and against the address of the request
        whose ASGI `scope` this is (see `authenticate`); each 429 of a limited address in
        `gateway_auth_failures_limited_total`. (The versioning step's look at the
        same token for a pinned version calls `authenticate` and counts nothing: one refused
        request, one count.)"""
        try:
            return await self.authenticate(self._authorization(headers, scope), scope)
        except Unauthenticated as refused:
            AUTH_FAILURES_BY.labels(refused.reason).inc()
            if self._limit is not None:
                self._limit.failed(scope)
            raise
        except AuthFailuresLimited:
            AUTH_FAILURES_LIMITED.inc()
            raise

    async def authenticate(
        self, authorization: str | None, scope: Mapping[str, Any] | None = None
    ) -> Principal:
        """The verified caller of an Authorization header's value; `Unauthenticated` (401)
        otherwise. With the request's ASGI `scope`, an address over its authentication
        failures (`auth_failures:`) is refused 429 before anything of the token is checked,
        but for a token already verified: it costs no check, cannot be a guess, and keeps
        the other clients behind a shared address (a NAT, a proxy) working."""
        try:
            token = _bearer_token(authorization)
        except Unauthenticated:
            self._check(scope)
            raise
        digest = token_digest(token)
        verified = self.verified.get(digest)
        if verified is not None:
            return verified
        self._check(scope)
        refused = self.refused.get(digest)
        if refused is not None:
            raise _unraised(refused)
        try:
            principal, expires = await self._verify(token)
        except Unauthenticated as refusal:
            self._remember(digest, token, refusal)
            raise
        self.verified.hold(digest, principal, expires)
        return principal

    def verified_caller(self, raw_headers: Iterable[tuple[bytes, bytes]]) -> Principal | None:
        """The caller of a request whose one bearer token is verified already, as
        `authenticate_request` answers it, without a coroutine; None for anything else (no
        token, two headers, a token not held as verified), which that call judges and counts.
        `raw_headers` are the request's ASGI headers (names lower-case)."""
        try:
            token = _bearer_token(authorization_of(raw_headers))
        except Unauthenticated:
            return None
        return self.verified.get(token_digest(token))

    def _authorization(self, headers: Headers, scope: Mapping[str, Any] | None) -> str | None:
        """`authorization_of`, but an address over its failures gets its 429 before the 401 of
        a request with two headers, as before that of any other refused header."""
        try:
            return authorization_of(headers.raw)
        except Unauthenticated:
            self._check(scope)
            raise

    def _check(self, scope: Mapping[str, Any] | None) -> None:
        """The 429 of an address over its authentication failures (see `authenticate`)."""
        if self._limit is not None and scope is not None:
            self._limit.check(scope)

    def _remember(self, digest: bytes, token: str, refusal: Unauthenticated) -> None:
        """Hold a token's refusal `REFUSAL_TTL_S`, but for an unknown key, which the JWKS may
        have by the next request (its refetch for unknown kids, once per cooldown, is how a
        rotated key is found), and a token not valid yet past when it will be."""
        if refusal.reason is AuthFailure.UNKNOWN_KEY:
            return
        until = self.refused.clock() + REFUSAL_TTL_S
        if refusal.reason is AuthFailure.NOT_YET_VALID:
            valid_from = self._valid_from(token)
            if valid_from is None:
                return
            until = min(until, valid_from)
        self.refused.hold(digest, _unraised(refusal), until)

    def _valid_from(self, token: str) -> float | None:
        """When a token refused as not valid yet will be: its `nbf` and `iat` are no longer
        ahead of the clock by more than its issuer's leeway (PyJWT's test). None when that
        cannot be told (its issuer gone, the claims not numbers)."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            ahead = [int(claims[name]) for name in ("nbf", "iat") if name in claims]
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
            return None
        verifier = self._verifier_of(claims)
        if verifier is None or not ahead:
            return None
        return float(max(ahead) - verifier.config.leeway_s)

    def _verifier_of(self, claims: Mapping[str, Any]) -> IssuerVerifier | None:
        """The verifier of the issuer a token's (unverified) `iss` names, if it is trusted."""
        issuer = claims.get("iss")
        return self._by_issuer.get(issuer) if isinstance(issuer, str) else None

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
            if "crit" in header:  # we understand no critical extensions (RFC 7515 4.1.11)
                raise _invalid_token(AuthFailure.INVALID_CLAIMS)
            verifier = self._verifier_of(jwt.decode(token, options={"verify_signature": False}))
            if verifier is None:
                raise _invalid_token(AuthFailure.UNKNOWN_ISSUER)
            algorithm = header.get("alg")
            if algorithm not in verifier.config.algorithms:
                raise _invalid_token(AuthFailure.ALGORITHM_NOT_ALLOWED)
            if not verifier.typed_for_access(header):
                raise _invalid_token(AuthFailure.INVALID_CLAIMS)
            kid = header.get("kid")
            return await verifier.principal(token, kid if isinstance(kid, str) else None, algorithm)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise _invalid_token(_reason_of(exc)) from exc


def build_authenticator(
    policy: AuthPolicy,
    base_dir: Path,
    env: Mapping[str, str],
    trust_dev_secret: bool = False,
    limit: AuthFailureLimit | None = None,
) -> Authenticator:
    """Verifiers for every issuer whose key is available (the demo issuer only with its secret),
    and the `limit` on each address's failures, if any; `ConfigError` when an HMAC secret is
    unsafe or a key file unusable (see `key_source`)."""
    verifiers: dict[str, IssuerVerifier] = {}
    for index, issuer in enumerate(policy.issuers):
        source = key_source(issuer, index, base_dir, env, trust_dev_secret)
        if source is not None:
            verifiers[issuer.issuer] = IssuerVerifier(issuer, source)
    return Authenticator(verifiers, limit)


class Authenticate:
    """Pipeline step: sets `ctx.principal` (unless the versioning step, looking up an
    unversioned path's pin, has) or answers 401."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    def __call__(self, ctx: RequestContext, call_next: Handler) -> Awaitable[Response]:
        if ctx.principal is not None:  # verified by the versioning step's pin lookup
            return call_next(ctx)
        request = ctx.request
        # A token verified already (nearly every request) is no work to wait for, and there is
        # nothing to do on the way out (see `Step`).
        principal = self._authenticator.verified_caller(request.scope["headers"])
        if principal is None:
            return self._authenticated(ctx, call_next)
        ctx.principal = principal
        return call_next(ctx)

    async def _authenticated(self, ctx: RequestContext, call_next: Handler) -> Response:
        request = ctx.request
        ctx.principal = await self._authenticator.authenticate_request(
            request.headers, request.scope
        )
        return await call_next(ctx)
