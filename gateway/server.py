"""How the gateway is served over HTTP/1.1: uvicorn with limits that a hostile or careless
client cannot stretch (header and idle timeouts, header size and count, connections per worker).

Not the application (see `gateway.app`, which owns the body read timeout) nor the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httptools
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from gateway.api.problems import PROBLEM_MEDIA_TYPE, problem_body
from gateway.domain.errors import Code, GatewayError, echoed
from gateway.forced_stop import QUIT_AT_ONCE, WRITE_OUT_S, QuitAtOnce, Unwritten
from gateway.observability.client_address import LOOPBACK_PROXIES, address_of
from gateway.observability.forwarded_for import ForwardedFor
from gateway.observability.logging import access_log
from gateway.observability.metrics import NO_BACKEND, NO_OPERATION, REQUEST_SECONDS_BY
from gateway.observability.trace_context import CORRELATION_HEADER
from gateway.ops.reload import SUPERVISOR_ENV
from gateway.pipeline.cut_off import is_cut_off, mark_cut_off
from gateway.quiet_stop import CutOffTracebacks, abandon_tasks
from gateway.sockets import bound, host_port

log = logging.getLogger("gateway.server")

DRAIN_S = 30  # on SIGTERM: finish what is in flight for at most this long
# Then, for what the drain (or a second SIGINT) cut off: at most this long to answer 503 and
# give back what it held.
UNWIND_S = 2.0


@dataclass(frozen=True)
class ServerLimits:
    """What one request or connection may take of a worker. The defaults are safe for a CRM
    client; `gateway serve --help` lists the options that change them."""

    head_timeout_s: float = 10.0  # from a connection (or a request's first byte) to its headers
    body_timeout_s: float = 10.0  # from the body's first byte to its last (the body step)
    keepalive_timeout_s: float = 5.0  # an idle connection between requests
    max_head_bytes: int = 32 * 1024  # request line and header fields together
    max_headers: int = 100
    max_connections: int = 1000  # open connections per worker


class GatewayServerConfig(uvicorn.Config):
    """uvicorn's configuration with the gateway's limits (a class, so that workers, which
    unpickle it, get the limits too). `trusted_proxies` (see `client_address.trusted_proxies`):
    the peers whose X-Forwarded-For names the client, whose address is then the request's
    (`client_ip` in the access log); none, every peer is the client."""

    def __init__(
        self,
        app: Any,
        *,
        limits: ServerLimits,
        trusted_proxies: tuple[str, ...] = LOOPBACK_PROXIES,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            app,
            http=GuardedProtocol,
            timeout_keep_alive=limits.keepalive_timeout_s,  # type: ignore[arg-type]  # seconds
            server_header=False,  # nothing to tell an attacker about what runs here
            # Never uvicorn's ProxyHeadersMiddleware: it takes an entry that is no address
            # (`unknown`, a caller's text) as the client. `load` puts ForwardedFor there.
            proxy_headers=False,
            # The gateway serves no WebSocket: a handshake is a request like any other (uvicorn's
            # handshake answered a text/plain 403 or 400 that no access line recorded).
            ws="none",
            # Never uvicorn's handlers and format: its loggers write through the gateway's
            # (`configure_logging`), at the level `log_level` sets.
            log_config=None,
            **kwargs,
        )
        self.limits = limits
        self.trusted_proxies = trusted_proxies

    def load(self) -> None:
        super().load()
        if self.trusted_proxies:  # outermost, where uvicorn puts its own
            self.loaded_app = ForwardedFor(self.loaded_app, self.trusted_proxies)


class _RequestHead:
    """Counts a request's head as its bytes arrive, before the parser buffers any of them, so
    that a 30 MB header is refused at the limit, not after it has been read into memory."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.awaiting = True
        self.size = 0
        self.lines = 0
        self.begun = False  # the parser has begun the request (its request line)
        # A head begun in the read that ended the request before it (pipelined) is counted as
        # the parser reads it too: what that read holds of it came before it began.
        self.pipelined = False
        self.parsed = 0  # bytes of its request line and fields, as parsed
        self.fields = 0
        self._tail = b""

    def begin(self, read: bytes | None) -> None:
        """The parser began a request. With nothing of it counted, it began in `read` after an
        earlier request ended there (pipelined): what `read` holds of its head is counted as
        the parser reads it, and its last bytes may be part of the head's end."""
        if self.size == 0 and read is not None:
            self._tail = read[-3:]
            self.pipelined = True
        self.begun = True

    def feed(self, data: bytes) -> None:
        if self.size == 0 and not self.begun:
            data = data.lstrip(b"\r\n")  # empty lines before a request line are not its end
            if not data:
                return
        window = self._tail + data if self._tail else data
        end = end_of_head(window)
        taken = len(data) if end < 0 else max(0, end - len(self._tail))
        self.size += taken
        self.lines += data.count(b"\n", 0, taken)
        self._tail = window[-3:]
        if end >= 0:
            self.awaiting = False


