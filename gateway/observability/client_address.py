"""The caller's network address as the logs and the audit trail record it (`client_ip`), and
which peers are trusted to name it (the proxies in front of the gateway), checked once at start.

Not the reading of X-Forwarded-For on each request (see `forwarded_for`), which puts the
address it settles on in the request's scope.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from typing import Any

FORWARDED_ALLOW_IPS_ENV = "GATEWAY_FORWARDED_ALLOW_IPS"
# As uvicorn's own default: a proxy on this host (IPv4 or IPv6 loopback).
LOOPBACK_PROXIES = ("127.0.0.1", "::1")
# Trusting every peer would take the first address of X-Forwarded-For, which the
# caller writes whenever the proxy appends to the header (nginx's $proxy_add_x_forwarded_for,
# AWS's load balancers): refused, as is a network of every address.
_EVERY_PEER = (
    "trusts every peer, so the address logged would be the first of X-Forwarded-For, which "
    "a caller writes; name the proxies' addresses or their network (e.g. 10.0.0.0/8)"
)
_MAPPED_PREFIX = "::ffff:"  # an IPv4-mapped IPv6 address (RFC 4291 2.5.5.2)


def client_ip(scope: Mapping[str, Any]) -> str | None:
    """The caller's address: the peer's, or, when the peer is a trusted proxy, the client its
    X-Forwarded-For names (set in the scope before the app runs). None without a peer."""
    client = scope.get("client")
    return address_of(str(client[0])) if client else None


def address_of(host: str) -> str:
    """`host` as logged: an IPv4 peer of a dual-stack socket (`--host ::`), which the kernel
    names `::ffff:10.0.0.5`, as the IPv4 address it is."""
    if host.startswith(_MAPPED_PREFIX):
        with contextlib.suppress(ValueError):
            mapped = ipaddress.IPv6Address(host).ipv4_mapped
            if mapped is not None:
                return str(mapped)
    return host


def trusted_proxies(text: str) -> tuple[str, ...]:
    """The proxies `text` names, comma-separated: IP addresses and networks (`10.0.0.0/8`),
    nothing for none. ValueError saying which item is not one (uvicorn took it as a name no
    peer ever has, and trusted nobody without a word), or which trusts every peer (`*`,
    `0.0.0.0/0`: see `_EVERY_PEER`)."""
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    for item in items:
        if item == "*":
            raise ValueError(f"'*' {_EVERY_PEER}")
        try:
            network = ipaddress.ip_network(item) if "/" in item else ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(f"{item!r} is {_not_an_address(item)}") from None
        if isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network) and not (
            network.prefixlen
        ):
            raise ValueError(f"{item!r} {_EVERY_PEER}")
    return items


def _not_an_address(item: str) -> str:
    if "/" in item:
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            return "not an IP network (e.g. 10.0.0.0/8)"
        return f"not a network: its address has host bits set (the network is {network})"
    return "not an IP address (e.g. 10.0.0.5) or network (e.g. 10.0.0.0/8)"
