"""The domain events' storage: each ERP document's last applied change, each order's timeline,
the log every event is appended to (a Redis Stream), and the webhook deliveries with their
leases, retries and dead letters (all, or one subscription's, and how many each has).

What is kept is bounded (`EventRetention`): a timeline goes its retention after the order's
last event (on Redis, the key's expiry), a document's state its retention after its last change
(swept a bounded slice per commit), a dead letter its retention after its last try, and beyond
the most kept the oldest dead letters go (trimmed as each new one is recorded); the log keeps
its newest `log_max_len` events.

One `commit` applies a change to a document and appends its events, their timeline entries,
their log entries and their deliveries atomically, only if nobody applied another change to the
document since it was read (compare-and-set on the document's sequence): whichever gateway
process receives an ERP's notification, each canonical event is recorded once, in order.

On Redis every key shares one hash tag (`{events}`: one cluster slot, as the journal's do), so
that a commit touches the document, the timeline, the stream and the deliveries in one script.
Not what the events are or how they are derived (see `gateway.service.order_events`) nor how
deliveries are sent (see `gateway.ops.event_delivery`).
"""

from __future__ import annotations

import heapq
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from gateway.domain.digits import ascii_digits
from gateway.store.base import CLOCKS_APART_MS
from gateway.store.journal import BadCursor as JournalBadCursor
from gateway.store.journal import decode_cursor, encode_cursor
from gateway.store.redis_errors import unavailable_as_problem

MAX_LOG_PAGE = 500
# A claim looks at most this many due deliveries per one it may take: past the backlog of
# subscriptions another process is sending to, never through all of it.
_MOST_LOOKED_AT = 20
_STREAM_ID_LIMIT = 2**64
_LAST_ID = f"{2**64 - 1}-{2**64 - 1}"
DEFAULT_LOG_MAX_LEN = 100_000  # events the log (stream) keeps at most; the oldest go first
# Dead letters one trim drops at most: a backlog left by a version without retention goes a
# slice per dead letter recorded, never in one long script that holds Redis up.
_TRIM_AT_MOST = 1000
# Dead letters of an earlier version one count or listing indexes at most per step
# (INDEX_DEAD).
_INDEXED_AT_MOST = 1000
# The digits of a dead letter's age (ms) in the index by subscription: zero-padded, so that
# the index's order by bytes is the order of age.
_MS_DIGITS = 16
_MOST_MS = 10**_MS_DIGITS
# Document states one commit drops at most, the oldest first: a commit stays short however
# many fell past their retention at once; each commit takes a slice, as many as it records.
_DOCUMENTS_SWEPT_AT_MOST = 100
# Stale entries a memory store's expiry heap may hold beyond as many as its live ones.
_STALE_EXPIRIES_ALLOWED = 64


@dataclass(frozen=True)
class EventRetention:
    """How long an order's timeline is kept after its last event; how long a dead letter is
    kept after its last try, and how many at most (the oldest go first); how long a document's
    state is kept after its last change."""

    timeline_s: float = 90 * 86400.0
    dead_letter_s: float = 7 * 86400.0
    max_dead_letters: int = 100_000
    document_s: float = 400 * 86400.0


@dataclass(frozen=True)
class DocumentState:
    """The last change applied to one ERP document: the ERP's own sequence (0: none yet) and
    what the gateway derived from it (a JSON-able snapshot; None before the first change)."""

    sequence: int = 0
    snapshot: dict[str, Any] | None = None


