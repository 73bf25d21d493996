"""NetSuite token-based authentication (TBA): every request signed with OAuth 1.0a (RFC 5849),
HMAC-SHA256, in an `Authorization: OAuth realm="<account ID>", ...` header.

Not OAuth 2.0 (see `tokens.py`). The signing is pure and small enough to keep here rather than
depend on a library: the signature base string is the method, the URL without its query and
every query and `oauth_*` parameter (not the realm, not a JSON body), each percent-encoded
(RFC 5849 section 3.6) and sorted; the key is `<consumer secret>&<token secret>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit

from gateway.adapters.base import CallContext
from gateway.adapters.netsuite.credentials import TokenCredentials

SIGNATURE_METHOD = "HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def encode(value: str) -> str:
    """RFC 5849 section 3.6: every byte but ALPHA, DIGIT, '-', '.', '_' and '~' as %XX."""
    return quote(value.encode("utf-8"), safe="-._~")


def base_url(url: str) -> str:
    """RFC 5849 section 3.4.1.2: scheme and host in lower case, no default port, no query."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    authority = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return f"{scheme}://{authority}{parts.path or '/'}"


def base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 section 3.4.1: the signature base string."""
    pairs = sorted((encode(name), encode(value)) for name, value in params)
    normalized = "&".join(f"{name}={value}" for name, value in pairs)
    return "&".join((method.upper(), encode(base_url(url)), encode(normalized)))


def signature(
    base: str, consumer_secret: str, token_secret: str, digest: str = SIGNATURE_METHOD
) -> str:
    """RFC 5849 section 3.4.2 (HMAC-SHA1) and its SHA-256 variant NetSuite uses."""
    key = f"{encode(consumer_secret)}&{encode(token_secret)}".encode()
    hash_name = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}[digest]
    return base64.b64encode(hmac.new(key, base.encode(), hash_name).digest()).decode("ascii")


def authorization(
    credentials: TokenCredentials,
    method: str,
    url: str,
    query: Mapping[str, str] | None,
    *,
    timestamp: int,
    nonce: str,
) -> str:
    """The `Authorization` header value for one request to `url` with `query`."""
    oauth = {
        "oauth_consumer_key": credentials.consumer_key,
        "oauth_token": credentials.token_id,
        "oauth_signature_method": SIGNATURE_METHOD,
        "oauth_timestamp": str(timestamp),
        "oauth_nonce": nonce,
        "oauth_version": "1.0",
    }
    base = base_string(method, url, [*(query or {}).items(), *oauth.items()])
    oauth["oauth_signature"] = signature(
        base, credentials.consumer_secret, credentials.token_secret
    )
    fields = [f'realm="{credentials.account_id}"']
    fields += [f'{name}="{encode(value)}"' for name, value in oauth.items()]
    return "OAuth " + ", ".join(fields)


class TokenBasedAuth:
    """Signs each request of one backend; nothing to fetch, nothing to renew."""

    def __init__(self, credentials: TokenCredentials, base: str) -> None:
        self._credentials = credentials
        self._base = base.rstrip("/")

    async def authorization(
        self, method: str, path: str, params: Mapping[str, str] | None, ctx: CallContext
    ) -> str:
        return authorization(
            self._credentials,
            method,
            self._base + path,
            params,
            timestamp=int(time.time()),
            nonce=secrets.token_hex(16),
        )

    def refused(self, authorization: str) -> bool:
        # A refused signature stays refused (wrong secrets, a revoked token, a clock off by
        # minutes): sending it again, newly signed, would only fail again.
        return False
