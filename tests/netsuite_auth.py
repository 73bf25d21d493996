"""Logging in to the cloud ERP simulator as a test client would: a client-credentials token
request with a signed JWT assertion (any claim or header changed at will), and a token-based
authentication header.

Not the adapter's own login (see `gateway/adapters/netsuite/`), though TBA headers are signed
with its RFC 5849 implementation, checked against the RFC's own example in its tests.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from erp_simulators.netsuite.integrations import (
    DEMO_ACCOUNT_ID,
    DEMO_CERTIFICATE_ID,
    DEMO_CLIENT_ID,
    DEMO_CONSUMER_SECRET,
    DEMO_TOKEN_ID,
    DEMO_TOKEN_SECRET,
)
from gateway.adapters.netsuite.credentials import TokenCredentials
from gateway.adapters.netsuite.oauth1 import authorization
from gateway.demo import DEMO_CLOUD_PRIVATE_KEY

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEMO_KEY = load_pem_private_key(DEMO_CLOUD_PRIVATE_KEY.encode(), password=None)
DEMO_TBA = TokenCredentials(
    DEMO_ACCOUNT_ID, DEMO_CLIENT_ID, DEMO_CONSUMER_SECRET, DEMO_TOKEN_ID, DEMO_TOKEN_SECRET
)
_nonces = iter(range(10**9))


def assertion(
    base_url: str,
    *,
    key: Any = DEMO_KEY,
    algorithm: str = "ES256",
    kid: str = DEMO_CERTIFICATE_ID,
    lifetime_s: int = 300,
    **claims: Any,
) -> str:
    """A client assertion for the simulator at `base_url`, as NetSuite wants it, but for
    whatever `claims` override (None removes a claim)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": DEMO_CLIENT_ID,
        "scope": ["restlets", "rest_webservices"],
        "aud": base_url.rstrip("/") + TOKEN_PATH,
        "iat": now,
        "exp": now + lifetime_s,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def token_form(signed: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
    }


def tba_header(
    method: str,
    url: str,
    query: dict[str, str] | None = None,
    *,
    credentials: TokenCredentials = DEMO_TBA,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """A TBA `Authorization` header for one request (a fresh nonce unless one is given)."""
    return authorization(
        credentials,
        method,
        url,
        query,
        timestamp=int(time.time()) if timestamp is None else timestamp,
        nonce=nonce or f"nonce-{next(_nonces)}-{time.monotonic_ns()}",
    )


# RFC 5849's own examples (HMAC-SHA1 there; NetSuite signs the same base string with SHA-256).
# Section 3.4.1.1: a request's query, form body and oauth_* parameters, and its base string.
RFC5849_PARAMS = [
    ("b5", "=%3D"),
    ("a3", "a"),
    ("c@", ""),
    ("a2", "r b"),
    ("c2", ""),
    ("a3", "2 q"),
    ("oauth_consumer_key", "9djdj82h48djs9d2"),
    ("oauth_token", "kkk9d7dh3k39sjv7"),
    ("oauth_signature_method", "HMAC-SHA1"),
    ("oauth_timestamp", "137131201"),
    ("oauth_nonce", "7d8f3e4a"),
]
RFC5849_BASE_STRING = (
    "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q"
    "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_"
    "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m"
    "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk"
    "9d7dh3k39sjv7"
)
# Section 1.2: the photos example, with the client's and token's secrets and the signature.
RFC5849_PHOTOS = [
    ("file", "vacation.jpg"),
    ("size", "original"),
    ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
    ("oauth_token", "nnch734d00sl2jdk"),
    ("oauth_signature_method", "HMAC-SHA1"),
    ("oauth_timestamp", "137131202"),
    ("oauth_nonce", "chapoH"),
]
RFC5849_PHOTOS_URL = "http://photos.example.net/photos"
RFC5849_PHOTOS_SECRETS = ("kd94hf93k423kf44", "pfkkdhi9sl3r4s00")
RFC5849_PHOTOS_SIGNATURE = "MdpQcU8iPSUjWoN/UDMsK2sui9I="