@dataclass(frozen=True)
class NewEvent:
    """One canonical event to record: its id, the order whose timeline it joins, its
    CloudEvents JSON, and the subscriptions it is to be delivered to."""

    id: str
    order_id: str
    body: str
    subscriptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one subscription."""

    id: str  # "<subscription>:<event id>"
    subscription: str
    event_id: str
    body: str
    attempts: int = 0
    last_error: str | None = None
    lease: str | None = None  # the owner of the current claim

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "subscription": self.subscription,
                "event_id": self.event_id,
                "body": self.body,
                "attempts": self.attempts,
                "last_error": self.last_error,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes, lease: str | None = None) -> Delivery:
        data = json.loads(raw)
        return cls(lease=lease, **data)


@dataclass(frozen=True)
class LogPage:
    """Events of the log after a cursor, oldest first, and the cursor to continue from."""

    events: list[str]
    cursor: str


@dataclass(frozen=True)
class DeadLetterPage:
    """Dead letters after a cursor, oldest first, and the cursor of the next page (None: no
    more)."""

    items: list[Delivery]
    next_cursor: str | None


class BadCursor(ValueError):
    """A cursor this log (or the dead letters' listing) did not hand out."""


def _dead_letter_position(
    cursor: str | None, subscription: str | None = None
) -> tuple[float, str] | None:
    """Where a page of dead letters starts after: the age (ms) and id of the last listed. In
    one subscription's listing, a dead letter of that subscription, at a whole millisecond."""
    if cursor is None:
        return None
    try:
        ms, key = decode_cursor(cursor)
    except JournalBadCursor as exc:
        raise BadCursor(cursor) from exc
    if subscription is not None and not (
        key.startswith(f"{subscription}:") and ms.is_integer() and 0 <= ms < _MOST_MS
    ):
        raise BadCursor(cursor)
    return ms, key


def _by_subscription(key: str, ms: int) -> str:
    """A dead letter's entry in the index by subscription (`_BY_SUBSCRIPTION` in Lua)."""
    return f"{key.split(':', 1)[0]}:{ms:0{_MS_DIGITS}d}:{key}"


def delivery_id(subscription: str, event_id: str) -> str:
    return f"{subscription}:{event_id}"


class EventStore(Protocol):
    async def document_state(self, document: str) -> DocumentState:
        """The document's last applied change; none (sequence 0) for a document never changed,
        or one whose state went its retention after its last change."""
        ...

    async def commit(
        self,
        document: str,
        expected: int,
        state: DocumentState,
        events: Sequence[NewEvent],
        now: float,
        retention: EventRetention,
    ) -> bool:
        """Apply `state` to `document` and record `events` (all of one order: its timeline,
        the log, one due delivery per subscription), if the document's sequence is still
        `expected`; else nothing. The order's timeline is kept `retention.timeline_s` from
        now, its last event; the document's state `retention.document_s` from now, its last
        change (the states past theirs go, a bounded slice per commit)."""
        ...

    async def timeline(self, order_id: str) -> list[str]:
        """The order's events (CloudEvents JSON), in the order they were recorded; none once
        its retention after the last one has passed."""
        ...

    async def log(self, after: str | None, limit: int) -> LogPage:
        """Events recorded after the cursor `after` (None: from the oldest kept)."""
        ...

    async def claim_deliveries(
        self, now: float, limit: int, lease_s: float, owner: str
    ) -> list[Delivery]:
        """Up to `limit` due deliveries, oldest due first, of subscriptions no claim holds:
        each subscription they are for is held by this claim (its token: the deliveries'
        `lease`) for `lease_s`, so that one process at a time sends to a subscriber, in order.
        No other claim gets a delivery of it until `release` (or the lease runs out: its
        holder died). A delivery claimed and never settled is due again then, in its place."""
        ...

    async def release(self, subscription: str, lease: str) -> bool:
        """The claim `lease` is done with `subscription` (its unsettled deliveries stay due, in
        their places), if that claim still holds it."""
        ...

    async def delivered(self, delivery: Delivery) -> bool:
        """Done with it, if the caller's claim still holds."""
        ...

    async def retry_at(self, delivery: Delivery, at: float, error: str) -> bool:
        """Due again at `at` after one more failed attempt, if the caller's claim still holds."""
        ...

    async def dead_letter(
        self,
        delivery: Delivery,
        error: str,
        now: float,
        retention: EventRetention,
        attempted: bool = True,
    ) -> bool:
        """No more tries: listed among the dead letters, if the caller's claim still holds,
        one more attempt counted (none when not `attempted`: kept without a try); the dead
        letters past `retention` (older than `retention.dead_letter_s` at `now`, or beyond
        `retention.max_dead_letters`) go, the oldest first."""
        ...

    async def dead_letters(
        self, after: str | None, limit: int, subscription: str | None = None
    ) -> DeadLetterPage:
        """Up to `limit` dead letters after the cursor `after` (None: from the oldest), oldest
        first (those of one instant by id): a walk from None through each `next_cursor` lists
        every one there was all along once, whatever is replayed or added meanwhile. With
        `subscription`, only its dead letters, in the same order (a cursor of the listing of
        all at one of them goes on there too; at another subscription's, BadCursor)."""
        ...

    async def dead_letter_of(self, delivery: str) -> Delivery | None:
        """The dead letter of that id (None: there is none, or it is not dead)."""
        ...

    async def replay_dead_letter(self, delivery: str, now: float) -> bool:
        """A dead letter due again now, its attempts counted afresh; False if there is none."""
        ...

    async def dead_letter_counts(self, subscriptions: Sequence[str]) -> dict[str, int]:
        """How many dead letters each of `subscriptions` has waiting (0 for none)."""
        ...

    async def claim_poll(self, backend: str, interval_s: float, now: float) -> float | None:
        """For polling an ERP that cannot push: the watermark (the previous round's start) if
        the caller may poll now (none did in the last `interval_s`), and the round recorded as
        started at `now`; None otherwise."""
        ...


# -- memory --------------------------------------------------------------------------------


@dataclass
class _Due:
    delivery: Delivery
    due: float


@dataclass
class _Timeline:
    events: list[str] = field(default_factory=list)
    expires_at: float = 0.0  # its last event's time and the retention


@dataclass
class MemoryEvents:
    """The events in one process's memory. Every method runs without awaiting: each is atomic."""

    log_max_len: int = DEFAULT_LOG_MAX_LEN
    clock: Callable[[], float] = time.time
    _documents: dict[str, tuple[float, DocumentState]] = field(default_factory=dict)  # expiry
    # (expires at, document) per commit, soonest first; stale once a later change moved it on.
    _document_expiries: list[tuple[float, str]] = field(default_factory=list)
    _timelines: dict[str, _Timeline] = field(default_factory=dict)
    # (expires at, order) per commit, soonest first: what the sweep takes from, in O(log n)
    # rather than a look at every timeline. An order's earlier entries are stale once a later
    # event moved its expiry on; the sweep skips them.
    _expiries: list[tuple[float, str]] = field(default_factory=list)
    _log: list[tuple[int, str]] = field(default_factory=list)
    _next: int = 1
    _due: dict[str, _Due] = field(default_factory=dict)
    _dead: dict[str, tuple[float, Delivery]] = field(default_factory=dict)
    # (dead at, id) per dead-lettering, oldest first; stale once replayed (or dead again).
    _dead_ages: list[tuple[float, str]] = field(default_factory=list)
    _polls: dict[str, float] = field(default_factory=dict)
    _held_until: dict[str, tuple[float, str]] = field(default_factory=dict)  # subscription's
    _claims: int = 0

    async def document_state(self, document: str) -> DocumentState:
        found = self._documents.get(document)
        return found[1] if found is not None else DocumentState()

    async def commit(
        self,
        document: str,
        expected: int,
        state: DocumentState,
        events: Sequence[NewEvent],
        now: float,
        retention: EventRetention,
    ) -> bool:
        if (await self.document_state(document)).sequence != expected:
            return False
        expires_at = now + retention.document_s
        self._documents[document] = (expires_at, state)
        documents = self._documents
        _index_expiry(
            self._document_expiries,
            (expires_at, document),
            len(documents),
            lambda: [(at, key) for key, (at, _) in documents.items()],
        )
        self._sweep_documents(now)
        self._sweep_timelines(now)
        for index, event in enumerate(events):
            self._timelines.setdefault(event.order_id, _Timeline()).events.append(event.body)
            self._log.append((self._next, event.body))
            self._next += 1
            for subscription in event.subscriptions:
                key = delivery_id(subscription, event.id)
                # Due in the order recorded: one commit's events go out in order.
                due = now + index * 1e-6
                self._due[key] = _Due(Delivery(key, subscription, event.id, event.body), due)
        del self._log[: max(0, len(self._log) - self.log_max_len)]
        if events:  # all of one order: its timeline is kept from now, its last event
            expires_at = now + retention.timeline_s
            timelines = self._timelines
            timelines[events[0].order_id].expires_at = expires_at
            _index_expiry(
                self._expiries,
                (expires_at, events[0].order_id),
                len(timelines),
                lambda: [(t.expires_at, order) for order, t in timelines.items()],
            )
        return True

    def _sweep_documents(self, now: float) -> None:
        """Drop the document states whose retention ran out by `now` (a bounded slice)."""
        _sweep(
            self._document_expiries,
            self._documents,
            lambda found: found[0],
            now,
            _DOCUMENTS_SWEPT_AT_MOST,
        )

    def _sweep_timelines(self, now: float) -> None:
        """Drop the timelines whose retention ran out by `now`."""
        _sweep(self._expiries, self._timelines, lambda timeline: timeline.expires_at, now)

    async def timeline(self, order_id: str) -> list[str]:
        timeline = self._timelines.get(order_id)
        if timeline is None or timeline.expires_at <= self.clock():
            return []  # past its retention, as on Redis (the next commit's sweep frees it)
        return list(timeline.events)

    async def log(self, after: str | None, limit: int) -> LogPage:
        position = _memory_cursor(after, newest=self._next - 1)
        events = [(n, body) for n, body in self._log if n > position][:limit]
        last = events[-1][0] if events else max(position, 0)
        return LogPage([body for _, body in events], str(last))

    async def claim_deliveries(
        self, now: float, limit: int, lease_s: float, owner: str
    ) -> list[Delivery]:
        self._claims += 1  # each claim its own token: an expired one settles nothing
        token = f"{owner}:{self._claims}"
        due = sorted(
            (d for d in self._due.values() if d.due <= now),
            key=lambda d: (d.due, d.delivery.id),
        )
        claimed: list[Delivery] = []
        mine: set[str] = set()
        for entry in due:
            if len(claimed) == limit:
                break
            subscription = entry.delivery.subscription
            if subscription not in mine:
                held = self._held_until.get(subscription)
                if held is not None and held[0] > now:
                    continue
                self._held_until[subscription] = (now + lease_s, token)
                mine.add(subscription)
            entry.delivery = replace(entry.delivery, lease=token)
            claimed.append(entry.delivery)
        return claimed

    async def release(self, subscription: str, lease: str) -> bool:
        held = self._held_until.get(subscription)
        if held is None or held[1] != lease:
            return False
        del self._held_until[subscription]
        return True

    def _held(self, delivery: Delivery) -> _Due | None:
        entry = self._due.get(delivery.id)
        if entry is None or entry.delivery.lease != delivery.lease:
            return None
        return entry

    async def delivered(self, delivery: Delivery) -> bool:
        if self._held(delivery) is None:
            return False
        del self._due[delivery.id]
        return True

    async def retry_at(self, delivery: Delivery, at: float, error: str) -> bool:
        entry = self._held(delivery)
        if entry is None:
            return False
        entry.delivery = replace(
            entry.delivery, attempts=entry.delivery.attempts + 1, last_error=error, lease=None
        )
        entry.due = at
        return True

    async def dead_letter(
        self,
        delivery: Delivery,
        error: str,
        now: float,
        retention: EventRetention,
        attempted: bool = True,
    ) -> bool:
        entry = self._held(delivery)
        if entry is None:
            return False
        del self._due[delivery.id]
        attempts = entry.delivery.attempts + int(attempted)
        dead = replace(entry.delivery, attempts=attempts, last_error=error, lease=None)
        self._dead[delivery.id] = (now, dead)
        heapq.heappush(self._dead_ages, (now, delivery.id))
        oldest = now - retention.dead_letter_s
        ages, letters = self._dead_ages, self._dead
        while ages and (ages[0][0] < oldest or len(letters) > retention.max_dead_letters):
            dead_at, key = heapq.heappop(ages)
            found = letters.get(key)
            if found is not None and found[0] == dead_at:
                del letters[key]
        return True

    async def dead_letters(
        self, after: str | None, limit: int, subscription: str | None = None
    ) -> DeadLetterPage:
        start = _dead_letter_position(after, subscription)
        # By the millisecond, as Redis keeps their ages: the same order and cursors on both.
        ordered = sorted(
            (_ms(dead_at), d.id, d)
            for dead_at, d in self._dead.values()
            if subscription is None or d.subscription == subscription
        )
        found = [(ms, key, d) for ms, key, d in ordered if start is None or (ms, key) > start]
        more = len(found) > limit
        page = found[:limit]
        last = page[-1] if more else None
        return DeadLetterPage([d for _, _, d in page], last and encode_cursor(last[0], last[1]))

    async def dead_letter_of(self, delivery: str) -> Delivery | None:
        found = self._dead.get(delivery)
        return None if found is None else found[1]

    async def replay_dead_letter(self, delivery: str, now: float) -> bool:
        found = self._dead.pop(delivery, None)
        if found is None:
            return False
        self._due[delivery] = _Due(replace(found[1], attempts=0), now)
        return True

    async def dead_letter_counts(self, subscriptions: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(subscriptions, 0)
        for _, letter in self._dead.values():
            if letter.subscription in counts:
                counts[letter.subscription] += 1
        return counts

    async def claim_poll(self, backend: str, interval_s: float, now: float) -> float | None:
        previous = self._polls.get(backend)
        if previous is not None and now < previous + interval_s:
            return None
        self._polls[backend] = now
        return previous if previous is not None else 0.0


def _index_expiry(
    expiries: list[tuple[float, str]],
    entry: tuple[float, str],
    held: int,
    rebuilt: Callable[[], list[tuple[float, str]]],
) -> None:
    """Push `entry` (expires at, key) onto the heap `expiries` that indexes `held` items. An
    item changed again leaves its earlier entry stale, for the sweep to skip; once the stale
    outnumber the live, the heap is rebuilt from the items (`rebuilt`): it grows with what the
    store holds, not with every change within a retention (amortized O(1) a push)."""
    heapq.heappush(expiries, entry)
    if len(expiries) > 2 * held + _STALE_EXPIRIES_ALLOWED:
        expiries[:] = rebuilt()
        heapq.heapify(expiries)


_Item = TypeVar("_Item")


def _sweep(
    expiries: list[tuple[float, str]],
    items: dict[str, _Item],
    expiry_of: Callable[[_Item], float],
    now: float,
    most: int | None = None,
) -> None:
    """Drop from `items` those whose entry on the heap `expiries` (expires at, key) ran out by
    `now`, at most `most`; an entry that is no longer its item's expiry (the item changed
    since: `_index_expiry`) is stale, and only taken off the heap."""
    swept = 0
    while expiries and expiries[0][0] <= now and (most is None or swept < most):
        expires_at, key = heapq.heappop(expiries)
        swept += 1
        item = items.get(key)
        if item is not None and expiry_of(item) == expires_at:
            del items[key]


def _memory_cursor(cursor: str | None, newest: int) -> int:
    """The position of a cursor this log handed out: its number, never past the `newest`."""
    if cursor is None:
        return 0
    if not ascii_digits(cursor) or int(cursor) > newest:
        raise BadCursor(cursor)
    return int(cursor)


# -- Redis ---------------------------------------------------------------------------------

COMMIT = """
-- KEYS: documents hash, stream, due zset, deliveries hash, the order's timeline list,
--       documents' last changes zset, documents' backfill cursor
-- ARGV: document, expected, state JSON, sequence, now_ms, log max len, timeline retention ms,
--       number of events, document retention ms, most documents swept,
--       then per event: id, order id, body, n subscriptions, subscriptions...
local current = redis.call('HGET', KEYS[1], ARGV[1])
local sequence = 0
if current then
  sequence = tonumber(cjson.decode(current)['sequence'])
end
if sequence ~= tonumber(ARGV[2]) then
  return 0
end
local now, most = tonumber(ARGV[5]), tonumber(ARGV[10])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[6], now, ARGV[1])
-- The states recorded before they had a time of change get one (now: each is kept its whole
-- retention from here), a slice per commit until the whole hash has been walked once.
local backfill = redis.call('GET', KEYS[7])
if backfill ~= 'done' then
  local scanned = redis.call('HSCAN', KEYS[1], backfill or '0', 'COUNT', most)
  local fields = scanned[2]
  for f = 1, #fields, 2 do
    redis.call('ZADD', KEYS[6], 'NX', now, fields[f])
  end
  redis.call('SET', KEYS[7], scanned[1] == '0' and 'done' or scanned[1])
end
-- The states past their retention after their last change go, the oldest first, a slice.
local gone = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now - tonumber(ARGV[9]),
                        'LIMIT', 0, most)
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREM', KEYS[6], unpack(gone))
end
local i = 11
for index = 1, tonumber(ARGV[8]) do
  local due = tonumber(ARGV[5]) + (index - 1) * 0.001  -- one commit's events go out in order
  local id, order, body, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  redis.call('RPUSH', KEYS[5], body)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'event', body)
  for s = 1, n do
    local subscription = ARGV[i + 3 + s]
    local key = subscription .. ':' .. id
    local delivery = cjson.encode({id = key, subscription = subscription, event_id = id,
                                   body = body, attempts = 0})
    redis.call('HSET', KEYS[4], key, delivery)
    redis.call('ZADD', KEYS[3], due, key)
  end
  i = i + 4 + n
end
if tonumber(ARGV[8]) > 0 then
  redis.call('PEXPIRE', KEYS[5], ARGV[7])  -- kept its retention from its last event
end
return 1
"""

CLAIM = """
-- KEYS: due zset, deliveries hash, leases hash, subscriptions' leases hash
-- ARGV: now_ms, limit, lease_ms, owner, most due entries to look at
-- Returns the claim's token, then the bodies of the deliveries it claimed.
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local token = ARGV[4] .. ':' .. redis.call('HINCRBY', KEYS[3], '@seq', 1)
local held_until = now + tonumber(ARGV[3])
local mine, busy, gone = {}, {}, {}
local claimed = {token}
local offset = 0
while #claimed <= limit and offset < tonumber(ARGV[5]) do
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', offset, 100)
  if #due == 0 then
    break
  end
  offset = offset + #due
  for _, key in ipairs(due) do
    if #claimed > limit then
      break
    end
    local subscription = string.match(key, '^(.*):[^:]*$')
    local body = nil
    if not busy[subscription] then
      body = redis.call('HGET', KEYS[2], key)
      if not body then
        gone[#gone + 1] = key
      end
    end
    if body and not mine[subscription] then
      local lease = redis.call('HGET', KEYS[4], subscription)
      if lease and tonumber(string.match(lease, '^(%S+)')) > now then
        busy[subscription] = true
      else
        redis.call('HSET', KEYS[4], subscription, held_until .. ' ' .. token)
        mine[subscription] = true
      end
    end
    if body and mine[subscription] then
      redis.call('HSET', KEYS[3], key, token)
      claimed[#claimed + 1] = body
    end
  end
end
for _, key in ipairs(gone) do
  redis.call('ZREM', KEYS[1], key)
end
return claimed
"""

RELEASE = """
-- KEYS: subscriptions' leases hash; ARGV: subscription, token
local lease = redis.call('HGET', KEYS[1], ARGV[1])
if not lease or string.match(lease, '^%S+ (.*)$') ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

# A dead letter's entry in the index by subscription, all at score 0:
# "<subscription>:<age in ms, 16 digits>:<id>", so that one subscription's are a lex range,
# oldest first (those of one instant by id), as the dead letters' sorted set orders them all.
# A subscription's id has no `:`. In Python: `_by_subscription`.
_BY_SUBSCRIPTION = """
local function by_subscription(id, ms)
  return string.match(id, '^[^:]*') .. ':' .. string.format('%016d', tonumber(ms)) .. ':' .. id
end
"""

SETTLE = (
    _BY_SUBSCRIPTION
    + """
-- KEYS: due zset, deliveries hash, leases hash, dead zset, index by subscription (lex)
-- ARGV: delivery id, lease, outcome (done|retry|dead), at_ms, delivery JSON,
--       dead letters' retention ms, most dead letters kept, most dropped at once
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[3], ARGV[1])
if ARGV[3] == 'retry' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  return 1
end
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[3] == 'dead' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
  redis.call('ZADD', KEYS[5], 0, by_subscription(ARGV[1], ARGV[4]))
  -- The dead letters past their retention, then those beyond the most kept: oldest first
  -- (each id followed by its age).
  local most = tonumber(ARGV[8])
  local oldest = tonumber(ARGV[4]) - tonumber(ARGV[6])
  local dropped = redis.call(
    'ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. oldest, 'WITHSCORES', 'LIMIT', 0, most)
  local excess = redis.call('ZCARD', KEYS[4]) - #dropped / 2 - tonumber(ARGV[7])
  if excess > 0 and #dropped / 2 < most then
    local first = #dropped / 2
    local more = math.min(excess, most - first)
    local found = redis.call('ZRANGE', KEYS[4], first, first + more - 1, 'WITHSCORES')
    for _, entry in ipairs(found) do
      dropped[#dropped + 1] = entry
    end
  end
  for i = 1, #dropped, 2 do
    local id = dropped[i]
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('ZREM', KEYS[5], by_subscription(id, dropped[i + 1]))
  end
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
"""
)

REPLAY = (
    _BY_SUBSCRIPTION
    + """
-- KEYS: due zset, deliveries hash, dead zset, index by subscription (lex)
-- ARGV: delivery id, now_ms
local dead_at = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not dead_at then
  return 0
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], by_subscription(ARGV[1], dead_at))
local delivery = cjson.decode(redis.call('HGET', KEYS[2], ARGV[1]))
delivery['attempts'] = 0
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(delivery))
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""
)

