"""Who the caller is behind a trusted proxy, as `gateway serve` loads its app: the client that
X-Forwarded-For names, read as nginx's realip module reads it (`real_ip_recursive on`), so
that what is logged and audited as `client_ip` is always an IP address, never a caller's text."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.server import GatewayServerConfig, ServerLimits

PROXY = "10.0.0.5"  # the load balancer the gateway's connections come from
INNER = "10.0.1.7"  # a proxy of the trusted network behind it (say, a CDN's edge)
TRUSTED = (PROXY, "10.0.1.0/24")


def _seen(
    headers: list[tuple[bytes, bytes]], peer: str = PROXY, trusted: tuple[str, ...] = TRUSTED
) -> dict[str, Any]:
    """The scope the application gets for a request from `peer` with `headers`."""
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(client=scope["client"], scheme=scope["scheme"])

    config = GatewayServerConfig(app, limits=ServerLimits(), trusted_proxies=trusted)
    config.load()
    scope = {"type": "http", "client": (peer, 51000), "scheme": "http", "headers": headers}
    asyncio.run(config.loaded_app(scope, None, None))
    return seen


def _forwarded_for(value: str, **kwargs: Any) -> tuple[str, int]:
    client: tuple[str, int] = _seen([(b"x-forwarded-for", value.encode("latin-1"))], **kwargs)[
        "client"
    ]
    return client


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        # What a proxy writes when it does not know (nginx's `unknown`, RFC 7239's
        # obfuscated identifiers), or a caller's text the proxy appended to: the walk stops,
        # and the address reached so far stands, the proxy's own.
        ("unknown", (PROXY, 51000)),
        ("_hidden", (PROXY, 51000)),
        ('203.0.113.7, <script>"x"</script>', (PROXY, 51000)),
        ("203.0.113.7, 203.0.113.8 admin=1", (PROXY, 51000)),
        ("fe80::1%<script>", (PROXY, 51000)),  # an IPv6 zone is any text: not taken
        ("203.0.113.7:99999", (PROXY, 51000)),
        # A port of more digits than an int may be read from (Python's 4,300): no port.
        ("203.0.113.7:" + "1" * 5000, (PROXY, 51000)),
        ("[2001:db8::7]:" + "0" * 5000 + "80", (PROXY, 51000)),
        # Past a trusted proxy the header names, the nearest such proxy.
        (f"unknown, {INNER}", (INNER, 0)),
        (f"203.0.113.7, not-an-ip, {INNER}", (INNER, 0)),
    ],
)
def test_an_entry_that_is_no_ip_address_is_never_taken_as_the_client(
    forwarded: str, client: tuple[str, int]
) -> None:
    assert _forwarded_for(forwarded) == client


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("203.0.113.7", ("203.0.113.7", 0)),
        # The caller wrote the first; the proxies appended the rest.
        (f"198.51.100.66, 203.0.113.7, {INNER}", ("203.0.113.7", 0)),
        ("unknown, 203.0.113.7", ("203.0.113.7", 0)),
        ("203.0.113.7:4711", ("203.0.113.7", 4711)),
        ("[2001:db8::7]:4711", ("2001:db8::7", 4711)),
        ("2001:db8::7", ("2001:db8::7", 0)),
        # Every address a trusted proxy: the farthest one.
        (f"{INNER}, {PROXY}", (INNER, 0)),
        # Nothing said: the peer.
        ("", (PROXY, 51000)),
    ],
)
def test_the_client_is_the_last_address_that_is_no_trusted_proxy(
    forwarded: str, client: tuple[str, int]
) -> None:
    assert _forwarded_for(forwarded) == client


def test_a_peer_that_is_no_trusted_proxy_is_the_client_whatever_it_says() -> None:
    assert _forwarded_for("203.0.113.7", peer="198.51.100.9") == ("198.51.100.9", 51000)
    assert _forwarded_for("203.0.113.7", trusted=()) == (PROXY, 51000)


def test_an_ipv4_proxy_is_trusted_on_a_dual_stack_socket() -> None:
    assert _forwarded_for("203.0.113.7", peer=f"::ffff:{PROXY}") == ("203.0.113.7", 0)


@pytest.mark.parametrize(("proto", "scheme"), [(b"https", "https"), (b"javascript", "http")])
def test_a_trusted_proxys_forwarded_proto_is_the_scheme_when_it_is_one(
    proto: bytes, scheme: str
) -> None:
    assert _seen([(b"x-forwarded-proto", proto)])["scheme"] == scheme
    assert _seen([(b"x-forwarded-proto", proto)], peer="198.51.100.9")["scheme"] == "http"
