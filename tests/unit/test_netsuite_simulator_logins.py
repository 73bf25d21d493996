"""The cloud ERP simulator's logins, as NetSuite checks them, over real HTTP: OAuth 2.0 client
credentials with a certificate-signed JWT assertion (a client secret refused), and token-based
authentication (OAuth 1.0a, HMAC-SHA256) on every request; the signature base string against
RFC 5849's own example."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from erp_simulators.netsuite import create_app
from erp_simulators.netsuite.integrations import (
    DEMO_ACCOUNT_ID,
    DEMO_CLIENT_ID,
    DEMO_CONSUMER_SECRET,
    DEMO_INTEGRATION,
    Integration,
)
from erp_simulators.netsuite.tba import base_string, signature
from gateway.adapters.netsuite.credentials import TokenCredentials
from tests.netsuite_auth import (
    DEMO_TBA,
    RFC5849_BASE_STRING,
    RFC5849_PARAMS,
    RFC5849_PHOTOS,
    RFC5849_PHOTOS_SECRETS,
    RFC5849_PHOTOS_SIGNATURE,
    RFC5849_PHOTOS_URL,
    TOKEN_PATH,
    assertion,
    tba_header,
    token_form,
)
from tests.servers import serve_app

RECORDS = "/services/rest/record/v1"
TERM = f"{RECORDS}/term/2"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# The demo integration, plus an RSA certificate mapped to it (for PS256 and RS256).
INTEGRATION = Integration(
    client_id=DEMO_INTEGRATION.client_id,
    consumer_secret=DEMO_INTEGRATION.consumer_secret,
    certificates={**DEMO_INTEGRATION.certificates, "rsa-certificate": _public_pem(RSA_KEY)},
    tokens=DEMO_INTEGRATION.tokens,
)


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_app(create_app(integrations=[INTEGRATION])) as url:
        yield url


@pytest.fixture
async def sim(sim_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim_url, timeout=5) as client:
        yield client


async def last_login(sim: httpx.AsyncClient) -> dict[str, Any]:
    """The newest entry of the login audit trail (why a login was refused)."""
    login: dict[str, Any] = (await sim.get("/_sim/logins", params={"limit": 1})).json()["logins"][
        -1
    ]
    return login


# --- OAuth 2.0 client credentials ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kid", "key", "algorithm"),
    [("gateway-demo-certificate", None, "ES256"), ("rsa-certificate", RSA_KEY, "PS256")],
)
async def test_an_assertion_signed_by_a_mapped_certificate_gets_a_token_that_opens_records(
    sim: httpx.AsyncClient, sim_url: str, kid: str, key: Any, algorithm: str
) -> None:
    signed = assertion(sim_url, kid=kid, algorithm=algorithm, **({"key": key} if key else {}))
    response = await sim.post(TOKEN_PATH, data=token_form(signed))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", "3600")
    assert response.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await sim.get(TERM, headers=headers)).status_code == 200
    assert (await sim.get(TERM, headers={"Authorization": "Bearer made-up"})).status_code == 401


async def test_a_client_secret_is_refused_in_basic_auth_and_in_the_form(
    sim: httpx.AsyncClient,
) -> None:
    basic = base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CONSUMER_SECRET}".encode()).decode()
    grant = {"grant_type": "client_credentials"}
    for response in (
        await sim.post(TOKEN_PATH, data=grant, headers={"Authorization": f"Basic {basic}"}),
        await sim.post(
            TOKEN_PATH,
            data={**grant, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CONSUMER_SECRET},
        ),
    ):
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
        assert "no client secret" in response.json()["error_description"]
        assert "access_token" not in response.json()


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key": OTHER_EC_KEY}, "signature does not verify"),
        ({"kid": "no-such-certificate"}, "not mapped"),
        ({"iat": _now() - 7200, "exp": _now() - 3600}, "expired"),
        ({"lifetime_s": 3601}, "at most an hour"),
        ({"aud": "https://elsewhere.example/token"}, "aud must be"),
        ({"iss": "another-client"}, "iss is not"),
        ({"scope": ["rest_webservices", "admin"]}, "scopes are"),
        ({"scope": None}, "scope"),
        ({"kid": "rsa-certificate", "key": RSA_KEY, "algorithm": "RS256"}, "RS256 is not allowed"),
    ],
    ids=[
        "wrong-key",
        "unknown-kid",
        "expired",
        "too-long",
        "aud",
        "iss",
        "scope",
        "no-scope",
        "rs256",
    ],
)
async def test_an_assertion_netsuite_would_refuse_gets_no_token(
    sim: httpx.AsyncClient, sim_url: str, change: dict[str, Any], reason: str
) -> None:
    response = await sim.post(TOKEN_PATH, data=token_form(assertion(sim_url, **change)))
    assert response.status_code in (400, 401), response.text
    assert "access_token" not in response.json()
    assert reason in response.json()["error_description"]
    login = await last_login(sim)
    assert login["status"] == "Failure" and reason in login["detail"]


async def test_a_token_request_without_its_assertion_or_grant_is_refused(
    sim: httpx.AsyncClient, sim_url: str
) -> None:
    form = token_form(assertion(sim_url))
    cases = [
        ({**form, "grant_type": "password"}, "unsupported_grant_type"),
        ({**form, "client_assertion_type": "urn:other"}, "invalid_request"),
        ({k: v for k, v in form.items() if k != "client_assertion"}, "invalid_request"),
        ({**form, "client_assertion": "not-a-jwt"}, "invalid_client"),
    ]
    for data, error in cases:
        response = await sim.post(TOKEN_PATH, data=data)
        assert (response.status_code, response.json()["error"]) == (400, error)


async def test_expiring_the_tokens_makes_issued_tokens_fail_until_a_new_one_is_fetched(
    sim: httpx.AsyncClient, sim_url: str
) -> None:
    first = await sim.post(TOKEN_PATH, data=token_form(assertion(sim_url)))
    old = {"Authorization": f"Bearer {first.json()['access_token']}"}
    issued = (await sim.get("/_sim/tokens")).json()["issued"]
    assert (await sim.post("/_sim/tokens/expire")).json()["expired"] >= 1
    assert (await sim.get(TERM, headers=old)).status_code == 401
    fresh = await sim.post(TOKEN_PATH, data=token_form(assertion(sim_url)))
    headers = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert (await sim.get(TERM, headers=headers)).status_code == 200
    assert (await sim.get("/_sim/tokens")).json() == {"issued": issued + 1, "live": 1}


async def test_a_token_is_refused_once_its_lifetime_is_over() -> None:
    with serve_app(create_app(token_ttl_s=0)) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            token = await client.post(TOKEN_PATH, data=token_form(assertion(url)))
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            assert (await client.get(TERM, headers=headers)).status_code == 401


async def test_a_token_without_the_rest_webservices_scope_opens_no_record(
    sim: httpx.AsyncClient, sim_url: str
) -> None:
    signed = assertion(sim_url, scope="restlets")  # one comma-separated string is allowed too
    token = (await sim.post(TOKEN_PATH, data=token_form(signed))).json()["access_token"]
    response = await sim.get(TERM, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


# --- token-based authentication (OAuth 1.0a) ----------------------------------------------------


async def test_a_request_signed_with_tba_is_answered_with_its_query_covered(
    sim: httpx.AsyncClient, sim_url: str
) -> None:
    query = {"q": 'companyName START_WITH "Acme Corp"', "limit": "5"}
    header = tba_header("GET", sim_url + f"{RECORDS}/customer", query)
    assert header.startswith(f'OAuth realm="{DEMO_ACCOUNT_ID}", oauth_consumer_key=')
    response = await sim.get(f"{RECORDS}/customer", params=query, headers={"Authorization": header})
    assert response.status_code == 200, response.text
    # The same signature for another query is a wrong one.
    other = {**query, "limit": "6"}
    header = tba_header("GET", sim_url + f"{RECORDS}/customer", query)
    response = await sim.get(f"{RECORDS}/customer", params=other, headers={"Authorization": header})
    assert response.status_code == 401
    assert "signature does not verify" in (await last_login(sim))["detail"]


async def test_a_replayed_tba_request_is_refused(sim: httpx.AsyncClient, sim_url: str) -> None:
    header = {"Authorization": tba_header("GET", sim_url + TERM)}
    assert (await sim.get(TERM, headers=header)).status_code == 200
    replayed = await sim.get(TERM, headers=header)
    assert replayed.status_code == 401
    assert replayed.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    assert "nonce was used before" in (await last_login(sim))["detail"]


def _wrong(**fields: str) -> TokenCredentials:
    return TokenCredentials(**{**DEMO_TBA.__dict__, **fields})


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (lambda url: tba_header("GET", url, credentials=_wrong(token_secret="guess")), "signature"),
        (lambda url: tba_header("GET", url, credentials=_wrong(consumer_secret="x")), "signature"),
        (lambda url: tba_header("POST", url), "signature"),  # signed for another method
        (lambda url: tba_header("GET", url, timestamp=_now() - 301), "timestamp"),
        (lambda url: tba_header("GET", url, timestamp=_now() + 301), "timestamp"),
        (lambda url: tba_header("GET", url, credentials=_wrong(account_id="7654321")), "realm"),
        (lambda url: tba_header("GET", url, credentials=_wrong(token_id="nope")), "Unknown"),
        (
            lambda url: tba_header("GET", url).replace("HMAC-SHA256", "HMAC-SHA1"),
            "signature method",
        ),
    ],
    ids=[
        "token-secret",
        "consumer-secret",
        "method",
        "old",
        "future",
        "realm",
        "token-id",
        "sha1",
    ],
)
async def test_a_tba_signature_netsuite_would_refuse_is_401(
    sim: httpx.AsyncClient, sim_url: str, header: Any, reason: str
) -> None:
    response = await sim.get(TERM, headers={"Authorization": header(sim_url + TERM)})
    assert response.status_code == 401
    assert reason in (await last_login(sim))["detail"]


# --- RFC 5849's own examples ---------------------------------------------------------------------


def test_the_simulators_base_string_and_signature_match_rfc_5849() -> None:
    assert base_string("POST", "http://example.com/request", RFC5849_PARAMS) == (
        RFC5849_BASE_STRING
    )
    base = base_string("GET", RFC5849_PHOTOS_URL, RFC5849_PHOTOS)
    assert signature(base, *RFC5849_PHOTOS_SECRETS, "sha1") == RFC5849_PHOTOS_SIGNATURE
