"""Refused tokens remembered for a few seconds, in-process: a bad token is verified once per
request (an unversioned path's pin lookup and the auth step share the verdict) and once per few
seconds however often it is sent, yet each refused request is still counted (the metric, the
address's failures); a not-yet-valid token is not held past its `nbf`, an unknown `kid` is
never held (a JWKS rotation is picked up as before), and a reload judges every token again."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import REGISTRY

from gateway.config.auth import AuthPolicy
from gateway.pipeline.auth import (
    Authenticator,
    AuthFailure,
    IssuerVerifier,
    Unauthenticated,
    build_authenticator,
)
from gateway.pipeline.keys import UNKNOWN_KID_COOLDOWN_S, JwksKeys
from gateway.pipeline.token_verdicts import REFUSAL_TTL_S, token_digest
from gateway.store.memory import MemoryStore
from tests.configs import AUTH_FAILURES_LIMITED as LIMITED
from tests.configs import write_config
from tests.conftest import ManualClock
from tests.harness import SECRET as DEMO_SECRET
from tests.harness import Gateway, bearer, forged_token, in_process_gateway, token_for

SECRET = "unit-test-secret-of-enough-length-0123456789"
ISSUER = "https://idp.test/refused"
AUDIENCE = "erp-gateway"
LEEWAY_S = 30


def _bad_signatures() -> float:
    return (
        REGISTRY.get_sample_value("gateway_auth_failures_total", {"reason": "bad_signature"}) or 0.0
    )


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each signature check an issuer's verifier makes (its token's subject), counted."""
    made: list[str] = []
    check = IssuerVerifier.principal

    async def counted(
        self: IssuerVerifier, token: str, kid: str | None, algorithm: str
    ) -> tuple[Any, float]:
        made.append(str(jwt.decode(token, options={"verify_signature": False}).get("sub")))
        return await check(self, token, kid, algorithm)

    monkeypatch.setattr(IssuerVerifier, "principal", counted)
    return made


@asynccontextmanager
async def _gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with in_process_gateway(MemoryStore(), write_config(tmp_path, rate_limits=LIMITED)) as gw:
        gw.runtime.failed_addresses.clock = ManualClock()
        yield gw


def _api(gw: Gateway) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=gw.app, client=("198.51.100.7", 41000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


async def test_a_bad_token_on_an_unversioned_path_is_verified_once(
    tmp_path: Path, checks: list[str]
) -> None:
    async with _gateway(tmp_path) as gw, _api(gw) as api:
        before = _bad_signatures()
        refused = await api.get("/customers/cus_1", headers=bearer(forged_token()))

    assert refused.status_code == 401, refused.text
    assert checks == ["crm-demo"]  # the pin lookup's check; the auth step reuses its verdict
    assert _bad_signatures() == before + 1


async def test_a_good_token_on_an_unversioned_path_is_looked_up_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pin lookup's verdict is the auth step's: the token is hashed and looked up once."""
    looked_up: list[str] = []

    def counted(token: str) -> bytes:
        looked_up.append(token)
        return token_digest(token)

    token = token_for("crm-demo")
    async with _gateway(tmp_path) as gw, _api(gw) as api:
        # Verified once, then held: what follows is the path every request after the first takes.
        assert (await api.get("/v1/customers/cus_1", headers=bearer(token))).status_code == 404
        monkeypatch.setattr("gateway.pipeline.auth.token_digest", counted)
        answered = await api.get("/customers/cus_1", headers=bearer(token))

    assert answered.status_code == 404, answered.text  # past authentication: no such customer
    assert looked_up == [token]


async def test_the_same_bad_token_again_is_not_verified_again_but_still_counted(
    tmp_path: Path, checks: list[str]
) -> None:
    token = forged_token()
    async with _gateway(tmp_path) as gw, _api(gw) as api:
        before = _bad_signatures()
        statuses = [
            (await api.get("/v1/customers/cus_1", headers=bearer(token))).status_code
            for _ in range(4)
        ]
        counted = _bad_signatures() - before

    assert checks == ["crm-demo"]
    assert counted == 3  # each refused request once; the fourth is the limit's 429
    assert statuses == [401, 401, 401, 429]  # each counted against the address too


async def test_a_refused_token_is_judged_again_after_a_few_seconds(
    tmp_path: Path, checks: list[str]
) -> None:
    token = forged_token()
    async with _gateway(tmp_path) as gw, _api(gw) as api:
        clock = ManualClock(time.time())
        gw.runtime.authenticator.refused.clock = clock
        first = await api.get("/v1/customers/cus_1", headers=bearer(token))
        await clock.advance(REFUSAL_TTL_S - 0.1)
        held = await api.get("/v1/customers/cus_1", headers=bearer(token))
        await clock.advance(0.1)
        again = await api.get("/v1/customers/cus_1", headers=bearer(token))

    assert [r.status_code for r in (first, held, again)] == [401, 401, 401]
    assert checks == ["crm-demo", "crm-demo"]


async def test_after_a_reload_a_refused_token_is_judged_again(
    tmp_path: Path, checks: list[str]
) -> None:
    """Refused for its audience, then accepted once a reload trusts that audience."""
    config = write_config(tmp_path, rate_limits=LIMITED)
    async with in_process_gateway(MemoryStore(), config) as gw, _api(gw) as api:
        gw.runtime.failed_addresses.clock = ManualClock()
        next_audience = _demo_token(aud="erp-gateway-next")
        refused = await api.get("/v1/customers/cus_1", headers=bearer(next_audience))
        path = config / "policies" / "auth.yaml"
        trusted = path.read_text().replace("[erp-gateway]", "[erp-gateway, erp-gateway-next]")
        path.write_text(trusted)
        async with gw.client("ops-admin") as ops:
            assert (await ops.post("/admin/config/reload")).status_code == 200
        accepted = await api.get("/v1/customers/cus_1", headers=bearer(next_audience))

    assert refused.status_code == 401
    assert accepted.status_code == 404, accepted.text  # past authentication: no such customer
    assert checks.count("crm-demo") == 2


def _demo_token(**claims: Any) -> str:
    """A demo issuer's token for crm-demo with `claims` changed, signed with the demo secret."""
    payload = jwt.decode(token_for("crm-demo"), options={"verify_signature": False})
    return jwt.encode({**payload, **claims}, DEMO_SECRET, algorithm="HS256")


class _JwtClock(dt.datetime):
    """PyJWT's `datetime`, reading the test's clock: its `nbf` check sees time move."""

    clock: Callable[[], float] = time.time

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> Any:
        return dt.datetime.fromtimestamp(cls.clock(), tz)


def _authenticator(issuer: dict[str, Any] | None = None) -> Authenticator:
    config: dict[str, Any] = {
        "name": "refused",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "algorithms": ["HS256"],
        "secret_env": "TEST_SECRET",
        "leeway_s": LEEWAY_S,
        **(issuer or {}),
    }
    policy = AuthPolicy.model_validate({"issuers": [config]})
    return build_authenticator(policy, Path("."), {"TEST_SECRET": SECRET})


def _claims(now: float, **overrides: Any) -> dict[str, Any]:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "crm-demo", "azp": "crm-demo"}
    return {**claims, "iat": int(now), "exp": int(now) + 600, **overrides}


