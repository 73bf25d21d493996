"""An issuer's cap on the lifetime of its tokens (`max_lifetime_s` in policies/auth.yaml): a
token issued for longer is a 401 that says so, every time it is sent (never cached as valid);
an issuer without a cap accepts any lifetime, as before."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from gateway.config.auth import AuthPolicy
from gateway.domain.errors import Code
from gateway.pipeline.auth import Authenticator, AuthFailure, Unauthenticated, build_authenticator
from gateway.pipeline.auth import lifetime_s as lifetime_of

SECRET = "unit-test-secret-of-enough-length-0123456789"
ISSUER = "https://idp.test/capped"
AUDIENCE = "erp-gateway"
CAP_S = 86_400
LEEWAY_S = 30
TEN_YEARS_S = 315_360_000
DAY_S = 86_400


def _authenticator(max_lifetime_s: int | None) -> Authenticator:
    issuer: dict[str, Any] = {
        "name": "capped",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "algorithms": ["HS256"],
        "secret_env": "TEST_SECRET",
        "leeway_s": LEEWAY_S,
    }
    if max_lifetime_s is not None:
        issuer["max_lifetime_s"] = max_lifetime_s
    policy = AuthPolicy.model_validate({"issuers": [issuer]})
    return build_authenticator(policy, Path("."), {"TEST_SECRET": SECRET})


def _token(lifetime_s: int, *, age_s: int = 0, with_iat: bool = True) -> str:
    """A token issued `age_s` ago, valid `lifetime_s` from then."""
    issued = int(time.time()) - age_s
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "crm-demo",
        "azp": "crm-demo",
        "exp": issued + lifetime_s,
    }
    if with_iat:
        claims["iat"] = issued
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _claims(now: int) -> dict[str, Any]:
    """A minute's token of the capped issuer, issued `now`, as claims to change."""
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "crm-demo",
        "azp": "crm-demo",
        "iat": now,
        "exp": now + 60,
    }


def _signed(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def _refusal(authenticator: Authenticator, token: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as info:
        await authenticator.authenticate(f"Bearer {token}")
    return info.value


@pytest.mark.parametrize("lifetime", [CAP_S + LEEWAY_S + 1, TEN_YEARS_S])
async def test_a_token_issued_for_longer_than_its_issuers_cap_is_a_401_saying_so(
    lifetime: int,
) -> None:
    refused = await _refusal(_authenticator(CAP_S), _token(lifetime))
    assert refused.code is Code.UNAUTHORIZED
    assert refused.headers == {"WWW-Authenticate": 'Bearer realm="gateway", error="invalid_token"'}
    assert refused.detail == (
        f"The token's lifetime, {lifetime} s, is longer than the issuer allows ({CAP_S} s)."
    )
    assert refused.reason is AuthFailure.TOO_LONG_LIVED


@pytest.mark.parametrize("lifetime", [10**20, 10**300])
async def test_a_lifetime_past_any_calendar_is_said_in_words_not_in_a_long_number(
    lifetime: int,
) -> None:
    refused = await _refusal(_authenticator(CAP_S), _token(lifetime))
    assert refused.reason is AuthFailure.TOO_LONG_LIVED
    assert refused.detail == (
        f"The token's lifetime, over 300 years, is longer than the issuer allows ({CAP_S} s)."
    )


async def test_a_token_over_the_cap_is_refused_each_time_not_cached_as_valid() -> None:
    authenticator = _authenticator(CAP_S)
    token = _token(TEN_YEARS_S)
    first = await _refusal(authenticator, token)
    again = await _refusal(authenticator, token)
    assert first.reason is again.reason is AuthFailure.TOO_LONG_LIVED


async def test_the_lifetime_is_measured_from_iat_so_an_old_token_cannot_hide_its_length() -> None:
    # Issued two days ago for three: it has a day left, within the cap from now, but was issued
    # as a three-day credential.
    refused = await _refusal(_authenticator(CAP_S), _token(3 * DAY_S, age_s=2 * DAY_S))
    assert refused.reason is AuthFailure.TOO_LONG_LIVED
    assert f"lifetime, {3 * DAY_S} s," in refused.detail


@pytest.mark.parametrize(
    ("lifetime", "age"),
    [(CAP_S, 0), (CAP_S + LEEWAY_S, 0), (CAP_S, CAP_S - 60), (60, 0)],
    ids=["at the cap", "at the cap and its leeway", "at the cap, nearly spent", "short"],
)
async def test_a_token_within_its_issuers_cap_is_accepted(lifetime: int, age: int) -> None:
    principal = await _authenticator(CAP_S).authenticate(f"Bearer {_token(lifetime, age_s=age)}")
    assert principal.client_id == "crm-demo"


async def test_an_issuer_without_a_cap_accepts_a_ten_year_token_as_before() -> None:
    principal = await _authenticator(None).authenticate(f"Bearer {_token(TEN_YEARS_S)}")
    assert principal.client_id == "crm-demo"


async def test_a_token_without_iat_over_the_cap_is_refused() -> None:
    # Every token must carry iat (RFC 9068 2.2); its lifetime would otherwise run from now.
    refused = await _refusal(_authenticator(CAP_S), _token(TEN_YEARS_S, with_iat=False))
    assert refused.code is Code.UNAUTHORIZED


def test_a_lifetime_runs_from_iat_or_without_iat_from_now() -> None:
    assert lifetime_of({"iat": 1_000, "exp": 4_600}, now=2_000.0) == 3_600
    assert lifetime_of({"exp": 4_600}, now=2_000.0) == 2_600


@pytest.mark.parametrize("cap", [CAP_S, None], ids=["capped", "uncapped"])
@pytest.mark.parametrize(
    "dates",
    [{"exp": 10**400}, {"iat": -(10**400)}],
    ids=["exp past any float", "iat past any float"],
)
async def test_a_numeric_date_no_float_holds_is_a_401_not_a_500(
    cap: int | None, dates: dict[str, int]
) -> None:
    """PyJWT takes any JSON integer as `exp` or `iat`; one too large for a float (10**400 is
    a valid JSON number) is no date a token could mean, and refused as its claims."""
    refused = await _refusal(_authenticator(cap), _signed(_claims(int(time.time())) | dates))
    assert refused.code is Code.UNAUTHORIZED
    assert refused.reason is AuthFailure.INVALID_CLAIMS


@pytest.mark.parametrize(
    "dates",
    [
        {"exp": "EXP"},  # the right time, as a string
        {"iat": "IAT"},
        {"nbf": "IAT"},
        {"iat": True},  # PyJWT reads a boolean as the number 1
        {"iat": [0]},
    ],
    ids=["exp string", "iat string", "nbf string", "iat boolean", "iat list"],
)
async def test_a_date_claim_that_is_no_json_number_is_refused_as_rfc_7519_asks(
    dates: dict[str, Any],
) -> None:
    """RFC 7519 2: a NumericDate is a JSON number. PyJWT reads `"exp": "1796000000"` with
    int(), so a token whose issuer (or forger of the claims' shapes) writes dates as strings
    passed; every other JWT library refuses it."""
    now = int(time.time())
    shown = {
        k: str(now + 60) if v == "EXP" else str(now) if v == "IAT" else v for k, v in dates.items()
    }
    refused = await _refusal(_authenticator(None), _signed(_claims(now) | shown))
    assert refused.reason is AuthFailure.INVALID_CLAIMS
