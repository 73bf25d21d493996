"""Which webhook subscriptions are disabled (a subscriber answered 410 Gone), the same on memory,
on Redis and on a Redis Cluster: recorded once per URL, with when and why, seen by every
process and after a restart (Redis), until an operator enables it again."""

from __future__ import annotations

import time
import uuid

import pytest
import redis.asyncio as aioredis

from gateway.store.base import Store
from gateway.store.redis import RedisStore
from gateway.store.subscription_states import Disabled, disabled_at
from tests.conftest import PrefixedRedisStore, redis_url

GONE = 410


def subscription() -> str:
    return f"hook-{uuid.uuid4().hex[:8]}"


async def test_a_subscription_is_disabled_once_at_its_url_until_it_is_enabled(
    store: Store,
) -> None:
    hook, now = subscription(), time.time()
    first = Disabled("https://crm.example/hooks", GONE, now)
    assert await store.subscriptions.disable(hook, first)
    # Another process's 410 from the same URL a moment later: the first record stands.
    assert not await store.subscriptions.disable(hook, Disabled(first.url, GONE, now + 1))
    assert (await store.subscriptions.disabled())[hook] == first
    # The subscription was pointed elsewhere, and that URL is gone too: recorded afresh.
    moved = Disabled("https://crm.example/v2/hooks", GONE, now + 2)
    assert await store.subscriptions.disable(hook, moved)
    assert (await store.subscriptions.disabled())[hook] == moved
    assert await store.subscriptions.enable(hook)
    assert not await store.subscriptions.enable(hook)  # it was not disabled any more
    assert hook not in await store.subscriptions.disabled()


async def test_a_record_disables_the_subscription_only_at_the_url_that_answered_410(
    store: Store,
) -> None:
    hook = subscription()
    gone = Disabled("https://crm.example/hooks", GONE, time.time())
    assert await store.subscriptions.disable(hook, gone)
    records = await store.subscriptions.disabled()
    assert disabled_at(records, hook, "https://crm.example/hooks") == gone
    assert disabled_at(records, hook, "https://crm.example/v2/hooks") is None
    assert disabled_at(records, subscription(), "https://crm.example/hooks") is None


@pytest.mark.redis
async def test_on_redis_another_process_and_a_restart_see_it_under_the_events_hash_tag(
    redis_store: PrefixedRedisStore, redis_client: aioredis.Redis
) -> None:
    hook = subscription()
    gone = Disabled("https://crm.example/hooks", GONE, 1_760_000_000.25)
    assert await redis_store.store.subscriptions.disable(hook, gone)
    other = RedisStore.from_url(redis_url(), prefix=redis_store.prefix)
    try:
        assert (await other.subscriptions.disabled()) == {hook: gone}
    finally:
        await other.aclose()
    key = f"{redis_store.prefix}{{events}}:subscriptions:disabled"
    assert [k.decode() for k in await redis_client.hkeys(key)] == [hook]
