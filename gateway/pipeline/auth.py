"""Authentication step: verifies the bearer JWT against the issuers of `policies/auth.yaml`.

Not authorization (see `entitlements.py`): it says who the caller is, not what it may do.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response

from gateway.domain.errors import Code, GatewayError
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import Principal, RequestContext
from gateway.pipeline.keys import JwksKeys, KeySource, StaticKey


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class IssuerConfig(_Model):
    """One trusted token issuer (`policies/auth.yaml`, `issuers:` list)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    issuer: Annotated[str, Field(min_length=1)]
    audiences: Annotated[list[str], Field(min_length=1)]
    algorithms: Annotated[list[str], Field(min_length=1)]
    jwks_url: str | None = None
    public_key_file: str | None = None
    secret_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    leeway_s: Annotated[int, Field(ge=0, le=60)] = 30
    client_claim: Literal["azp", "client_id", "sub"] = "azp"
    demo: bool = False  # `gateway token` mints for it; `serve` trusts it only if its secret is set

    @model_validator(mode="after")
    def _one_key_source_matching_algorithms(self) -> IssuerConfig:
        sources = [s for s in (self.jwks_url, self.public_key_file, self.secret_env) if s]
        if len(sources) != 1:
            raise ValueError("exactly one of jwks_url, public_key_file, secret_env is required")
        algs = set(self.algorithms)
        unknown = algs - HMAC_ALGORITHMS - ASYMMETRIC_ALGORITHMS
        if unknown:
            raise ValueError(f"unsupported algorithms: {sorted(unknown)} ('none' is never allowed)")
        if algs & HMAC_ALGORITHMS and algs & ASYMMETRIC_ALGORITHMS:
            raise ValueError("an issuer may not accept both HMAC and RSA/EC algorithms")
        if self.secret_env and not algs <= HMAC_ALGORITHMS:
            raise ValueError("secret_env goes with HMAC algorithms only")
        if not self.secret_env and algs & HMAC_ALGORITHMS:
            raise ValueError("HMAC algorithms need secret_env")
        return self


class AuthPolicy(_Model):
    """`policies/auth.yaml`."""

    issuers: Annotated[list[IssuerConfig], Field(min_length=1)]


# -- behaviour -----------------------------------------------------------------------------

MAX_TOKEN_BYTES = 8192
_CACHE_SIZE = 10_000
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
_INVALID = "The access token is missing, malformed, expired or not issued for this gateway."


def _invalid_token() -> GatewayError:
    # One generic detail for every invalid token: no response reveals which check failed.
    return GatewayError(
        Code.UNAUTHORIZED,
        _INVALID,
        headers={"WWW-Authenticate": 'Bearer realm="gateway", error="invalid_token"'},
    )


def _no_credentials() -> GatewayError:
    return GatewayError(
        Code.UNAUTHORIZED,
        "This API needs a bearer token: send `Authorization: Bearer <token>`.",
        headers={"WWW-Authenticate": 'Bearer realm="gateway"'},
    )


@dataclass(frozen=True)
class IssuerVerifier:
    """One issuer's compiled verification: its key source and the checks PyJWT must make."""

    config: IssuerConfig
    keys: KeySource

    async def principal(self, token: str, kid: str | None) -> tuple[Principal, float]:
        """The verified caller and the token's expiry (epoch seconds); raises on any failure."""
        cfg = self.config
        key = await self.keys.key_for(kid)
        if key is None:
            raise jwt.InvalidTokenError("no key for kid")
        claims = jwt.decode(
            token,
            key,
            algorithms=list(cfg.algorithms),
            audience=list(cfg.audiences),
            issuer=cfg.issuer,
            leeway=cfg.leeway_s,
            options={"require": _REQUIRED_CLAIMS, "verify_signature": True},
        )
        client_id = claims.get(cfg.client_claim)
        if not isinstance(client_id, str) or not client_id:
            raise jwt.InvalidTokenError("no client claim")
        raw_scopes = claims.get("scope", claims.get("scp", ""))
        scopes = raw_scopes.split() if isinstance(raw_scopes, str) else list(raw_scopes)
        principal = Principal(client_id, str(claims["sub"]), cfg.issuer, frozenset(scopes))
        return principal, float(claims["exp"])


def key_source(config: IssuerConfig, base_dir: Path, env: Mapping[str, str]) -> KeySource | None:
    """Where an issuer's keys come from, or None when its secret is not configured."""
    if config.secret_env:
        secret = env.get(config.secret_env)
        return StaticKey(secret.encode("utf-8")) if secret else None
    if config.public_key_file:
        path = Path(config.public_key_file)
        pem = (path if path.is_absolute() else base_dir / path).read_bytes()
        return StaticKey(load_pem_public_key(pem))
    assert config.jwks_url is not None  # the model requires exactly one key source
    return JwksKeys(config.jwks_url)


class Authenticator:
    """Verifies bearer tokens against the configured issuers, with a cache of verified tokens.

    A verified token is cached by its SHA-256 until its `exp`, so the hot path does not check
    signatures on every request; the cache is bounded.
    """

    def __init__(self, verifiers: Mapping[str, IssuerVerifier]) -> None:
        self._by_issuer = dict(verifiers)
        self._cache: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    @property
    def issuers(self) -> list[str]:
        return list(self._by_issuer)

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise _no_credentials()
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _no_credentials()
        if len(token) > MAX_TOKEN_BYTES:
            raise _invalid_token()
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > time.time():
            self._cache.move_to_end(digest)
            return cached[0]
        principal, expires = await self._verify(token)
        self._cache[digest] = (principal, expires)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
            if "crit" in header:  # we understand no critical extensions (RFC 7515 4.1.11)
                raise jwt.InvalidTokenError("crit")
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
            verifier = self._by_issuer.get(issuer) if isinstance(issuer, str) else None
            if verifier is None or header.get("alg") not in verifier.config.algorithms:
                raise jwt.InvalidTokenError("issuer or algorithm")
            kid = header.get("kid")
            return await verifier.principal(token, kid if isinstance(kid, str) else None)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise _invalid_token() from exc


def build_authenticator(
    policy: AuthPolicy, base_dir: Path, env: Mapping[str, str]
) -> Authenticator:
    """Verifiers for every issuer whose key is available (the demo issuer only with its secret)."""
    verifiers: dict[str, IssuerVerifier] = {}
    for issuer in policy.issuers:
        source = key_source(issuer, base_dir, env)
        if source is not None:
            verifiers[issuer.issuer] = IssuerVerifier(issuer, source)
    return Authenticator(verifiers)


class Authenticate:
    """Pipeline step: sets `ctx.principal` or answers 401."""

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        authorization = ctx.request.headers.get("authorization")
        ctx.principal = await ctx.runtime.authenticator.authenticate(authorization)
        return await call_next(ctx)
