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
# The `typ` values a token may carry when its issuer lists none: an access token (RFC 9068), a
# JWT (RFC 7519 5.1), or none at all; not one typed for another use (RFC 8725 3.11).
DEFAULT_TOKEN_TYPES = ("JWT", "at+jwt")
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"  # RFC 6838 4.2 restricted-name
TokenType = Annotated[str, Field(pattern=rf"^({_NAME}/)?{_NAME}$")]
"""A media type as a `typ` header names it (RFC 7515 4.1.9): `at+jwt`, `application/at+jwt`."""
# The longest cap on a token's lifetime an issuer may set: one month, whatever the month. A job
# run monthly can still be given a token per run; a cap beyond that leaves a stolen token the
# standing credential a cap is there to prevent (access tokens live minutes to hours, RFC 9068).
MAX_LIFETIME_CAP_S = 31 * 24 * 3600


def media_type(typ: str) -> str:
    """The media type a `typ` value names: `application/` implied when it has no `/`, compared
    case-insensitively (RFC 7515 4.1.9)."""
    typ = typ.lower()
    return typ if "/" in typ else f"application/{typ}"


class IssuerConfig(ConfigModel):
    """One trusted token issuer (`policies/auth.yaml`, `issuers:` list).

    Exactly one key source: `secret_env` (HMAC), `public_key_file` or `jwks_url` (RSA/EC).
    """

    name: Annotated[
        str,
        Field(
            pattern=r"^[a-z0-9][a-z0-9_-]*$",
            description="A short name, for logs and `gateway token`.",
        ),
    ]
    issuer: Annotated[
        str, Field(min_length=1, description="Must equal the token's `iss` claim exactly.")
    ]
    audiences: Annotated[
        list[str],
        Field(min_length=1, description="The token's `aud` must contain one of these."),
    ]
    algorithms: Annotated[
        list[str],
        Field(
            min_length=1,
            description="The signature algorithms accepted (an allow-list); never HMAC and "
            "RSA/EC together, never `none`.",
            # What the validator below accepts, so that an editor can offer them.
            json_schema_extra={
                "items": {"enum": sorted(HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS), "type": "string"}
            },
        ),
    ]
    jwks_url: Annotated[
        str | None,
        Field(
            pattern=r"^https?://",
            description="Key source for RSA/EC/EdDSA: the issuer's JWKS URL (https; plain "
            "http to another host than this one is warned of).",
        ),
    ] = None
    public_key_file: Annotated[
        str | None,
        Field(
            description="Key source for RSA/EC/EdDSA: a PEM public key file, relative to the "
            "config directory, whose key verifies every one of `algorithms` (RSA of 2048 bits "
            "or more; EC on the algorithm's curve; Ed25519 or Ed448)."
        ),
    ] = None
    secret_env: Annotated[
        EnvName | None,
        Field(description="Key source for HMAC: the environment variable holding the secret."),
    ] = None
    token_types: Annotated[
        list[TokenType] | None,
        Field(
            min_length=1,
            description="The `typ` header values accepted (RFC 8725 3.11), e.g. `[at+jwt]`; "
            "case-insensitive, `application/` optional. A token must carry one of them. "
            "Unset: `JWT`, `at+jwt` or no `typ`.",
        ),
    ] = None
    leeway_s: Annotated[
        int, Field(ge=0, le=60, description="Seconds of clock skew tolerated on exp, nbf, iat.")
    ] = 30
    max_lifetime_s: Annotated[
        int | None,
        Field(
            ge=1,
            le=MAX_LIFETIME_CAP_S,
            description="The longest a token may be issued for, in seconds, at most 31 days: "
            "`exp` - `iat` beyond it and `leeway_s` is refused (401), however little of the "
            "token is left. Unset: any lifetime.",
        ),
    ] = None
    client_claim: Annotated[
        Literal["azp", "client_id", "sub"],
        Field(description="The claim naming the client (an `id` in policies/clients.yaml)."),
    ] = "azp"
    demo: Annotated[
        bool,
        Field(
            description="`gateway token` mints for it; `gateway serve` trusts it only when its "
            "secret is set."
        ),
    ] = False

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
    """`policies/auth.yaml`: the token issuers the gateway trusts."""

    issuers: Annotated[
        list[IssuerConfig],
        Field(min_length=1, description="A token is checked by the issuer named in its `iss`."),
    ]