def end_of_head(data: bytes) -> int:
    """Where the empty line that ends a request's head ends in `data` (after its LF), or -1.
    A line ends with CR LF or a bare LF, as httptools takes it: the first LF followed by LF or
    by CR LF, found by two searches in C (a regular expression took four times as long)."""
    lf = data.find(b"\n\n")
    crlf = data.find(b"\n\r\n")
    if lf < 0:
        return crlf + 3 if crlf >= 0 else -1
    return lf + 2 if crlf < 0 or lf < crlf else crlf + 3


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing (with a problem document, then closing) a request
    the parser cannot frame (400), a head that is too slow (408), too large or has too many
    fields (431), and a connection beyond the worker's limit (503). A body it cannot frame (a
    malformed chunk) is refused by the request's app as it reads it (`_refuse_body`)."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.app = _RefusableBodies(self.app)
        self._limits: ServerLimits = getattr(config, "limits", ServerLimits())
        self._head = _RequestHead()
        # The head's deadline is checked by one timer per connection, armed lazily: a request
        # only notes when its head began (`_head_since`), and the timer, firing, refuses a head
        # past its time, waits on for one that is not, and disarms when none is awaited. A
        # timer set and cancelled per request cost a keep-alive connection two event-loop
        # calls a request.
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_since: float | None = None  # when the awaited head began (loop time)
        self._read: bytes | None = None  # what the parser is parsing, while it does
        # A head refused before the parser ended it: a pipelined one over a limit, or one
        # without exactly one valid Host.
        self._head_refusal: GatewayError | None = None
        self._refusal: GatewayError | None = None  # answered once the answer before it is
        self._refused_since: float | None = None  # when the refused head began (loop time)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            self._refuse(
                GatewayError(
                    Code.GATEWAY_BUSY,
                    "The gateway has as many connections open as it takes; retry shortly.",
                    headers={"Retry-After": "1"},
                )
            )
            return
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        head = self._head
        if head.awaiting:
            if head.size == 0 and self._head_since is None:
                self._start_head_timer()  # the first byte of the next request on this connection
            head.feed(data)
            if head.size > self._limits.max_head_bytes:
                self._refuse(_too_large(f"larger than {self._limits.max_head_bytes} bytes"))
                return
            if head.lines - 2 > self._limits.max_headers:  # less the request and empty lines
                self._refuse(_too_large(f"more than {self._limits.max_headers} header fields"))
                return
        self._read = data
        try:
            self._parse(data)
        finally:
            self._read = None

    def _parse(self, data: bytes) -> None:
        """uvicorn's `data_received` (0.54), without its two warnings. A request the parser
        refuses is answered with a problem and logged as every request is, its access line
        with the correlation id the client was given (`send_400_response`): uvicorn's
        "Invalid HTTP request received." said it again, with nothing to find it by. An upgrade
        the server does not make (`Upgrade: h2c`, as `curl --http2` asks on http://; a
        WebSocket, which the gateway does not serve) is no fault: the request is answered as
        HTTP/1.1, as RFC 9110 allows, and logged; uvicorn said "Unsupported upgrade request."
        at each one (a debug line here)."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                log.debug("an upgrade not made (the request is answered as HTTP/1.1)")

    # The parser's word on where a request begins and its head ends is the last: one read may
    # end a request and hold the next one's head, or part of it (pipelining).
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head.begin(self._read)
        if self._head.awaiting and self._head_since is None:
            self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if self._head.pipelined:
            self._parsed(len(url) + len(b"GET  HTTP/1.1\r\n"), fields=0)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if self._head.pipelined:
            self._parsed(len(name) + len(value) + len(b": \r\n"), fields=1)

    def _parsed(self, size: int, fields: int) -> None:
        """Count what the parser read of a pipelined head; over a limit, stop the parser (it
        then says the request is malformed, `send_400_response`, answered with the 431)."""
        head = self._head
        head.parsed += size
        head.fields += fields
        if head.parsed > self._limits.max_head_bytes:
            self._head_refusal = _too_large(f"larger than {self._limits.max_head_bytes} bytes")
        elif head.fields > self._limits.max_headers:
            self._head_refusal = _too_large(f"more than {self._limits.max_headers} header fields")
        else:
            return
        raise _HeadRefused

    def on_headers_complete(self) -> None:
        self._head.awaiting = False
        self._head_since = None  # the timer, if armed, disarms when it fires
        refusal = _refused_head(self.headers, self.parser.get_http_version())
        if refusal is not None:  # stops the parser: answered by `send_400_response`
            self._head_refusal = refusal
            raise _HeadRefused
        # Not from `/` nor `*`: the absolute form, as a proxy sends (what is no URL at all,
        # `v1/customers`, the URL parser refuses here as in uvicorn: `send_400_response`).
        if not self.url.startswith(_PATH_OR_ASTERISK):
            self.url = _with_path(self.url, self.parser.get_method())
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head.reset()

    def send_400_response(self, msg: str) -> None:
        if self._head_refusal is not None:  # the parser stopped for a refused head
            self._refuse(self._head_refusal)
            return
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            # In the body of a request still unanswered: its head was whole (a cycle has
            # begun) and the parser had not ended it.
            self._refuse_body(cycle)
            return
        # Called from the parser's `except`: what it stopped at says what to tell the client.
        stopped = sys.exc_info()[1]
        if isinstance(stopped, httptools.HttpParserInvalidMethodError):
            # At the method, before the path. Methods are case-sensitive, and httptools knows
            # only the registered ones.
            self._refuse(
                GatewayError(
                    Code.VALIDATION_FAILED,
                    "The request's method is none HTTP defines (methods are case-sensitive: "
                    "GET, not get); a path the gateway serves answers another method 405 with "
                    "`Allow`.",
                )
            )
            return
        wrapped = stopped.__context__ if stopped is not None else None
        if isinstance(stopped, httptools.HttpParserInvalidURLError) or isinstance(
            wrapped, httptools.HttpParserInvalidURLError
        ):
            # At the target (in uvicorn's `on_url`, which the parser's error wraps): no path,
            # as `CONNECT host:443` (a proxy's request) or `GET v1/customers` send.
            self._refuse(
                GatewayError(
                    Code.VALIDATION_FAILED,
                    "The request's target is no path: send the path from its `/`, as "
                    "`GET /v2/customers HTTP/1.1`.",
                )
            )
            return
        # httptools refused the request's framing (both Content-Length and Transfer-Encoding,
        # two Content-Lengths, a folded header line...): a problem like every other refusal,
        # not uvicorn's text/plain line.
        self._refuse(
            GatewayError(
                Code.VALIDATION_FAILED,
                "The request is not well-formed HTTP/1.1 (its framing is ambiguous or its head "
                "malformed); send each header on one line, and the body's length once: "
                "Content-Length or Transfer-Encoding, not both.",
            )
        )

    def _start_head_timer(self) -> None:
        """A head begins now: it must be whole within the head timeout. An armed timer fires
        no later than that (it was armed for an earlier head) and looks again then."""
        self._head_since = now = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(
                now + self._limits.head_timeout_s, self._head_timer_fired
            )

    def _stop_head_timer(self) -> None:
        self._head_since = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timer_fired(self) -> None:
        self._head_timer = None
        since = self._head_since
        if since is None:
            return  # no head awaited: armed again when the next one begins
        due = since + self._limits.head_timeout_s
        if self.loop.time() < due:  # armed for an earlier head: this one has time left
            self._head_timer = self.loop.call_at(due, self._head_timer_fired)
            return
        self._head_too_slow()

    def _head_too_slow(self) -> None:
        self._head_since = None
        if self._head.awaiting and not self.transport.is_closing():
            if self._head.size == 0 and not self._head.begun:
                # No byte of a request (a new connection, or blank lines after an answer):
                # nobody waits for an answer. An idle connection is closed; one still writing
                # an answer is left to the keep-alive timeout that follows it.
                cycle = self.cycle
                if cycle is None or cycle.response_complete:
                    self.transport.close()
                return
            self._refuse(
                GatewayError(
                    Code.REQUEST_TIMEOUT,
                    f"The request's headers did not arrive within "
                    f"{self._limits.head_timeout_s:g} s; send the request again, whole.",
                )
            )

    def _refuse(self, error: GatewayError) -> None:
        """Answer `error` as a problem document on the raw connection, then close it; after
        the answer to an earlier request on it, if one is still being written (pipelined),
        so that each answer stays with its request."""
        since = self._head_since
        self._stop_head_timer()
        if self._refusal is not None:
            return  # refused already, waiting for the earlier answer
        self._refused_since = since
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not self.transport.is_closing():
            self._refusal = error
            self.transport.pause_reading()  # nothing more is read on this connection
            return
        self._refusal = error
        self._answer_refusal()

    def _refuse_body(self, cycle: RequestResponseCycle) -> None:
        """The parser cannot frame the body of `cycle`'s request (a chunk size that is no
        number, a chunk not ended by CRLF): its app, reading the body or yet to, is told at
        once (`_RefusableBodies`), and answers the 400 as its only answer and access line,
        journaled as a body its schema refuses; its Idempotency-Key, claimed only once the
        body is read, is free. Nothing more is read on the connection, which is closed once
        the request is answered (`on_response_complete`: its body was not read whole).
        Refused as a head is (`_refuse`), its refusal waited for the app's answer, and the app
        for the body until its timeout: a 408, seconds late. A request answered without its
        body (a 401, a read) keeps its answer."""
        if _BODY_REFUSED in cycle.scope:
            return  # told already (the parser stops at the same place again)
        cycle.scope[_BODY_REFUSED] = GatewayError(  # type: ignore[literal-required]
            Code.VALIDATION_FAILED,
            "The request body's chunked framing is malformed (RFC 9112 §7.1: each chunk is its "
            "size in hexadecimal, CRLF, its bytes, CRLF; the last is `0` CRLF CRLF); send the "
            "request again, its body framed so, or with Content-Length.",
            headers={"Connection": "close"},
        )
        cycle.message_event.set()  # wakes the app if it waits for the body
        if not self.transport.is_closing():
            self.transport.pause_reading()  # not `flow`'s: the app's reading resumes that

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if (
            cycle is not None
            and cycle.response_complete  # this request's (not a pipelined one waiting)
            and cycle.more_body
            and not self.transport.is_closing()
        ):
            # Answered before its body was read whole (a 401, a 413): the rest of it is not
            # awaited, and no timer would bound a client that sends it a byte at a time (each
            # byte cancels the keep-alive timer, and neither a head nor a body is awaited).
            self.transport.close()
            return
        if (
            self._refusal is not None
            and not self.pipeline
            and (cycle is None or cycle.response_complete)
        ):
            self._answer_refusal()

    def _answer_refusal(self) -> None:
        error = self._refusal
        assert error is not None
        if self.transport.is_closing():
            return
        correlation_id = str(uuid.uuid4())
        body = problem_body(error, correlation_id)
        head = [
            f"HTTP/1.1 {error.status} {_REASONS[error.status]}",
            f"content-type: {PROBLEM_MEDIA_TYPE}",
            f"content-length: {len(body)}",
            "connection: close",
            f"{CORRELATION_HEADER.lower()}: {correlation_id}",
            *(f"{name.lower()}: {value}" for name, value in error.headers.items()),
        ]
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        self.transport.close()
        self._log_refusal(error, correlation_id)

    def _log_refusal(self, error: GatewayError, correlation_id: str) -> None:
        """The refusal's access line and request metric, as every request has: the client
        was given `correlation_id`, and whoever it quotes it to finds it in the log. No
        operation is known (the request was not framed, or not read), nor its path."""
        now = self.loop.time()
        elapsed = now - (self._refused_since if self._refused_since is not None else now)
        status = error.status
        REQUEST_SECONDS_BY.labels(NO_OPERATION, str(status), NO_BACKEND).observe(elapsed)
        access_log.write(
            {
                "correlation_id": correlation_id,
                "method": None,
                "path": None,
                "status": status,
                "code": error.code.value,
                "duration_ms": round(elapsed * 1000, 2),
                # Its head unread (or not trusted yet): the peer, a proxy's address behind one.
                "client_ip": address_of(self.client[0]) if self.client else None,
                "client": peer(self.client),
            }
        )


# Where `_refuse_body` leaves a request's refusal: in its scope, the key the server's own.
_BODY_REFUSED = "gateway.body_refused"


class _RefusableBodies:
    """The app, reading each request's body through a receive channel that `_refuse_body` can
    end: once it has, the channel raises the refusal, a `GatewayError` that the body step
    (`read_body`), as every other step's error, lets through to be answered. ASGI has no
    message for a body that broke off unframeable: `http.disconnect` would have had the
    answer dropped (uvicorn writes nothing to a client it takes as gone), and an
    `http.request` with no more body would have had a truncated body taken as whole."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def receive_body() -> Any:
            refused = scope.get(_BODY_REFUSED)
            if refused is None:
                message = await receive()
                refused = scope.get(_BODY_REFUSED)
                if refused is None:
                    return message
            raise refused

        await self._app(scope, receive_body, send)


