"""The server's count of a request's head as its bytes arrive (`gateway.server._RequestHead`):
wherever the connection splits the bytes, it finds the same end of the head, size and lines as
one regular expression over the whole does (the first empty line, ended by CR LF or a bare LF).
The slow and hostile clients that rely on it are in tests/security."""

from __future__ import annotations

import re

import pytest

from gateway.server import _RequestHead, end_of_head

REFERENCE = re.compile(rb"\r?\n\r?\n")

HEADS = [
    b"GET /v2/sales-orders/so_1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\n\n",  # bare line feeds
    b"GET / HTTP/1.1\r\nHost: x\n\r\n",
    b"GET / HTTP/1.1\nHost: x\r\n\n",
    b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",  # empty lines before the request line
    b"POST /v2/customers HTTP/1.1\r\nContent-Length: 4\r\n\r\n{\n\n}",  # a body after it
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",  # pipelined
    b"GET / HTTP/1.1\r\nHost: x\r\n",  # not ended yet
    b"\n\r\n",
    b"\r\n\n",
    b"\n\r\n\n",
]


def _reference(data: bytes) -> tuple[bool, int, int]:
    """Awaiting, size and lines of `data` taken whole, by the regular expression."""
    data = data.lstrip(b"\r\n")
    match = REFERENCE.search(data)
    taken = len(data) if match is None else match.end()
    return match is None, taken, data.count(b"\n", 0, taken)


@pytest.mark.parametrize("data", HEADS)
def test_the_end_of_a_head_is_where_the_regular_expression_finds_it(data: bytes) -> None:
    match = REFERENCE.search(data)
    assert end_of_head(data) == (-1 if match is None else match.end())


@pytest.mark.parametrize("data", HEADS)
def test_a_head_counts_the_same_however_the_connection_splits_it(data: bytes) -> None:
    for first in range(len(data) + 1):
        for second in range(first, len(data) + 1):
            head = _RequestHead()
            for chunk in (data[:first], data[first:second], data[second:]):
                if head.awaiting and chunk:
                    head.feed(chunk)
            assert (head.awaiting, head.size, head.lines) == _reference(data), (first, second)


@pytest.mark.parametrize(
    ("first", "second", "head_part"),
    [
        (b"POST / HTTP/1.1\r\nContent-Len", b"gth: 4\r\n\r\nbody", b"gth: 4\r\n\r\n"),
        # The read ends on the last field's line: the empty line that ends the head is not
        # taken for empty lines before a request line.
        (b"POST / HTTP/1.1\r\nContent-Length: 4\r\n", b"\r\nbody", b"\r\n"),
    ],
)
def test_a_head_begun_in_the_read_that_ended_the_request_before_it_ends_in_the_next(
    first: bytes, second: bytes, head_part: bytes
) -> None:
    earlier = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    head = _RequestHead()
    head.feed(earlier + first)  # counted up to the end of the first request's head
    head.reset()  # the parser: the first request is complete...
    head.begin(earlier + first)  # ...and the next one began in the same read
    head.feed(second)
    assert (head.awaiting, head.size) == (False, len(head_part))
