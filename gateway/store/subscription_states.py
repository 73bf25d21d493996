"""Which webhook subscriptions the gateway stopped sending to: a subscriber answered 410 Gone
(Standard Webhooks: stop sending to this endpoint), recorded with when and at which URL until an
operator enables the subscription again.

A record disables its subscription only at the URL that answered: one pointed at another URL
(policies/subscriptions.yaml, reloaded) is sent to again, and a later 410 from there replaces
it. On Redis one hash under the events' hash tag (`{events}`), shared by every process and kept
across restarts. Not the subscriptions (see `gateway.config.events`) nor their deliveries (see
`gateway.store.events`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import redis.asyncio as aioredis

from gateway.store.redis_errors import unavailable_as_problem


@dataclass(frozen=True)
class Disabled:
    """Why a subscription is disabled: the URL that said so, the HTTP status it answered
    (410), and when (epoch seconds)."""

    url: str
    status: int
    at: float

    def to_json(self) -> str:
        return json.dumps({"url": self.url, "status": self.status, "at": self.at})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Disabled:
        data = json.loads(raw)
        return cls(str(data["url"]), int(data["status"]), float(data["at"]))


def disabled_at(records: Mapping[str, Disabled], subscription: str, url: str) -> Disabled | None:
    """The record that disables `subscription` at its configured `url`; None when it is
    enabled (no record, or one of another URL: the operator pointed it elsewhere)."""
    found = records.get(subscription)
    return found if found is not None and found.url == url else None


class SubscriptionStates(Protocol):
    async def disable(self, subscription: str, why: Disabled) -> bool:
        """`subscription` recorded as disabled for `why`; False, and the record left as it
        is, when it already was at that URL (another process's 410 came first)."""
        ...

    async def enable(self, subscription: str) -> bool:
        """`subscription` no longer disabled; False if it was not."""
        ...

    async def disabled(self) -> dict[str, Disabled]:
        """Every record, by subscription (some may be of a URL since changed: `disabled_at`)."""
        ...


@dataclass
class MemorySubscriptionStates:
    """The records in one process's memory (each method runs without awaiting: atomic)."""

    _records: dict[str, Disabled] = field(default_factory=dict)

    async def disable(self, subscription: str, why: Disabled) -> bool:
        if disabled_at(self._records, subscription, why.url) is not None:
            return False
        self._records[subscription] = why
        return True

    async def enable(self, subscription: str) -> bool:
        return self._records.pop(subscription, None) is not None

    async def disabled(self) -> dict[str, Disabled]:
        return dict(self._records)


DISABLE = """
-- KEYS: disabled subscriptions hash; ARGV: subscription, record JSON, its URL
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current)['url'] == ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class RedisSubscriptionStates:
    """The records on Redis, shared by every gateway process."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        # The events' hash tag, as the deliveries' keys have it (one cluster slot).
        self._key = f"{prefix}{{events}}:subscriptions:disabled"
        self._disable = client.register_script(DISABLE)

    async def disable(self, subscription: str, why: Disabled) -> bool:
        with unavailable_as_problem():
            done = await cast(Any, self._disable)(
                keys=[self._key], args=[subscription, why.to_json(), why.url]
            )
        return bool(done)

    async def enable(self, subscription: str) -> bool:
        with unavailable_as_problem():
            removed = await cast(Any, self._redis).hdel(self._key, subscription)
        return bool(removed)

    async def disabled(self) -> dict[str, Disabled]:
        with unavailable_as_problem():
            raw = await cast(Any, self._redis).hgetall(self._key)
        return {key.decode(): Disabled.from_json(value) for key, value in raw.items()}