_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def peer(client: tuple[str, int] | None) -> str:
    """A connection's peer as a URL writes it: an IPv6 one in brackets (`[::1]:5555`, where
    `::1:5555` would read as another address); `?` when the transport did not say."""
    return host_port(client[0], client[1]) if client else "?"


_PATH_OR_ASTERISK = (b"/", b"*")


def _with_path(url: bytes, method: bytes) -> bytes:
    """An absolute-form target (`http://host/path?query`) as uvicorn can take it: with a path.
    uvicorn reads only the path and query of it, and failed on an empty path (`http://host`),
    which is `/` (RFC 9110 §4.2.3, as nginx takes it); with OPTIONS and no query, it is the
    server as a whole, `*`, as a proxy forwards it (RFC 9112 §3.2.4)."""
    parsed = httptools.parse_url(url)
    if parsed.path is not None:
        return url
    if parsed.query is None:
        return b"*" if method == b"OPTIONS" else b"/"
    return b"/?" + parsed.query


class _HeadRefused(Exception):
    """Raised in a parser callback to stop parsing a head over a limit, or one refused as it
    is framed (`_refused_head`)."""


# RFC 9110 §7.2: Host = uri-host [ ":" port ], uri-host an IP-literal or a reg-name (an IPv4
# address is one); empty when the target has no authority (RFC 9112 §3.2).
_HOST = re.compile(
    rb"(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|[0-9A-Za-z._~!$&'()*+,;=%-]*)(?::[0-9]*)?"
)


