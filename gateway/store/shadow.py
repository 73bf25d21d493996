"""The shadow report's storage: counters and a few example pairs per legal entity and
operation, added to in batches, read whole by the report.

On Redis: a set of scopes, one hash of counters and one capped list of examples per scope, under
one hash tag; a batch of tallies is one pipelined round trip (SADD, HINCRBY, LPUSH, LTRIM),
whichever process adds it.
Not what is counted (see `gateway.service.shadow`) nor what it means (see
`gateway.routing.shadow_report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis

from gateway.store.redis_errors import unavailable_as_problem

MAX_EXAMPLES = 60  # kept per scope, newest first: enough for a few per field of the top ten


@dataclass(frozen=True)
class ShadowTally:
    """What one shadow sample (or skip) adds to its scope: counters, and example pairs as
    JSON texts."""

    scope: str
    counts: Mapping[str, int]
    examples: Sequence[str] = field(default_factory=tuple)


Counters = dict[str, dict[str, int]]
Examples = dict[str, list[str]]


class ShadowStore(Protocol):
    async def add(self, tallies: Sequence[ShadowTally]) -> None:
        """Add every tally, in one round trip."""
        ...

    async def read(self) -> tuple[Counters, Examples]:
        """Every scope's counters, and its example pairs (newest first)."""
        ...

    async def reset(self) -> None:
        """Forget every counter and example (a new measurement starts)."""
        ...


class MemoryShadow:
    def __init__(self) -> None:
        self._counters: Counters = {}
        self._examples: Examples = {}

    async def add(self, tallies: Sequence[ShadowTally]) -> None:
        for tally in tallies:
            counters = self._counters.setdefault(tally.scope, {})
            for name, n in tally.counts.items():
                counters[name] = counters.get(name, 0) + n
            if tally.examples:
                kept = self._examples.setdefault(tally.scope, [])
                kept[:0] = reversed(tally.examples)
                del kept[MAX_EXAMPLES:]

    async def read(self) -> tuple[Counters, Examples]:
        return (
            {s: dict(c) for s, c in self._counters.items()},
            {s: list(e) for s, e in self._examples.items()},
        )

    async def reset(self) -> None:
        self._counters.clear()
        self._examples.clear()


class RedisShadow:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        # One hash tag: the report reads, and a reset deletes, every key at once (one cluster
        # slot); the counters are a few small hashes, written in batches.
        self._prefix = f"{prefix}{{shadow}}:"
        self._scopes = f"{self._prefix}scopes"

    def _counters_key(self, scope: str) -> str:
        return f"{self._prefix}c:{scope}"

    def _examples_key(self, scope: str) -> str:
        return f"{self._prefix}x:{scope}"

    async def add(self, tallies: Sequence[ShadowTally]) -> None:
        merged: dict[str, dict[str, int]] = {}
        examples: dict[str, list[str]] = {}
        for tally in tallies:
            counters = merged.setdefault(tally.scope, {})
            for name, n in tally.counts.items():
                counters[name] = counters.get(name, 0) + n
            examples.setdefault(tally.scope, []).extend(tally.examples)
        with unavailable_as_problem():
            pipe: Any = self._redis.pipeline(transaction=False)
            pipe.sadd(self._scopes, *merged)
            for scope, counters in merged.items():
                for name, n in counters.items():
                    pipe.hincrby(self._counters_key(scope), name, n)
                if examples[scope]:
                    pipe.lpush(self._examples_key(scope), *examples[scope])
                    pipe.ltrim(self._examples_key(scope), 0, MAX_EXAMPLES - 1)
            await pipe.execute()

    async def read(self) -> tuple[Counters, Examples]:
        with unavailable_as_problem():
            scopes = sorted(_text(s) for s in await self._redis.smembers(self._scopes))
            pipe: Any = self._redis.pipeline(transaction=False)
            for scope in scopes:
                pipe.hgetall(self._counters_key(scope))
                pipe.lrange(self._examples_key(scope), 0, -1)
            replies = await pipe.execute() if scopes else []
        counters: Counters = {}
        examples: Examples = {}
        for n, scope in enumerate(scopes):
            raw_counts, raw_examples = replies[2 * n], replies[2 * n + 1]
            counters[scope] = {_text(k): int(v) for k, v in raw_counts.items()}
            examples[scope] = [_text(e) for e in raw_examples]
        return counters, examples

    async def reset(self) -> None:
        with unavailable_as_problem():
            scopes = [_text(s) for s in await self._redis.smembers(self._scopes)]
            keys = [self._scopes]
            keys += [self._counters_key(s) for s in scopes]
            keys += [self._examples_key(s) for s in scopes]
            await self._redis.delete(*keys)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
