"""Every line `gateway serve` and `gateway demo` write is in the gateway's format (JSON lines;
the demo's short lines), uvicorn's own included: a request the server refuses before the app
sees it, or one asking to upgrade the protocol, prints no line of uvicorn's format among them."""

from __future__ import annotations

import functools
import json
import re
import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

from tests.e2e.gateways import start_gateway
from tests.e2e.test_demo_stop import _demo
from tests.servers import wait_for

WAIT_S = 20.0
GARBAGE = b"GARBAGE\r\n\r\n"
# An upgrade the server does not make (curl --http2 asks for it on http://): answered as HTTP.
H2C_UPGRADE = (
    b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade, HTTP2-Settings, close\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
)
# As `curl -H 'Connection: Upgrade' -H 'Upgrade: websocket'` sends it (no WebSocket key), the
# connection closed after the answer.
WEBSOCKET_UPGRADE = (
    b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade, close\r\n"
    b"Upgrade: websocket\r\n\r\n"
)
# uvicorn's default format: the level, a colon, spaces to column 10, the message.
UVICORN_LINE = re.compile(r"^(TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL):\s+\S", re.MULTILINE)


def _exchange(url: str, request: bytes) -> bytes:
    """`request` sent on a connection of its own; the answer, to the connection's close."""
    port = urlsplit(url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


_wait_for = functools.partial(wait_for, deadline_s=WAIT_S)


def _correlation_id(answer: bytes) -> str:
    found = re.search(rb"\r\nx-correlation-id: ([-0-9a-f]+)\r\n", answer, re.IGNORECASE)
    assert found, answer
    return found.group(1).decode()


def test_serve_writes_json_lines_only_for_garbage_and_upgrade_requests(
    gateway_env: dict[str, str],
) -> None:
    with start_gateway(gateway_env) as (url, proc):
        refused = _exchange(url, GARBAGE)
        assert refused.startswith(b"HTTP/1.1 400 "), refused
        upgraded = _exchange(url, H2C_UPGRADE)
        assert upgraded.startswith(b"HTTP/1.1 200 "), upgraded
        _exchange(url, WEBSOCKET_UPGRADE)
        said = [_correlation_id(refused), _correlation_id(upgraded)]
        _wait_for(lambda: all(c in proc.output() for c in said), "both access lines")
        proc.proc.send_signal(signal.SIGTERM)
        proc.proc.wait(timeout=30)
        output = proc.output()
    lines = output.splitlines()
    # Before serving, `gateway serve` says on stderr what it serves (a person's lines): then
    # JSON, every line.
    banner = 0
    while banner < len(lines) and lines[banner].startswith(("gateway serve: ", "  ")):
        banner += 1
    assert banner >= 1 and lines[0].startswith("gateway serve: http://"), output
    records = [json.loads(line) for line in lines[banner:]]  # each line parses, or fails here
    assert not UVICORN_LINE.search(output), output
    # The refusal is the access line of its 400, with the correlation id the client was given;
    # not again as uvicorn's "Invalid HTTP request received." (which has neither).
    access = [r for r in records if r["logger"] == "gateway.access"]
    assert {(r["correlation_id"], r["status"]) for r in access} >= {
        (said[0], 400),
        (said[1], 200),
    }, access
    assert not [r for r in records if r["logger"].startswith("uvicorn")], records


def test_the_demo_writes_uvicorns_lines_in_its_own_short_format(repo_config: Path) -> None:
    with _demo(repo_config) as (url, cloud_url, proc):
        assert _exchange(url, GARBAGE).startswith(b"HTTP/1.1 400 ")
        assert _exchange(url, H2C_UPGRADE).startswith(b"HTTP/1.1 200 ")
        # The simulators keep uvicorn's answer and its warning (they write no access line),
        # which says which simulator wrote it: the legacy one's would read the same.
        assert _exchange(cloud_url, GARBAGE).startswith(b"HTTP/1.1 400 ")
        said = re.compile(
            r"^\d\d:\d\d:\d\d warning cloud-erp: Invalid HTTP request received\.$",
            re.MULTILINE,
        )
        _wait_for(lambda: bool(said.search(proc.output())), "the simulator's warning")
        _wait_for(lambda: " - - 400 " in proc.output(), "the gateway's access line")
        output = proc.output()
    assert not UVICORN_LINE.search(output), output
    assert len(said.findall(output)) == 1, output  # the simulator's, not the gateway's
    assert "uvicorn.error: Invalid HTTP request" not in output, output


def test_a_websocket_handshake_is_answered_as_http_and_logged(
    gateway_env: dict[str, str],
) -> None:
    """The gateway serves no WebSocket: a handshake is a request like any other, answered by
    the gateway and in its access log; not uvicorn's text/plain 403 (or, with no key, 400),
    which no line recorded."""
    handshake = WEBSOCKET_UPGRADE.replace(
        b"\r\n\r\n",
        b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    with start_gateway(gateway_env) as (url, proc):
        for request in (handshake, WEBSOCKET_UPGRADE):
            answer = _exchange(url, request)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            correlation_id = _correlation_id(answer)
            _wait_for(lambda c=correlation_id: c in proc.output(), "its access line")