# Each subscription's dead letters, counted and listed on the index by subscription: every
# entry at score 0, so that ZLEXCOUNT counts those of "<subscription>:" in O(log n) and
# ZRANGEBYLEX pages through them oldest first. Dead letters an earlier version recorded are
# indexed first, a ZSCAN step per call (the caller calls again while the script answers nil),
# never in one long script; and indexed again whenever the index is out of step with the dead
# letters (a process of an earlier version recorded, replayed or dropped some beside this
# one's, during a rolling deploy): when they are not as many, or when one recorded since the
# last look (the newest, at most a step's) is not in the index. Counts alone miss the earlier
# version's settle that records one and drops the oldest at once (at its most kept, or one
# past its retention): as many as before, not the same ones. The backfill key holds the ZSCAN
# cursor, then "done" (what an earlier version, running beside this one, reads: anything else
# it takes for a cursor); the newest dead letter's age (ms) at the last look is a key of its own.
INDEX_DEAD = (
    _BY_SUBSCRIPTION
    + """
-- KEYS: dead zset, index by subscription (lex), the index's backfill cursor, the newest dead
--       letter's age (ms) at the last look
-- ARGV[1]: ids indexed at most per step
local function in_step()
  if redis.call('ZCARD', KEYS[1]) ~= redis.call('ZCARD', KEYS[2]) then
    return false
  end
  local looked = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
  -- Those recorded since the last look, less the gateway hosts' clocks apart.
  local recent = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', looked - CLOCKS_APART_MS,
    'WITHSCORES', 'LIMIT', 0, ARGV[1])
  for i = 1, #recent, 2 do
    if not redis.call('ZSCORE', KEYS[2], by_subscription(recent[i], recent[i + 1])) then
      return false
    end
  end
  if #recent > 0 and tonumber(recent[2]) > looked then
    redis.call('SET', KEYS[4], string.format('%d', tonumber(recent[2])))
  end
  return true
end

local function indexed()
  local backfill = redis.call('GET', KEYS[3])
  if backfill == 'done' then
    if in_step() then
      return true
    end
    -- Out of step: a process of an earlier version recorded, replayed or dropped dead
    -- letters since (a rolling deploy). Indexed again, from the start.
    redis.call('DEL', KEYS[2])
    backfill = false
  end
  local scanned = redis.call('ZSCAN', KEYS[1], backfill or '0', 'COUNT', ARGV[1])
  local found = scanned[2]
  for i = 1, #found, 2 do
    redis.call('ZADD', KEYS[2], 0, by_subscription(found[i], found[i + 1]))
  end
  if scanned[1] ~= '0' then
    redis.call('SET', KEYS[3], scanned[1])
    return false
  end
  redis.call('SET', KEYS[3], 'done')
  -- Those recorded during the scan are looked at next time (the newest, a step's).
  redis.call('DEL', KEYS[4])
  return true
end
""".replace("CLOCKS_APART_MS", str(CLOCKS_APART_MS))
)

