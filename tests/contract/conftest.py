"""The store's contracts hold on the memory store, on one Redis and on a Redis Cluster (a
local three-master cluster, `tests/redis_cluster.py`): every test here that takes `store` runs
on all three."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from gateway.store.redis import RedisStore
from tests.conftest import CLUSTER, MEMORY, REDIS, delete_keys, redis_url, unique_prefix
from tests.lossy_proxy import ReplyLosingProxy


@pytest.fixture(
    params=[
        MEMORY,
        pytest.param(REDIS, marks=pytest.mark.redis),
        pytest.param(CLUSTER, marks=pytest.mark.redis),
    ]
)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def reply_losing() -> AsyncIterator[tuple[ReplyLosingProxy, RedisStore]]:
    """A Redis store whose connections go through a proxy that can lose Redis's replies."""
    url = redis_url()
    target = urlsplit(url)
    proxy = ReplyLosingProxy(target.hostname or "127.0.0.1", target.port or 6379)
    port = await proxy.start()
    prefix = unique_prefix()
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}{target.path}", prefix=prefix)
    try:
        yield proxy, store
    finally:
        proxy.losing = False
        await store.aclose()
        await proxy.aclose()
        await delete_keys(url, prefix)