def _refused_head(headers: list[tuple[bytes, bytes]], http_version: str) -> GatewayError | None:
    """The 400 for a head whose request cannot be served as framed: an HTTP/1.1 request
    without exactly one valid Host field (RFC 9112 §3.2: which site it is for is a guess, and
    a proxy before the gateway may have guessed otherwise; HTTP/1.0 has no Host requirement),
    or a body sent with a transfer coding but chunked alone (`_coding_refusal`). Both MUST be
    refused by a server; one pass over the fields finds both."""
    hosts: list[bytes] = []
    codings: list[bytes] = []
    for name, value in headers:
        if name == b"host":
            hosts.append(value)
        elif name == b"transfer-encoding":
            codings.append(value)
    if (hosts or http_version != "1.0") and not (len(hosts) == 1 and _HOST.fullmatch(hosts[0])):
        return GatewayError(
            Code.VALIDATION_FAILED,
            "The request needs exactly one Host header naming the host it is for "
            "(RFC 9112 §3.2), as `Host: gateway.example.com`.",
        )
    return _coding_refusal(codings, http_version) if codings else None


def _coding_refusal(fields: list[bytes], http_version: str) -> GatewayError | None:
    """None for a body whose Transfer-Encoding `fields` say chunked, alone (the one transfer
    coding the gateway decodes, as most servers do), else the 400 (and the connection closed):
    chunked not last, the body's length cannot be known, and a server MUST refuse it (RFC 9112
    §6.3; the parser would read it to the connection's end); a coding before it, the body
    would be taken for what it is not (§6.1 suggests 501, which the closed list of codes has
    no code for); in HTTP/1.0, the field is faulty framing (§6.1)."""
    codings = [c.strip().lower() for field in fields for c in field.split(b",")]
    codings = [c for c in codings if c]  # a list may have empty elements (RFC 9110 §5.6.1)
    if http_version != "1.0" and codings == [b"chunked"]:
        return None
    sent = echoed(b", ".join(fields).decode("latin-1"))
    return GatewayError(
        Code.VALIDATION_FAILED,
        f"The request's Transfer-Encoding is `{sent}`; the gateway "
        "takes a body framed by Content-Length, or by Transfer-Encoding: chunked alone (in "
        "HTTP/1.1, and not compressed): send it so.",
    )


