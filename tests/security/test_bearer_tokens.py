"""Bearer-token verification (RFC 6750, RFC 8725): every bad token is one generic 401."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from gateway.domain.errors import Code, GatewayError
from gateway.pipeline.auth import Authenticator, AuthPolicy, build_authenticator

SECRET = "unit-test-secret-of-enough-length-0123456789"
ISSUER = "https://gateway.local/demo"
POLICY = AuthPolicy.model_validate(
    {
        "issuers": [
            {
                "name": "demo",
                "issuer": ISSUER,
                "audiences": ["erp-gateway"],
                "algorithms": ["HS256"],
                "secret_env": "TEST_SECRET",
                "leeway_s": 30,
                "client_claim": "azp",
            }
        ]
    }
)


@pytest.fixture
def authenticator() -> Authenticator:
    return build_authenticator(POLICY, Path("."), {"TEST_SECRET": SECRET})


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "erp-gateway",
        "sub": "crm-demo",
        "azp": "crm-demo",
        "iat": now,
        "exp": now + 300,
        "scope": "customers:read",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(secret: str = SECRET, headers: dict[str, Any] | None = None, **claims: Any) -> str:
    return jwt.encode(_claims(**claims), secret, algorithm="HS256", headers=headers)


def _unsigned(**claims: Any) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(_claims(**claims))}."


def _rejection(authenticator: Authenticator, authorization: str | None) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        authenticator.authenticate(authorization)
    return info.value


def test_a_valid_token_yields_the_client_and_its_scopes(authenticator: Authenticator) -> None:
    principal = authenticator.authenticate(f"Bearer {_token()}")
    assert principal.client_id == "crm-demo"
    assert principal.scopes == {"customers:read"}


@pytest.mark.parametrize("authorization", [None, "", "Basic dXNlcjpwYXNz", "Bearer "])
def test_no_bearer_credentials_get_a_bare_challenge(
    authenticator: Authenticator, authorization: str | None
) -> None:
    error = _rejection(authenticator, authorization)
    assert error.code is Code.UNAUTHORIZED
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="gateway"'


BAD_TOKENS = {
    "alg none": lambda: _unsigned(),
    "wrong secret": lambda: _token(secret="another-secret-of-enough-length-0123456789"),
    "tampered payload": lambda: _tamper(_token()),
    "wrong issuer": lambda: _token(iss="https://evil.example"),
    "wrong audience": lambda: _token(aud="someone-else"),
    "expired beyond leeway": lambda: _token(exp=int(time.time()) - 120),
    "not yet valid": lambda: _token(nbf=int(time.time()) + 600),
    "missing exp": lambda: _token(exp=None),
    "missing sub": lambda: _token(sub=None),
    "missing iat": lambda: _token(iat=None),
    "crit header": lambda: _token(headers={"crit": ["exp"], "exp": 1}),
    "oversized": lambda: _token(padding="x" * 9000),
    "garbage": lambda: "not.a.jwt",
}


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["azp"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_every_invalid_token_is_the_same_generic_401(
    authenticator: Authenticator, case: str
) -> None:
    error = _rejection(authenticator, f"Bearer {BAD_TOKENS[case]()}")
    assert error.code is Code.UNAUTHORIZED
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="gateway", error="invalid_token"'
    reference = _rejection(authenticator, "Bearer not.a.jwt")
    assert error.detail == reference.detail


def test_the_demo_issuer_is_off_without_its_secret() -> None:
    authenticator = build_authenticator(POLICY, Path("."), {})
    assert authenticator.issuers == []
    assert _rejection(authenticator, f"Bearer {_token()}").code is Code.UNAUTHORIZED