COUNT_DEAD = (
    INDEX_DEAD
    + """
-- ARGV: ids indexed at most per step, then the subscriptions
if not indexed() then
  return false
end
local counts = {}
for i = 2, #ARGV do
  local from, before = '[' .. ARGV[i] .. ':', '(' .. ARGV[i] .. ';'
  counts[#counts + 1] = redis.call('ZLEXCOUNT', KEYS[2], from, before)
end
return counts
"""
)

# One subscription's dead letters after a place in the index (its first: "[<subscription>:"),
# at most a page and one more (to know whether there are more): their entries, then their
# bodies.
LIST_DEAD = (
    INDEX_DEAD
    + """
-- KEYS: + the deliveries hash; ARGV: ids indexed at most per step, where the page starts
-- (exclusive or inclusive, as ZRANGEBYLEX takes it), where the subscription's end, how many
if not indexed() then
  return false
end
local entries = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[2], ARGV[3], 'LIMIT', 0, ARGV[4])
if #entries == 0 then
  return {{}, {}}
end
local ids = {}
for i, entry in ipairs(entries) do
  ids[i] = string.match(entry, '^[^:]*:[^:]*:(.*)$')
end
return {entries, redis.call('HMGET', KEYS[5], unpack(ids))}
"""
)

CLAIM_POLL = """
-- KEYS: polls hash; ARGV: backend, interval_ms, now_ms
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous and tonumber(ARGV[3]) < tonumber(previous) + tonumber(ARGV[2]) then
  return false
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return previous or '0'
"""


