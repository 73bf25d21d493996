"""Rotating a subscription's signing secret: while `previous_secret_env` is set, each delivery
carries a signature by each secret, so a subscriber verifying with either takes it."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.config.events import DeliveryPolicy
from gateway.ops.event_delivery import EventDelivery
from gateway.runtime import Runtime
from gateway.store.base import Store
from tests.pipeline.test_webhook_senders import Subscribers, posts_served, record, runtime

OLD = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
NEW = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
POLICY = DeliveryPolicy(retry_schedule_s=[], timeout_s=2, lease_s=5)  # one try, then a letter


@dataclass
class Verifying(Subscribers):
    """Two subscribers as they are written: each verifies with the standardwebhooks library,
    /old with the old secret and /new with the new one, and refuses (400) what fails."""

    signatures: list[list[str]] = field(default_factory=list)  # each POST's, as sent

    async def verify(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.signatures.append(request.headers["webhook-signature"].split(" "))
        secret = {"old": OLD, "new": NEW}[request.match_info["name"]]
        try:
            Webhook(secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            return web.Response(status=400)
        self.received.append((request.path, request.headers["webhook-id"], 0.0))
        return web.Response(status=204)


@pytest.fixture
async def subscribers() -> AsyncIterator[Verifying]:
    subscribers = Verifying()
    async with posts_served(subscribers.verify) as port:
        subscribers.port = port
        yield subscribers


async def sent_to_both(store: Store, current: Runtime) -> str:
    """One event for each of /old and /new, sent once: its id."""
    event_id = await record(store.events, f"so_{uuid.uuid4().hex}", "old")
    await record(store.events, f"so_{uuid.uuid4().hex}", "new")
    worker = EventDelivery(lambda: current)
    try:
        assert await worker.run_once() == 2
    finally:
        await worker.aclose()
    return event_id


async def test_during_a_rotation_subscribers_on_the_old_and_on_the_new_secret_verify(
    store: Store, subscribers: Verifying
) -> None:
    current = runtime(store, subscribers, POLICY, NEW, previous=OLD, names=("old", "new"))
    await sent_to_both(store, current)
    assert sorted(path for path, _, _ in subscribers.received) == ["/new", "/old"]
    assert {len(each) for each in subscribers.signatures} == {2}
    assert (await store.events.dead_letters(None, 1000)).items == []


async def test_once_the_previous_secret_is_removed_only_the_new_one_verifies(
    store: Store, subscribers: Verifying
) -> None:
    current = runtime(store, subscribers, POLICY, NEW, names=("old", "new"))
    event_id = await sent_to_both(store, current)
    assert [path for path, _, _ in subscribers.received] == ["/new"]
    (letter,) = (await store.events.dead_letters(None, 1000)).items
    assert (letter.event_id, letter.last_error) == (event_id, "HTTP 400")


@pytest.mark.parametrize(
    ("previous", "reason"),
    [
        ("", "the signing secret HOOK_PREVIOUS_SECRET is not set"),
        ("a-password", "the signing secret HOOK_PREVIOUS_SECRET is not a Standard Webhooks"),
    ],
)
async def test_a_previous_secret_unset_or_not_a_webhook_secret_dead_letters_the_delivery(
    store: Store, subscribers: Verifying, previous: str, reason: str
) -> None:
    # As with secret_env: the reason names the variable, and nothing is sent (a subscriber
    # still on the old secret would refuse it).
    current = runtime(store, subscribers, POLICY, NEW, previous=previous, names=("old",))
    event_id = await record(store.events, f"so_{uuid.uuid4().hex}", "old")
    worker = EventDelivery(lambda: current)
    try:
        assert await worker.run_once() == 1
    finally:
        await worker.aclose()
    assert subscribers.received == []
    (letter,) = (await store.events.dead_letters(None, 1000)).items
    assert letter.event_id == event_id
    assert (letter.last_error or "").startswith(reason)
