"""The transaction journal's storage: one entry per domain transaction, each attempt at it
(the CRM's retries, replays) merged in, kept for a bounded time and number of entries.

An entry is listed in the order entries were first written (newest first: its transaction's
end, not its arrival), filtered, a page at a time: a slow transaction's entry, written when it
ends, comes above every entry a listing under way has reached, never behind its cursor; its
summary is the latest attempt's (an attempt placed earlier than one already written
does not overwrite it: see `position`), its states are every attempt's, the latest MAX_STATES of
them.

On Redis: a hash and a list per entry, a sorted set of ids scored by when each was first
written (by Redis's own clock, read by the script that writes it: one clock for every gateway
process), and a sorted set of open exceptions, all under one hash tag (one cluster slot); each
attempt is merged by one script, atomically, whichever process writes it, and once (by its
attempt id: a batch whose reply was lost is written again). A sorted set rather than a stream:
entries change after they are first written (retries, replays) and are read by id. Entries
an earlier release scored by arrival (and those its processes still write during a rolling
deploy) stay in the same index, by their arrival: none is left unlisted.

Not what goes into an entry or when (see `gateway.pipeline.journal`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import orjson
import redis.asyncio as aioredis

from gateway.domain.ids import random_hex
from gateway.store.base import CLOCKS_APART_MS
from gateway.store.buffered import MAX_PENDING_BYTES, BufferedWriter
from gateway.store.redis_batch import Batch, Pipelines
from gateway.store.redis_errors import unavailable_as_problem

log = logging.getLogger("gateway.store")

MAX_PAGE = 200
# The states an entry keeps, the latest: a CRM retrying one key in a loop (each attempt adds
# two to four) must not grow its entry, nor the listings that show it, without bound; the
# entry says how many earlier ones it let go (`states_omitted`).
MAX_STATES = 200
# The attempt ids an entry remembers, to merge once a batch written again because its
# reply was lost: written again at once, by the process that wrote it.
RECENT_ATTEMPTS = 16
_SCAN_BATCH = 200
_SCAN_LIMIT = 5000  # entries looked at for one page of a filtered listing, at most
_OPEN_BATCH = 1000  # open exceptions whose legal entity one round trip reads
# Ages of open exceptions, for the metric: (label, youngest age in seconds).
EXCEPTION_AGES = (("lt_1h", 0.0), ("1h_to_24h", 3600.0), ("gt_24h", 86400.0))


@dataclass(frozen=True)
class JournalRecord:
    """One attempt at a transaction, to be merged into its entry.

    `fields` become the entry's summary unless a later attempt was already written; `states`
    are appended; `open` says whether the transaction is now an open exception (a technical
    failure that no later attempt or replay has settled). An attempt that does not `settle`
    (an answer from a stored outcome, a refusal for traffic) only adds its states, and its
    fields only name a transaction seen for the first time.
    """

    id: str
    arrived_at: float  # this attempt's arrival (the entry keeps its first)
    ended_at: float
    fields: Mapping[str, Any]
    states: Sequence[Mapping[str, Any]]
    open: bool = False
    settles: bool = True
    # This attempt's own id: a batch written again (its reply was lost) merges it once.
    attempt: str = field(default_factory=functools.partial(random_hex, 8))
    # What this attempt is known to come after (epoch ms, a `position`): the entry's
    # `updated_at` as a replay read it, or the place of the attempts an Idempotency-Key's
    # retry followed (its claim says: see `gateway.pipeline.admission`). It comes after them
    # by construction, whatever the clocks of the hosts that wrote them say (one host's clock
    # a minute behind another's left a successful retry or replay of a failure failed, open,
    # and replayable into a second document).
    after_ms: int | None = None


@dataclass(frozen=True)
class JournalQuery:
    """Filters of a listing (None: any), where to continue from, how many to return."""

    status: str | None = None
    legal_entity: str | None = None
    backend: str | None = None
    client: str | None = None
    correlation_id: str | None = None
    operation: str | None = None
    since: float | None = None  # arrived at or after (epoch seconds)
    cursor: str | None = None
    limit: int = 50
    # The legal entities whose entries the asking client may see (None: every entity's, and
    # those of none); a regional operator's listing holds its entities' only.
    within: frozenset[str] | None = None

    def matches(self, entry: Mapping[str, Any]) -> bool:
        if self.since is not None and iso_ms(entry["arrived_at"]) < _ms(self.since):
            return False
        if self.within is not None and entry.get("legal_entity") not in self.within:
            return False
        for name in ("status", "legal_entity", "backend", "client", "operation"):
            wanted = getattr(self, name)
            if wanted is not None and entry.get(name) != wanted:
                return False
        if self.correlation_id is None:
            return True
        seen = {entry.get("correlation_id")}
        seen.update(s.get("correlation_id") for s in entry.get("states", ()))
        return self.correlation_id in seen


@dataclass(frozen=True)
class JournalPage:
    items: list[dict[str, Any]]
    next_cursor: str | None  # None: nothing older matches


@dataclass(frozen=True)
class JournalRetention:
    """How long entries are kept, and how many at most (the oldest go first)."""

    retention_s: float = 7 * 86400.0
    max_entries: int = 100_000


class JournalStore(Protocol):
    async def write(self, records: Sequence[JournalRecord], retention: JournalRetention) -> None:
        """Merge each attempt into its entry, then drop what the retention no longer keeps."""
        ...

    async def entry(self, entry_id: str) -> dict[str, Any] | None: ...

    async def page(self, query: JournalQuery) -> JournalPage: ...

    async def open_exceptions(
        self, now: float, within: frozenset[str] | None = None
    ) -> dict[str, int]:
        """How many transactions are open exceptions, by age (EXCEPTION_AGES labels); with
        `within`, those of these legal entities only (a regional operator's overview)."""
        ...


class BadCursor(ValueError):
    """A cursor this journal did not hand out."""


def encode_cursor(score: float, entry_id: str) -> str:
    """Where a listing goes on: below the entry `entry_id` at `score` (its place in the index)."""
    raw = f"{score!r}:{entry_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        score, entry_id = raw.split(":", 1)
        if not math.isfinite(value := float(score)):
            raise ValueError(raw)
        return value, entry_id
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise BadCursor(cursor) from exc


def _ms(seconds: float) -> int:
    return math.floor(seconds * 1000)


def position(ended_at: float, after_ms: int | None) -> int:
    """An attempt's place in its entry's order (epoch ms): when it ended, by its host's clock,
    or just after the attempts it is known to follow (`after_ms`) if that clock says earlier
    (the clocks of two hosts cannot order a retry and the attempt it followed). The entry's
    summary is the one placed latest; of two at one place (both followed the same attempt,
    neither the other), the one that ended later; the entry's `updated_at` is its place."""
    ended_ms = _ms(ended_at)
    return ended_ms if after_ms is None else max(ended_ms, after_ms + 1)


def _age_counts(created: Sequence[float], now: float) -> dict[str, int]:
    counts = dict.fromkeys((label for label, _ in EXCEPTION_AGES), 0)
    for arrived in created:
        age = now - arrived
        label = EXCEPTION_AGES[0][0]
        for name, youngest in EXCEPTION_AGES:
            if age >= youngest:
                label = name
        counts[label] += 1
    return counts


# -- memory --------------------------------------------------------------------------------


@dataclass
class _Entry:
    arrived_ms: int
    seq: int  # its place in the order entries were first written (listings, cursors)
    updated_ms: int  # the place of the attempt that gave the summary (`position`)
    ended_ms: int = 0  # and its end, by its host's clock
    attempts: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)
    omitted: int = 0  # earlier states let go (MAX_STATES)
    open: bool = False
    # The latest attempt ids merged into it (RECENT_ATTEMPTS).
    merged: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_ATTEMPTS))


