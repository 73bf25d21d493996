"""`--host` as people copy it from a URL: an IPv6 literal in brackets (`[::1]`) is that
address; brackets around anything else are refused in one line."""

from __future__ import annotations

import argparse

import pytest

from gateway.cli.arguments import listen_host


@pytest.mark.parametrize(
    ("given", "host"),
    [
        ("[::1]", "::1"),
        ("[::]", "::"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("[fe80::1%25eth0]", "fe80::1%eth0"),  # a URL's zone, its `%` escaped (RFC 6874)
        ("[fe80::1%eth0]", "fe80::1%eth0"),
        ("::1", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
    ],
)
def test_a_host_in_brackets_is_the_ipv6_address_inside(given: str, host: str) -> None:
    assert listen_host(given) == host


@pytest.mark.parametrize(
    "given", ["[127.0.0.1]", "[localhost]", "[]", "[::1", "::1]", "[[::1]]", "[::1]:8080"]
)
def test_brackets_around_anything_but_an_ipv6_address_are_refused(given: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        listen_host(given)
    message = str(refused.value)
    assert given in message and "\n" not in message
