"""The shared Store on Redis: each multi-key write is one Lua script, keys cluster-safe by hash tag.

Not a client for anything else in Redis; built with `RedisStore.from_url` (or `open_store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, ResponseError
from redis.maint_notifications import MaintNotificationsConfig

from gateway.domain.operations import Kind
from gateway.store.audit import AuditStore, RedisAudit
from gateway.store.base import (
    NOTHING_BACK,
    Admission,
    Binding,
    BindOutcome,
    BucketRequest,
    ClaimRequest,
    GiveBack,
    IdempotencyClaim,
    RateDecision,
    SlotRequest,
    StoredResponse,
    StoreUnavailable,
    XrefRecord,
)
from gateway.store.events import EventStore, RedisEvents
from gateway.store.gcra import CLOCK_EPSILON_S
from gateway.store.journal import JournalStore, RedisJournal
from gateway.store.redis_batch import Batch, Pipelines, RedisPyPipelines, run_script
from gateway.store.redis_errors import opened_on, unavailable_as_problem
from gateway.store.redis_wire import SharedConnection
from gateway.store.shadow import RedisShadow, ShadowStore
from gateway.store.subscription_states import RedisSubscriptionStates, SubscriptionStates

_Call = tuple[AsyncScript, list[str], list[Any]]  # a script, its KEYS and its ARGV


# All xref keys share one hash tag, so a record, its reverse index and its external_ref index
# sit in one slot and one script writes them atomically. The trade-off: the whole xref lives on
# one cluster node. It is small (a few hundred bytes per ERP document), write-once and read-mostly,
# so one node holds years of it; the hot, high-churn keys (rate limits, leases, idempotency) are
# spread by their own keys.
XREF_TAG = "{xref}"
MAX_CONNECTIONS = 64  # per process (per node of a cluster)
SOCKET_TIMEOUT_S = 1.0
CONNECT_TIMEOUT_S = 0.5

_PUT_XREF_FN = """
-- the record (its key, its reverse index by backend, kind and erp id, its legal-entity list,
-- its external_ref list or nil) under its gateway id, unless the document has another id:
-- then that id, and nothing written
local function put_xref(record_key, erp_key, le_key, ext_key, gateway_id, record)
  local existing = redis.call('GET', erp_key)
  if existing and existing ~= gateway_id then
    return existing
  end
  local is_new = redis.call('EXISTS', record_key) == 0
  redis.call('SET', record_key, record)
  redis.call('SET', erp_key, gateway_id)
  if is_new then
    redis.call('RPUSH', le_key, gateway_id)
    if ext_key then
      redis.call('RPUSH', ext_key, gateway_id)
    end
  end
  return false
end
"""

PUT_XREF = (
    _PUT_XREF_FN
    + """
-- KEYS[1] record, KEYS[2] reverse index, KEYS[3] legal-entity list, KEYS[4] external_ref list
-- (optional); ARGV[1] gateway id, ARGV[2] record JSON
return put_xref(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
"""
)

# A compare-and-set of one record with one more ERP document: the caller read the record and
# computed the new one; if the record changed meanwhile, it reads again and retries.
BIND_DOCUMENT = """
-- KEYS[1] record, KEYS[2] the document's reverse index (backend, kind, erp id)
-- ARGV[1] gateway id, ARGV[2] the record as read, ARGV[3] the record bound
local current = redis.call('GET', KEYS[1])
if not current then
  return {0, false}
end
if current ~= ARGV[2] then
  return {1, current}
end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then
  return {2, owner}
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[1])
return {3, false}
"""
_BIND_MISSING, _BIND_CHANGED, _BIND_TAKEN, _BIND_DONE = 0, 1, 2, 3
_BIND_BATCH = 500  # records read and bound per round trip
_BIND_ATTEMPTS = 20
_BIND_BACKOFF_S = 0.005  # between attempts, jittered: writers of one record take turns

# Mirrors gateway.store.gcra.gcra line by line, on Redis's clock so every replica shares one.
RATE_LIMIT = """
-- KEYS[1] bucket (its value: the theoretical arrival time, TAT, in seconds)
-- ARGV[1] rate per second, ARGV[2] burst, ARGV[3] epsilon absorbing float rounding (seconds)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = 1.0 / tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = redis.call('GET', KEYS[1])
local current = now
if tat and tonumber(tat) >= now then
  current = tonumber(tat)
end
local new_tat = current + interval
local allow_at = new_tat - tolerance
if now + tonumber(ARGV[3]) < allow_at then
  return {0, 0, string.format('%.17g', allow_at - now), string.format('%.17g', current - now)}