def _ms(seconds: float) -> int:
    return math.floor(seconds * 1000)


class RedisEvents:
    """The events on Redis, shared by every gateway process."""

    def __init__(
        self, client: aioredis.Redis, prefix: str, log_max_len: int = DEFAULT_LOG_MAX_LEN
    ) -> None:
        self._redis = client
        base = f"{prefix}{{events}}:"
        self._documents = base + "documents"
        self._changed = base + "documents:changed"  # each document's last change (ms)
        self._backfill = base + "documents:backfill"  # "done" once every state has a time
        self.stream = base + "stream"  # for internal consumers (README: consumer groups)
        self._due = base + "due"
        self._deliveries = base + "deliveries"
        self._leases = base + "leases"
        self._held = base + "subscriptions"  # each subscription's claim: "<until ms> <token>"
        self._dead = base + "dead"
        # The same ids, by subscription (INDEX_DEAD), and "done" once all are indexed. (An
        # index of ids alone, "dead:ids", was never released: it is not read.)
        self._by_subscription = base + "dead:by-subscription"
        self._by_subscription_backfill = base + "dead:by-subscription:backfill"
        self._by_subscription_looked = base + "dead:by-subscription:looked"
        self._polls = base + "polls"
        self._timeline = base + "timeline:"
        self._log_max_len = log_max_len
        self._commit = client.register_script(COMMIT)
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)
        self._settle = client.register_script(SETTLE)
        self._replay = client.register_script(REPLAY)
        self._count_dead = client.register_script(COUNT_DEAD)
        self._list_dead = client.register_script(LIST_DEAD)
        self._claim_poll = client.register_script(CLAIM_POLL)

    async def document_state(self, document: str) -> DocumentState:
        with unavailable_as_problem():
            raw = await cast(Any, self._redis).hget(self._documents, document)
        if raw is None:
            return DocumentState()
        data = json.loads(raw)
        return DocumentState(int(data["sequence"]), data["snapshot"])

    async def commit(
        self,
        document: str,
        expected: int,
        state: DocumentState,
        events: Sequence[NewEvent],
        now: float,
        retention: EventRetention,
    ) -> bool:
        state_json = json.dumps(
            {"sequence": state.sequence, "snapshot": state.snapshot}, separators=(",", ":")
        )
        args: list[Any] = [
            document,
            expected,
            state_json,
            state.sequence,
            _ms(now),
            self._log_max_len,
            max(1, _ms(retention.timeline_s)),
            len(events),
            max(1, _ms(retention.document_s)),
            _DOCUMENTS_SWEPT_AT_MOST,
        ]
        for event in events:
            args += [event.id, event.order_id, event.body, len(event.subscriptions)]
            args += list(event.subscriptions)
        orders = {event.order_id for event in events}
        if len(orders) > 1:
            raise ValueError("one commit records the events of one order")
        timeline = self._timeline + (orders.pop() if orders else document)
        keys = [
            self._documents,
            self.stream,
            self._due,
            self._deliveries,
            timeline,
            self._changed,
            self._backfill,
        ]
        with unavailable_as_problem():
            applied = await cast(Any, self._commit)(keys=keys, args=args)
        return bool(applied)

    async def timeline(self, order_id: str) -> list[str]:
        with unavailable_as_problem():
            raw = await cast(Any, self._redis).lrange(self._timeline + order_id, 0, -1)
        return [r.decode() for r in raw]

    async def log(self, after: str | None, limit: int) -> LogPage:
        start = "-" if after is None else f"({after}"
        if after is not None and not _is_stream_id(after):
            raise BadCursor(after)
        with unavailable_as_problem():
            try:
                entries = await cast(Any, self._redis).xrange(self.stream, start, "+", count=limit)
            except ResponseError as exc:  # an id Redis does not take, past the checks above
                raise BadCursor(after or "") from exc
        if not entries and after is not None and _stream_id(after) > await self._newest_id():
            raise BadCursor(after)  # past every event recorded: made up, or another log's
        events = [fields[b"event"].decode() for _, fields in entries]
        cursor = entries[-1][0].decode() if entries else (after or "0-0")
        return LogPage(events, cursor)

    async def _newest_id(self) -> tuple[int, int]:
        """The id of the newest event ever appended to the log (trimmed or not); 0-0 for none."""
        with unavailable_as_problem():
            try:
                info = await cast(Any, self._redis).xinfo_stream(self.stream)
            except ResponseError:  # no stream: no event yet
                return (0, 0)
        newest = info["last-generated-id"]
        return _stream_id(newest.decode() if isinstance(newest, bytes) else newest)

    async def claim_deliveries(
        self, now: float, limit: int, lease_s: float, owner: str
    ) -> list[Delivery]:
        keys = [self._due, self._deliveries, self._leases, self._held]
        args = [_ms(now), limit, max(1, _ms(lease_s)), owner, _MOST_LOOKED_AT * limit]
        with unavailable_as_problem():
            token, *bodies = await cast(Any, self._claim)(keys=keys, args=args)
        lease = token.decode()
        return [Delivery.from_json(body, lease=lease) for body in bodies]

    async def release(self, subscription: str, lease: str) -> bool:
        with unavailable_as_problem():
            released = await cast(Any, self._release)(keys=[self._held], args=[subscription, lease])
        return bool(released)

    async def _settled(
        self,
        delivery: Delivery,
        outcome: str,
        at: float,
        state: str,
        retention: EventRetention | None = None,
    ) -> bool:
        keys = [self._due, self._deliveries, self._leases, self._dead, self._by_subscription]
        args: list[Any] = [delivery.id, delivery.lease or "", outcome, _ms(at), state]
        if retention is not None:
            args += [_ms(retention.dead_letter_s), retention.max_dead_letters, _TRIM_AT_MOST]
        with unavailable_as_problem():
            done = await cast(Any, self._settle)(keys=keys, args=args)
        return bool(done)

    async def delivered(self, delivery: Delivery) -> bool:
        return await self._settled(delivery, "done", 0, "")

    async def retry_at(self, delivery: Delivery, at: float, error: str) -> bool:
        failed = replace(delivery, attempts=delivery.attempts + 1, last_error=error)
        return await self._settled(delivery, "retry", at, failed.to_json())

    async def dead_letter(
        self,
        delivery: Delivery,
        error: str,
        now: float,
        retention: EventRetention,
        attempted: bool = True,
    ) -> bool:
        dead = replace(delivery, attempts=delivery.attempts + int(attempted), last_error=error)
        return await self._settled(delivery, "dead", now, dead.to_json(), retention)

    async def dead_letters(
        self, after: str | None, limit: int, subscription: str | None = None
    ) -> DeadLetterPage:
        if subscription is not None:
            return await self._dead_letters_of(subscription, after, limit)
        start = _dead_letter_position(after)
        redis = cast(Any, self._redis)
        with unavailable_as_problem():
            if start is None:
                found = await redis.zrange(self._dead, 0, limit, withscores=True)
            else:
                # Those of the cursor's instant after its id (Redis orders them by id, as
                # bytes), then those of later instants: one more than the page, to know.
                ms, last = start
                same = await redis.zrangebyscore(self._dead, ms, ms, withscores=True)
                found = [(key, score) for key, score in same if key.decode() > last]
                found += await redis.zrangebyscore(
                    self._dead, f"({ms}", "+inf", start=0, num=limit + 1, withscores=True
                )
            more = len(found) > limit
            found = found[:limit]
            bodies = await redis.hmget(self._deliveries, [k for k, _ in found]) if found else []
        items = [Delivery.from_json(b) for b in bodies if b is not None]
        if not more:
            return DeadLetterPage(items, None)
        key, score = found[-1]
        return DeadLetterPage(items, encode_cursor(int(score), key.decode()))

    async def _dead_letters_of(
        self, subscription: str, after: str | None, limit: int
    ) -> DeadLetterPage:
        """One subscription's page, on the index by subscription (a lex range)."""
        start = _dead_letter_position(after, subscription)
        begin = (
            f"[{subscription}:"
            if start is None
            else f"({_by_subscription(start[1], int(start[0]))}"
        )
        keys = [*self._index_keys, self._deliveries]
        args = [_INDEXED_AT_MOST, begin, f"({subscription};", limit + 1]
        entries, bodies = await self._once_indexed(self._list_dead, keys, args)
        more = len(entries) > limit
        items = [Delivery.from_json(b) for b in bodies[:limit] if b is not None]
        if not more:
            return DeadLetterPage(items, None)
        _, ms, key = entries[limit - 1].decode().split(":", 2)
        return DeadLetterPage(items, encode_cursor(int(ms), key))

    async def dead_letter_of(self, delivery: str) -> Delivery | None:
        with unavailable_as_problem():
            async with cast(Any, self._redis).pipeline(transaction=False) as pipe:
                pipe.zscore(self._dead, delivery)
                pipe.hget(self._deliveries, delivery)
                dead_at, body = await pipe.execute()
        return None if dead_at is None or body is None else Delivery.from_json(body)

    async def replay_dead_letter(self, delivery: str, now: float) -> bool:
        keys = [self._due, self._deliveries, self._dead, self._by_subscription]
        with unavailable_as_problem():
            replayed = await cast(Any, self._replay)(keys=keys, args=[delivery, _ms(now)])
        return bool(replayed)

    async def dead_letter_counts(self, subscriptions: Sequence[str]) -> dict[str, int]:
        if not subscriptions:
            return {}
        args = [_INDEXED_AT_MOST, *subscriptions]
        counts = await self._once_indexed(self._count_dead, self._index_keys, args)
        return {s: int(n) for s, n in zip(subscriptions, counts, strict=True)}

    @property
    def _index_keys(self) -> list[str]:
        return [
            self._dead,
            self._by_subscription,
            self._by_subscription_backfill,
            self._by_subscription_looked,
        ]

    async def _once_indexed(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """What an INDEX_DEAD script answers once every dead letter is in the index."""
        with unavailable_as_problem():
            answer = None
            while answer is None:  # dead letters of an earlier version still to index
                answer = await script(keys=keys, args=args)
        return answer

    async def claim_poll(self, backend: str, interval_s: float, now: float) -> float | None:
        with unavailable_as_problem():
            previous = await cast(Any, self._claim_poll)(
                keys=[self._polls], args=[backend, _ms(interval_s), _ms(now)]
            )
        if previous is None:
            return None
        return int(previous) / 1000


def _stream_id(cursor: str) -> tuple[int, int]:
    """A stream id (`_is_stream_id`) as its two numbers, in the order Redis sorts them."""
    ms, _, seq = cursor.partition("-")
    return (int(ms), int(seq))


def _is_stream_id(cursor: str) -> bool:
    ms, _, seq = cursor.partition("-")
    # Redis takes two 64-bit unsigned numbers, the last one of all not as an exclusive start.
    if not (ascii_digits(ms) and ascii_digits(seq)):
        return False
    return int(ms) < _STREAM_ID_LIMIT and int(seq) < _STREAM_ID_LIMIT and cursor != _LAST_ID