def _too_large(what: str) -> GatewayError:
    return GatewayError(
        Code.HEADERS_TOO_LARGE,
        f"The request's headers are {what}; send fewer or smaller ones.",
    )


class _WorkerListener:
    """A worker's own socket, as the supervisor hands it over: pickled as the address, so that
    each worker it starts (or starts again) unpickles a new socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._family = sock.family
        self._address = sock.getsockname()

    def __reduce__(self) -> tuple[Any, ...]:
        return (worker_socket, (self._family, self._address))


def worker_socket(family: socket.AddressFamily, address: Any) -> socket.socket:
    """In a worker: a socket bound to `address` beside its siblings' (SO_REUSEPORT). It listens
    when the worker's server starts, after the app has: until then the kernel hands new
    connections to the workers already serving, not to one that would keep them waiting."""
    try:
        return bound(family, address, reuse_address=True, reuse_port=True)
    except OSError as exc:
        log.error("a worker cannot listen on %s: %s", address, exc.strerror or exc)
        raise SystemExit(STARTUP_FAILURE) from None  # the supervisor stops: no restart loop


# A worker's exit status when its configuration is refused as it starts (sysexits' EX_CONFIG).
CONFIG_REFUSED = 78
RETRY_FIRST_S = 10.0  # a worker refused its configuration: started again after this at most,
RETRY_MAX_S = 30.0  # doubled at each refusal in a row up to this, or when the files change
FILES_CHECK_S = 1.0  # how often the files' version is read while a worker waits for them
# From a worker's start to its first answer to a health check (its interpreter up, the gateway
# imported: seconds, more on a busy host); silent longer, it is killed as hung.
STARTUP_S = 60.0


@dataclass
class _Worker:
    """What the supervisor knows of one worker process it runs."""

    started: float  # monotonic
    refusals: int = 0  # its configuration refused in a row before this start
    version: str | None = None  # the files' version at this start (when started again)
    pinged: bool = False  # sent its first health check
    answering: bool = False  # answered it: past its start


@dataclass
class _Refused:
    """A worker slot whose last start refused its configuration, waiting to start again."""

    refusals: int  # in a row
    version: str | None  # of the files when it was started
    due: float  # monotonic: started again then, the files changed or not
    checked: float  # monotonic: the files' version last read


class Supervisor(Multiprocess):
    """uvicorn's supervisor of several workers, but on SIGHUP each worker is sent the signal
    and reloads its configuration in place, as one worker does (the last good one kept on a
    refusal, audited, counted, logged with the file and line). uvicorn's own SIGHUP started a
    replacement for each worker in turn, and one that could not load the files was dropped
    with a traceback and nothing recorded. A worker has every worker reload by sending the
    supervisor SIGHUP (`gateway.ops.reload.reload_every_worker`, for the admin endpoint): its
    pid is in the workers' environment.

    A worker that dies is started again at once, as uvicorn does, unless it could not start
    because its configuration is refused (`CONFIG_REFUSED`): then it is started again when the
    files' version (`files_version`, key files included) changes, or after `RETRY_FIRST_S`,
    doubled at each refusal in a row up to `RETRY_MAX_S`. uvicorn started it again every half
    second for as long as the files stayed broken, each start a process importing the gateway
    and a line in the log.

    A worker still starting answers no health check: it is alive while its process is, for up
    to `STARTUP_S`. uvicorn waited 5 s for its answer and killed it as hung, so that on a busy
    host, where the imports take longer, every worker was killed and started again, for ever,
    the supervisor blocked 5 s on each meanwhile."""

    def __init__(
        self,
        config: uvicorn.Config,
        sockets: list[Any],
        files_version: Callable[[], str | None] = lambda: None,
    ) -> None:
        super().__init__(config, sockets)
        os.environ[SUPERVISOR_ENV] = str(os.getpid())  # inherited by every worker it starts
        # Workers still starting when SIGHUP came: told once they serve. Until its app has
        # started a worker has no SIGHUP handler, and the signal would end it; it may have
        # read the files before they changed.
        self._owed: list[Process] = []
        self._files_version = files_version
        self._workers: dict[Process, _Worker] = {}
        self._refused: dict[Process, _Refused] = {}  # dead, waiting to be started again

    def handle_hup(self) -> None:
        log.info("SIGHUP: every worker reloads its configuration")
        self._owed = list(self.processes)
        self._tell_owed()

    def keep_subprocess_alive(self) -> None:
        """uvicorn's, but a worker that refused its configuration waits, and one still
        starting is not asked for an answer it cannot give yet (see the class)."""
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            refused = self._refused.get(process)
            if refused is not None:
                why = self._why_start(refused)
                if why:
                    del self._refused[process]
                    log.info("starting the worker again: %s", why)
                    self._start(index, refused.refusals)
                continue
            worker = self._worker(process)
            if self._alive(process, worker):
                continue
            hung = process.process.is_alive()  # alive, but no answer to the health check
            process.kill()
            process.join()
            del self._workers[process]
            if process.exitcode == STARTUP_FAILURE:
                # Broken before it served (its app, its socket), as it would be at each start.
                log.error("worker [%s] failed to start: the gateway stops", process.pid)
                self.should_exit.set()
                return
            if process.exitcode == CONFIG_REFUSED:
                self._wait(process, worker.refusals + 1, worker.version)
                continue
            if not hung:
                what = f"died (exit status {process.exitcode})"
            elif worker.answering:
                what = f"did not answer in {self.config.timeout_worker_healthcheck} s, killed"
            else:
                what = f"did not start in {STARTUP_S:.0f} s, killed"
            log.warning("worker [%s] %s: started again", process.pid, what)
            self._start(index)
        if self._owed:
            self._tell_owed()

    def _worker(self, process: Process) -> _Worker:
        """What is known of `process`; of one of the first workers, from the first look."""
        worker = self._workers.get(process)
        if worker is None:
            worker = self._workers[process] = _Worker(time.monotonic())
        return worker

    def _alive(self, process: Process, worker: _Worker) -> bool:
        """Answering health checks (uvicorn's, which waits for the answer); while it starts,
        its process alive, its first health check sent and looked for, never waited for."""
        if worker.answering:
            return process.is_alive(timeout=self.config.timeout_worker_healthcheck)
        if not process.process.is_alive():
            return False
        connection = process.parent_conn
        try:
            if not worker.pinged:
                connection.send(b"ping")
                worker.pinged = True
            if connection.poll(0):
                connection.recv()  # the answer to that one health check: none is left over
                worker.answering = True
                return True
        except (OSError, EOFError, pickle.UnpicklingError):
            return False
        return time.monotonic() - worker.started < STARTUP_S

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            process = _WorkerProcess(self.config, self.sockets)
            process.start()
            self.processes.append(process)

    def _start(self, index: int, refusals: int = 0) -> None:
        process = _WorkerProcess(self.config, self.sockets)
        self._workers[process] = _Worker(time.monotonic(), refusals, self._version())
        process.start()
        self.processes[index] = process

    def _wait(self, process: Process, refusals: int, version: str | None) -> None:
        now = time.monotonic()
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (refusals - 1))
        if version is None:  # one of the first workers: the files as they are now
            version = self._version()
        self._refused[process] = _Refused(refusals, version, now + delay, now)
        if refusals == 1:  # each start says why it was refused; the wait is said once
            log.warning(
                "a worker's configuration is refused: it is started again when the "
                "configuration files change, or in %.0f s (the wait doubling at each refusal, "
                "up to %.0f s)",
                delay,
                RETRY_MAX_S,
            )

    def _why_start(self, refused: _Refused) -> str | None:
        """Why the waiting worker is started now, None to wait on."""
        now = time.monotonic()
        if now >= refused.due:
            return "its wait is over (the configuration files did not change)"
        if now - refused.checked < FILES_CHECK_S:
            return None
        refused.checked = now
        if self._version() != refused.version:
            return "the configuration files changed"
        return None

    def _version(self) -> str | None:
        try:
            return self._files_version()
        except Exception:  # a defect in the loader must not end the supervisor: it waits on
            return None

    def _tell_owed(self) -> None:
        waiting = []
        for process in self._owed:
            if process not in self.processes or process.pid is None:
                continue  # replaced: its replacement reads the files as they are when it starts
            if process in self._refused:
                continue  # dead: started again later, on the files as they are then
            worker = self._workers.get(process)
            if worker is None or not worker.answering:
                waiting.append(process)  # still starting: asked once it answers
                continue
            if not process.is_ready(self.config.timeout_worker_healthcheck):
                waiting.append(process)
                continue
            with contextlib.suppress(ProcessLookupError):  # died meanwhile: replaced, as above
                os.kill(process.pid, signal.SIGHUP)
        self._owed = waiting


class GatewayServer(uvicorn.Server):
    """uvicorn's server, saying in the gateway's log when it stops and how that went: a line
    as the drain begins (the requests in flight, how long it waits for them at most) and one
    as it ends (drained, in how long; or how many requests the drain's limit, or a second
    SIGINT, cut off, each answered 503 by the app: `gateway.pipeline.cut_off`), each naming
    the worker's pid when there are several. uvicorn's own lines say neither count, nor
    whether a request was cut off, and go to its logger, which the gateway keeps at WARNING:
    an operator watching a rolling deploy saw nothing. Told to quit at once, it skips the
    app's lifespan shutdown, as uvicorn does, but not the write-out of what the app buffers
    for the store (`gateway.forced_stop`): its line says what was left unwritten, if any."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's (0.54), with the two lines: the second said before the app's lifespan
        # shutdown, which writes out the logs and stops their writer thread.
        state = self.server_state
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        limit = self.config.timeout_graceful_shutdown
        in_flight = len(state.tasks)
        self._say(
            logging.INFO,
            f"stopping: draining {_requests(in_flight)} in flight, "
            + (f"up to {limit:g} s" if limit is not None else "with no time limit"),
            in_flight=in_flight,
            drain_timeout_s=limit,
        )
        began = time.monotonic()
        for connection in list(state.connections):
            connection.shutdown()  # idle ones close; busy ones close once they have answered
        await asyncio.sleep(0.1)
        try:
            await asyncio.wait_for(self._drained(), timeout=limit)
        except TimeoutError:
            cut = self._cut_off()
            self._say(
                logging.WARNING,
                f"stopped: {_requests(len(cut))} cut off after {limit:g} s",
                cut_off=len(cut),
            )
            await _unwound(cut)  # before the app's shutdown closes the store and the logs
            if self.force_exit:  # a second SIGINT as they unwound: no shutdown, as below
                await self._quit_at_once(f"as {_requests(len(cut))} cut off unwound", cut=0)
        else:
            took = time.monotonic() - began
            if self.force_exit:  # a second SIGINT: uvicorn stops waiting for anything
                # Cut off as the drain's limit cuts off (uvicorn left them to the event
                # loop's end, which its protocol answered with a text/plain 500).
                cut = self._cut_off()
                await _unwound(cut)  # before the event loop's end cancels them again
                await self._quit_at_once(
                    f"after {took:.1f} s, {_requests(len(cut))} cut off", cut=len(cut)
                )
            else:
                self._say(logging.INFO, f"stopped: drained in {took:.1f} s", cut_off=0)
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _quit_at_once(self, how: str, cut: int) -> None:
        """Told to quit at once (`how`, for the stop line, with the count of requests it `cut`
        off): in place of the app's lifespan shutdown, which uvicorn skips, only what must not
        be lost (`gateway.forced_stop`): what the app buffers for the store, the cut-off
        requests' outcomes among it, written out in `WRITE_OUT_S` at most; the line says what
        could not be. Nothing to write out for an app that hands no such thing."""
        quit_at_once: QuitAtOnce | None = self.lifespan.state.get(QUIT_AT_ONCE)
        unwritten = Unwritten() if quit_at_once is None else await quit_at_once(WRITE_OUT_S)
        said = f"; not written in {WRITE_OUT_S:g} s: {unwritten.said()}" if unwritten else ""
        self._say(
            logging.WARNING,
            f"stopped: told to quit at once {how}{said}",
            cut_off=cut,
            unwritten=asdict(unwritten),
        )
        abandon_tasks(_CUT_OFF)

    def _cut_off(self) -> list[asyncio.Task[None]]:
        """The requests in flight, cancelled as the server stops without waiting for them any
        longer (the drain's limit, or a second SIGINT): each is answered 503 by the app
        (`gateway.pipeline.cut_off`) unless its answer has begun, with no traceback logged."""
        cut = list(self.server_state.tasks)
        mark_cut_off(cut)
        _CUT_OFF.watch()
        for task in cut:
            task.cancel(msg="Task cancelled, the server is stopping")
        return cut

    async def _drained(self) -> None:
        """Once every connection has closed and every request's task has ended (or a second
        SIGINT says not to wait), as uvicorn waits."""
        state = self.server_state
        # uvicorn's sets, which its protocols change with no event to wait on: polled, as it does.
        while (state.connections or state.tasks) and not self.force_exit:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        for server in self.servers:
            await server.wait_closed()

    def _say(self, level: int, message: str, **fields: Any) -> None:
        pid = os.getpid()
        worker = f"worker [{pid}] " if self.config.workers > 1 else ""
        log.log(level, worker + message, extra={"pid": pid, **fields})


class _CutOffTracebacks(CutOffTracebacks):
    """`CutOffTracebacks`, and a request the drain cut off (`gateway.pipeline.cut_off` knows
    them) whose answer had begun, so that the app could not answer it 503: its CancelledError,
    as the stop line has said."""

    def cut_off(self, task: asyncio.Task[Any]) -> bool:
        return super().cut_off(task) or is_cut_off(task)


_CUT_OFF = _CutOffTracebacks()


async def _unwound(cut: list[asyncio.Task[None]]) -> None:
    """Once the requests `_cut_off` cancelled have ended, `UNWIND_S` at most: their answers,
    access lines and journal entries, and the idempotency keys they give back."""
    if cut:
        await asyncio.wait(cut, timeout=UNWIND_S)


def _requests(count: int) -> str:
    return f"{count} request{'' if count == 1 else 's'}"


class _WorkerProcess(Process):
    """uvicorn's worker process, serving with `GatewayServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = GatewayServer(config=self.config)
        return self._server


class StartupFailed(Exception):
    """A worker stopped before it served, and its supervisor with it (its log says why)."""


def run(
    config: GatewayServerConfig,
    sock: socket.socket,
    files_version: Callable[[], str | None] = lambda: None,
) -> None:
    """Serve on `sock` with `config.workers` processes (one: in this process); on a socket
    that is not listening (`listening_socket` for several workers), each worker listens on a
    socket of its own at its address. `StartupFailed` when a worker stopped before it served
    (one worker: when it refused its configuration too). `files_version`: the configuration
    files' version, which a worker that refused them waits to change (see `Supervisor`)."""
    if config.workers > 1:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        sockets: list[Any] = [sock] if listening else [_WorkerListener(sock)]
        supervisor = Supervisor(config, sockets=sockets, files_version=files_version)
        supervisor.run()
        # The supervisor stops when a worker exits before it served (a broken app, a socket
        # it cannot have), and would restart it forever otherwise.
        if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
            raise StartupFailed
        return
    try:
        GatewayServer(config).run(sockets=[sock])  # a startup failure exits (STARTUP_FAILURE)
    except SystemExit as exc:
        if exc.code == CONFIG_REFUSED:  # the files broke since they were checked: said above
            raise StartupFailed from None
        raise
