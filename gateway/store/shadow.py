"""The shadow report's storage: counters, a few example pairs and the distinct records compared
per legal entity and operation, added to in batches, read whole by the report.

On Redis: a set of scopes, one hash of counters, one capped list of examples and one
HyperLogLog of the records compared (a dozen KB at most, about 1 % off at any count) per scope,
under one hash tag; a batch of tallies is one Lua script, applied whole or not at all, and once:
a batch written again because its reply was lost (`BufferedWriter`) is known by its first
tally's id and not counted twice. In memory, each scope's records are a set, counted exactly up
to `MEMORY_RECORDS_KEPT`.
Not what is counted (see `gateway.service.shadow`) nor what it means (see
`gateway.routing.shadow_report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import redis.asyncio as aioredis

from gateway.domain.ids import random_hex
from gateway.store.redis_errors import unavailable_as_problem

MAX_EXAMPLES = 60  # kept per scope, newest first: enough for a few per field of the top ten
# The batches added, by their first tally's id: one written again (its reply was lost) within
# this long and this many batches is found among them and not counted twice.
BATCH_WINDOW_S = 3600
BATCHES_KEPT = 100_000
# The records the memory store tells apart per scope: beyond, the count stays there (a lower
# bound, far above any evidence bar), so that memory stays bounded.
MEMORY_RECORDS_KEPT = 10_000
_PFADD_CHUNK = 200  # records per PFADD in the script: Lua's unpack has a bounded stack


@dataclass(frozen=True)
class ShadowTally:
    """What one shadow sample (or skip) adds to its scope: counters, and example pairs as
    JSON texts."""

    scope: str
    counts: Mapping[str, int]
    examples: Sequence[str] = field(default_factory=tuple)
    record: str | None = None  # the record compared (a gateway id), counted once per scope
    # Not counted: the first tally's id names its batch, so that a batch written again (its
    # reply was lost) is counted once.
    id: str = field(default_factory=lambda: random_hex(8))


Counters = dict[str, dict[str, int]]
Examples = dict[str, list[str]]
Records = dict[str, int]


class ShadowRead(NamedTuple):
    """Every scope's counters, its example pairs (newest first), and how many distinct records
    its samples compared (scopes that compared none are absent)."""

    counters: Counters
    examples: Examples
    records: Records


class ShadowStore(Protocol):
    async def add(self, tallies: Sequence[ShadowTally]) -> None:
        """Add every tally, in one round trip, atomically. A batch added already (the same
        first tally) is not added again."""
        ...

    async def read(self) -> ShadowRead:
        """Every scope's counters, example pairs and distinct records, read at once."""
        ...

    async def reset(self) -> None:
        """Forget every counter, example and record (a new measurement starts)."""
        ...


class MemoryShadow:
    def __init__(self) -> None:
        self._counters: Counters = {}
        self._examples: Examples = {}
        self._records: dict[str, set[str]] = {}
        self._batches: dict[str, None] = {}  # the newest batches' ids, oldest first

    async def add(self, tallies: Sequence[ShadowTally]) -> None:
        if not tallies or tallies[0].id in self._batches:
            return
        self._batches[tallies[0].id] = None
        if len(self._batches) > BATCHES_KEPT:
            del self._batches[next(iter(self._batches))]
        for tally in tallies:
            counters = self._counters.setdefault(tally.scope, {})
            for name, n in tally.counts.items():
                counters[name] = counters.get(name, 0) + n
            if tally.examples:
                kept = self._examples.setdefault(tally.scope, [])
                kept[:0] = reversed(tally.examples)
                del kept[MAX_EXAMPLES:]
            if tally.record is not None:
                records = self._records.setdefault(tally.scope, set())
                if len(records) < MEMORY_RECORDS_KEPT:
                    records.add(tally.record)

    async def read(self) -> ShadowRead:
        return ShadowRead(
            {s: dict(c) for s, c in self._counters.items()},
            {s: list(e) for s, e in self._examples.items()},
            {s: len(r) for s, r in self._records.items()},
        )

    async def reset(self) -> None:
        self._counters.clear()
        self._examples.clear()
        self._records.clear()


