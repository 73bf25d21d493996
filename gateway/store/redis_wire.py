"""One connection to one Redis that every request of a process shares: each pipeline is written
as it comes, back to back with the others, and the replies, which Redis sends in the order of
the commands, are handed to their pipelines in that order (hiredis parses them).

redis-py's pipelines take a pooled connection, build a pipeline object, pack, send and read
per call: about three times the CPU of the round trip itself, paid on every request. This is
the request path's way to a single Redis (admission, settle, the xref's scripts); a Redis
Cluster, TLS, and every other command go through redis-py.

Not the scripts or the batching (see `redis_batch.py`), nor what counts as unavailable (see
`redis_errors.py`): a lost connection or a reply later than the timeout fails every pipeline
waiting on that connection with redis-py's ConnectionError or TimeoutError, and the next
pipeline connects again.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Command = tuple[Any, ...]
# redis-py's names for server errors (NOSCRIPT -> NoScriptError, ...), so callers see one kind.
_error = cast(Callable[[str], Exception], BaseParser.parse_error)
_WATCH_S = 0.05  # how often an open connection looks for a reply later than the timeout


@dataclass(frozen=True)
class Address:
    """Where one Redis listens and how to log in, from a `redis://` or `unix://` URL."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # a Unix socket
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Address:
        options = parse_url(url)
        return cls(
            host=str(options.get("host") or "127.0.0.1"),
            port=int(options.get("port") or 6379),
            path=options.get("path"),
            db=int(options.get("db") or 0),
            username=options.get("username"),
            password=options.get("password"),
        )

    def handshake(self) -> list[Command]:
        """What a new connection sends before any pipeline: AUTH and SELECT, as needed."""
        commands: list[Command] = []
        if self.password is not None:
            login = (self.username, self.password) if self.username else (self.password,)
            commands.append(("AUTH", *login))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands


@dataclass
class _Waiting:
    """One pipeline sent on the connection and the replies read for it so far."""

    future: asyncio.Future[list[Any]]
    expected: int
    sent_at: float
    replies: list[Any] = field(default_factory=list)


class _Connection(asyncio.Protocol):
    """One socket; pipelines wait in the order they were written."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._reader = hiredis.Reader()
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._unsent: list[bytes] = []  # pipelines written in this pass of the event loop
        self._overdue: _Waiting | None = None  # past the timeout at the last look
        self.lost = False

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's or uvloop's (whose transports are not asyncio.Transport subclasses).
        self._transport = cast(asyncio.Transport, transport)
        self._schedule_watch()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(RedisConnectionError(f"Redis sent what is not RESP: {exc}"))
                return
            if reply is False:
                return
            if not waiting:
                self._fail(RedisConnectionError("Redis sent a reply nobody asked for"))
                return
            if isinstance(reply, hiredis.ReplyError):
                reply = _error(str(reply))
            current = waiting[0]
            current.replies.append(reply)
            if len(current.replies) == current.expected:
                waiting.popleft()
                if not current.future.done():  # its caller may have been cancelled
                    current.future.set_result(current.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"Connection to Redis lost: {exc or 'closed'}"))

    # -- pipelines ----------------------------------------------------------------------
    def send(self, commands: list[Command]) -> asyncio.Future[list[Any]]:
        """Queue `commands` for this pass's write (`_write`); the future gets their replies
        (errors as exceptions)."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        if self.lost or self._transport is None:
            future.set_exception(RedisConnectionError("Connection to Redis lost"))
            return future
        packed = [hiredis.pack_command(c) for c in commands]  # a bad argument raises here,
        # before the pipeline takes a place in the order of the replies it would then shift
        self._waiting.append(_Waiting(future, len(commands), time.monotonic()))
        if not self._unsent:
            asyncio.get_running_loop().call_soon(self._write)
        self._unsent += packed
        return future

    def _write(self) -> None:
        """Every pipeline written in one pass of the event loop, in one write to the socket:
        a send costs more than the pipelines it carries, and the requests admitted together
        are answered together."""
        unsent, self._unsent = self._unsent, []
        if not self.lost and self._transport is not None and unsent:
            self._transport.write(b"".join(unsent))

    def close(self) -> None:
        self._fail(RedisConnectionError("Connection to Redis closed"))

    def _fail(self, error: Exception) -> None:
        """No reply can be trusted to its pipeline any more: every waiting one fails, and the
        socket is dropped so that the next pipeline opens a new one."""
        self.lost = True
        self._unsent.clear()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._transport is not None:
            self._transport.abort()
        while self._waiting:
            waiting = self._waiting.popleft()
            if not waiting.future.done():
                waiting.future.set_exception(error)

    def _schedule_watch(self) -> None:
        self._watch = asyncio.get_running_loop().call_later(_WATCH_S, self._check_timeout)

    def _check_timeout(self) -> None:
        """Fail the connection when the oldest pipeline has waited past the timeout at two
        looks in a row: after a stall of the event loop longer than the timeout (a long GC
        pause), uvloop runs this timer before it reads the socket, where the replies may be
        waiting; the second look comes after that read."""
        oldest = self._waiting[0] if self._waiting else None
        if oldest is not None and time.monotonic() - oldest.sent_at > self._timeout_s:
            if oldest is self._overdue:
                self._fail(RedisTimeoutError(f"Redis did not answer within {self._timeout_s} s"))
                return
            self._overdue = oldest
        else:
            self._overdue = None
        self._schedule_watch()


