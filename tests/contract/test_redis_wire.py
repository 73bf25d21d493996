"""The request path's shared Redis connection (`gateway.store.redis_wire`) on a real Redis:
each pipeline gets its own replies however many share the socket, a server error stands in
its command's place, and a lost or stalled connection fails only what it held, never hands a
reply to the wrong caller, and is opened again by the next pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from asyncio import selector_events
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvloop
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.store.redis_wire import Address, SharedConnection
from tests.conftest import delete_keys, redis_url, unique_prefix
from tests.redis_server import RedisProcess, redis_server_installed

TIMEOUT_S = 2.0


def shared(url: str, timeout_s: float = TIMEOUT_S) -> SharedConnection:
    return SharedConnection.from_url(url, connect_timeout_s=1.0, timeout_s=timeout_s)


@contextlib.asynccontextmanager
async def connection() -> AsyncIterator[tuple[SharedConnection, str]]:
    url, prefix = redis_url(), unique_prefix()
    wire = shared(url)
    try:
        yield wire, prefix
    finally:
        await wire.aclose()
        await delete_keys(url, prefix)


@pytest.mark.redis
async def test_concurrent_pipelines_on_one_connection_each_get_their_own_replies() -> None:
    async with connection() as (wire, prefix):

        async def one(n: int) -> list[object]:
            key = f"{prefix}n:{n}"
            return await wire.execute(
                [("SET", key, f"v{n}"), ("INCRBY", key + ":c", n), ("GET", key)]
            )

        replies = await asyncio.gather(*(one(n) for n in range(300)))
        assert replies == [[b"OK", n, f"v{n}".encode()] for n in range(300)]
        (client_id,) = await wire.execute([("CLIENT", "ID")])
        assert await wire.execute([("CLIENT", "ID")]) == [client_id]  # one socket throughout


@pytest.mark.redis
async def test_pipelines_sent_in_one_pass_of_the_event_loop_share_one_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes: list[int] = []
    original = selector_events._SelectorSocketTransport.write

    def counted(transport: Any, data: Any) -> None:
        writes.append(len(data))
        original(transport, data)

    monkeypatch.setattr(selector_events._SelectorSocketTransport, "write", counted)
    async with connection() as (wire, prefix):
        await wire.execute([("PING",)])  # connected
        writes.clear()
        replies = await asyncio.gather(*(wire.execute([("INCR", f"{prefix}w")]) for _ in range(50)))
        assert sorted(reply[0] for reply in replies) == list(range(1, 51))
        assert len(writes) == 1


@pytest.mark.redis
async def test_a_server_error_is_its_commands_reply_and_the_others_still_answer() -> None:
    async with connection() as (wire, prefix):
        key = f"{prefix}text"
        replies = await wire.execute(
            [("SET", key, "x"), ("EVALSHA", "0" * 40, 0), ("LPUSH", key, "y"), ("GET", key)]
        )
        assert replies[0] == b"OK" and replies[3] == b"x"
        assert isinstance(replies[1], NoScriptError)  # what `Batch` reloads scripts on
        assert isinstance(replies[2], ResponseError) and "WRONGTYPE" in str(replies[2])


@pytest.mark.redis
async def test_a_cancelled_caller_does_not_shift_the_replies_of_the_next() -> None:
    async with connection() as (wire, prefix):
        key = f"{prefix}after"
        await wire.execute([("SET", key, "mine")])
        waiting = asyncio.create_task(wire.execute([("BLPOP", f"{prefix}empty", 0.2)]))
        await asyncio.sleep(0.05)
        waiting.cancel()
        assert await wire.execute([("GET", key)]) == [b"mine"]


@pytest.mark.redis
async def test_a_killed_connection_fails_what_it_held_and_the_next_pipeline_reconnects() -> None:
    async with connection() as (wire, prefix):
        key = f"{prefix}k"
        (before,) = await wire.execute([("CLIENT", "ID")])
        held = asyncio.create_task(wire.execute([("BLPOP", f"{prefix}empty", 5)]))
        await asyncio.sleep(0.05)
        admin = aioredis.Redis.from_url(redis_url())
        try:
            assert await admin.client_kill_filter(_id=before) == 1
        finally:
            await admin.aclose()
        with pytest.raises(RedisConnectionError):
            await held
        assert await wire.execute([("SET", key, "v"), ("GET", key)]) == [b"OK", b"v"]
        (after,) = await wire.execute([("CLIENT", "ID")])
        assert after != before


@pytest.mark.redis
async def test_the_database_of_the_url_is_selected() -> None:
    base = redis_url().rsplit("/", 1)[0]
    key = f"{unique_prefix()}db"
    wire = shared(f"{base}/7")
    other = aioredis.Redis.from_url(f"{base}/7")
    try:
        await wire.execute([("SET", key, "seven", "PX", 60_000)])
        assert await other.get(key) == b"seven"
    finally:
        await other.delete(key)
        await other.aclose()
        await wire.aclose()


@pytest.mark.skipif(not redis_server_installed(), reason="needs the redis-server executable")
async def test_a_password_logs_in_and_a_wrong_one_is_refused() -> None:
    with RedisProcess() as server:
        admin = aioredis.Redis.from_url(server.url)
        await admin.config_set("requirepass", "s3cret")
        await admin.aclose()
        url = server.url.replace("redis://", "redis://:s3cret@")
        assert Address.from_url(url).handshake() == [("AUTH", "s3cret")]
        right = shared(url)
        try:
            assert await right.execute([("PING",)]) == [b"PONG"]
        finally:
            await right.aclose()
        wrong = shared(server.url.replace("redis://", "redis://:nope@"))
        with pytest.raises(RedisConnectionError):  # AuthenticationError: Redis unavailable
            await wrong.execute([("PING",)])


@pytest.mark.redis
def test_it_works_on_uvloop_as_gateway_serve_runs_it() -> None:
    url = redis_url()
    base = url.rsplit("/", 1)[0]

    async def ping() -> list[object]:
        # A database other than 0: its SELECT is the connection's first exchange.
        wire = shared(f"{base}/5")
        try:
            return await wire.execute([("PING",)])
        finally:
            await wire.aclose()

    assert uvloop.run(ping()) == [b"PONG"]


@pytest.mark.redis
def test_one_shared_connection_serves_a_second_event_loop() -> None:
    wire = shared(redis_url())

    async def ping() -> list[object]:
        return await wire.execute([("PING",)])

    assert asyncio.run(ping()) == [b"PONG"]
    assert asyncio.run(ping()) == [b"PONG"]  # the first loop's socket is not reused


@pytest.mark.redis
async def test_a_command_that_cannot_be_sent_takes_no_place_in_the_order_of_replies() -> None:
    async with connection() as (wire, _):
        with pytest.raises(TypeError):  # hiredis packs str, int, float and bytes only
            await wire.execute([("ECHO", None)])  # type: ignore[list-item]
        first = asyncio.ensure_future(wire.execute([("ECHO", "first")]))
        second = asyncio.ensure_future(wire.execute([("ECHO", "second")]))
        assert await first == [b"first"]
        assert await second == [b"second"]


async def test_the_opener_cancelled_while_it_logs_in_fails_the_others_as_unavailable() -> None:
    # A slow "Redis" (it answers the SELECT after 0.3 s): the caller opening the connection is
    # cancelled meanwhile (a shadow sample's deadline); a request waiting for that connection
    # gets Redis unavailable (a 503), not its own cancellation, and no socket is left open.
    slow = _SlowToLogIn()
    server = await asyncio.start_server(slow.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    wire = shared(f"redis://127.0.0.1:{port}/13")
    try:
        opener = asyncio.create_task(wire.execute([("PING",)]))
        await asyncio.sleep(0.05)
        other = asyncio.create_task(wire.execute([("PING",)]))
        await asyncio.sleep(0.05)
        opener.cancel()
        with pytest.raises(RedisConnectionError):
            await other
        await asyncio.sleep(0.4)  # the SELECT's answer comes to a socket that is closed
        assert slow.closed == slow.opened == 1
        assert await wire.execute([("PING",)]) == [b"PONG"]  # the next caller opens again
    finally:
        await wire.aclose()
        server.close()


async def test_closing_while_the_connection_opens_leaves_no_socket_open() -> None:
    # A shutdown (aclose) while a request opens the connection: the request gets Redis
    # unavailable once the login is answered, and the new socket is closed, not left open.
    slow = _SlowToLogIn()
    server = await asyncio.start_server(slow.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    wire = shared(f"redis://127.0.0.1:{port}/13")
    try:
        opener = asyncio.create_task(wire.execute([("PING",)]))
        await asyncio.sleep(0.05)
        await wire.aclose()
        with pytest.raises(RedisConnectionError):
            await opener
        await asyncio.sleep(0.1)
        assert slow.closed == slow.opened == 1
    finally:
        server.close()


class _SlowToLogIn:
    """A "Redis" that answers a connection's first command (its SELECT) after 0.3 s, then PONG
    to anything; it counts the connections opened and closed."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        await reader.read(100)
        await asyncio.sleep(0.3)
        writer.write(b"+OK\r\n")
        with contextlib.suppress(ConnectionError):
            while await reader.read(100):
                writer.write(b"+PONG\r\n")
        self.closed += 1