end
local remaining = math.floor((tolerance - (new_tat - now) + tonumber(ARGV[3])) / interval)
if remaining < 0 then
  remaining = 0
end
local reset_after = new_tat - now
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'EX', math.ceil(reset_after))
return {1, remaining, '0', string.format('%.17g', reset_after)}
"""

REFUND_RATE = """
-- KEYS[1] bucket; ARGV[1] rate per second: give back one emission interval (mirrors gcra_refund)
local tat = redis.call('GET', KEYS[1])
if not tat then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
tat = tonumber(tat)
if tat <= now then
  return 0
end
local refunded = math.max(now, tat - 1.0 / tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%.17g', refunded), 'KEEPTTL')
return 1
"""

ACQUIRE_SLOT = """
-- KEYS[1] sorted set token -> lease end (ms, Redis clock); ARGV[1] token, ARGV[2] limit,
-- ARGV[3] lease ms
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not held and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[3]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

# Idempotency: KEYS[1] the record (hash: fp, backend, attempts, response, after_ms; retention
# TTL), KEYS[2] the in-flight lease (hash: owner, fp, retention_ms; lease TTL). Separate keys so
# a crashed owner's lease runs out long before the record's retention does.
CLAIM_IDEMPOTENCY = """
-- ARGV[1] fingerprint, ARGV[2] owner, ARGV[3] lease ms, ARGV[4] retention ms, ARGV[5] the
-- backend the request is bound for, or '': a claim taken is marked forwarded there in the
-- same script (as MARK_FORWARDED would), never by a script of its own that could run before
-- it when Redis has lost its scripts and the batch's lost ones are sent again after the rest.
-- ARGV[6..] the same request's fingerprints on its other paths: a key stored with one of them
-- is this request's too (ARGV[1] is what is stored).
local function same(fp)
  if fp == ARGV[1] then
    return true
  end
  for i = 6, #ARGV do
    if fp == ARGV[i] then
      return true
    end
  end
  return false
end
local rec = redis.call('HMGET', KEYS[1], 'fp', 'response', 'backend', 'attempts', 'after_ms')
local attempts = tonumber(rec[4]) or 0
if rec[2] then
  if not same(rec[1]) then
    return {'mismatch'}
  end
  return {'completed', rec[2], rec[3], attempts}
end
local lease = redis.call('HMGET', KEYS[2], 'fp', 'held')
local lease_fp = lease[1]
if lease_fp then
  if not same(lease_fp) then
    return {'mismatch'}
  end
  if lease[2] then
    return {'in_progress', redis.call('PTTL', KEYS[2])}
  end
  return {'in_progress'}
end
if rec[1] and not same(rec[1]) then
  return {'mismatch'}
end
redis.call('HSET', KEYS[2], 'owner', ARGV[2], 'fp', ARGV[1], 'retention_ms', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if ARGV[5] and ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1])
  redis.call('HSETNX', KEYS[1], 'backend', ARGV[5])  -- the first backend stays (sticky retries)
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return {'claimed', false, rec[3], attempts, rec[5]}
"""

# A settled claim's place in its journal entry (ARGV `position`, epoch ms, or ''), kept in the
# record (the latest) for the next claim to follow, for the record's retention (the lease's
# `retention_ms` for a record made for it).
_KEEP_POSITION_FN = """
local function keep_position(record_key, position, retention_ms)
  if position == '' then
    return
  end
  local kept = tonumber(redis.call('HGET', record_key, 'after_ms') or '-1')
  if tonumber(position) > kept then
    redis.call('HSET', record_key, 'after_ms', position)
  end
  if redis.call('PTTL', record_key) < 0 then
    redis.call('PEXPIRE', record_key, retention_ms)
  end
end
"""

MARK_FORWARDED = """
-- ARGV[1] owner, ARGV[2] backend
local lease = redis.call('HMGET', KEYS[2], 'owner', 'fp', 'retention_ms')
if lease[1] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'fp', lease[2])
redis.call('HSETNX', KEYS[1], 'backend', ARGV[2])  -- the first backend stays (sticky retries)
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('PEXPIRE', KEYS[1], lease[3])
return 1
"""

MOVE_FORWARDED = """
-- ARGV[1] owner, ARGV[2] backend
if redis.call('HGET', KEYS[2], 'owner') ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'backend', ARGV[2])
return 1
"""

_COMPLETE_FN = """
local function complete(record_key, lease_key, owner, response, retention_ms)
  local lease = redis.call('HMGET', lease_key, 'owner', 'fp')
  if lease[1] ~= owner then
    return 0
  end
  redis.call('HSET', record_key, 'fp', lease[2], 'response', response)
  redis.call('PEXPIRE', record_key, retention_ms)
  redis.call('DEL', lease_key)
  return 1
end
"""

COMPLETE_IDEMPOTENCY = (
    _COMPLETE_FN
    + """
-- ARGV[1] owner, ARGV[2] response JSON, ARGV[3] retention ms
return complete(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
"""
)

HOLD_IDEMPOTENCY = (
    _KEEP_POSITION_FN
    + """
-- ARGV[1] owner, ARGV[2] hold ms: keep the claim in progress that long from now, marked held
-- (no request runs under it: a claim refused meanwhile is told how long the hold lasts);
-- ARGV[3] its position
local lease = redis.call('HMGET', KEYS[2], 'owner', 'retention_ms')
if lease[1] == ARGV[1] then
  redis.call('HSET', KEYS[2], 'held', '1')
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  keep_position(KEYS[1], ARGV[3], lease[2])
  return 1
end
return 0
"""
)

RELEASE_IDEMPOTENCY = (
    _KEEP_POSITION_FN
    + """
-- ARGV[1] owner, ARGV[2] '1': take back the attempt admission marked (it reached no ERP; the
-- key forgotten as forwarded if that was its only one), ARGV[3] its position
local lease = redis.call('HMGET', KEYS[2], 'owner', 'retention_ms')
if lease[1] == ARGV[1] then
  redis.call('DEL', KEYS[2])
  if ARGV[2] == '1' and redis.call('HINCRBY', KEYS[1], 'attempts', -1) <= 0 then
    redis.call('HDEL', KEYS[1], 'fp', 'backend', 'attempts')
  end
  keep_position(KEYS[1], ARGV[3], lease[2])
  return 1
end
return 0
"""
)

# A created document's xref and the outcome of the request that created it, together, and the
# request's ERP slot given back: on one Redis only (the idempotency key, the xref and the slots
# are in different hash slots). If the document has another gateway id already, that id is
# returned and the claim and the slot stay held (the request calls the ERP again to answer).
BIND_AND_COMPLETE = (
    _PUT_XREF_FN
    + _COMPLETE_FN
    + """
-- KEYS[1] idempotency record, KEYS[2] its lease, KEYS[3..6] put_xref's keys (the last optional),
-- then the slots' key when ARGV[6] names a slot
-- ARGV[1] owner, ARGV[2] response JSON, ARGV[3] retention ms, ARGV[4] gateway id,
-- ARGV[5] record JSON, ARGV[6] the request's slot token, or ''
local slots = nil
local xref_keys = #KEYS
if ARGV[6] ~= '' then
  slots = KEYS[#KEYS]
  xref_keys = xref_keys - 1
end
local ext_key = nil
if xref_keys >= 6 then
  ext_key = KEYS[6]
end
local taken = put_xref(KEYS[3], KEYS[4], KEYS[5], ext_key, ARGV[4], ARGV[5])
if taken then
  return taken
end
complete(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
if slots then
  redis.call('ZREM', slots, ARGV[6])
end
return false
"""
)

FORGET_REFUSAL = """
-- a stored 4xx outcome, and no claim in flight: drop the outcome and its fingerprint
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local stored = redis.call('HGET', KEYS[1], 'response')
if not stored then
  return 0
end
local status = tonumber(cjson.decode(stored)['status'])
if status < 400 or status >= 500 then
  return 0
end
redis.call('HDEL', KEYS[1], 'response', 'fp')
return 1
"""


def _position(position_ms: int | None) -> int | str:
    """A settled claim's place in its journal entry, as the scripts take it ('' for none)."""
    return "" if position_ms is None else position_ms


def _ms(seconds: float) -> int:
    """Whole milliseconds for PX/PEXPIRE, at least 1 (Redis refuses 0)."""
    return max(1, math.ceil(seconds * 1000))


def _text(value: bytes | str | None) -> str | None:
    """A reply as text (the client returns bytes; decode_responses is off)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


class _CheckedConnection(Connection):
    """A cluster node's connection that is opened again, before a command is sent on it, when
    the node closed it while it idled (a node restart, a failover, an idle cut-off): redis-py's
    cluster nodes hand out an idle connection unchecked, and with no retries its command would
    fail. Only a close already seen counts: nothing was sent, so nothing can run twice."""

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        reader = self._reader
        if reader is not None and reader.at_eof():
            await self.disconnect()
        await super().send_packed_command(command, check_health)


class _Cluster(RedisCluster):
    """redis-py's asyncio cluster client, set up before its first command: commands sent at
    once on a fresh client look up command policies on a node that is not set up yet, and
    share one of its connections (seen as "Connection closed by server"). Its nodes'
    connections are `_CheckedConnection`s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The client takes no connection class: the nodes it finds are made with these
        # settings, and the ones it was given to find them with are already made.
        self.connection_kwargs["connection_class"] = _CheckedConnection
        for node in self.startup_nodes:
            node.connection_class = _CheckedConnection

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)

    async def initialize(self, *args: Any, **kwargs: Any) -> _Cluster:
        # No node reachable is Redis being unavailable (a 503, a one-line warning), not a bug.
        try:
            await super().initialize(*args, **kwargs)
        except RedisClusterException as exc:
            raise RedisConnectionError(str(exc)) from exc
        return self


