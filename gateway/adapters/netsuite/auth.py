"""How the NetSuite client authorises each call, whichever way the backend logs in: an OAuth 2.0
bearer token (client credentials) or a token-based authentication signature (OAuth 1.0a).

Not the methods themselves (see `tokens.py`, `oauth1.py`) nor their secrets (`credentials.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.adapters.answers import AnswerBoundary
from gateway.adapters.base import CallContext
from gateway.adapters.http import ErpTransport
from gateway.adapters.netsuite.credentials import ClientCredentials, NetSuiteCredentials
from gateway.adapters.netsuite.oauth1 import TokenBasedAuth
from gateway.adapters.netsuite.tokens import BearerTokens


class Authorizer(Protocol):
    """The `Authorization` header of each call to one NetSuite account."""

    async def authorization(
        self, method: str, path: str, params: Mapping[str, str] | None, ctx: CallContext
    ) -> str:
        """The header for this call (a TBA signature covers the method, URL and query)."""
        ...

    def refused(self, authorization: str) -> bool:
        """NetSuite answered 401 to `authorization`: forget it, and say whether a new one may
        be accepted (then the call, not processed, is sent once more)."""
        ...


def authorizer_for(
    credentials: NetSuiteCredentials,
    transport: ErpTransport,
    base_url: str,
    token_path: str,
    answers: AnswerBoundary,
) -> Authorizer:
    if isinstance(credentials, ClientCredentials):
        return BearerTokens(transport, base_url, token_path, credentials, answers)
    return TokenBasedAuth(credentials, base_url)
