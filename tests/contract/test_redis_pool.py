"""The pooled connections of the Redis store (every command but the request path's pipelines),
to one Redis or to a cluster's nodes, after Redis restarts: a connection Redis closed while it
sat in the pool is replaced when it is next taken, never handed out to fail a command (a
readiness probe, a script, an admin read)."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from redis.asyncio.cluster import RedisCluster

from gateway.store.redis import RedisStore
from tests.redis_cluster import RedisClusterProcesses, redis_cluster_possible
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


@pytest.mark.skipif(not redis_cluster_possible(), reason="needs redis-server and redis-cli")
async def test_a_cluster_nodes_idle_connections_through_its_restart_are_replaced() -> None:
    with RedisClusterProcesses() as cluster:
        store = RedisStore.from_url(cluster.node_url, cluster=True)
        client = cast(RedisCluster, store._redis)
        keys = [f"k{n}" for n in range(60)]  # keys in every node's slots
        try:
            await asyncio.gather(*(client.set(key, "v") for key in keys))  # connections made
            node = cluster.nodes[1]
            await asyncio.to_thread(node.stop)
            await asyncio.to_thread(node.start)
            await asyncio.to_thread(cluster.wait_ready)
            for key in keys:  # the restarted node's connections were closed while they idled
                assert await client.get(key) in (b"v", None)  # its data went: no persistence
        finally:
            await store.aclose()
