"""`gateway_webhook_disabled_subscriptions`: how many webhook subscriptions are disabled now (a
subscriber answered 410 Gone at the URL each has), read from the store at each scrape, so that
whichever gateway process is scraped says what every process sees; enabled again, it falls."""

from __future__ import annotations

import re
import time

from gateway.demo import ADMIN_CLIENT
from gateway.store.subscription_states import Disabled
from tests.conftest import PrefixedRedisStore
from tests.harness import Gateway, in_process_gateway

HOOK = "crm-demo-hook"  # the repository's subscription (policies/subscriptions.yaml)
GAUGE = re.compile(r"^gateway_webhook_disabled_subscriptions ([0-9.e+-]+)$", re.MULTILINE)


async def disabled_now(gateway: Gateway) -> float:
    """The gauge as a scrape of `gateway` shows it."""
    async with gateway.client() as scraper:
        scraped = await scraper.get("/metrics")
    assert scraped.status_code == 200
    (value,) = GAUGE.findall(scraped.text)
    return float(value)


async def test_a_scrape_of_any_process_counts_the_subscriptions_disabled_now(
    redis_store: PrefixedRedisStore,
) -> None:
    store = redis_store.store
    async with in_process_gateway(store) as one, in_process_gateway(store) as other:
        (hook,) = [s for s in one.runtime.config.subscriptions.subscriptions if s.id == HOOK]
        assert await disabled_now(one) == 0
        # A 410 from a URL it no longer has: it is sent to at the new one, not disabled.
        assert await store.subscriptions.disable(HOOK, Disabled("https://old.example/", 410, 1.0))
        assert await disabled_now(other) == 0
        # Its subscriber's 410, recorded by one process: the other's scrape says so.
        assert await store.subscriptions.disable(HOOK, Disabled(str(hook.url), 410, time.time()))
        assert await disabled_now(other) == 1
        assert await disabled_now(one) == 1
        async with other.client(ADMIN_CLIENT) as admin:
            enabled = await admin.post(f"/admin/events/subscriptions/{HOOK}/enable")
        assert enabled.status_code == 200, enabled.text
        assert await disabled_now(one) == 0
