"""Redis losing its scripts (a restart, a failover to a replica without them, SCRIPT FLUSH):
`redis_batch.Batch` loads what a batch found missing and sends only those commands again,
after the rest of the batch. A script that depends on an earlier one of the same batch must
not then run before it."""

from __future__ import annotations

import asyncio

import pytest
import redis

from gateway.store.base import ClaimRequest
from gateway.store.redis import RedisStore
from tests.redis_server import RedisProcess, redis_server_installed

pytestmark = pytest.mark.skipif(not redis_server_installed(), reason="needs redis-server")


async def test_a_claim_admitted_after_scripts_were_lost_is_still_marked_forwarded() -> None:
    # A private Redis: SCRIPT FLUSH on a shared one would disturb other runs.
    with RedisProcess() as server:
        store = RedisStore.from_url(server.url, prefix="gw-lost:")
        admin = redis.Redis.from_url(server.url)
        try:
            await store.rate_limit("warm", 10.0, 5)  # every script loaded, as at start
            admin.script_flush()  # what a restart or a failover does to the script cache
            # Another request, whose claim was admitted without a backend, reaches its ERP:
            # `ErpCalls.call` marks it forwarded on its own (a batch of one), which loads
            # MARK_FORWARDED again, and only it.
            await store.mark_forwarded("another-key", "another-owner", "cloud")
            # This request: claimed and marked forwarded to `cloud` in one admission.
            claim = ClaimRequest("key", "fp", "o1", 0.2, 60.0, backend="cloud")
            admission = await store.admit([], None, claim)
            assert admission.claim is not None and admission.claim.state == "claimed"
            # It is forwarded, the ERP times out (ambiguous), its hold runs out.
            await asyncio.sleep(0.3)
            retry = await store.claim_idempotency("key", "fp", "o2", 10.0, 60.0)
            # The retry must learn that an attempt reached `cloud`, so that it searches there
            # before it submits again (STANDARDS: never re-execute blindly).
            assert retry.state == "claimed"
            assert (retry.backend, retry.attempts) == ("cloud", 1)
        finally:
            admin.close()
            await store.aclose()
