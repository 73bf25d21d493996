"""Who the caller is behind a trusted proxy: the client X-Forwarded-For names, read as nginx's
realip module reads it (`real_ip_recursive on`), and the scheme X-Forwarded-Proto names.

Not which proxies are trusted, nor how an address is logged (see `client_address`).
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from gateway.observability.client_address import address_of

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_CACHED_PEERS = 4096  # peers whose trust is remembered (uvicorn's figure)
_PORT_DIGITS = 5  # 65535


class ForwardedFor:
    """ASGI middleware in the place of uvicorn's ProxyHeadersMiddleware. From a trusted peer,
    X-Forwarded-For is read from the right, past every trusted proxy, to the first address
    that is none: the client. An entry that is no IP address (`unknown`, RFC 7239's
    obfuscated `_hidden`, whatever a caller wrote to a proxy that appends) ends the walk, and
    the address reached so far stands: the peer's own when it is the last entry, else the
    nearest trusted proxy the header names, as nginx does. uvicorn took such an entry itself
    as the client, so a caller could write any text into `client_ip` of the access log and of
    the audit trail."""

    def __init__(self, app: Any, proxies: tuple[str, ...]) -> None:
        self._app = app
        self._networks = tuple(ipaddress.ip_network(proxy) for proxy in proxies)
        self._peer_trusted = functools.lru_cache(maxsize=_CACHED_PEERS)(self._peer_is_proxy)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self._peer_trusted(client[0]):
            forwarded_for: list[str] = []
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded_for.append(value.decode("latin-1"))
                elif name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").strip()
                    if proto in _SCHEMES:
                        websocket = scope["type"] == "websocket"
                        scope["scheme"] = proto.replace("http", "ws") if websocket else proto
            if forwarded_for:
                scope["client"] = self.client(",".join(forwarded_for)) or client
        await self._app(scope, receive, send)

    def client(self, forwarded_for: str) -> tuple[str, int] | None:
        """The client a trusted peer's X-Forwarded-For names; None: the peer itself."""
        reached: tuple[str, int] | None = None
        for entry in reversed(forwarded_for.split(",")):
            if not (entry := entry.strip()):
                continue
            parsed = _address_and_port(entry)
            if parsed is None:
                return reached
            address, port = parsed
            reached = (str(address), port)
            if not self._trusts(address):
                return reached
        return reached  # every one a trusted proxy: the farthest

    def _peer_is_proxy(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(address_of(host))
        except ValueError:  # a Unix socket's peer, say
            return False
        return self._trusts(address)

    def _trusts(self, address: Address) -> bool:
        return any(address in network for network in self._networks)


def _address_and_port(entry: str) -> tuple[Address, int] | None:
    """An X-Forwarded-For entry's address and port (0 without one): `203.0.113.7`,
    `203.0.113.7:4711`, `2001:db8::7`, `[2001:db8::7]:4711`; None for anything else."""
    host, port = entry, "0"
    if entry.startswith("["):
        host, bracket, after = entry[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            return None
        port = after[1:] or "0"
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    # At most 5 digits before `int`: past 4,300 it raises, which would answer the request 500.
    if len(port) > _PORT_DIGITS or not port.isascii() or not port.isdigit() or int(port) > 65535:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if getattr(address, "scope_id", None) is not None:  # fe80::1%<any text>: not an address
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address, int(port)
