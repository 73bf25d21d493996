"""The peer of a connection the server refuses, as its access line writes it (`client`):
`host:port` as a URL writes it, an IPv6 peer in brackets (`[::1]:5555`, not `::1:5555`)."""

from __future__ import annotations

import pytest

from gateway.server import peer


@pytest.mark.parametrize(
    ("client", "written"),
    [
        (("::1", 5555), "[::1]:5555"),
        (("2001:db8::7", 443), "[2001:db8::7]:443"),
        (("127.0.0.1", 5555), "127.0.0.1:5555"),
        (None, "?"),
    ],
)
def test_a_peer_is_written_as_a_url_writes_it(client: tuple[str, int] | None, written: str) -> None:
    assert peer(client) == written