class MemoryJournal:
    """The journal in one process's memory (tests, a single-process demo)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # By first write, oldest first (a dict keeps the order its keys came in): what the
        # listings read from the end, what trimming takes from the start.
        self._entries: dict[str, _Entry] = {}
        self._seq = 0  # the last entry's `seq`
        self._written: deque[tuple[float, str]] = deque()  # (first written, id), oldest first

    async def write(self, records: Sequence[JournalRecord], retention: JournalRetention) -> None:
        for record in records:
            entry = self._entries.get(record.id)
            fresh = entry is None
            if entry is None:
                self._seq += 1
                entry = self._entries[record.id] = _Entry(_ms(record.arrived_at), self._seq, 0)
                self._written.append((self._clock(), record.id))
            elif record.attempt in entry.merged:
                continue
            entry.merged.append(record.attempt)
            entry.attempts += 1
            entry.states.extend(dict(s) for s in record.states)
            excess = len(entry.states) - MAX_STATES
            if excess > 0:
                del entry.states[:excess]
                entry.omitted += excess
            order = (position(record.ended_at, record.after_ms), _ms(record.ended_at))
            if fresh or (record.settles and order >= (entry.updated_ms, entry.ended_ms)):
                entry.updated_ms, entry.ended_ms = order
                entry.fields.update(record.fields)
                entry.open = record.open
        oldest = self._clock() - retention.retention_s
        written, entries = self._written, self._entries
        while written and (len(entries) > retention.max_entries or written[0][0] < oldest):
            _, entry_id = written.popleft()
            del entries[entry_id]

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        entry = self._entries.get(entry_id)
        return None if entry is None else _view(entry_id, entry)

    async def page(self, query: JournalQuery) -> JournalPage:
        below = decode_cursor(query.cursor)[0] if query.cursor else None
        items: list[dict[str, Any]] = []
        for entry_id, entry in reversed(self._entries.items()):
            if below is not None and entry.seq >= below:
                continue
            view = _view(entry_id, entry)
            if query.matches(view):
                items.append(view)
                if len(items) == query.limit:
                    return JournalPage(items, encode_cursor(entry.seq, entry_id))
        return JournalPage(items, None)

    async def open_exceptions(
        self, now: float, within: frozenset[str] | None = None
    ) -> dict[str, int]:
        created = [
            e.arrived_ms / 1000
            for e in self._entries.values()
            if e.open and (within is None or e.fields.get("legal_entity") in within)
        ]
        return _age_counts(created, now)


def _view(entry_id: str, entry: _Entry) -> dict[str, Any]:
    return _shaped(
        entry_id,
        entry.arrived_ms,
        entry.updated_ms,
        entry.attempts,
        entry.fields,
        entry.states,
        entry.omitted,
    )


def _shaped(
    entry_id: str,
    arrived_ms: int,
    updated_ms: int,
    attempts: int,
    fields: Mapping[str, Any],
    states: Sequence[Mapping[str, Any]],
    omitted: int,
) -> dict[str, Any]:
    ordered = sorted((dict(s) for s in states), key=lambda s: float(s.get("at", 0)))
    for state in ordered:
        state["at"] = iso(float(state.get("at", 0)))
    return {
        "id": entry_id,
        **fields,
        "arrived_at": iso(arrived_ms / 1000),
        "updated_at": iso(updated_ms / 1000),
        "attempts": attempts,
        "states": ordered,
        "states_omitted": omitted,
    }


def iso(epoch_s: float) -> str:
    """An instant as the API shows it: ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")


