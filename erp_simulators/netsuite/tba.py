"""The cloud ERP's token-based authentication (TBA): OAuth 1.0a signatures on every request, as
NetSuite checks them.

Not OAuth 2.0 bearer tokens (see `oauth`); an independent implementation of RFC 5849 (the
gateway signs with its own).

A request carries `Authorization: OAuth realm="<account ID>", oauth_consumer_key="...",
oauth_token="...", oauth_signature_method="HMAC-SHA256", oauth_timestamp="...",
oauth_nonce="...", oauth_version="1.0", oauth_signature="..."`. The signature is HMAC-SHA256,
keyed `<consumer secret>&<token secret>`, over the RFC 5849 signature base string: the method,
the URL without its query, and every query and `oauth_*` parameter but the signature and the
realm, encoded and sorted. NetSuite takes no HMAC-SHA1 for TBA any more. A timestamp outside
the window and a nonce seen before within it are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from erp_simulators.netsuite.integrations import Integrations

SIGNATURE_METHOD = "HMAC-SHA256"
DEFAULT_WINDOW_S = 300
_PARAM = re.compile(r'\s*([A-Za-z0-9_]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
_REQUIRED = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
)


class TbaError(Exception):
    """A refused TBA signature; the reason goes to the login audit trail, never to the caller."""


def encode(value: str) -> str:
    """RFC 5849 section 3.6: every byte but the unreserved characters as %XX (upper case)."""
    return quote(value.encode("utf-8"), safe="-._~")


def parse_header(value: str) -> dict[str, str]:
    """The parameters of an `OAuth ...` header value (after the scheme), percent-decoded."""
    params: dict[str, str] = {}
    position = 0
    while position < len(value):
        match = _PARAM.match(value, position)
        if match is None or match.end() == position:
            raise TbaError("The OAuth header is unreadable.")
        name = match.group(1)
        if name in params:
            raise TbaError(f"{name} is given twice.")
        params[name] = unquote(match.group(2))
        position = match.end()
    return params


def base_string(method: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """RFC 5849 section 3.4.1: `METHOD&url&params`, each part encoded, params sorted."""
    pairs = sorted((encode(name), encode(value)) for name, value in params)
    normalized = "&".join(f"{name}={value}" for name, value in pairs)
    return "&".join((method.upper(), encode(url), encode(normalized)))


def signature(base: str, consumer_secret: str, token_secret: str, digest: str = "sha256") -> str:
    key = f"{encode(consumer_secret)}&{encode(token_secret)}"
    mac = hmac.new(key.encode("utf-8"), base.encode("utf-8"), getattr(hashlib, digest))
    return base64.b64encode(mac.digest()).decode("ascii")


@dataclass
class TbaVerifier:
    """Checks TBA signatures for one account, remembering recent nonces."""

    account_id: str
    integrations: Integrations
    window_s: int = DEFAULT_WINDOW_S
    _nonces: set[tuple[str, str, str]] = field(default_factory=set)
    _nonce_order: deque[tuple[float, tuple[str, str, str]]] = field(default_factory=deque)

    def principal(
        self, method: str, url: str, query: Sequence[tuple[str, str]], header_params: str
    ) -> str:
        """The client ID (consumer key) a correctly signed request is from, or a `TbaError`."""
        params = parse_header(header_params)
        missing = [name for name in _REQUIRED if not params.get(name)]
        if missing:
            raise TbaError(f"Missing {', '.join(missing)}.")
        if params.get("realm") != self.account_id:
            raise TbaError(f"The realm must be the account ID {self.account_id}.")
        if params["oauth_signature_method"] != SIGNATURE_METHOD:
            raise TbaError(f"The signature method must be {SIGNATURE_METHOD}.")
        if params.get("oauth_version", "1.0") != "1.0":
            raise TbaError("oauth_version must be 1.0.")
        consumer_key, token_id = params["oauth_consumer_key"], params["oauth_token"]
        integration = self.integrations.by_client_id.get(consumer_key)
        token = self.integrations.tokens.get(token_id)
        if integration is None or token is None or token[0] is not integration:
            raise TbaError("Unknown consumer key, or a token of another integration.")
        timestamp = params["oauth_timestamp"]
        now = time.time()
        if not timestamp.isdigit() or abs(int(timestamp) - now) > self.window_s:
            raise TbaError(f"The timestamp is more than {self.window_s} s away from now.")
        signed = [(k, v) for k, v in params.items() if k not in ("realm", "oauth_signature")]
        expected = signature(
            base_string(method, url, [*query, *signed]), integration.consumer_secret, token[1]
        )
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            raise TbaError("The signature does not verify.")
        self._remember(now, (consumer_key, token_id, params["oauth_nonce"]))
        return integration.client_id

    def _remember(self, now: float, nonce: tuple[str, str, str]) -> None:
        # A nonce needs remembering only while its timestamp is within the window.
        while self._nonce_order and self._nonce_order[0][0] < now - 2 * self.window_s:
            self._nonces.discard(self._nonce_order.popleft()[1])
        if nonce in self._nonces:
            raise TbaError("The nonce was used before (a replayed request).")
        self._nonces.add(nonce)
        self._nonce_order.append((now, nonce))
