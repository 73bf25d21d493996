"""Clients that hold a worker: slow headers or bodies, idle connections, huge or numerous headers,
too many connections, uploads abandoned half-way; and requests framed so that no one can tell
where they end. Each is refused in bounded time with a problem document and a closed
connection, over a real socket to the gateway's own server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.app import build_app
from gateway.observability.logging import access_log
from gateway.observability.metrics import NO_BACKEND, NO_OPERATION
from gateway.server import GatewayServerConfig, ServerLimits
from gateway.sockets import listening_socket
from gateway.store.memory import MemoryStore
from tests.conftest import AccessLines
from tests.e2e import payloads
from tests.harness import Gateway, in_process_gateway, token_for

LIMITS = ServerLimits(
    head_timeout_s=0.5,
    body_timeout_s=0.5,
    keepalive_timeout_s=1,
    max_head_bytes=8 * 1024,
    max_headers=20,
    max_connections=30,
)
DEADLINE_S = 5.0  # what "bounded" means here: far below the 70 s a stalled request took


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger("gateway")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _app(body_timeout_s: float) -> Starlette:
    """The gateway's app, over fake ERPs."""

    async def build() -> Gateway:
        async with in_process_gateway(MemoryStore()) as gw:
            return gw

    runtime = asyncio.run(build()).runtime
    return build_app(runtime, watch_config=False, body_timeout_s=body_timeout_s)


@contextlib.contextmanager
def _served(app: Starlette, limits: ServerLimits) -> Iterator[tuple[str, int]]:
    """`app` behind the gateway's own server and `limits`, on a free port."""
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = GatewayServerConfig(app, limits=limits, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < end, "server did not start"
        time.sleep(0.01)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def app() -> Starlette:
    return _app(LIMITS.body_timeout_s)


@pytest.fixture(scope="module")
def gateway(app: Starlette) -> Iterator[tuple[str, int]]:
    with _served(app, LIMITS) as address:
        yield address


# A body step that would wait twice as long as "bounded": an answer within DEADLINE_S is not
# the body timeout's.
PATIENT_LIMITS = dataclasses.replace(LIMITS, body_timeout_s=2 * DEADLINE_S)


@pytest.fixture(scope="module")
def patient_gateway() -> Iterator[tuple[str, int]]:
    """The gateway as `gateway`, its body step waiting `PATIENT_LIMITS.body_timeout_s`."""
    with _served(_app(PATIENT_LIMITS.body_timeout_s), PATIENT_LIMITS) as address:
        yield address


def _connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=DEADLINE_S)


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    start = time.monotonic()
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - start


def _problem(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


def _refused(raw: bytes) -> dict[str, Any]:
    """The problem of `raw`, the one answer to a request the gateway refused as framed (400
    `validation_failed`, the connection closed after it)."""
    assert _statuses(raw) == [400], raw
    _, headers, problem = _problem(raw)
    assert (headers["content-type"], headers["connection"]) == ("application/problem+json", "close")
    assert problem["code"] == "validation_failed"
    assert problem["correlation_id"] == headers["x-correlation-id"]
    return problem


def _request_head(
    path: str = "/v1/customers",
    extra: str = "",
    body_length: int = 0,
    *,
    chunked: bool = False,
    method: str = "POST",
    token: bool = True,
) -> bytes:
    """A request's head, its body `body_length` bytes long, or `chunked`."""
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_length}"
    authorization = f"Authorization: Bearer {token_for('crm-demo')}\r\n" if token else ""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: gateway.test\r\n{authorization}"
        f"Content-Type: application/json\r\n{length}\r\n{extra}\r\n"
    ).encode()


def test_a_body_that_stalls_is_408_and_the_connection_closed(gateway: tuple[str, int]) -> None:
    body = json.dumps(payloads.customer("US01")).encode()
    with _connect(gateway) as sock:
        sock.sendall(_request_head(body_length=len(body)) + body[:10])
        raw, took = _read_until_closed(sock)
    status, headers, problem = _problem(raw)
    assert status == 408
    assert problem["code"] == "request_timeout"
    assert headers["connection"] == "close"
    assert took < DEADLINE_S


