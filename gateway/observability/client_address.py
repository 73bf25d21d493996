"""The caller's network address as the logs and the audit trail record it (`client_ip`), and
which peers are trusted to name it (the proxies in front of the gateway), checked once at start.

Not the reading of X-Forwarded-For on each request: uvicorn's ProxyHeadersMiddleware does it,
given these proxies, and puts the address it settles on in the request's scope.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

FORWARDED_ALLOW_IPS_ENV = "GATEWAY_FORWARDED_ALLOW_IPS"
# As uvicorn's own default: a proxy on this host (IPv4 or IPv6 loopback).
LOOPBACK_PROXIES = ("127.0.0.1", "::1")
ANY_PROXY = "*"


def client_ip(scope: Mapping[str, Any]) -> str | None:
    """The caller's address: the peer's, or, when the peer is a trusted proxy, the client its
    X-Forwarded-For names (set in the scope before the app runs). None without a peer."""
    client = scope.get("client")
    return str(client[0]) if client else None


def trusted_proxies(text: str) -> tuple[str, ...]:
    """The proxies `text` names, comma-separated: IP addresses and networks (`10.0.0.0/8`),
    `*` for any peer (only where nothing but the proxy can reach the gateway), nothing for
    none. ValueError saying which item is not one: uvicorn would take it as a name no peer
    ever has, and trust nobody without a word."""
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if items == (ANY_PROXY,):
        return items
    for item in items:
        if item == ANY_PROXY:
            raise ValueError("`*` (any peer) stands alone, not in a list")
        try:
            ipaddress.ip_network(item) if "/" in item else ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(f"{item!r} is {_not_an_address(item)}") from None
    return items


def _not_an_address(item: str) -> str:
    if "/" in item:
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            return "not an IP network (e.g. 10.0.0.0/8)"
        return f"not a network: its address has host bits set (the network is {network})"
    return "not an IP address (e.g. 10.0.0.5) or network (e.g. 10.0.0.0/8)"