ADD = """
-- KEYS: the scopes (a set), the batches added (a sorted set of ids by when), then for each
--       scope its counters (a hash), its examples (a list) and its records (a HyperLogLog)
-- ARGV: the batch's id, how long and how many batch ids are kept, most examples kept, records
--       per PFADD, then for each scope: its name, n, n pairs of counter and count, m, m
--       examples (oldest first), r, r records
-- 0: the batch is in already (written again because its reply was lost); 1: added.
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[3]) - 1)
local kept, chunk = tonumber(ARGV[4]), tonumber(ARGV[5])
local i, k = 6, 3
while i <= #ARGV do
  redis.call('SADD', KEYS[1], ARGV[i])
  local counters = tonumber(ARGV[i + 1])
  i = i + 2
  for _ = 1, counters do
    redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  local examples = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, examples do
    redis.call('LPUSH', KEYS[k + 1], ARGV[i])
    i = i + 1
  end
  if examples > 0 then
    redis.call('LTRIM', KEYS[k + 1], 0, kept - 1)
  end
  local records = tonumber(ARGV[i])
  i = i + 1
  for first = 0, records - 1, chunk do
    local last = math.min(first + chunk, records) - 1
    redis.call('PFADD', KEYS[k + 2], unpack(ARGV, i + first, i + last))
  end
  i = i + records
  k = k + 3
end
return 1
"""


class RedisShadow:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        # One hash tag: the report reads, and a reset deletes, every key at once, and a batch
        # is one script (one cluster slot); the counters are a few small hashes.
        self._prefix = f"{prefix}{{shadow}}:"
        self._scopes = f"{self._prefix}scopes"
        self._batches = f"{self._prefix}batches"
        self._add = client.register_script(ADD)

    def _counters_key(self, scope: str) -> str:
        return f"{self._prefix}c:{scope}"

    def _examples_key(self, scope: str) -> str:
        return f"{self._prefix}x:{scope}"

    def _records_key(self, scope: str) -> str:
        return f"{self._prefix}r:{scope}"

    async def add(self, tallies: Sequence[ShadowTally]) -> None:
        if not tallies:
            return
        merged: dict[str, dict[str, int]] = {}
        examples: dict[str, list[str]] = {}
        records: dict[str, dict[str, None]] = {}
        for tally in tallies:
            counters = merged.setdefault(tally.scope, {})
            for name, n in tally.counts.items():
                counters[name] = counters.get(name, 0) + n
            examples.setdefault(tally.scope, []).extend(tally.examples)
            compared = records.setdefault(tally.scope, {})
            if tally.record is not None:
                compared[tally.record] = None
        keys = [self._scopes, self._batches]
        args: list[Any] = [tallies[0].id, BATCH_WINDOW_S, BATCHES_KEPT, MAX_EXAMPLES, _PFADD_CHUNK]
        for scope, counters in merged.items():
            keys += [self._counters_key(scope), self._examples_key(scope)]
            keys.append(self._records_key(scope))
            newest = examples[scope][-MAX_EXAMPLES:]  # the older ones would be trimmed away
            args += [scope, len(counters), *(x for pair in counters.items() for x in pair)]
            args += [len(newest), *newest, len(records[scope]), *records[scope]]
        with unavailable_as_problem():
            await self._add(keys=keys, args=args)

    async def read(self) -> ShadowRead:
        with unavailable_as_problem():
            scopes = sorted(_text(s) for s in await self._redis.smembers(self._scopes))
            pipe: Any = self._redis.pipeline(transaction=False)
            for scope in scopes:
                pipe.hgetall(self._counters_key(scope))
                pipe.lrange(self._examples_key(scope), 0, -1)
                # One key: one slot (redis-py's cluster pipeline refuses `pfcount`, which may
                # name several).
                pipe.execute_command("PFCOUNT", self._records_key(scope))
            replies = await pipe.execute() if scopes else []
        read = ShadowRead({}, {}, {})
        for n, scope in enumerate(scopes):
            raw_counts, raw_examples, records = replies[3 * n : 3 * n + 3]
            read.counters[scope] = {_text(k): int(v) for k, v in raw_counts.items()}
            read.examples[scope] = [_text(e) for e in raw_examples]
            if records:
                read.records[scope] = int(records)
        return read

    async def reset(self) -> None:
        # The batch ids stay: a batch counted before the reset and written again after it (its
        # reply was lost) belongs to the measurement forgotten, not to the next one.
        with unavailable_as_problem():
            scopes = [_text(s) for s in await self._redis.smembers(self._scopes)]
            keys = [self._scopes]
            keys += [self._counters_key(s) for s in scopes]
            keys += [self._examples_key(s) for s in scopes]
            keys += [self._records_key(s) for s in scopes]
            await self._redis.delete(*keys)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