def iso_ms(shown: str) -> int:
    """An instant as `iso` shows it, in epoch milliseconds again."""
    return round(datetime.fromisoformat(shown).timestamp() * 1000)


# -- Redis ---------------------------------------------------------------------------------

WRITE_ATTEMPT = """
-- KEYS: entry hash, its states list, the index (ids by when first written), the open exceptions
-- ARGV: id, attempt id, arrived_ms, place_ms (its `position`), retention_ms, open (0/1),
--       number of states, states..., settles (0/1), ended_ms (its end by its host's clock: of
--       two at one place, the one that ended later gives the summary), then field, value pairs
--       (values JSON)
-- An attempt is merged once: a batch written again because its reply was lost finds its
-- attempt's id among the entry's latest (' id id ... ', at most RECENT_ATTEMPTS of them).
local recent = redis.call('HGET', KEYS[1], '@recent') or ' '
local marked = ' ' .. ARGV[2] .. ' '
if string.find(recent, marked, 1, true) then
  return 0
end
recent = recent .. ARGV[2] .. ' '
local room = RECENT_CHARS
if #recent > room then
  recent = string.sub(recent, string.find(recent, ' ', #recent - room, true))
end
redis.call('HSET', KEYS[1], '@recent', recent)
local fresh = redis.call('HSETNX', KEYS[1], '@arrived', ARGV[3]) == 1
redis.call('HINCRBY', KEYS[1], '@attempts', 1)
local states = tonumber(ARGV[7])
local length = 0
for i = 8, 7 + states do
  length = redis.call('RPUSH', KEYS[2], ARGV[i])
end
local excess = length - MAX_STATES
if excess > 0 then
  redis.call('LTRIM', KEYS[2], excess, -1)
  redis.call('HINCRBY', KEYS[1], '@omitted', excess)
end
-- An entry written before '@ended' was kept: its attempt ended at its place.
local kept = redis.call('HMGET', KEYS[1], '@updated', '@ended', '@arrived')
local updated = tonumber(kept[1] or '-1')
local kept_ended = tonumber(kept[2] or kept[1] or '-1')
local arrived = kept[3]
local place = tonumber(ARGV[4])
local ended = tonumber(ARGV[9 + states])
local later = place > updated or (place == updated and ended >= kept_ended)
if fresh or (ARGV[8 + states] == '1' and later) then
  redis.call('HSET', KEYS[1], '@updated', ARGV[4], '@ended', ARGV[9 + states])
  for i = 10 + states, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  if ARGV[6] == '1' then
    redis.call('ZADD', KEYS[4], arrived, ARGV[1])
  else
    redis.call('ZREM', KEYS[4], ARGV[1])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
-- Placed by when it was first written, by this Redis's clock (one clock for every gateway
-- process; a script run later reads a later time unless the clock is set back), in
-- milliseconds to the microsecond; an entry keeps the place it was given first.
local now = redis.call('TIME')
redis.call('ZADD', KEYS[3], 'NX', tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000, ARGV[1])
return 1
""".replace("MAX_STATES", str(MAX_STATES)).replace(
    # An attempt id is 16 hex digits and a space; room for the latest RECENT_ATTEMPTS.
    "RECENT_CHARS",
    str(17 * RECENT_ATTEMPTS),
)