class RedisStore:
    """A `Store` on Redis (or any cluster node set), shared by every gateway process."""

    def __init__(
        self, client: aioredis.Redis, prefix: str = "gw:", pipelines: Pipelines | None = None
    ) -> None:
        self._redis = client
        # The request path's batches (admission, settle, the xref's scripts) and the journal's
        # and audit chain's writes; every other command goes through `client`.
        self._pipelines = pipelines or RedisPyPipelines(client)
        self._prefix = prefix
        self.journal: JournalStore = RedisJournal(client, prefix, self._pipelines)
        self.audit: AuditStore = RedisAudit(client, prefix, self._pipelines)
        self.events: EventStore = RedisEvents(client, prefix)
        self.shadow: ShadowStore = RedisShadow(client, prefix)
        self.subscriptions: SubscriptionStates = RedisSubscriptionStates(client, prefix)
        self._put_xref = client.register_script(PUT_XREF)
        self._bind_document = client.register_script(BIND_DOCUMENT)
        self._rate_limit = client.register_script(RATE_LIMIT)
        self._refund = client.register_script(REFUND_RATE)
        self._acquire_slot = client.register_script(ACQUIRE_SLOT)
        self._claim = client.register_script(CLAIM_IDEMPOTENCY)
        self._mark_forwarded = client.register_script(MARK_FORWARDED)
        self._move_forwarded = client.register_script(MOVE_FORWARDED)
        self._complete = client.register_script(COMPLETE_IDEMPOTENCY)
        self._release = client.register_script(RELEASE_IDEMPOTENCY)
        self._hold = client.register_script(HOLD_IDEMPOTENCY)
        self._forget = client.register_script(FORGET_REFUSAL)
        self._bind_and_complete = client.register_script(BIND_AND_COMPLETE)
        # One Redis, not a cluster: a script may write keys of different hash slots.
        self._one_node = not isinstance(client, RedisCluster)  # and not in cluster mode: _ready
        self._loaded = False  # every script loaded on every node, before the first pipeline

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "gw:",
        cluster: bool = False,
        socket_timeout_s: float = SOCKET_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> RedisStore:
        """A store with its own connections: to one Redis, or (`cluster`) to a Redis Cluster
        found from one of its nodes, whose client follows the slots to the right node (every
        key a script touches shares one hash tag: see the key layout in the README). No
        retries: a call fails within one socket timeout, well inside a request's deadline, and
        the caller decides what to do. To one Redis over TCP or a Unix socket, the request
        path's batches share one connection (`redis_wire`); the rest use the pool."""
        opened_on(url, cluster=cluster)  # named in the line a refusal of the gateway writes
        options: dict[str, Any] = {
            "max_connections": MAX_CONNECTIONS,
            "socket_timeout": socket_timeout_s,
            "socket_connect_timeout": connect_timeout_s,
            "retry": Retry(NoBackoff(), 0),
        }
        if cluster:
            return cls(cast(aioredis.Redis, _Cluster.from_url(url, **options)), prefix)
        # How long a call waits for a free pooled connection before counting as unavailable.
        # Maintenance notifications off: with them on (redis-py 8.1 turns them on for RESP3),
        # the pool hands out a connection the server closed while it idled (a Redis restart,
        # a failover, an idle cut-off) without checking it, and with no retries its command
        # fails (redis/redis-py#4252). Off, the pool replaces such a connection when it is taken.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            timeout=connect_timeout_s,
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
            **options,
        )
        shared = None
        if url.startswith(("redis://", "unix://")):
            shared = SharedConnection.from_url(
                url, connect_timeout_s=connect_timeout_s, timeout_s=socket_timeout_s
            )
        return cls(aioredis.Redis.from_pool(pool), prefix, shared)

    async def ping(self) -> None:
        with unavailable_as_problem():
            await self._redis.ping()

    async def aclose(self) -> None:
        await self._pipelines.aclose()
        await self._redis.aclose()

    # -- ID cross-reference -------------------------------------------------------------
    async def put_xref(self, record: XrefRecord) -> XrefRecord:
        with unavailable_as_problem():
            existing = await self._run(
                self._put_xref, self._put_xref_keys(record), [record.gateway_id, record.to_json()]
            )
            if existing is None:
                return record
            # Written in the same script as the reverse index that names it, so it exists.
            winner = await self.get_xref(str(_text(existing)))
        if winner is None:
            raise StoreUnavailable("The gateway's ID cross-reference is inconsistent; retry.")
        return winner

    def _put_xref_keys(self, record: XrefRecord) -> list[str]:
        keys = [
            self._xref_key(record.gateway_id),
            self._erp_key(record.backend, record.kind, record.erp_id),
            self._legal_entity_key(record.kind, record.legal_entity),
        ]
        if record.external_ref is not None:
            keys.append(self._external_ref_key(record.kind, record.external_ref))
        return keys

    async def get_xref(self, gateway_id: str) -> XrefRecord | None:
        with unavailable_as_problem():
            raw = await self._redis.get(self._xref_key(gateway_id))
        return None if raw is None else XrefRecord.from_json(raw)

    async def get_xref_by_erp(self, backend: str, kind: Kind, erp_id: str) -> XrefRecord | None:
        with unavailable_as_problem():
            gateway_id = await self._redis.get(self._erp_key(backend, kind, erp_id))
        text = _text(gateway_id)
        return None if text is None else await self.get_xref(text)

    async def find_xrefs_by_external_ref(self, kind: Kind, external_ref: str) -> list[XrefRecord]:
        with unavailable_as_problem():
            ids = await self._redis.lrange(self._external_ref_key(kind, external_ref), 0, -1)
            if not ids:
                return []
            raws = await self._redis.mget([self._xref_key(str(_text(i))) for i in ids])
        return [XrefRecord.from_json(raw) for raw in raws if raw is not None]

    async def get_xrefs(self, gateway_ids: Sequence[str]) -> list[XrefRecord | None]:
        records: list[XrefRecord | None] = []
        for start in range(0, len(gateway_ids), _BIND_BATCH):
            batch = gateway_ids[start : start + _BIND_BATCH]
            with unavailable_as_problem():
                raws = await self._redis.mget([self._xref_key(i) for i in batch])
            records += [XrefRecord.from_json(raw) if raw is not None else None for raw in raws]
        return records

    async def get_xrefs_by_erp(
        self, documents: Sequence[tuple[str, Kind, str]]
    ) -> list[XrefRecord | None]:
        ids: list[str | None] = []
        for start in range(0, len(documents), _BIND_BATCH):
            batch = documents[start : start + _BIND_BATCH]
            with unavailable_as_problem():
                found = await self._redis.mget([self._erp_key(*d) for d in batch])
            ids += [_text(i) for i in found]
        known = [i for i in ids if i is not None]
        by_id = dict(zip(known, await self.get_xrefs(known), strict=True))
        return [by_id.get(i) if i is not None else None for i in ids]

    async def xrefs_of(self, kind: Kind, legal_entity: str) -> list[XrefRecord]:
        with unavailable_as_problem():
            ids = await self._redis.lrange(self._legal_entity_key(kind, legal_entity), 0, -1)
        found = await self.get_xrefs([str(_text(i)) for i in ids])
        return [record for record in found if record is not None]

    async def bind_documents(self, bindings: Sequence[Binding]) -> list[BindOutcome]:
        outcomes: list[BindOutcome | None] = [None] * len(bindings)
        pending = list(range(len(bindings)))
        for attempt in range(_BIND_ATTEMPTS):
            if not pending:
                break
            if attempt:
                await asyncio.sleep(random.uniform(0, _BIND_BACKOFF_S * attempt))
            retry: list[int] = []
            for start in range(0, len(pending), _BIND_BATCH):
                batch = pending[start : start + _BIND_BATCH]
                retry += await self._bind_batch(bindings, batch, outcomes)
            pending = retry
        if pending:
            raise StoreUnavailable("The gateway's ID cross-reference kept changing; retry.")
        return [outcome or BindOutcome(missing=True) for outcome in outcomes]

    async def _bind_batch(
        self, bindings: Sequence[Binding], batch: list[int], outcomes: list[BindOutcome | None]
    ) -> list[int]:
        """Bind `batch` (indexes into `bindings`) in two round trips: read the records, then
        compare-and-set each; the indexes whose record changed meanwhile, to retry."""
        keys = [self._xref_key(bindings[i].gateway_id) for i in batch]
        with unavailable_as_problem():
            raws = await self._redis.mget(keys)
        calls: list[tuple[int, list[str], list[Any]]] = []
        seen: set[str] = set()
        retry: list[int] = []
        for i, key, raw in zip(batch, keys, raws, strict=True):
            binding = bindings[i]
            if raw is None:
                outcomes[i] = BindOutcome(missing=True)
                continue
            if binding.gateway_id in seen:  # a second binding of one record: after the first
                retry.append(i)
                continue
            seen.add(binding.gateway_id)
            record = XrefRecord.from_json(raw)
            document = binding.document
            bound = record.with_document(document, home=binding.home)
            erp_key = self._erp_key(document.backend, record.kind, document.erp_id)
            calls.append((i, [key, erp_key], [binding.gateway_id, _text(raw), bound.to_json()]))

        def fill(pipe: Batch) -> None:
            for _, call_keys, args in calls:
                self._queue(pipe, self._bind_document, call_keys, args)

        replies = await self._pipelined(fill) if calls else []
        for (i, _, args), reply in zip(calls, replies, strict=True):
            status, detail = int(reply[0]), _text(reply[1])
            if status == _BIND_DONE:
                outcomes[i] = BindOutcome(record=XrefRecord.from_json(args[2]))
            elif status == _BIND_TAKEN:
                outcomes[i] = BindOutcome(taken_by=detail)
            elif status == _BIND_MISSING:
                outcomes[i] = BindOutcome(missing=True)
            else:
                retry.append(i)
        return retry

    # -- jobs ------------------------------------------------------------------------------
    async def put_job(self, job_id: str, state: str, retention_s: float) -> None:
        with unavailable_as_problem():
            await self._redis.set(self._key("job:", job_id), state, px=_ms(retention_s))

    async def get_job(self, job_id: str) -> str | None:
        with unavailable_as_problem():
            raw = await self._redis.get(self._key("job:", job_id))
        return _text(raw)

    # -- rate limits (GCRA) --------------------------------------------------------------
    async def rate_limit(self, key: str, rate_per_s: float, burst: int) -> RateDecision:
        args = self._rate_args(rate_per_s, burst)
        with unavailable_as_problem():
            reply = await self._run(self._rate_limit, [self._key("rate:", key)], args)
        return self._rate_decision(reply)

    @staticmethod
    def _rate_args(rate_per_s: float, burst: int) -> list[Any]:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        return [repr(float(rate_per_s)), burst, repr(CLOCK_EPSILON_S)]

    @staticmethod
    def _rate_decision(reply: list[Any]) -> RateDecision:
        allowed, remaining, retry_after, reset_after = reply
        return RateDecision(bool(allowed), int(remaining), float(retry_after), float(reset_after))

    # -- concurrency leases --------------------------------------------------------------
    async def acquire_slot(self, key: str, limit: int, token: str, lease_s: float) -> bool:
        script, keys, args = self._slot_call(SlotRequest(key, limit, token, lease_s))
        with unavailable_as_problem():
            taken = await self._run(script, keys, args)
        return bool(taken)

    def _slot_call(self, slot: SlotRequest) -> _Call:
        args = [slot.token, slot.limit, _ms(slot.lease_s)]
        return self._acquire_slot, [self._key("slots:", slot.key)], args

    async def release_slot(self, key: str, token: str) -> None:
        with unavailable_as_problem():
            await self._redis.zrem(self._key("slots:", key), token)

    # -- idempotency ---------------------------------------------------------------------
    async def claim_idempotency(
        self,
        key: str,
        fingerprint: str,
        owner: str,
        lease_s: float,
        retention_s: float,
        *,
        equivalents: Sequence[str] = (),
    ) -> IdempotencyClaim:
        claim = ClaimRequest(key, fingerprint, owner, lease_s, retention_s, None, (*equivalents,))
        with unavailable_as_problem():
            reply = await self._run(*self._claim_call(claim))
        return self._claim_outcome(reply)

    def _claim_call(self, claim: ClaimRequest) -> _Call:
        args = [claim.fingerprint, claim.owner, _ms(claim.lease_s), _ms(claim.retention_s)]
        args += [claim.backend or "", *claim.equivalents]
        return self._claim, self._idempotency_keys(claim.key), args

    @staticmethod
    def _claim_outcome(reply: list[Any]) -> IdempotencyClaim:
        state = str(_text(reply[0]))
        if state == "in_progress" and len(reply) > 1 and int(reply[1]) > 0:
            return IdempotencyClaim(state, held_s=int(reply[1]) / 1000)  # a hold's ms left
        if state in ("mismatch", "in_progress"):
            return IdempotencyClaim(state)
        response = None if reply[1] is None else StoredResponse.from_json(reply[1])
        after = reply[4] if len(reply) > 4 else None  # "claimed" only
        after_ms = None if after is None else int(after)
        return IdempotencyClaim(state, response, _text(reply[2]), int(reply[3]), after_ms=after_ms)

    async def mark_forwarded(self, key: str, owner: str, backend: str) -> bool:
        with unavailable_as_problem():
            done = await self._run(
                self._mark_forwarded, self._idempotency_keys(key), [owner, backend]
            )
        return bool(done)

    async def move_forwarded(self, key: str, owner: str, backend: str) -> bool:
        with unavailable_as_problem():
            done = await self._run(
                self._move_forwarded, self._idempotency_keys(key), [owner, backend]
            )
        return bool(done)

    async def complete_idempotency(
        self, key: str, owner: str, response: StoredResponse, retention_s: float
    ) -> bool:
        args = [owner, response.to_json(), _ms(retention_s)]
        with unavailable_as_problem():
            done = await self._run(self._complete, self._idempotency_keys(key), args)
        return bool(done)

    async def release_idempotency(
        self, key: str, owner: str, *, unforward: bool = False, position_ms: int | None = None
    ) -> bool:
        args = [owner, "1" if unforward else "0", _position(position_ms)]
        with unavailable_as_problem():
            done = await self._run(self._release, self._idempotency_keys(key), args)
        return bool(done)

    async def forget_refusal(self, key: str) -> bool:
        with unavailable_as_problem():
            done = await self._run(self._forget, self._idempotency_keys(key), [])
        return bool(done)

    # -- admission -----------------------------------------------------------------------
    async def admit(
        self,
        buckets: Sequence[BucketRequest],
        slot: SlotRequest | None,
        claim: ClaimRequest | None,
        reads: Sequence[str] = (),
        back: GiveBack = NOTHING_BACK,
    ) -> Admission:
        calls = [
            (self._rate_limit, [self._key("rate:", b.key)], self._rate_args(b.rate_per_s, b.burst))
            for b in buckets
        ]
        if slot is not None:
            calls.append(self._slot_call(slot))
        if claim is not None:
            calls.append(self._claim_call(claim))

        def fill(pipe: Batch) -> None:
            self._queue_give_back(pipe, back)
            for script, keys, args in calls:
                self._queue(pipe, script, keys, args)
            for gateway_id in reads:
                pipe.command("GET", self._xref_key(gateway_id))

        replies = (await self._pipelined(fill))[len(back.refunds) + len(back.slots) :]
        records = [
            None if raw is None else XrefRecord.from_json(raw)
            for raw in replies[len(replies) - len(reads) :]
        ]
        rest = replies[len(buckets) : len(replies) - len(reads)]
        rates = [self._rate_decision(r) for r in replies[: len(buckets)]]
        taken = bool(rest.pop(0)) if slot is not None else None
        outcome = self._claim_outcome(rest[0]) if claim is not None else None
        return Admission(rates, taken, outcome, records)

    async def settle(
        self,
        slot: SlotRequest | None,
        claim: ClaimRequest | None,
        response: StoredResponse | None,
        retention_s: float = 0.0,
        refunds: Sequence[BucketRequest] = (),
        hold_s: float = 0.0,
        unforward: bool = False,
        bind: XrefRecord | None = None,
        position_ms: int | None = None,
    ) -> str | None:
        await self._ready()
        together = bind is not None and claim is not None and response is not None
        taken = None
        if bind is not None and not (together and self._one_node):
            # Where one script cannot do both (the xref and the key in different slots of a
            # cluster) or has no outcome to store: the bind first, then the settle as it says.
            bound = await self.put_xref(bind)
            if bound.gateway_id != bind.gateway_id:
                taken, claim, slot = bound.gateway_id, None, None  # they stay held
            bind = None
        # With a bind, the script gives the slot back only if the document was bound.
        given_back = [slot] if slot is not None and bind is None else []

        def fill(pipe: Batch) -> None:
            self._queue_give_back(pipe, GiveBack(given_back, refunds))
            if claim is not None:
                keys = self._idempotency_keys(claim.key)
                if bind is not None and response is not None:
                    keys += self._put_xref_keys(bind)
                    args = [claim.owner, response.to_json(), _ms(retention_s)]
                    args += [bind.gateway_id, bind.to_json(), slot.token if slot else ""]
                    if slot is not None:
                        keys.append(self._key("slots:", slot.key))
                    self._queue(pipe, self._bind_and_complete, keys, args)
                elif response is None and hold_s > 0:
                    hold = [claim.owner, _ms(hold_s), _position(position_ms)]
                    self._queue(pipe, self._hold, keys, hold)
                elif response is None:
                    release = [claim.owner, "1" if unforward else "0", _position(position_ms)]
                    self._queue(pipe, self._release, keys, release)
                else:
                    args = [claim.owner, response.to_json(), _ms(retention_s)]
                    self._queue(pipe, self._complete, keys, args)

        replies = await self._pipelined(fill)
        if bind is not None:
            taken = _text(replies[-1])
        return taken

    async def give_back(self, back: GiveBack) -> None:
        if back:
            await self._pipelined(lambda pipe: self._queue_give_back(pipe, back))

    def _queue_give_back(self, pipe: Batch, back: GiveBack) -> None:
        for bucket in back.refunds:
            key = [self._key("rate:", bucket.key)]
            self._queue(pipe, self._refund, key, [repr(float(bucket.rate_per_s))])
        for slot in back.slots:
            pipe.command("ZREM", self._key("slots:", slot.key), slot.token)

    # -- keys ----------------------------------------------------------------------------
    def _key(self, family: str, key: str) -> str:
        return f"{self._prefix}{family}{key}"

    def _xref_key(self, gateway_id: str) -> str:
        return f"{self._prefix}{XREF_TAG}:id:{gateway_id}"

    def _erp_key(self, backend: str, kind: Kind, erp_id: str) -> str:
        return f"{self._prefix}{XREF_TAG}:erp:{backend}:{kind.value}:{erp_id}"

    def _legal_entity_key(self, kind: Kind, legal_entity: str) -> str:
        return f"{self._prefix}{XREF_TAG}:le:{kind.value}:{legal_entity}"

    def _external_ref_key(self, kind: Kind, external_ref: str) -> str:
        return f"{self._prefix}{XREF_TAG}:ext:{kind.value}:{external_ref}"

    def _idempotency_keys(self, key: str) -> list[str]:
        """The record and the lease, under one hash tag made from a digest of the key: the
        client's key may hold braces of its own, which must not decide the slot."""
        tag = hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()
        base = f"{self._prefix}idem:{{{tag}}}:{key}"
        return [base + ":record", base + ":lease"]

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        await self._ready()
        return await run_script(self._pipelines, script, keys, args)

    async def _pipelined(self, fill: Callable[[Batch], None]) -> list[Any]:
        """The commands `fill` queues, sent in one round trip (see `redis_batch.py`)."""
        await self._ready()
        batch = Batch()
        fill(batch)
        return await batch.send(self._pipelines)

    async def _ready(self) -> None:
        """Once, before the first pipeline: every script loaded, so that a pipeline's scripts
        all run in the order queued (one missing on a node is sent again after the others;
        see `redis_batch.py`); and whether a script may write keys of several slots."""
        if self._loaded:
            return
        with unavailable_as_problem():
            if self._one_node:
                # A Redis in cluster mode refuses that, even when it serves every slot. One
                # that refuses INFO (a renamed command) is taken for what its URL says.
                with contextlib.suppress(ResponseError):
                    info = await self._redis.info("cluster")
                    self._one_node = not info.get("cluster_enabled")
            for script in self._all_scripts():
                await self._pipelines.load_script(script.script)
        self._loaded = True

    def _all_scripts(self) -> list[AsyncScript]:
        return [v for v in vars(self).values() if isinstance(v, AsyncScript)]

    @staticmethod
    def _queue(batch: Batch, script: AsyncScript, keys: list[str], args: list[Any]) -> None:
        batch.script(script, keys, args)