def test_headers_that_stall_are_408_and_the_connection_closed(gateway: tuple[str, int]) -> None:
    with _connect(gateway) as sock:
        sock.sendall(b"GET /v1/customers?external_ref=X HTTP/1.1\r\nHost: gateway.te")
        raw, took = _read_until_closed(sock)
    status, headers, problem = _problem(raw)
    assert (status, problem["code"], headers["connection"]) == (408, "request_timeout", "close")
    assert problem["correlation_id"] == headers["x-correlation-id"]
    assert took < DEADLINE_S


def test_a_later_head_on_a_keep_alive_connection_has_its_own_time_limit(
    gateway: tuple[str, int],
) -> None:
    """The head timer is armed per connection, lazily: a request's head that stalls is refused
    once the timeout has passed since its own first byte, neither at the first head's deadline
    nor never."""
    timeout = LIMITS.head_timeout_s
    with _connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(timeout * 0.6)  # the first head's deadline passes while the next one waits
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gate")
        began = time.monotonic()
        raw, _ = _read_until_closed(sock)
        took = time.monotonic() - began
    status, _, problem = _problem(raw)
    assert (status, problem["code"]) == (408, "request_timeout")
    assert timeout * 0.9 <= took < timeout + 1.0


def test_a_head_that_arrives_in_time_on_a_kept_alive_connection_is_answered(
    gateway: tuple[str, int],
) -> None:
    """Heads sent slowly, each within the timeout though the connection has lived longer."""
    timeout = LIMITS.head_timeout_s
    with _connect(gateway) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ")
            time.sleep(timeout * 0.5)
            sock.sendall(b"gateway.test\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_idle_and_half_sent_connections_are_all_closed_in_bounded_time(
    gateway: tuple[str, int],
) -> None:
    sockets = [_connect(gateway) for _ in range(20)]
    for i, sock in enumerate(sockets):
        if i % 2:
            sock.sendall(b"GET / HTTP/1.1\r\nHost")  # half a head; the others send nothing
    start = time.monotonic()
    try:
        for sock in sockets:
            _read_until_closed(sock)
        assert time.monotonic() - start < DEADLINE_S
    finally:
        for sock in sockets:
            sock.close()


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(
    gateway: tuple[str, int],
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        _, took = _read_until_closed(sock)
    assert took < LIMITS.keepalive_timeout_s + 2


def test_blank_lines_after_an_answer_are_no_request_to_refuse(
    gateway: tuple[str, int],
) -> None:
    """A client may end a request with a stray CRLF (RFC 9112, 2.2: the server ignores blank
    lines before a request line). No request began, so nobody waits for an answer: the idle
    connection is closed, with no 408 written on it."""
    with _connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(b"\r\n")
        raw, took = _read_until_closed(sock)
    assert raw == b""
    assert took < DEADLINE_S


def test_a_huge_header_is_431_before_it_is_read_whole(gateway: tuple[str, int]) -> None:
    with _connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nX-Big: ")
        sent = 0
        with contextlib.suppress(OSError):  # the server hangs up once it has seen enough
            while sent < 30 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        raw, _ = _read_until_closed(sock)
    status, headers, problem = _problem(raw)
    assert (status, problem["code"], headers["connection"]) == (431, "headers_too_large", "close")
    assert sent < 30 * 1024 * 1024


def test_too_many_header_fields_are_431(gateway: tuple[str, int]) -> None:
    extra = "".join(f"X-Field-{i}: {i}\r\n" for i in range(LIMITS.max_headers + 5))
    with _connect(gateway) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n{extra}\r\n".encode())
        raw, _ = _read_until_closed(sock)
    status, _, problem = _problem(raw)
    assert (status, problem["code"]) == (431, "headers_too_large")


def test_a_connection_beyond_the_workers_limit_is_503_with_retry_after(
    gateway: tuple[str, int],
) -> None:
    held = [_connect(gateway) for _ in range(LIMITS.max_connections)]
    try:
        time.sleep(0.2)  # let the server accept what is queued (no readiness signal exists)
        with _connect(gateway) as extra:
            raw, took = _read_until_closed(extra)
        status, headers, problem = _problem(raw)
        assert (status, problem["code"]) == (503, "gateway_busy")
        assert headers["retry-after"] == "1"
        assert took < 1.0
    finally:
        for sock in held:
            sock.close()


def test_responses_do_not_say_what_server_runs(gateway: tuple[str, int]) -> None:
    with _connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n")
        raw, _ = _read_until_closed(sock)
    assert b"\r\nserver:" not in raw.lower()


def test_a_trailing_slash_is_404_never_a_redirect_to_the_hosts_address(
    gateway: tuple[str, int],
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(
            b"GET /v1/customers/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        )
        raw, _ = _read_until_closed(sock)
    status, headers, problem = _problem(raw)
    assert (status, problem["code"]) == (404, "not_found")
    assert "location" not in headers
    assert b"evil.example" not in raw


def test_an_upload_abandoned_half_way_is_a_brief_499_not_a_server_error(
    gateway: tuple[str, int], records: _Records, access_lines: AccessLines
) -> None:
    body = json.dumps(payloads.customer("US01")).encode()
    with _connect(gateway) as sock:
        sock.sendall(_request_head(body_length=len(body)) + body[:20])
        time.sleep(0.1)
    end = time.monotonic() + DEADLINE_S
    while not any(e.get("status") == 499 for e in access_lines.entries):
        assert time.monotonic() < end, access_lines.entries
        time.sleep(0.02)
    assert not [r for r in records.records if r.levelno >= logging.ERROR or r.exc_info]
    (aborted,) = [e for e in access_lines.entries if e.get("status") == 499]
    assert aborted["logger"] == "gateway.access"


MALFORMED_FRAMING = {
    "Content-Length and Transfer-Encoding": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    "two Content-Lengths": b"Content-Length: 5\r\nContent-Length: 6\r\n",
    "a folded header line": b"X-Folded: a\r\n  b\r\nContent-Length: 5\r\n",
}


@pytest.mark.parametrize("framing", list(MALFORMED_FRAMING))
def test_a_request_with_malformed_framing_is_a_400_problem_and_the_connection_closed(
    gateway: tuple[str, int], framing: str
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(
            b"POST /v1/quotes/validate HTTP/1.1\r\nHost: gateway.test\r\n"
            b"Content-Type: application/json\r\n" + MALFORMED_FRAMING[framing] + b"\r\n0\r\n\r\n"
        )
        raw, took = _read_until_closed(sock)
    _refused(raw)
    assert took < DEADLINE_S


MALFORMED_CHUNKS = {
    "a chunk size that is no number": b"zz\r\n",
    "a negative chunk size": b"-1\r\n",
    "a chunk not ended by CRLF": b'2\r\n{"XX',
}
# The malformed chunk in the read that ends the head (the app not started yet), or in a later
# one (the app waiting for its body).
CHUNK_SENT = ["with the head", "after the head"]


def _send_body_after_head(sock: socket.socket, head: bytes, body: bytes, when: str) -> None:
    if when == "with the head":
        sock.sendall(head + body)
        return
    sock.sendall(head)
    time.sleep(0.2)  # the body in a read of its own, once the app waits for it
    sock.sendall(body)


def _statuses(raw: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]


@pytest.mark.parametrize("when", CHUNK_SENT)
@pytest.mark.parametrize("chunk", list(MALFORMED_CHUNKS))
def test_a_body_whose_chunked_framing_is_malformed_is_a_400_problem_at_once(
    patient_gateway: tuple[str, int],
    records: _Records,
    access_lines: AccessLines,
    chunk: str,
    when: str,
) -> None:
    """RFC 9112 §7.1: a chunked body the parser cannot frame is a 400, and the connection is
    closed. Not the 408 its body step gave once its body timeout had run out (the app waited
    for a body the server had stopped reading)."""
    correlation_id = f"bad-chunk-{uuid.uuid4().hex}"
    head = _request_head(extra=f"X-Correlation-ID: {correlation_id}\r\n", chunked=True)
    with _connect(patient_gateway) as sock:
        _send_body_after_head(sock, head, MALFORMED_CHUNKS[chunk], when)
        raw, took = _read_until_closed(sock)
    assert "chunk" in _refused(raw)["detail"]
    assert took < DEADLINE_S < PATIENT_LIMITS.body_timeout_s
    line = _access_line_of(access_lines, correlation_id)
    # The request's own line, its operation known (the server's refusal knows none).
    assert (line.get("status"), line.get("method"), line.get("path")) == (
        400,
        "POST",
        "/v1/customers",
    )
    # Every line was kept before the connection closed, and is written out by now: a refusal
    # by the server itself would be a second one.
    assert [e for e in access_lines.entries if e.get("status") == 400] == [line]
    assert not [r for r in records.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_pipelined_requests_malformed_chunks_are_a_400_after_the_answer_before_it(
    patient_gateway: tuple[str, int],
) -> None:
    """The request before it is answered first, then the one whose body broke off."""
    with _connect(patient_gateway) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n"
            + _request_head(chunked=True)
            + MALFORMED_CHUNKS["a chunk size that is no number"]
        )
        raw, took = _read_until_closed(sock)
    assert _statuses(raw) == [200, 400], raw
    assert b"chunk" in raw.rpartition(b"\r\n\r\n")[2]  # the problem says what broke
    assert took < DEADLINE_S


def test_a_create_whose_chunked_body_was_malformed_is_retried_with_the_same_key(
    patient_gateway: tuple[str, int],
) -> None:
    """The key of a create whose body never arrived is not held: the same request, framed
    right, with the same Idempotency-Key is the create."""
    key = f"Idempotency-Key: {uuid.uuid4().hex}\r\n"
    body = json.dumps(payloads.customer("US01")).encode()
    with _connect(patient_gateway) as sock:
        sock.sendall(
            _request_head(extra=key, chunked=True) + MALFORMED_CHUNKS["a negative chunk size"]
        )
        raw, _ = _read_until_closed(sock)
    assert _statuses(raw) == [400], raw
    with _connect(patient_gateway) as sock:
        sock.sendall(
            _request_head(extra=key + "Connection: close\r\n", chunked=True)
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        )
        raw, _ = _read_until_closed(sock)
    assert _statuses(raw) == [201], raw


NO_BODY_READ: dict[str, dict[str, Any]] = {
    "unauthenticated": {"token": False},
    "a read": {"path": "/v1/customers?external_ref=X", "method": "GET"},
}


@pytest.mark.parametrize("request_kind", list(NO_BODY_READ))
def test_a_request_answered_without_its_body_keeps_its_answer_when_its_chunks_are_malformed(
    patient_gateway: tuple[str, int], request_kind: str
) -> None:
    """A request answered without its body (refused before it is read, or a read) is given
    the answer it has framed right, once, and the connection, its body unframeable, is
    closed after it."""
    head = _request_head(chunked=True, **NO_BODY_READ[request_kind])
    answers = []
    for body in (MALFORMED_CHUNKS["a chunk size that is no number"], b"0\r\n\r\n"):
        with _connect(patient_gateway) as sock:
            sock.sendall(head + body)
            raw, took = _read_until_closed(sock)
        answers.append(_statuses(raw))
        assert took < DEADLINE_S
    malformed, framed_right = answers
    assert malformed == framed_right
    assert len(malformed) == 1


UNCLEAR_HOSTS = {
    "no Host": b"",
    "two Hosts": b"Host: gateway.test\r\nHost: elsewhere.test\r\n",
    "a Host that is no host": b"Host: gateway.test/v1 x\r\n",
}


@pytest.mark.parametrize("host", list(UNCLEAR_HOSTS))
def test_an_http_1_1_request_without_exactly_one_valid_host_is_a_400_problem(
    gateway: tuple[str, int], host: str
) -> None:
    """RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host field, with
    more than one, or with one that is no host: which site it is for is a guess, and proxies
    before the gateway may have guessed otherwise."""
    with _connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n" + UNCLEAR_HOSTS[host] + b"\r\n")
        raw, took = _read_until_closed(sock)
    assert "Host" in _refused(raw)["detail"]
    assert took < DEADLINE_S


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.0\r\n",  # HTTP/1.0 has no Host requirement
        b"GET /healthz HTTP/1.1\r\nHost: \r\nConnection: close\r\n",  # empty: no authority
        b"GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n",
    ],
)
def test_a_request_whose_host_is_as_http_allows_is_answered(
    gateway: tuple[str, int], head: bytes
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(head + b"\r\n")
        raw, _ = _read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200"), raw[:200]


UNFRAMED_CODINGS = {
    # RFC 9112 §6.3: chunked not last, the body's length cannot be known (the parser read it to
    # the connection's end, and the body step answered 408 once its timeout ran out).
    "a coding without chunked": b"Transfer-Encoding: gzip\r\n",
    "identity": b"Transfer-Encoding: identity\r\n",
    "chunked with a parameter": b"Transfer-Encoding: chunked;x=1\r\n",
    "chunked, then another": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
    "an empty list": b"Transfer-Encoding: ,\r\n",
    # RFC 9112 §6.1: a coding it does not decode (the body was taken for JSON, compressed).
    "a coding before chunked": b"Transfer-Encoding: gzip, chunked\r\n",
    "two fields": b"Transfer-Encoding: x-custom\r\nTransfer-Encoding: chunked\r\n",
    # RFC 9112 §6.1: in HTTP/1.0, a Transfer-Encoding is faulty framing.
    "in HTTP/1.0": b"Transfer-Encoding: chunked\r\n",
}


@pytest.mark.parametrize("coding", list(UNFRAMED_CODINGS))
def test_a_body_whose_transfer_coding_is_not_chunked_alone_is_a_400_at_once(
    patient_gateway: tuple[str, int], coding: str
) -> None:
    """The gateway decodes no transfer coding but chunked: a request whose Transfer-Encoding
    is anything else is refused at its head, its connection closed, and nothing of its body
    is taken for one (a proxy before it may have framed it otherwise: request smuggling)."""
    version = "1.0" if coding == "in HTTP/1.0" else "1.1"
    head = (
        f"POST /v1/customers HTTP/{version}\r\nHost: gateway.test\r\n"
        f"Authorization: Bearer {token_for('crm-demo')}\r\n"
        "Content-Type: application/json\r\nIdempotency-Key: unframed\r\n"
    ).encode()
    with _connect(patient_gateway) as sock:
        sock.sendall(head + UNFRAMED_CODINGS[coding] + b"\r\n2\r\n{}\r\n0\r\n\r\n")
        raw, took = _read_until_closed(sock)
    assert "Transfer-Encoding" in _refused(raw)["detail"]
    assert took < DEADLINE_S < PATIENT_LIMITS.body_timeout_s


@pytest.mark.parametrize("coding", [b"chunked", b"Chunked", b" chunked ", b", chunked"])
def test_a_chunked_body_is_read_whatever_the_codings_case_and_blanks(
    gateway: tuple[str, int], coding: bytes
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(
            _request_head(chunked=False, body_length=0).replace(
                b"Content-Length: 0", b"Transfer-Encoding: " + coding
            )
            + b"2\r\n{}\r\n0\r\n\r\n"
        )
        raw, _ = _read_until_closed(sock)
    status, _, problem = _problem(raw)
    # Read whole, and refused by its schema: a body of `{}` is no customer.
    assert (status, problem["code"]) == (400, "validation_failed"), problem
    assert "schema" in problem["detail"], problem


@pytest.mark.parametrize("method", [b"get", b"FOO"])
def test_a_method_the_parser_does_not_know_is_a_400_that_says_so_not_one_about_framing(
    gateway: tuple[str, int], method: bytes
) -> None:
    """httptools knows HTTP's registered methods, in upper case (they are case-sensitive),
    and stops at any other before it reads the path: a 400 whose detail names the method,
    not the framing the request never got to."""
    with _connect(gateway) as sock:
        sock.sendall(method + b" /v1/customers HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        raw, _ = _read_until_closed(sock)
    status, _, problem = _problem(raw)
    assert status == 400
    assert problem["code"] == "validation_failed"
    assert "method" in problem["detail"]
    assert "Content-Length" not in problem["detail"]


@pytest.mark.parametrize(
    "request_line",
    [b"GET v1/customers HTTP/1.1", b"CONNECT gateway.test:443 HTTP/1.1"],
    ids=["no leading slash", "authority form"],
)
def test_a_target_that_is_no_path_is_a_400_that_says_so_not_one_about_framing(
    gateway: tuple[str, int], request_line: bytes
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(request_line + b"\r\nHost: gateway.test\r\n\r\n")
        raw, _ = _read_until_closed(sock)
    status, _, problem = _problem(raw)
    assert status == 400
    assert problem["code"] == "validation_failed"
    assert "target" in problem["detail"]
    assert "Content-Length" not in problem["detail"]


@pytest.mark.parametrize(
    "target", [b"*", b"http://gateway.test"], ids=["asterisk form", "absolute form, no path"]
)
def test_options_asterisk_is_answered_with_every_method_the_gateway_takes_and_no_body(
    gateway: tuple[str, int], app: Starlette, target: bytes
) -> None:
    """RFC 9110 §9.3.7: `OPTIONS *` asks about the server as a whole (a ping, or a proxy's
    HTTP/1.1 check); so does the absolute form with an empty path and no query, which a
    proxy forwards as `*` (RFC 9112 §3.2.4). No token is asked, nothing is in the body, and
    the connection stays open for the next request."""
    served = {m for r in app.router.routes if isinstance(r, Route) for m in r.methods or ()}
    with _connect(gateway) as sock:
        sock.sendall(
            b"OPTIONS " + target + b" HTTP/1.1\r\nHost: gateway.test\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n"
        )
        raw, _ = _read_until_closed(sock)
    statuses = [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]
    assert statuses == [200, 200], raw
    head, _, rest = raw.partition(b"\r\n\r\n")
    headers = {
        k.lower(): v.strip()
        for k, _, v in (line.partition(":") for line in head.decode("latin-1").split("\r\n")[1:])
    }
    assert headers["allow"] == ", ".join(sorted(served | {"OPTIONS"}))
    assert headers["content-length"] == "0"  # RFC 9110 §9.3.7: no content, Content-Length 0
    assert "content-type" not in headers
    assert headers["x-correlation-id"]
    assert rest.startswith(b"HTTP/1.1 200")  # the health check's answer, right after it


@pytest.mark.parametrize("query", [b"", b"?external_ref=X"])
def test_an_absolute_form_target_with_an_empty_path_is_answered_as_its_path_slash(
    gateway: tuple[str, int], query: bytes
) -> None:
    """RFC 9110 §4.2.3: an http URI's empty path is `/`, as nginx takes it. It was the 400
    about framing and Content-Length (uvicorn failed on the path it could not find)."""
    answers = []
    for target in (b"http://gateway.test" + query, b"/" + query):
        with _connect(gateway) as sock:
            sock.sendall(
                b"GET " + target + b" HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n"
            )
            raw, _ = _read_until_closed(sock)
        status, _, problem = _problem(raw)
        answers.append((status, problem["code"], problem.get("instance")))
    assert answers[0] == answers[1]


def test_options_asterisk_has_its_access_line(
    gateway: tuple[str, int], access_lines: AccessLines
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(
            b"OPTIONS * HTTP/1.1\r\nHost: gateway.test\r\nX-Correlation-ID: ping-asterisk-1\r\n"
            b"Connection: close\r\n\r\n"
        )
        raw, _ = _read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200"), raw
    line = _access_line_of(access_lines, "ping-asterisk-1")
    assert (line.get("method"), line.get("path"), line.get("status")) == ("OPTIONS", "*", 200)


@pytest.mark.parametrize(
    "target", [b"GET *", b"DELETE *", b"POST *", b"OPTIONS *?verbose=1"], ids=bytes.decode
)
def test_another_method_with_the_asterisk_target_is_a_400_that_says_it_is_for_options(
    gateway: tuple[str, int], target: bytes
) -> None:
    """RFC 9112 §3.2.4: the asterisk form is `*` alone, and only for a server-wide OPTIONS;
    any other method with it names no resource (it was answered 404 "No resource at GET
    /*")."""
    with _connect(gateway) as sock:
        sock.sendall(
            target + b" HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 0\r\n"
            b"Connection: close\r\n\r\n"
        )
        raw, _ = _read_until_closed(sock)
    status, headers, problem = _problem(raw)
    assert (status, headers["content-type"]) == (400, "application/problem+json")
    assert problem["code"] == "validation_failed"
    assert "OPTIONS" in problem["detail"] and "`*`" in problem["detail"]
    assert "/*" not in problem["detail"]
    assert problem["correlation_id"] == headers["x-correlation-id"]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        (b"".join(b"X-F%d: v\r\n" % i for i in range(LIMITS.max_headers + 5)), b"fields"),
        (b"X-Big: " + b"v" * (LIMITS.max_head_bytes + 100) + b"\r\n", b"bytes"),
    ],
)
def test_a_pipelined_requests_head_is_held_to_the_limits_too(
    gateway: tuple[str, int], fields: bytes, why: bytes
) -> None:
    # The second request's head rides in the same read as the end of the first one.
    second = b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n" + fields + b"\r\n"
    with _connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n" + second)
        raw, _ = _read_until_closed(sock)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)
    assert statuses == [b"200", b"431"], raw
    assert why in raw.rpartition(b"\r\n\r\n")[2]  # the problem says which limit


def test_a_pipelined_requests_body_is_not_counted_as_its_head(gateway: tuple[str, int]) -> None:
    # A read that ends one request holds the next one's head: its body, in the next read and
    # larger than a head may be, is a body (not 431), and both are answered in order.
    body = json.dumps(payloads.customer("DE01")).encode()
    body += b" " * (2 * LIMITS.max_head_bytes - len(body))  # JSON may end in white space
    with _connect(gateway) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n"
            + _request_head(extra="Connection: close\r\n", body_length=len(body))
        )
        time.sleep(0.2)  # the body in a read of its own
        sock.sendall(body)
        raw, _ = _read_until_closed(sock)
    statuses = [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]
    assert statuses == [200, 201], raw


def _access_line_of(access_lines: AccessLines, correlation_id: str) -> dict[str, Any]:
    """The access line carrying `correlation_id`, once the writer thread has written it."""
    end = time.monotonic() + DEADLINE_S
    while True:
        access_log.stop()  # what is kept, written (the server's loop is another thread)
        found = [e for e in access_lines.entries if e.get("correlation_id") == correlation_id]
        if found or time.monotonic() > end:
            return found[0] if found else {}
        access_log.start(short=False, out=access_lines)  # type: ignore[arg-type]
        time.sleep(0.02)


def _refused_count(status: int) -> float:
    return (
        REGISTRY.get_sample_value(
            "gateway_request_duration_seconds_count",
            {"operation": NO_OPERATION, "status": str(status), "backend": NO_BACKEND},
        )
        or 0.0
    )


def test_a_refusal_by_the_server_has_its_access_line_and_counts_as_a_request(
    gateway: tuple[str, int], access_lines: AccessLines
) -> None:
    # The refusal names a correlation id to the client; the on-call engineer it is quoted to
    # finds that id in the access log, and the 431 in the request metric's rate of refusals.
    before = _refused_count(431)
    extra = "".join(f"X-Field-{i}: {i}\r\n" for i in range(LIMITS.max_headers + 5))
    with _connect(gateway) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n{extra}\r\n".encode())
        raw, _ = _read_until_closed(sock)
    status, headers, problem = _problem(raw)
    assert status == 431
    assert headers["x-correlation-id"] == problem["correlation_id"]
    line = _access_line_of(access_lines, problem["correlation_id"])
    assert (line.get("logger"), line.get("status")) == ("gateway.access", 431)
    assert line.get("code") == "headers_too_large"
    assert _refused_count(431) == before + 1
