"""Shared fixtures: `store` runs a test once on the memory store and once on Redis.

Not a Redis launcher: Redis comes from GATEWAY_TEST_REDIS_URL (`make test` sets it up).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis.asyncio as aioredis

from gateway.observability.logging import access_log
from gateway.store.base import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from tests.configs import copy_config
from tests.redis_cluster import RedisClusterProcesses, redis_cluster_possible
from tests.redis_server import REDIS_URL_ENV

MEMORY = "memory"
REDIS = "redis"
CLUSTER = "cluster"  # a local three-master Redis Cluster (tests/redis_cluster.py)
NO_REDIS = (
    f"{REDIS_URL_ENV} is not set: run `make test` (it finds or starts a Redis) "
    f"or set it to a redis:// URL"
)


class Clock(Protocol):
    """Lets a test wait for leases and buckets to move on, whichever store it runs on."""

    async def advance(self, seconds: float) -> None: ...


class ManualClock:
    """The memory store's injected clock: time moves only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        self.now += seconds


class RealClock:
    """Redis keeps its own time (TIME, PX expiries): the only way forward is to wait."""

    async def advance(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def redis_url() -> str:
    url = os.environ.get(REDIS_URL_ENV, "")
    if not url:
        pytest.skip(NO_REDIS)
    return url


def unique_prefix() -> str:
    """A key prefix no other test (or engineer sharing this Redis) uses."""
    return f"gwtest:{uuid.uuid4().hex[:12]}:"


async def delete_keys(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=[MEMORY, pytest.param(REDIS, marks=pytest.mark.redis)])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterProcesses]:
    """A local three-master Redis Cluster for this session (skips without redis-server)."""
    if not redis_cluster_possible():
        pytest.skip("redis-server and redis-cli are needed for the Redis Cluster tests")
    with RedisClusterProcesses() as cluster:
        yield cluster


@pytest.fixture
def clock(store_kind: str) -> Clock:
    return ManualClock() if store_kind == MEMORY else RealClock()


@dataclass(frozen=True)
class PrefixedRedisStore:
    """A RedisStore and the key prefix it writes under (for tests that inspect the keys)."""

    store: RedisStore
    prefix: str


@contextlib.asynccontextmanager
async def prefixed_redis_store() -> AsyncIterator[PrefixedRedisStore]:
    """A RedisStore on the test Redis under a fresh prefix; its keys are deleted afterwards."""
    url = redis_url()
    prefix = unique_prefix()
    store = RedisStore.from_url(url, prefix=prefix)
    try:
        yield PrefixedRedisStore(store, prefix)
    finally:
        await store.aclose()
        await delete_keys(url, prefix)


@pytest.fixture
async def redis_store() -> AsyncIterator[PrefixedRedisStore]:
    async with prefixed_redis_store() as prefixed:
        yield prefixed


@pytest.fixture
async def store(
    store_kind: str, clock: Clock, request: pytest.FixtureRequest
) -> AsyncIterator[Store]:
    if store_kind == MEMORY:
        assert isinstance(clock, ManualClock)
        yield MemoryStore(clock=clock)
    elif store_kind == CLUSTER:
        cluster: RedisClusterProcesses = request.getfixturevalue("redis_cluster")
        store = RedisStore.from_url(cluster.node_url, prefix=unique_prefix(), cluster=True)
        try:
            yield store
        finally:
            await store.aclose()  # the cluster goes with the session: no keys to delete
    else:
        async with prefixed_redis_store() as prefixed:
            yield prefixed.store


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """A plain client on the test Redis, for checks of what the store left in it."""
    client = aioredis.Redis.from_url(redis_url())
    try:
        yield client
    finally:
        await client.aclose()


class AccessLines(io.RawIOBase):
    """Where the access log's writer thread writes, kept as parsed JSON lines."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[dict[str, Any]] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        for line in bytes(data).splitlines():
            self.entries.append(json.loads(line))
        return len(data)


@pytest.fixture
def access_lines() -> Iterator[AccessLines]:
    """The access log's lines while a test runs (`access_log.stop()` writes what is kept)."""
    sink = AccessLines()
    access_log.start(short=False, out=sink)  # type: ignore[arg-type]
    try:
        yield sink
    finally:
        access_log.stop()


class _FullDisk(io.TextIOBase):
    """An output whose every write fails as a full disk's does (bytes or text alike)."""

    def write(self, data: Any) -> int:
        raise OSError(28, "No space left on device")


@contextlib.contextmanager
def failing_output(kind: str, mode: str) -> Iterator[Any]:
    """An output whose writes fail as a full disk's do: `/dev/full` itself opened in `mode`
    (`kind` "dev-full"), or a stream that raises on every write ("raising")."""
    if kind == "raising":
        yield _FullDisk()
        return
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    out = open("/dev/full", mode)  # noqa: SIM115
    try:
        yield out
    finally:
        with contextlib.suppress(OSError):  # what stays buffered cannot be written either
            out.close()


@pytest.fixture(scope="session")
def repo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's config for a gateway a test starts, not to be edited (`copy_config`:
    its webhook events go to no one, never to the README's subscriber on :9200)."""
    return copy_config(tmp_path_factory.mktemp("repo-config"))
