"""The JWT client assertion of NetSuite's OAuth 2.0 client-credentials grant, and the form that
carries it: how the gateway proves it holds the private key of a certificate mapped to its
integration. NetSuite takes no client secret.

Not the token it is exchanged for (see `tokens.py`). Pure functions.

The assertion (NetSuite's "OAuth 2.0 Client Credentials Flow"): header `kid` the certificate ID,
`alg` one of PS256/384/512 or ES256/384/512, `typ` JWT; claims `iss` the client ID, `scope`
the scopes (a list), `aud` the token endpoint's URL, `iat` now and `exp` at most an hour later.
"""

from __future__ import annotations

import jwt

from gateway.adapters.netsuite.credentials import ClientCredentials

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# NetSuite refuses an assertion living longer than an hour; a short one limits what a leaked
# assertion is worth (it is sent only to the token endpoint, once).
ASSERTION_LIFETIME_S = 300


def client_assertion(credentials: ClientCredentials, audience: str, now: int) -> str:
    """The signed assertion, valid from `now` (Unix seconds) for ASSERTION_LIFETIME_S."""
    claims = {
        "iss": credentials.client_id,
        "scope": list(credentials.scopes),
        "aud": audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_S,
    }
    headers = {"kid": credentials.certificate_id, "typ": "JWT"}
    return jwt.encode(
        claims, credentials.private_key, algorithm=credentials.algorithm, headers=headers
    )


def token_request(credentials: ClientCredentials, audience: str, now: int) -> dict[str, str]:
    """The form of a client-credentials token request."""
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(credentials, audience, now),
    }
