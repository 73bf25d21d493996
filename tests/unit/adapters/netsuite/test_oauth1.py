"""Token-based authentication signatures (OAuth 1.0a): RFC 5849's own examples, and the header
NetSuite reads."""

from __future__ import annotations

from urllib.parse import unquote

from gateway.adapters.netsuite.credentials import TokenCredentials
from gateway.adapters.netsuite.oauth1 import authorization, base_string, base_url, signature
from tests.netsuite_auth import (
    RFC5849_BASE_STRING,
    RFC5849_PARAMS,
    RFC5849_PHOTOS,
    RFC5849_PHOTOS_SECRETS,
    RFC5849_PHOTOS_SIGNATURE,
    RFC5849_PHOTOS_URL,
)


def test_the_base_string_is_rfc_5849s_example_byte_for_byte() -> None:
    # RFC 5849 section 3.4.1.1 (the URL as sent: the base string drops the query and the port).
    url = "HTTP://Example.com:80/request?b5=x"
    assert base_string("post", url, RFC5849_PARAMS) == RFC5849_BASE_STRING


def test_the_signature_is_rfc_5849s_photos_example() -> None:
    base = base_string("GET", RFC5849_PHOTOS_URL, RFC5849_PHOTOS)
    assert signature(base, *RFC5849_PHOTOS_SECRETS, "HMAC-SHA1") == RFC5849_PHOTOS_SIGNATURE


def test_base_urls_keep_a_port_that_is_not_the_default_and_lose_one_that_is() -> None:
    assert base_url("https://1234567-SB1.suitetalk.api.netsuite.com:443/x") == (
        "https://1234567-sb1.suitetalk.api.netsuite.com/x"
    )
    assert base_url("http://127.0.0.1:9102/services/rest") == "http://127.0.0.1:9102/services/rest"


def test_the_header_has_the_realm_every_oauth_parameter_and_an_hmac_sha256_signature() -> None:
    credentials = TokenCredentials("1234567_SB1", "ck", "cs", "tk", "ts")
    url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer"
    header = authorization(
        credentials, "GET", url, {"limit": "5"}, timestamp=1700000000, nonce="n0"
    )
    scheme, _, rest = header.partition(" ")
    fields = dict(part.split("=", 1) for part in rest.split(", "))
    values = {name: unquote(value.strip('"')) for name, value in fields.items()}
    assert scheme == "OAuth"
    assert list(values) == [
        "realm",
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature_method",
        "oauth_timestamp",
        "oauth_nonce",
        "oauth_version",
        "oauth_signature",
    ]
    assert (values["realm"], values["oauth_signature_method"], values["oauth_version"]) == (
        "1234567_SB1",
        "HMAC-SHA256",
        "1.0",
    )
    signed = [(k, v) for k, v in values.items() if k not in ("realm", "oauth_signature")]
    expected = signature(base_string("GET", url, [("limit", "5"), *signed]), "cs", "ts")
    assert values["oauth_signature"] == expected
    assert len(expected) == 44  # 32 bytes of SHA-256, base64
