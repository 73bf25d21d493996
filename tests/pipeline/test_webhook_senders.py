"""The webhook delivery workers of several gateway processes on one store: a subscriber gets
each event once and in order however slowly it answers, a slow subscriber holds up no other,
and a delivery that cannot be signed is dead-lettered, not tried for ever."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from gateway.config.api_versions import ApiVersionsPolicy
from gateway.config.clients import ClientsPolicy
from gateway.config.events import DeliveryPolicy, SubscriptionConfig, SubscriptionsPolicy
from gateway.ops.event_delivery import EventDelivery
from gateway.pipeline.entitlements import Entitlement
from gateway.pipeline.versioning import compile_versions
from gateway.runtime import Runtime
from gateway.store.base import Store
from gateway.store.events import Delivery, DocumentState, EventRetention, EventStore, NewEvent

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SLOW_S = 0.6  # how long the slow subscriber takes to answer


@dataclass
class Subscribers:
    """Two webhook subscribers on one local server: /slow answers after SLOW_S, /fast at once."""

    port: int = 0
    received: list[tuple[str, str, float]] = field(default_factory=list)  # path, id, when
    fast_reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.received.append((request.path, request.headers["webhook-id"], time.monotonic()))
        if request.path == "/fast":
            self.fast_reached.set()
        if request.path == "/slow":
            await asyncio.sleep(SLOW_S)
        return web.Response(status=204)

    def ids(self, path: str) -> list[str]:
        return [event_id for at, event_id, _ in self.received if at == path]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def posts_served(handle: Handler) -> AsyncIterator[int]:
    """A local HTTP server answering every POST /{name} with `handle`: its port."""
    app = web.Application()
    app.router.add_post("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
async def subscribers() -> AsyncIterator[Subscribers]:
    subscribers = Subscribers()
    async with posts_served(subscribers.handle) as port:
        subscribers.port = port
        yield subscribers


def runtime(
    store: Store,
    subscribers: Subscribers,
    policy: DeliveryPolicy,
    secret: str = SECRET,
    previous: str | None = None,
    names: tuple[str, ...] = ("slow", "fast"),
    paths: Mapping[str, str] | None = None,
) -> Runtime:
    """What the delivery worker reads of a runtime: subscriptions (each POSTing to /{name},
    or to the path `paths` gives it), the store, env, clients, their API versions (none
    pinned: the newest). With `previous`, each subscription names HOOK_PREVIOUS_SECRET as its
    `previous_secret_env`, set to it (unset when empty)."""
    env = {"HOOK_SECRET": secret}
    if previous:
        env["HOOK_PREVIOUS_SECRET"] = previous
    subscriptions = [
        SubscriptionConfig(
            id=name,
            url=f"http://127.0.0.1:{subscribers.port}{(paths or {}).get(name, '/' + name)}",
            client="crm",
            secret_env="HOOK_SECRET",
            previous_secret_env=None if previous is None else "HOOK_PREVIOUS_SECRET",
        )
        for name in names
    ]
    fake: Any = SimpleNamespace(
        config=SimpleNamespace(
            subscriptions=SubscriptionsPolicy(subscriptions=subscriptions, delivery=policy)
        ),
        store=SimpleNamespace(events=store.events, subscriptions=store.subscriptions),
        event_retention=EventRetention(),
        versions=compile_versions(ApiVersionsPolicy(), ClientsPolicy(clients=[])),
        env=env,
        entitlements={
            "crm": Entitlement("crm", frozenset({"sales_orders:read"}), None, "standard")
        },
    )
    return fake  # type: ignore[no-any-return]


async def record(events: EventStore, order: str, subscription: str) -> str:
    """One event of `order` for `subscription`, recorded now; its id."""
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps({"id": event_id, "legalentity": "DE01"})
    new = NewEvent(event_id, order, body, (subscription,))
    assert await events.commit(
        f"doc:{event_id}", 0, DocumentState(1, {}), [new], time.time(), EventRetention()
    )
    await asyncio.sleep(0.002)  # the next one falls due after it (Redis keeps milliseconds)
    return event_id


async def test_two_processes_send_a_slow_subscriber_each_event_once_and_in_order(
    store: Store, subscribers: Subscribers
) -> None:
    # Five events take the slow subscriber 3 s, twice the lease: the first process lets go of
    # what it cannot send within its lease, and the second, looking meanwhile, takes nothing
    # the first holds.
    policy = DeliveryPolicy(retry_schedule_s=[1], timeout_s=1, lease_s=1.5)
    current = runtime(store, subscribers, policy)
    order = f"so_{uuid.uuid4().hex}"
    recorded = [await record(store.events, order, "slow") for _ in range(5)]
    first, second = EventDelivery(lambda: current), EventDelivery(lambda: current)
    try:
        sending = asyncio.create_task(first.run_once())
        for _ in range(40):  # the second process looks every 0.1 s, as idle workers do
            await asyncio.sleep(0.1)
            await second.run_once()
            if len(subscribers.ids("/slow")) >= 5:
                break
        await sending
    finally:
        await first.aclose()
        await second.aclose()
    assert subscribers.ids("/slow") == recorded


async def test_a_slow_subscriber_holds_up_no_other(store: Store, subscribers: Subscribers) -> None:
    policy = DeliveryPolicy(retry_schedule_s=[1], timeout_s=5, lease_s=60)
    current = runtime(store, subscribers, policy)
    for _ in range(5):
        await record(store.events, f"so_{uuid.uuid4().hex}", "slow")  # 3 s of sending
    worker = EventDelivery(lambda: current)
    worker.start()
    try:
        await asyncio.sleep(0.2)  # the worker is sending to /slow
        await record(store.events, f"so_{uuid.uuid4().hex}", "fast")
        recorded = time.monotonic()
        worker.wake()
        await asyncio.wait_for(subscribers.fast_reached.wait(), timeout=10)
        (arrived,) = [at for path, _, at in subscribers.received if path == "/fast"]
    finally:
        await worker.aclose()
    assert arrived - recorded < 1.0  # not behind the slow subscriber's 3 s


async def test_events_recorded_while_another_process_sends_wait_their_turn(
    store: Store, subscribers: Subscribers
) -> None:
    # The first process sends an event slowly; one recorded meanwhile for the same subscriber
    # is not sent by the second process ahead of the one recorded before it.
    policy = DeliveryPolicy(retry_schedule_s=[1], timeout_s=5, lease_s=60)
    current = runtime(store, subscribers, policy)
    order = f"so_{uuid.uuid4().hex}"
    earlier = [await record(store.events, order, "slow") for _ in range(2)]
    first, second = EventDelivery(lambda: current), EventDelivery(lambda: current)
    try:
        sending = asyncio.create_task(first.run_once())
        await asyncio.sleep(0.2)
        later = await record(store.events, order, "slow")
        assert await second.run_once() == 0  # the subscriber is the first process's
        await sending
        assert await second.run_once() == 1
    finally:
        await first.aclose()
        await second.aclose()
    assert subscribers.ids("/slow") == [*earlier, later]


@pytest.mark.parametrize("secret", ["whsec_not-base64!", "whsec_", "whsec_=="])
async def test_a_secret_that_is_not_a_webhook_secret_dead_letters_the_delivery(
    store: Store, subscribers: Subscribers, secret: str
) -> None:
    # An operator set the signing secret to a password, or left only the prefix of one: the
    # delivery fails with a reason that names the variable, and after the schedule it is a
    # dead letter, not claimed for ever.
    policy = DeliveryPolicy(retry_schedule_s=[], timeout_s=1, lease_s=2)
    current = runtime(store, subscribers, policy, secret=secret)
    event_id = await record(store.events, f"so_{uuid.uuid4().hex}", "fast")
    worker = EventDelivery(lambda: current)
    try:
        assert await worker.run_once() >= 1
    finally:
        await worker.aclose()
    assert subscribers.received == []
    letters = (await store.events.dead_letters(None, 1000)).items
    dead = [d for d in letters if d.event_id == event_id]
    assert len(dead) == 1
    assert "HOOK_SECRET" in (dead[0].last_error or "")


@dataclass
class AskingToWait(Subscribers):
    """A subscriber that refuses every delivery with `status` and a `Retry-After` of `wait`."""

    status: int = 503
    wait: str = ""

    async def refuse(self, request: web.Request) -> web.Response:
        await request.read()
        self.received.append((request.path, request.headers["webhook-id"], 0.0))
        return web.Response(status=self.status, headers={"Retry-After": self.wait})


async def refused_once(store: Store, subscriber: AskingToWait, policy: DeliveryPolicy) -> float:
    """One event sent to `subscriber` (who refuses it) by a worker whose clock stands still:
    the instant it was sent at."""
    async with posts_served(subscriber.refuse) as port:
        subscriber.port = port
        current = runtime(store, subscriber, policy)
        event_id = await record(store.events, f"so_{uuid.uuid4().hex}", "fast")
        now = time.time()
        worker = EventDelivery(lambda: current, rng=random.Random(1), clock=lambda: now)
        try:
            assert await worker.run_once() >= 1
        finally:
            await worker.aclose()
    assert subscriber.ids("/fast") == [event_id]
    return now


async def tried_again(store: Store, at: float) -> list[tuple[int, str | None]]:
    """The deliveries the store hands out at `at`: their attempts and last errors."""
    claimed = await store.events.claim_deliveries(at, 100, 0.001, "probe")
    return [(d.attempts, d.last_error) for d in claimed]


def http_date(at: float) -> str:
    return email.utils.formatdate(at, usegmt=True)


@pytest.mark.parametrize(
    ("status", "wait", "due_s"),
    [
        (429, "120", 120.0),
        (503, "120", 120.0),
        (503, "HTTP-DATE+300", 300.0),  # an HTTP date, 300 s after the try
        (429, "999999999", 3600.0),  # asked for years: the default cap, max_retry_after_s
    ],
)
async def test_a_subscriber_that_asks_to_wait_is_not_tried_again_before_it_said(
    store: Store, status: int, wait: str, due_s: float
) -> None:
    # The schedule's next try is at most 1 s away; the subscriber asked for more: the later
    # wins, up to the cap.
    policy = DeliveryPolicy(retry_schedule_s=[1, 1], timeout_s=1, lease_s=2)
    subscriber = AskingToWait(status=status, wait=wait)
    if wait.startswith("HTTP-DATE+"):
        subscriber.wait = http_date(time.time() + float(wait.removeprefix("HTTP-DATE+")))
    sent = await refused_once(store, subscriber, policy)
    assert await tried_again(store, sent + due_s - 2) == []
    assert await tried_again(store, sent + due_s + 1) == [(1, f"HTTP {status}")]


async def test_a_retry_after_on_another_status_leaves_the_schedule_as_it_is(store: Store) -> None:
    policy = DeliveryPolicy(retry_schedule_s=[1, 1], timeout_s=1, lease_s=2)
    sent = await refused_once(store, AskingToWait(status=500, wait="120"), policy)
    assert await tried_again(store, sent + 1) == [(1, "HTTP 500")]


async def test_a_subscriber_gone_for_good_dead_letters_the_delivery_at_the_first_410(
    store: Store,
) -> None:
    # 410 Gone: the endpoint says it wants no more (Standard Webhooks: stop sending to it).
    # The schedule still has hours to run: the delivery is a dead letter at once, saying why.
    policy = DeliveryPolicy(retry_schedule_s=[3600, 3600], timeout_s=1, lease_s=2)
    sent = await refused_once(store, AskingToWait(status=410), policy)
    assert await tried_again(store, sent + 3 * 3600) == []
    (dead,) = (await store.events.dead_letters(None, 10)).items
    assert dead.attempts == 1
    assert (dead.last_error or "").startswith("HTTP 410 Gone")


@dataclass
class GoneForGood(Subscribers):
    """A subscriber whose paths in `gone` answer 410 Gone to every delivery; the others 204."""

    gone: set[str] = field(default_factory=lambda: {"/gone"})

    async def answer(self, request: web.Request) -> web.Response:
        await request.read()
        self.received.append((request.path, request.headers["webhook-id"], 0.0))
        return web.Response(status=410 if request.path in self.gone else 204)


@pytest.fixture
async def gone_for_good() -> AsyncIterator[GoneForGood]:
    subscriber = GoneForGood()
    async with posts_served(subscriber.answer) as port:
        subscriber.port = port
        yield subscriber


GONE_POLICY = DeliveryPolicy(retry_schedule_s=[3600, 3600], timeout_s=1, lease_s=2)


def disabled_count(subscription: str) -> float:
    found = REGISTRY.get_sample_value(
        "gateway_webhook_subscriptions_disabled_total", {"subscription": subscription}
    )
    return found or 0.0


async def sent_by_two_processes(current: Runtime, now: float) -> None:
    """What is due sent by one worker, then by another (another process on the same store),
    both with their clock at `now`."""
    for _ in range(2):
        worker = EventDelivery(lambda: current, rng=random.Random(1), clock=lambda: now)
        try:
            await worker.run_once()
        finally:
            await worker.aclose()


async def dead_letters_of(store: Store, subscription: str) -> list[Delivery]:
    letters = (await store.events.dead_letters(None, 1000)).items
    return [d for d in letters if d.subscription == subscription]


async def test_a_410_disables_the_subscription_and_its_later_events_are_kept_untried(
    store: Store, gone_for_good: GoneForGood, caplog: pytest.LogCaptureFixture
) -> None:
    # Standard Webhooks: a 410 means "stop sending to this endpoint". The first event is tried
    # once; every later one, waiting then or recorded after, is kept as a dead letter without
    # a try, saying why; the other subscription goes on as before.
    current = runtime(store, gone_for_good, GONE_POLICY, names=("gone", "fast"))
    order = f"so_{uuid.uuid4().hex}"
    waiting = [await record(store.events, order, "gone") for _ in range(3)]
    taken = await record(store.events, order, "fast")
    before = disabled_count("gone")
    now = time.time()
    with caplog.at_level("WARNING", logger="gateway.events"):
        await sent_by_two_processes(current, now)
        later = await record(store.events, order, "gone")
        await sent_by_two_processes(current, time.time())
    assert gone_for_good.ids("/gone") == waiting[:1]
    assert gone_for_good.ids("/fast") == [taken]
    gone = (await store.subscriptions.disabled())["gone"]
    assert (gone.status, gone.url, gone.at) == (410, f"{current_url(current, 'gone')}", now)
    letters = await dead_letters_of(store, "gone")
    assert sorted(d.event_id for d in letters) == sorted([*waiting, later])
    (tried,) = [d for d in letters if d.event_id == waiting[0]]
    assert tried.attempts == 1 and (tried.last_error or "").startswith("HTTP 410 Gone")
    for kept in (d for d in letters if d.event_id != waiting[0]):
        assert kept.attempts == 0
        assert "subscription gone is disabled" in (kept.last_error or "")
    assert disabled_count("gone") == before + 1
    disabling = [r for r in caplog.records if r.getMessage() == "webhook subscription disabled"]
    assert [(r.levelname, getattr(r, "subscription", None)) for r in disabling] == [
        ("WARNING", "gone")
    ]


def current_url(current: Runtime, subscription: str) -> str:
    (found,) = [s for s in current.config.subscriptions.subscriptions if s.id == subscription]
    return str(found.url)


async def test_an_enabled_subscription_gets_its_dead_letters_on_replay_in_order(
    store: Store, gone_for_good: GoneForGood
) -> None:
    current = runtime(store, gone_for_good, GONE_POLICY, names=("gone",))
    order = f"so_{uuid.uuid4().hex}"
    recorded = [await record(store.events, order, "gone") for _ in range(3)]
    await sent_by_two_processes(current, time.time())
    assert "gone" in await store.subscriptions.disabled()
    gone_for_good.gone.clear()  # the subscriber is back
    # Replayed while still disabled: kept again, untried.
    for letter in await dead_letters_of(store, "gone"):
        assert await store.events.replay_dead_letter(letter.id, time.time())
    await sent_by_two_processes(current, time.time())
    assert gone_for_good.ids("/gone") == recorded[:1]
    assert await store.subscriptions.enable("gone")
    letters = {d.event_id: d.id for d in await dead_letters_of(store, "gone")}
    for event_id in recorded:  # in their order (README: by each event's `sequence`)
        assert await store.events.replay_dead_letter(letters[event_id], time.time())
        await asyncio.sleep(0.002)  # each due after the one before (Redis keeps milliseconds)
    await sent_by_two_processes(current, time.time())
    assert gone_for_good.ids("/gone") == [*recorded[:1], *recorded]
    assert await dead_letters_of(store, "gone") == []


async def test_a_subscription_pointed_at_another_url_is_sent_to_again(
    store: Store, gone_for_good: GoneForGood
) -> None:
    order = f"so_{uuid.uuid4().hex}"
    first = await record(store.events, order, "gone")
    await sent_by_two_processes(
        runtime(store, gone_for_good, GONE_POLICY, names=("gone",)), time.time()
    )
    # The operator points the subscription at the subscriber's new endpoint (a reload): the
    # record was of the old URL, so events go out again, to the new one.
    moved = runtime(store, gone_for_good, GONE_POLICY, names=("gone",), paths={"gone": "/moved"})
    second = await record(store.events, order, "gone")
    await sent_by_two_processes(moved, time.time())
    assert gone_for_good.ids("/gone") == [first]
    assert gone_for_good.ids("/moved") == [second]
