"""The URL a command prints for the address it listens on: an IPv6 literal in brackets (RFC
3986 3.2.2), its zone's `%` escaped (RFC 6874); a name or an IPv4 address as given."""

from __future__ import annotations

import pytest

from gateway.sockets import http_url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("0.0.0.0", "http://0.0.0.0:8080"),
        ("localhost", "http://localhost:8080"),
        ("::1", "http://[::1]:8080"),
        ("::", "http://[::]:8080"),
        ("2001:db8::5", "http://[2001:db8::5]:8080"),
        ("fe80::1%eth0", "http://[fe80::1%25eth0]:8080"),
    ],
)
def test_the_printed_url_brackets_an_ipv6_literal(host: str, url: str) -> None:
    assert http_url(host, 8080) == url
