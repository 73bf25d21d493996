"""The schema of `policies/auth.yaml`: the token issuers the gateway trusts.

Not token verification (see `gateway.pipeline.auth`); only what the security team writes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from gateway.config.base import ConfigModel, EnvName

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class IssuerConfig(ConfigModel):
    """One trusted token issuer (`policies/auth.yaml`, `issuers:` list)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    issuer: Annotated[str, Field(min_length=1)]
    audiences: Annotated[list[str], Field(min_length=1)]
    algorithms: Annotated[list[str], Field(min_length=1)]
    jwks_url: str | None = None
    public_key_file: str | None = None
    secret_env: EnvName | None = None
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


class AuthPolicy(ConfigModel):
    """`policies/auth.yaml`."""

    issuers: Annotated[list[IssuerConfig], Field(min_length=1)]
