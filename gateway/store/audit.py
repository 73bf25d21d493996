"""The audit trail: append-only, hash-chained, one chain across every gateway process.

Each entry is one JSON line holding its sequence number, the previous entry's hash and its own
(SHA-256 over the canonical JSON of everything else), so that editing, removing, inserting or
reordering a line breaks the chain where it happened. `verify_lines` finds the first bad line.

Appends are atomic in the store: on Redis a script adds a batch only if the chain's head is
still the one the batch was hashed onto, else the batch is hashed again onto the new head. The
oldest entries may be trimmed (`max_entries`); the chain then starts from the first entry kept,
whose `prev` is the anchor recorded at the trim.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import redis.asyncio as aioredis

from gateway.store.base import StoreUnavailable
from gateway.store.buffered import BufferedWriter
from gateway.store.redis_batch import Pipelines, run_script
from gateway.store.redis_errors import unavailable_as_problem

GENESIS = "0" * 64  # the `prev` of the first entry ever
# Appends that lose the race to another process try again, after a short random wait that
# grows with each loss (so that two busy processes take turns), this many times at most.
_APPEND_TRIES = 64
# A refused append learns the new head from the refusal: the first retries go at once, while
# that head is likely still the head (a process appending steadily would otherwise win every
# time against one that waits longer and longer); only then with backoff.
_APPEND_EAGER = 3
_APPEND_BACKOFF_S = 0.001
_APPEND_MAX_BACKOFF_S = 0.05


@dataclass(frozen=True)
class AuditEvent:
    """Something to record: what happened, who or what did it, and its particulars."""

    kind: str  # e.g. config.loaded, config.reloaded, config.refused, admin.replay, transaction
    actor: str  # a client id, "file-watch", "SIGHUP", "startup", ...
    details: Mapping[str, Any]
    at: float  # epoch seconds


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers: its JSON without `hash`, keys sorted, compact."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chained(events: Sequence[AuditEvent], head: ChainHead) -> list[str]:
    """The events as JSON lines chained onto `head`."""
    lines = []
    seq, prev = head.seq, head.hash
    for event in events:
        seq += 1
        entry: dict[str, Any] = {
            "seq": seq,
            "at": datetime.fromtimestamp(event.at, UTC).isoformat(timespec="milliseconds"),
            "kind": event.kind,
            "actor": event.actor,
            "details": dict(event.details),
            "prev": prev,
        }
        prev = entry["hash"] = hashlib.sha256(canonical(entry)).hexdigest()
        lines.append(json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    return lines


@dataclass(frozen=True)
class Verdict:
    """What verifying a chain found: `bad_line` (1-based) and why, or None when intact."""

    entries: int
    bad_line: int | None = None
    reason: str = ""
    first_seq: int | None = None
    head: str | None = None  # the last entry's hash

    @property
    def intact(self) -> bool:
        return self.bad_line is None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"intact": self.intact, "entries": self.entries}
        if self.first_seq is not None:
            found["first_seq"] = self.first_seq
        if self.head is not None:
            found["head"] = self.head
        if not self.intact:
            found["bad_line"] = self.bad_line
            found["reason"] = self.reason
        return found


def verify_lines(lines: Iterable[str], anchor: str | None = None) -> Verdict:
    """Check a chain line by line. The first line's `prev` must be `anchor` when one is given
    (the genesis for a chain never trimmed); otherwise it is taken on trust."""
    prev: str | None = anchor
    seq: int | None = None
    first_seq: int | None = None
    count = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        count += 1
        entry = _entry_of(line)
        digest = None if entry is None else _hash_of(entry)
        if entry is None or digest is None:
            return Verdict(
                count - 1,
                number,
                "not an audit entry (unreadable JSON, or seq, prev or hash missing or mistyped)",
                first_seq,
                prev,
            )
        claimed_hash, entry_prev, entry_seq = entry["hash"], entry["prev"], entry["seq"]
        if digest != claimed_hash:
            return Verdict(
                count - 1,
                number,
                "entry edited: its hash does not match its content",
                first_seq,
                prev,
            )
        if prev is not None and entry_prev != prev:
            return Verdict(
                count - 1,
                number,
                "chain broken: prev is not the hash of the entry "
                "before (an entry removed, inserted or moved)",
                first_seq,
                prev,
            )
        if seq is not None and entry_seq != seq + 1:
            return Verdict(
                count - 1, number, f"sequence broken: {entry_seq} follows {seq}", first_seq, prev
            )
        if first_seq is None:
            first_seq = entry_seq
        seq, prev = entry_seq, claimed_hash
    return Verdict(count, None, "", first_seq, prev)


def _entry_of(line: str) -> dict[str, Any] | None:
    """The line as an entry, or None if it cannot be one: not JSON (or nested deeper than the
    parser goes), not an object, or without an integer `seq` and string `prev` and `hash`.
    A file to verify may have been tampered with in any way: none of this may raise."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict):
        return None
    seq = entry.get("seq")
    if type(seq) is not int or seq < 1:  # bool is an int to isinstance
        return None
    if not isinstance(entry.get("prev"), str) or not isinstance(entry.get("hash"), str):
        return None
    return entry


def _hash_of(entry: Mapping[str, Any]) -> str | None:
    """The entry's SHA-256 as `chained` computed it; None for content no entry can hold
    (a lone surrogate cannot be encoded)."""
    try:
        return hashlib.sha256(canonical(entry)).hexdigest()
    except (UnicodeEncodeError, RecursionError):
        return None