TRIM = """
-- KEYS: the index, the open exceptions
-- ARGV: entry key prefix, the oldest first write kept (ms), most entries kept
local dropped = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
local excess = redis.call('ZCARD', KEYS[1]) - #dropped - tonumber(ARGV[3])
if excess > 0 then
  local more = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf', 'LIMIT', 0, excess)
  for _, id in ipairs(more) do
    dropped[#dropped + 1] = id
  end
end
for _, id in ipairs(dropped) do
  redis.call('DEL', ARGV[1] .. id, ARGV[1] .. id .. ':states')
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #dropped
"""


class RedisJournal:
    """The journal on Redis, shared by every gateway process."""

    def __init__(self, client: aioredis.Redis, prefix: str, pipelines: Pipelines) -> None:
        self._redis = client
        self._pipelines = pipelines  # the writes' batches
        self._base = f"{prefix}{{journal}}:"  # one hash tag: the trim touches every key
        self._index = self._base + "index"
        self._open = self._base + "open"
        self._write = client.register_script(WRITE_ATTEMPT)
        self._trim = client.register_script(TRIM)

    def _entry_key(self, entry_id: str) -> str:
        return self._base + "tx:" + entry_id

    async def write(self, records: Sequence[JournalRecord], retention: JournalRetention) -> None:
        retention_ms = max(1, _ms(retention.retention_s))
        batch = Batch()
        for record in records:
            key = self._entry_key(record.id)
            args: list[Any] = [
                record.id,
                record.attempt,
                _ms(record.arrived_at),
                position(record.ended_at, record.after_ms),
                retention_ms,
                "1" if record.open else "0",
                len(record.states),
                *(orjson.dumps(s) for s in record.states),
                "1" if record.settles else "0",
                _ms(record.ended_at),
            ]
            for name, value in record.fields.items():
                args += [name, orjson.dumps(value)]
            batch.script(self._write, [key, key + ":states", self._index, self._open], args)
        oldest = _ms(time.time() - retention.retention_s)
        trim_args = [self._base + "tx:", oldest, retention.max_entries]
        batch.script(self._trim, [self._index, self._open], trim_args)
        await batch.send(self._pipelines)

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        found = await self._entries([entry_id])
        return found[0]

    async def _entries(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        with unavailable_as_problem():
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry_id in ids:
                    key = self._entry_key(entry_id)
                    pipe.hgetall(key)
                    pipe.lrange(key + ":states", 0, -1)
                replies = await pipe.execute()
        found: list[dict[str, Any] | None] = []
        for index, entry_id in enumerate(ids):
            raw: dict[bytes, bytes] = replies[2 * index]
            states: list[bytes] = replies[2 * index + 1]
            if not raw:
                found.append(None)
                continue
            # Entries written before RECENT_ATTEMPTS kept one `@attempt:<id>` field each.
            fields = {
                k.decode(): v.decode() for k, v in raw.items() if not k.startswith(b"@attempt:")
            }
            arrived = int(fields.pop("@arrived"))
            updated = int(fields.pop("@updated", arrived))
            attempts = int(fields.pop("@attempts", 0))
            omitted = int(fields.pop("@omitted", 0))
            fields.pop("@ended", None)
            fields.pop("@recent", None)
            values = {name: json.loads(value) for name, value in fields.items()}
            found.append(
                _shaped(
                    entry_id,
                    arrived,
                    updated,
                    attempts,
                    values,
                    [json.loads(s) for s in states],
                    omitted,
                )
            )
        return found

    async def page(self, query: JournalQuery) -> JournalPage:
        # Each batch is read from below the last entry looked at (its score, past the entries
        # at that score already looked at), not at an offset from the top: entries written
        # meanwhile, above it, moved an offset down, and a page listed them twice. `since` is
        # an arrival: an entry is written after it arrived, so none that arrived since is
        # placed before it, but for the clocks of the gateway's hosts against Redis's; the
        # listing reads down to a margin below it and `matches` keeps those that arrived since.
        bound = decode_cursor(query.cursor) if query.cursor else None
        high: Any = bound[0] if bound is not None else "+inf"
        low: Any = "-inf" if query.since is None else _ms(query.since) - CLOCKS_APART_MS
        items: list[dict[str, Any]] = []
        seen = 0
        skip = 0  # entries at score `high` looked at already
        while seen < _SCAN_LIMIT:
            with unavailable_as_problem():
                batch: list[tuple[bytes, float]] = await cast(Any, self._redis).zrevrangebyscore(
                    self._index, high, low, start=skip, num=_SCAN_BATCH, withscores=True
                )
            if not batch:
                return JournalPage(items, None)
            looked = [(float(score), member.decode()) for member, score in batch]
            # Entries above the bound are ones written at its score meanwhile.
            positions = [p for p in looked if bound is None or p < bound]
            entries = await self._entries([entry_id for _, entry_id in positions])
            for place, entry in zip(positions, entries, strict=True):
                seen += 1
                if entry is not None and query.matches(entry):
                    items.append(entry)
                    if len(items) == query.limit:
                        return JournalPage(items, encode_cursor(*place))
            if len(batch) < _SCAN_BATCH:
                return JournalPage(items, None)
            last = looked[-1]
            at_last = sum(1 for score, _ in looked if score == last[0])
            skip = at_last + (skip if last[0] == high else 0)
            high = last[0]
            bound = last if bound is None else min(bound, last)
        # Looked at enough for one answer: the caller continues from the last one looked at.
        return JournalPage(items, encode_cursor(*bound) if bound else None)

    async def open_exceptions(
        self, now: float, within: frozenset[str] | None = None
    ) -> dict[str, int]:
        if within is not None:
            return _age_counts(await self._open_arrivals(within), now)
        counts: dict[str, int] = {}
        with unavailable_as_problem():
            async with self._redis.pipeline(transaction=False) as pipe:
                bounds = [youngest for _, youngest in EXCEPTION_AGES[1:]] + [math.inf]
                for (label, youngest), oldest in zip(EXCEPTION_AGES, bounds, strict=True):
                    high = _ms(now - youngest)
                    low: Any = "-inf" if oldest == math.inf else f"({_ms(now - oldest)}"
                    pipe.zcount(self._open, low, high)
                    counts[label] = 0
                replies = await pipe.execute()
        return dict(zip(counts, (int(r) for r in replies), strict=True))

    async def _open_arrivals(self, within: frozenset[str]) -> list[float]:
        """When each open exception of these legal entities arrived (epoch seconds).

        The open set is not kept per legal entity (and holds the entries an earlier release
        wrote), so each open exception's entity is read from its entry, as the entry keeps it
        (JSON): one read per open exception, sent _OPEN_BATCH at a time."""
        wanted = {orjson.dumps(legal_entity) for legal_entity in within}
        with unavailable_as_problem():
            opened: list[tuple[bytes, float]] = await cast(Any, self._redis).zrange(
                self._open, 0, -1, withscores=True
            )
        arrivals: list[float] = []
        for start in range(0, len(opened), _OPEN_BATCH):
            chunk = opened[start : start + _OPEN_BATCH]
            with unavailable_as_problem():
                async with self._redis.pipeline(transaction=False) as pipe:
                    for member, _ in chunk:
                        pipe.hget(self._entry_key(member.decode()), "legal_entity")
                    entities: list[bytes | None] = await pipe.execute()
            arrivals += [
                score / 1000
                for (_, score), entity in zip(chunk, entities, strict=True)
                if entity in wanted
            ]
        return arrivals


def _size(record: JournalRecord) -> int:
    """A record's bytes as the store writes them: its fields and states as JSON (the request's
    body, most of all). Its objects take more in memory, about twice as much for an order, up
    to some twenty times for a body of empty objects. Raises orjson.JSONEncodeError for one
    that is no JSON."""
    fields, states = record.fields, record.states
    # Copied only when not a dict and a list already (as the journal step makes them).
    if not isinstance(fields, dict):
        fields = dict(fields)
    if not isinstance(states, list):
        states = list(states)
    return len(orjson.dumps(fields)) + len(orjson.dumps(states))


class JournalLog:
    """The journal as the request path writes it: `record` queues an attempt (no I/O), a
    background task writes batches to the store, `aclose` writes what is left."""

    def __init__(
        self,
        store: JournalStore,
        retention: JournalRetention,
        on_failure: Callable[[int], None] | None = None,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.store = store
        self.retention = retention  # a reload may change it
        self._writer: BufferedWriter[JournalRecord] = BufferedWriter(
            "journal", self._write, max_pending_bytes=max_pending_bytes, on_failure=on_failure
        )

    async def _write(self, records: Sequence[JournalRecord]) -> None:
        await self.store.write(records, self.retention)

    def record(self, record: JournalRecord) -> None:
        try:
            size = _size(record)
        except orjson.JSONEncodeError:
            # No store could write it: queued, it would be written again and again, and every
            # later entry would wait behind it.
            log.error("journal: an entry that is no JSON dropped", extra={"entry": record.id})
            return
        self._writer.put(record, size)

    @property
    def pending(self) -> int:
        """Entries not written yet (kept for later when the store refused them)."""
        return self._writer.pending

    async def flush(self) -> bool:
        return await self._writer.flush()

    async def aclose(self) -> None:
        await self._writer.aclose()
