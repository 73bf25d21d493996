"""A webhook subscriber's answer is its status: a body sent with a 2xx, however long and however
slowly it comes, neither fills the gateway's memory nor turns the delivery into a failure."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from gateway.config.events import DeliveryPolicy
from gateway.ops.event_delivery import EventDelivery
from gateway.store.base import Store
from tests.pipeline.test_webhook_senders import Subscribers, posts_served, record, runtime

CHUNK = b"x" * 65536


class EndlessAnswers(Subscribers):
    """A subscriber that takes the event (200) and then sends a body without end."""

    sent: int = 0

    async def endless(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.received.append((request.path, request.headers["webhook-id"], 0.0))
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        try:
            while True:
                await response.write(CHUNK)
                self.sent += len(CHUNK)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the gateway stopped listening
        return response


@pytest.fixture
async def endless() -> AsyncIterator[EndlessAnswers]:
    subscribers = EndlessAnswers()
    async with posts_served(subscribers.endless) as port:
        subscribers.port = port
        yield subscribers


async def test_a_2xx_with_a_body_without_end_is_a_delivery(
    store: Store, endless: EndlessAnswers
) -> None:
    policy = DeliveryPolicy(retry_schedule_s=[], timeout_s=1, lease_s=2)
    current = runtime(store, endless, policy)
    event_id = await record(store.events, f"so_{uuid.uuid4().hex}", "fast")
    worker = EventDelivery(lambda: current)
    try:
        assert await worker.run_once() >= 1
    finally:
        await worker.aclose()
    assert endless.ids("/fast") == [event_id]
    # Taken: not a dead letter (before, the gateway read the body until its timeout, holding
    # all of it in memory, and called the delivery failed).
    letters = (await store.events.dead_letters(None, 1000)).items
    dead = [d for d in letters if d.event_id == event_id]
    assert dead == []