def verify_file(lines: Sequence[str]) -> Verdict:
    """Check an exported chain: one that starts at the first entry ever must start from the
    genesis; one trimmed earlier is taken from its first line (anchored there)."""
    anchor = None
    for line in lines:
        if line.strip():
            first = _entry_of(line)
            if first is not None and first["seq"] == 1:
                anchor = GENESIS
            break
    return verify_lines(lines, anchor)


class AuditStore(Protocol):
    async def append(self, events: Sequence[AuditEvent], max_entries: int) -> None:
        """Chain `events` onto the head, atomically; trim to `max_entries` (oldest first)."""
        ...

    async def lines(self, start: int = 0, count: int = 1000) -> list[str]:
        """Entries as JSON lines, oldest first, from position `start` of those kept."""
        ...

    async def anchor(self) -> str:
        """The `prev` the first kept entry must hold: GENESIS until a trim."""
        ...


class MemoryAudit:
    def __init__(self) -> None:
        self._lines: list[str] = []
        self._head = ChainHead(0, GENESIS)
        self._anchor = GENESIS

    async def append(self, events: Sequence[AuditEvent], max_entries: int) -> None:
        lines = chained(events, self._head)
        if not lines:
            return
        last = json.loads(lines[-1])
        self._lines += lines
        self._head = ChainHead(last["seq"], last["hash"])
        if len(self._lines) > max_entries:
            dropped = self._lines[: len(self._lines) - max_entries]
            self._anchor = json.loads(dropped[-1])["hash"]
            del self._lines[: len(dropped)]

    async def lines(self, start: int = 0, count: int = 1000) -> list[str]:
        return self._lines[start : start + count]

    async def anchor(self) -> str:
        return self._anchor


APPEND = """
-- KEYS: the chain (a list), its head ("seq hash"), its anchor
-- ARGV: the head the lines were hashed onto, the new head, most entries kept, lines...
local head = redis.call('GET', KEYS[2])
if not head then
  head = '0 ' .. string.rep('0', 64)
end
if head ~= ARGV[1] then
  return head
end
for i = 4, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
end
redis.call('SET', KEYS[2], ARGV[2])
local excess = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[3])
if excess > 0 then
  local last = redis.call('LINDEX', KEYS[1], excess - 1)
  redis.call('SET', KEYS[3], cjson.decode(last)['hash'])
  redis.call('LTRIM', KEYS[1], excess, -1)
end
return false
"""


def _head_text(head: ChainHead) -> str:
    return f"{head.seq} {head.hash}"


def _parse_head(text: str) -> ChainHead:
    seq, digest = text.split(" ", 1)
    return ChainHead(int(seq), digest)


class RedisAudit:
    """The chain on Redis: one list and its head under one hash tag, shared by all processes."""

    def __init__(self, client: aioredis.Redis, prefix: str, pipelines: Pipelines) -> None:
        self._redis = client
        self._pipelines = pipelines  # the appends
        base = f"{prefix}{{audit}}:"
        self._keys = [base + "chain", base + "head", base + "anchor"]
        self._append = client.register_script(APPEND)
        self._head: ChainHead | None = None  # this process's last known head

    async def append(self, events: Sequence[AuditEvent], max_entries: int) -> None:
        if not events:
            return
        with unavailable_as_problem():
            head = self._head
            if head is None:
                raw = await self._redis.get(self._keys[1])
                head = _parse_head(_text(raw)) if raw else ChainHead(0, GENESIS)
            for attempt in range(_APPEND_TRIES):
                if attempt >= _APPEND_EAGER:
                    ceiling = min(_APPEND_MAX_BACKOFF_S, _APPEND_BACKOFF_S * 2**attempt)
                    await asyncio.sleep(random.uniform(0, ceiling))
                lines = chained(events, head)
                last = json.loads(lines[-1])
                new_head = ChainHead(last["seq"], last["hash"])
                args = [_head_text(head), _head_text(new_head), max_entries, *lines]
                current = await run_script(self._pipelines, self._append, self._keys, args)
                if current is None:
                    self._head = new_head
                    return
                head = _parse_head(_text(current))  # another process appended first
        self._head = None
        raise StoreUnavailable("The audit chain kept moving; the entries are kept for later.")

    async def lines(self, start: int = 0, count: int = 1000) -> list[str]:
        with unavailable_as_problem():
            raw = await self._redis.lrange(self._keys[0], start, start + count - 1)
        return [_text(line) for line in raw]

    async def anchor(self) -> str:
        with unavailable_as_problem():
            raw = await self._redis.get(self._keys[2])
        return _text(raw) if raw else GENESIS


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class AuditTrail:
    """The audit trail as the gateway writes it: `record` queues an event (no I/O), a background
    task chains batches onto the store's chain, `aclose` writes what is left."""

    def __init__(
        self,
        store: AuditStore,
        max_entries: int,
        on_failure: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.max_entries = max_entries  # a reload may change it
        self._clock = clock
        self._writer: BufferedWriter[AuditEvent] = BufferedWriter(
            "audit", self._write, on_failure=on_failure
        )

    async def _write(self, events: Sequence[AuditEvent]) -> None:
        await self.store.append(events, self.max_entries)

    def record(self, kind: str, actor: str, details: Mapping[str, Any]) -> None:
        self._writer.put(AuditEvent(kind, actor, details, self._clock()))

    async def flush(self) -> bool:
        return await self._writer.flush()

    async def aclose(self) -> None:
        await self._writer.aclose()
