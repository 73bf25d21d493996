"""How the gateway runs as a process: connections that hold a worker past every
limit, over a real socket to the gateway's own server (the fixture of
test_slow_and_hostile_clients)."""

from __future__ import annotations

import socket
import time

from tests.security.test_slow_and_hostile_clients import (  # noqa: F401 (fixtures)
    DEADLINE_S,
    LIMITS,
    _connect,
    app,
    gateway,
)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` within `seconds` (reading and dropping what it sends)."""
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


def test_a_body_left_unread_by_an_early_answer_cannot_hold_the_connection_for_ever(
    gateway: tuple[str, int],  # noqa: F811
) -> None:
    """An anonymous client declares a large body; the gateway answers (401: no token) without
    reading it, then closes the connection: the rest of the body is not awaited, for no timer
    would bound it (a byte cancels the keep-alive timer; neither a head nor a body is awaited)
    and the client could hold one of the worker's connections for as long as it liked."""
    head = (
        b"POST /v1/customers HTTP/1.1\r\nHost: gateway.test\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
    )
    with _connect(gateway) as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 401")
        sock.sendall(b"{")  # one byte of the body, then nothing
        limit = LIMITS.head_timeout_s + LIMITS.body_timeout_s + LIMITS.keepalive_timeout_s
        assert _closed_within(sock, limit + DEADLINE_S), "the connection is held open"


def test_the_body_timeout_given_holds_for_erp_notifications_too(
    gateway: tuple[str, int],  # noqa: F811
) -> None:
    """`--body-timeout S` (README: "for its body (then 408 request_timeout and the connection
    closed)") holds for the ERPs' notification ingress too (open to anyone, it reads the body
    before it can check the signature), and for the admin API: not the 10 s default."""
    from tests.security.test_slow_and_hostile_clients import _problem, _read_until_closed

    head = (
        b"POST /erp-events/legacy HTTP/1.1\r\nHost: gateway.test\r\n"
        b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    )
    with _connect(gateway) as sock:
        sock.settimeout(15)
        sock.sendall(head + b'{"d": ')
        raw, took = _read_until_closed(sock)
    status, _, problem = _problem(raw)
    assert (status, problem["code"]) == (408, "request_timeout")
    assert took < LIMITS.body_timeout_s + 1.0, f"refused after {took:.1f} s"