class SharedConnection:
    """Pipelines to one Redis over one shared connection, opened on first use and again after
    it is lost; `execute` has the same contract as a redis-py pipeline run with
    `raise_on_error=False` (each command's reply, a server error as its exception)."""

    def __init__(self, address: Address, *, connect_timeout_s: float, timeout_s: float) -> None:
        self._address = address
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._connection: _Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._closes = 0  # how many times `aclose` ran: a connection opened across one is shut

    @classmethod
    def from_url(cls, url: str, *, connect_timeout_s: float, timeout_s: float) -> SharedConnection:
        return cls(Address.from_url(url), connect_timeout_s=connect_timeout_s, timeout_s=timeout_s)

    async def execute(self, commands: list[Command]) -> list[Any]:
        connection = self._connection
        if connection is None or connection.lost or self._loop is not asyncio.get_running_loop():
            connection = await self._connected()
        return await connection.send(commands)

    async def load_script(self, source: str | bytes | memoryview) -> None:
        (reply,) = await self.execute([("SCRIPT", "LOAD", source)])
        if isinstance(reply, Exception):
            raise reply

    async def aclose(self) -> None:
        self._closes += 1
        if self._connection is not None and self._loop is asyncio.get_running_loop():
            self._connection.close()
        self._connection = None

    async def _connected(self) -> _Connection:
        """The open connection; one caller opens it while the others wait for that."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (a test's): the old socket is not ours
            self._connection, self._connecting, self._loop = None, None, loop
        if self._connecting is None:
            self._connecting = loop.create_future()
            closes = self._closes
            try:
                connection = await self._open()
                if self._closes != closes:  # closed meanwhile (a shutdown): not left open
                    connection.close()
                    raise RedisConnectionError("The connection to Redis was closed as it opened")
            except BaseException as exc:
                # The opener's own cancellation is not the others' to share: they get Redis
                # unavailable (503), and the next caller opens again.
                failure = (
                    RedisConnectionError("Opening the connection to Redis was abandoned")
                    if isinstance(exc, asyncio.CancelledError)
                    else exc
                )
                self._connecting.set_exception(failure)
                self._connecting.exception()  # retrieved: the waiters, if any, re-raise it
                self._connecting = None
                raise
            self._connection = connection
            self._connecting.set_result(connection)
            self._connecting = None
            return connection
        return await asyncio.shield(self._connecting)

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        address = self._address

        def protocol() -> _Connection:
            return _Connection(self._timeout_s)

        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if address.path is not None:
                    _, connection = await loop.create_unix_connection(protocol, address.path)
                else:
                    _, connection = await loop.create_connection(
                        protocol, address.host, address.port
                    )
        except TimeoutError as exc:
            raise RedisTimeoutError(f"Timeout connecting to Redis at {address.host}") from exc
        except OSError as exc:
            where = address.path or f"{address.host}:{address.port}"
            raise RedisConnectionError(f"Cannot connect to Redis at {where}: {exc}") from exc
        handshake = address.handshake()
        if handshake:
            try:
                replies = await connection.send(handshake)
            except BaseException:
                connection.close()  # cancelled or lost while logging in: never left open
                raise
            for reply in replies:
                if isinstance(reply, Exception):
                    connection.close()
                    raise reply
        return connection
