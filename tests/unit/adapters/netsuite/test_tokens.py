"""OAuth 2.0: the client assertion the gateway signs, and token answers."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.adapters.http import ErpResponse
from gateway.adapters.netsuite.assertions import token_request
from gateway.adapters.netsuite.credentials import ClientCredentials
from gateway.adapters.netsuite.tokens import token_from_response
from gateway.domain.errors import Code, ErpFailure


def test_a_token_answer_gives_the_token_and_its_lifetime_even_as_a_string() -> None:
    body = {"access_token": "t0k", "token_type": "Bearer", "expires_in": "3600"}
    answer = ErpResponse(200, {}, json.dumps(body).encode())
    assert token_from_response(answer) == ("t0k", 3600.0)
    refused = ErpResponse(401, {}, b'{"error": "invalid_client"}')
    with pytest.raises(ErpFailure) as raised:
        token_from_response(refused)
    assert raised.value.code is Code.ERP_UNAVAILABLE
    assert "invalid_client" not in raised.value.detail


def test_the_client_assertion_is_what_netsuite_verifies_for_pss_and_ecdsa_keys() -> None:
    for algorithm, key in (
        ("PS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
    ):
        credentials = ClientCredentials("client-1", "cert-9", key, algorithm)
        audience = (
            "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
        )
        form = token_request(credentials, audience, 1_700_000_000)
        assert form["grant_type"] == "client_credentials"
        assert form["client_assertion_type"] == (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        signed = form["client_assertion"]
        assert jwt.get_unverified_header(signed) == {
            "alg": algorithm,
            "kid": "cert-9",
            "typ": "JWT",
        }
        claims = jwt.decode(
            signed,
            key.public_key(),
            algorithms=[algorithm],
            audience=audience,
            issuer="client-1",
            options={"verify_exp": False, "verify_iat": False},
        )
        assert claims["scope"] == ["rest_webservices"]
        assert claims["iat"] == 1_700_000_000
        assert 0 < claims["exp"] - claims["iat"] <= 3600