@pytest.mark.redis
def test_replies_that_came_while_the_event_loop_was_stalled_are_not_a_timeout() -> None:
    # uvloop runs due timers before it reads the sockets: after a stall longer than the reply
    # timeout (a long GC pause, a slow callback), the timeout watch must not fail pipelines
    # whose replies came meanwhile and wait, unread, in the socket.
    url = redis_url()

    async def stalled() -> list[object]:
        wire = shared(url, timeout_s=0.3)
        here, there = socket.socketpair()
        loop = asyncio.get_running_loop()
        try:
            await wire.execute([("PING",)])  # connected
            connection: Any = wire._connection
            write = connection._write

            def write_then_wake() -> None:  # the stall starts right after the pipeline is sent
                write()
                there.send(b"x")

            connection._write = write_then_wake
            loop.add_reader(here, lambda: (here.recv(1), time.sleep(0.6)))
            return await wire.execute([("ECHO", "late")])
        finally:
            loop.remove_reader(here)
            here.close()
            there.close()
            await wire.aclose()

    assert uvloop.run(stalled()) == [b"late"]


async def test_a_redis_that_does_not_answer_fails_its_pipelines_as_a_timeout() -> None:
    # A "Redis" that takes the bytes and never answers: the pipeline fails with redis-py's
    # TimeoutError (the store's unavailable, a 503) soon after the timeout, not never.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(100):
                pass
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    wire = shared(f"redis://127.0.0.1:{port}", timeout_s=0.2)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(wire.execute([("PING",)]), timeout=5.0)
        assert asyncio.get_running_loop().time() - started >= 0.2
    finally:
        await wire.aclose()
        server.close()