async def _verdict(authenticator: Authenticator, token: str) -> str:
    try:
        principal = await authenticator.authenticate(f"Bearer {token}")
    except Unauthenticated as refused:
        return refused.reason.value
    return principal.client_id


async def test_a_not_yet_valid_token_is_accepted_once_its_nbf_passes(
    monkeypatch: pytest.MonkeyPatch, checks: list[str]
) -> None:
    """Its refusal is held a few seconds, but never past the moment it becomes valid."""
    clock = ManualClock(float(int(time.time())))
    monkeypatch.setattr(_JwtClock, "clock", clock)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _JwtClock)
    authenticator = _authenticator()
    authenticator.refused.clock = clock
    valid_in_s = 2  # sooner than the refusal would be held
    assert valid_in_s < REFUSAL_TTL_S
    nbf = int(clock()) + LEEWAY_S + valid_in_s
    token = jwt.encode(_claims(clock(), nbf=nbf), SECRET, algorithm="HS256")

    early = [await _verdict(authenticator, token) for _ in range(2)]
    await clock.advance(valid_in_s)
    on_time = await _verdict(authenticator, token)

    assert early == ["not_yet_valid"] * 2
    assert on_time == "crm-demo"
    assert checks == ["crm-demo", "crm-demo"]  # the second early one was held


class _Jwks:
    """An issuer's JWKS document, which a test rotates."""

    def __init__(self, *keys: tuple[str, rsa.RSAPrivateKey]) -> None:
        self.keys = list(keys)
        self.fetches = 0

    async def __call__(self, url: str) -> Any:
        self.fetches += 1
        members = []
        for kid, key in self.keys:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            members.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": members}


async def test_an_unknown_key_is_never_held_so_a_rotated_one_is_picked_up_on_time(
    checks: list[str],
) -> None:
    """The JWKS is refetched for an unknown `kid` once per cooldown; a refusal held across
    that refetch would refuse the rotated key's tokens longer than before."""
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab")
    jwks = _Jwks(("old", old))
    clock = ManualClock(time.time())
    policy = AuthPolicy.model_validate(
        {
            "issuers": [
                {
                    "name": "rotating",
                    "issuer": ISSUER,
                    "audiences": [AUDIENCE],
                    "algorithms": ["RS256"],
                    "jwks_url": "https://idp.test/jwks.json",
                    "leeway_s": LEEWAY_S,
                }
            ]
        }
    )
    issuer = policy.issuers[0]
    keys = JwksKeys("https://idp.test/jwks.json", ["RS256"], fetch=jwks, clock=clock)
    authenticator = Authenticator({ISSUER: IssuerVerifier(issuer, keys)})
    authenticator.refused.clock = clock

    def signed(key: rsa.RSAPrivateKey, kid: str, sub: str) -> str:
        claims = _claims(clock(), sub=sub, azp=sub)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    assert await _verdict(authenticator, signed(old, "old", "first")) == "first"  # fetched
    await clock.advance(UNKNOWN_KID_COOLDOWN_S - 1)
    rotated = signed(new, "new", "rotated")
    before = await _verdict(authenticator, rotated)  # within the cooldown: no refetch yet
    jwks.keys.append(("new", new))  # the issuer publishes its new key
    await clock.advance(1)
    after = await _verdict(authenticator, rotated)

    assert before == AuthFailure.UNKNOWN_KEY.value
    assert after == "rotated"
    assert jwks.fetches == 2
