"""The pooled connections of the Redis store (every command but the request path's pipelines)
after Redis restarts: a connection Redis closed while it sat in the pool is replaced when it is
next taken, never handed out to fail a command (a readiness probe, a script, an admin read)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.store.redis import RedisStore
from tests.redis_server import RedisProcess, redis_server_installed


@pytest.mark.skipif(not redis_server_installed(), reason="needs the redis-server executable")
async def test_connections_idle_in_the_pool_through_a_redis_restart_are_replaced() -> None:
    with RedisProcess() as server:
        store = RedisStore.from_url(server.url)
        try:
            # Several commands at once: the pool opens a connection for each, which then idle.
            await asyncio.gather(*(store.ping() for _ in range(4)))
            await asyncio.to_thread(server.stop)  # the event loop runs on meanwhile, as it would
            await asyncio.to_thread(server.start)
            for _ in range(4):  # each takes one of the connections the restart closed
                await store.ping()
        finally:
            await store.aclose()
