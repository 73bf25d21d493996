"""The webhook delivery worker: due deliveries claimed from the store under a lease, their data
in the subscription's API version, signed per Standard Webhooks, POSTed to the subscriber,
retried with full jitter on the configured schedule (later when the subscriber's Retry-After
asks for it), dead-lettered after the last try. A 410 Gone dead-letters the delivery at once and
disables its subscription (Standard Webhooks: stop sending to it): until an operator enables it
again, or points it at another URL, its deliveries are kept as dead letters without a try.

Every gateway process runs one. A claim holds the subscriptions it took deliveries for, under
a lease: one process at a time sends to a subscriber, one delivery after another, in the order
they fell due, so with several processes on one Redis a subscriber gets each event once and in
order (unless a process dies mid-send: then it may get it again, under the same `webhook-id`).
Each subscription's deliveries go out in a task of their own: a slow or hanging subscriber holds
up no other. A sender stops before its lease could run out mid-send and lets go of the rest.
Not what goes into an event (see `gateway.service.order_events`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

import aiohttp
from standardwebhooks.webhooks import Webhook

from gateway.adapters.http import retry_after_seconds
from gateway.config.events import DeliveryPolicy, SubscriptionConfig
from gateway.config.webhook_secrets import signing_key
from gateway.domain.events import CLOUDEVENTS_JSON, LEGAL_ENTITY_EXTENSION
from gateway.observability.event_metrics import (
    WEBHOOK_DELIVERIES,
    WEBHOOK_DELIVERY_SECONDS,
    WEBHOOK_SUBSCRIPTIONS_DISABLED,
)
from gateway.ops.background import BackgroundTask
from gateway.routing.rules import rfc3339
from gateway.runtime import Runtime
from gateway.service.order_events import as_version, event_scope
from gateway.store.base import StoreUnavailable
from gateway.store.events import Delivery
from gateway.store.outage import StoreOutage
from gateway.store.subscription_states import Disabled, disabled_at

log = logging.getLogger("gateway.events")

BATCH = 50
IDLE_S = 0.2  # how often an idle worker looks for due deliveries (other processes' events)
_ERROR_TEXT = 200
_DRAINED_BYTES = 64 * 1024  # a subscriber's answer body read to keep its connection, at most
_ASKS_TO_WAIT = frozenset({429, 503})  # the statuses whose Retry-After is honoured (RFC 9110)
# 410 Gone: the subscriber wants no more from us (Standard Webhooks: stop sending to it). Its
# subscription is disabled at that URL; the delivery, and each later one, is a dead letter.
_GONE = 410
_GONE_ERROR = (
    "HTTP 410 Gone: the subscriber says this endpoint is gone for good; the subscription is "
    "disabled: enable it (gateway events subscriptions --enable), then replay"
)


@dataclass(frozen=True)
class Failure:
    """Why a try failed; how long the subscriber asked to be left alone (its Retry-After on a
    429 or 503), if it did; whether no later try can succeed (a dead letter at once)."""

    error: str
    retry_after_s: float | None = None
    final: bool = False
    status: int | None = None  # the subscriber's HTTP status, if it answered


def signed_headers(
    keys: Sequence[Webhook], message_id: str, body: str, at: dt.datetime
) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery, signed with each of the subscription's
    secrets in turn (`webhook-signature` is a space-separated list: a subscriber verifying
    with any one of them takes it, which is how a secret is rotated without a gap)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(key.sign(message_id, at, body) for key in keys),
        "content-type": CLOUDEVENTS_JSON,
    }


def signing_keys(
    env: Mapping[str, str], subscription: SubscriptionConfig
) -> list[Webhook] | Failure:
    """The subscription's signing secrets (`secret_env`'s, then `previous_secret_env`'s), or
    why one cannot sign: its variable is unset or holds no Standard Webhooks secret."""
    try:
        return [signing_key(env, variable) for variable in subscription.secret_envs]
    except ValueError as exc:
        return Failure(str(exc))


def retry_delay(
    policy: DeliveryPolicy,
    failed_attempts: int,
    rng: random.Random,
    asked_s: float | None = None,
) -> float | None:
    """Seconds until the next try after `failed_attempts` failures (full jitter: uniform up to
    the schedule's delay; the later of that and `asked_s`, the subscriber's Retry-After, up to
    `max_retry_after_s`), or None when the schedule is spent."""
    schedule = policy.retry_schedule_s
    if failed_attempts > len(schedule):
        return None
    delay = rng.uniform(0, schedule[failed_attempts - 1])
    if asked_s is None:
        return delay
    return max(delay, min(asked_s, policy.max_retry_after_s))


class EventDelivery:
    """One process's delivery worker."""

    def __init__(
        self,
        current: Callable[[], Runtime],
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._current = current
        self._rng = rng or random.Random()
        self._clock = clock
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task = BackgroundTask(self._run)
        self._outage = StoreOutage(log, "event delivery")
        self._session: aiohttp.ClientSession | None = None
        self._senders: set[asyncio.Task[int]] = set()  # one per subscription being sent to

    def wake(self) -> None:
        """New deliveries are due: look now rather than at the next idle tick."""
        self._wake.set()

    def start(self) -> None:
        self._task.start()

    async def aclose(self) -> None:
        await self._task.aclose()
        for sender in self._senders:
            sender.cancel()  # what it held is due again when its lease runs out
        await asyncio.gather(*self._senders, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before looking: a wake while looking is not lost
            try:
                senders = await self._claim_and_send()
                self._outage.up()
            except StoreUnavailable:
                senders = []
                self._outage.down()
            except Exception:
                senders = []
                log.exception("event delivery failed")
            for sender in senders:  # not awaited: the next claim skips what they hold
                self._senders.add(sender)
                sender.add_done_callback(self._senders.discard)
            if not senders:
                # The idle tick sets the event, rather than a timeout around the wait: on
                # Python 3.11, a cancel that lands as such a timeout expires is taken for the
                # timeout, and the worker would go on for ever, its `aclose` waiting on it.
                tick = asyncio.get_running_loop().call_later(IDLE_S, self._wake.set)
                try:
                    await self._wake.wait()
                finally:
                    tick.cancel()

    async def run_once(self) -> int:
        """Claim the due deliveries and send them: each subscription's in order, subscriptions
        side by side. Returns how many were claimed."""
        senders = await self._claim_and_send()
        return sum(await asyncio.gather(*senders))

    async def _claim_and_send(self) -> list[asyncio.Task[int]]:
        """Claim the due deliveries of the subscriptions nobody is sending to; a task sends
        each subscription's, in order."""
        runtime = self._current()
        policy = runtime.config.subscriptions.delivery
        now = self._clock()
        claimed = await runtime.store.events.claim_deliveries(
            now, BATCH, policy.lease_s, self._owner
        )
        if not claimed:
            return []
        if self._session is None:
            self._session = aiohttp.ClientSession()
        session = self._session
        # A send may start until a timeout (and a margin to settle it) before the lease runs
        # out; then the sender lets go of what is left. The first always fits (lease_s is
        # longer than timeout_s).
        margin = min(1.0, (policy.lease_s - policy.timeout_s) / 2)
        stop_at = now + policy.lease_s - policy.timeout_s - margin
        records = await runtime.store.subscriptions.disabled()
        urls = {s.id: str(s.url) for s in runtime.config.subscriptions.subscriptions}
        ordered = sorted(claimed, key=lambda d: d.subscription)  # stable: claim order kept
        return [
            asyncio.create_task(
                self._send_in_order(
                    runtime,
                    session,
                    list(group),
                    stop_at,
                    disabled_at(records, subscription, urls.get(subscription, "")),
                )
            )
            for subscription, group in groupby(ordered, key=lambda d: d.subscription)
        ]

    async def _send_in_order(
        self,
        runtime: Runtime,
        session: aiohttp.ClientSession,
        deliveries: list[Delivery],
        stop_at: float,
        disabled: Disabled | None,
    ) -> int:
        """Send one subscription's deliveries one after another, then let go of it (and look
        for more at once: more may have come due meanwhile); while it is `disabled` (or once
        its subscriber answers 410), keep them as dead letters untried. Returns how many it
        took."""
        store = runtime.store.events
        first = deliveries[0]
        try:
            for index, delivery in enumerate(deliveries):
                if index and self._clock() > stop_at:
                    break  # the rest stay due, in their places, for the next claim
                if disabled is None:
                    disabled = await self._deliver(runtime, session, delivery)
                else:
                    await self._keep_while_disabled(runtime, delivery, disabled)
        except StoreUnavailable:
            self._outage.down()  # what is held is due again when the lease runs out
            return len(deliveries)
        except Exception:
            # Held until the lease runs out: a delivery that fails this way is not tried
            # again at once, over and over.
            log.exception("event delivery failed", extra={"subscription": first.subscription})
            return len(deliveries)
        try:
            await store.release(first.subscription, first.lease or "")
        except StoreUnavailable:
            self._outage.down()
        self.wake()
        return len(deliveries)

    async def _keep_while_disabled(
        self, runtime: Runtime, delivery: Delivery, disabled: Disabled
    ) -> None:
        """A dead letter, never sent: its subscription is disabled (replayed once enabled)."""
        error = (
            f"not sent: subscription {delivery.subscription} is disabled since "
            f"{rfc3339(disabled.at)} "
            f"(HTTP {disabled.status} from its URL); enable it, then replay"
        )
        await runtime.store.events.dead_letter(
            delivery, error, self._clock(), runtime.event_retention, attempted=False
        )
        WEBHOOK_DELIVERIES.labels(delivery.subscription, "disabled").inc()

    async def _disable(
        self, runtime: Runtime, subscription: SubscriptionConfig, delivery: Delivery
    ) -> Disabled:
        """Its subscriber answered 410 Gone: the subscription disabled at its URL (counted and
        logged once, by the process that recorded it)."""
        gone = Disabled(str(subscription.url), _GONE, self._clock())
        if await runtime.store.subscriptions.disable(subscription.id, gone):
            WEBHOOK_SUBSCRIPTIONS_DISABLED.labels(subscription.id).inc()
            log.warning(
                "webhook subscription disabled",
                extra={
                    "subscription": subscription.id,
                    "status": _GONE,
                    "delivery": delivery.id,
                },
            )
        return gone

    async def _deliver(
        self, runtime: Runtime, session: aiohttp.ClientSession, delivery: Delivery
    ) -> Disabled | None:
        """Send it, then settle it: delivered, due again, or a dead letter. The record of its
        subscription's disabling when the subscriber answered 410 Gone, else None."""
        events = runtime.config.subscriptions
        policy = events.delivery
        store = runtime.store.events
        subscription = next(
            (s for s in events.subscriptions if s.id == delivery.subscription), None
        )
        if subscription is None:
            await store.dead_letter(
                delivery,
                "the subscription is no longer configured",
                self._clock(),
                runtime.event_retention,
            )
            WEBHOOK_DELIVERIES.labels(delivery.subscription, "dead_lettered").inc()
            return None
        if not _still_entitled(runtime, subscription, delivery.body):
            await store.delivered(delivery)  # its client may no longer see it: never sent
            WEBHOOK_DELIVERIES.labels(subscription.id, "withheld").inc()
            return None
        failure = await self._post(runtime, session, subscription, delivery, policy)
        if failure is None:
            await store.delivered(delivery)
            WEBHOOK_DELIVERIES.labels(subscription.id, "delivered").inc()
            return None
        error = failure.error
        if failure.status == _GONE:
            # Disabled first: should this process stop before the dead letter, the delivery
            # is claimed again once its lease runs out, and kept untried.
            gone = await self._disable(runtime, subscription, delivery)
            await store.dead_letter(delivery, error, self._clock(), runtime.event_retention)
            WEBHOOK_DELIVERIES.labels(subscription.id, "dead_lettered").inc()
            return gone
        delay = (
            None
            if failure.final
            else retry_delay(policy, delivery.attempts + 1, self._rng, failure.retry_after_s)
        )
        if delay is None:
            await store.dead_letter(delivery, error, self._clock(), runtime.event_retention)
            WEBHOOK_DELIVERIES.labels(subscription.id, "dead_lettered").inc()
            log.warning(
                "webhook dead-lettered",
                extra={"subscription": subscription.id, "delivery": delivery.id, "error": error},
            )
        else:
            await store.retry_at(delivery, self._clock() + delay, error)
            WEBHOOK_DELIVERIES.labels(subscription.id, "retried").inc()
        return None

    async def _post(
        self,
        runtime: Runtime,
        session: aiohttp.ClientSession,
        subscription: SubscriptionConfig,
        delivery: Delivery,
        policy: DeliveryPolicy,
    ) -> Failure | None:
        """None when the subscriber took it (2xx), else what went wrong."""
        keys = signing_keys(runtime.env, subscription)
        if isinstance(keys, Failure):
            return keys
        at = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        version = subscription.api_version or runtime.versions.pinned(subscription.client)
        body = as_version(delivery.body, version)
        headers = signed_headers(keys, delivery.event_id, body, at)
        started = time.monotonic()
        try:
            async with session.post(
                str(subscription.url),
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=policy.timeout_s),
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                await _drain(response)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Failure(f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT])
        finally:
            WEBHOOK_DELIVERY_SECONDS.labels(subscription.id).observe(time.monotonic() - started)
        if 200 <= status < 300:
            return None
        if status == _GONE:
            return Failure(_GONE_ERROR, final=True, status=status)
        if status not in _ASKS_TO_WAIT:
            retry_after = None
        return Failure(f"HTTP {status}", retry_after_seconds(retry_after, self._clock()))


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Reads a short answer's body to its end, so that its connection can carry the next
    delivery. The status is the subscriber's answer: a body of no declared length or a long
    one is left unread (its connection closed, not kept), since reading it would hold it all
    in memory and one without end would run out the timeout of a delivery already taken; and
    a body that fails to arrive changes nothing."""
    length = response.content_length
    if length is None or length > _DRAINED_BYTES:
        return
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
        await response.read()


def _still_entitled(runtime: Runtime, subscription: SubscriptionConfig, body: str) -> bool:
    """Whether the subscription's client may see the event (its legal entity, its data's
    scope) under today's policies (they may have changed since the event was recorded)."""
    entitlement = runtime.entitlements.get(subscription.client)
    event = json.loads(body)
    legal_entity = str(event.get(LEGAL_ENTITY_EXTENSION))
    if entitlement is None or not entitlement.may_act_for(legal_entity):
        return False
    if event_scope(event.get("type")) not in entitlement.scopes:
        return False
    return subscription.legal_entities == "*" or legal_entity in subscription.legal_entities
