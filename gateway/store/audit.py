"""The audit trail: append-only, hash-chained, one chain across every gateway process.

Each entry is one JSON line holding its sequence number, the previous entry's hash and its own
(SHA-256 over the canonical JSON of everything else), so that editing, removing, inserting or
reordering a line breaks the chain where it happened. `verify_lines` finds the first bad line.

Appends are atomic in the store: on Redis a script adds a batch only if the chain's head is
still the one the batch was hashed onto, else the batch is hashed again onto the new head. The
oldest entries may be trimmed (`max_entries`); the chain then starts from the first entry kept,
whose `prev` is the anchor recorded at the trim. Readers page by sequence number, not position,
since every append at the cap trims the front (`chain_chunks`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import redis.asyncio as aioredis

from gateway.domain.ids import random_hex
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
# The newest batches appended, by id: a batch written again after its reply was lost is found
# among them and not chained twice (unless this many batches were appended in between).
BATCHES_KEPT = 10_000


@dataclass(frozen=True)
class AuditEvent:
    """Something to record: what happened, who or what did it, and its particulars."""

    kind: str  # e.g. config.loaded, config.reloaded, config.refused, admin.replay, transaction
    actor: str  # a client id, "file-watch", "SIGHUP", "startup", ...
    details: Mapping[str, Any]
    at: float  # epoch seconds
    # The network address of the request that asked for it (an operator's admin action);
    # None for what no request asked for (start-up, a file change, SIGHUP, a transaction).
    client_ip: str | None = None
    # Not in the entry: the first event's id names a batch, so that a batch written again
    # (its reply was lost) is chained once.
    id: str = field(default_factory=functools.partial(random_hex, 8))


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str

    def text(self) -> str:
        """As the store keeps it and `GET /admin/audit` says it (AUDIT_HEAD_HEADER)."""
        return f"{self.seq} {self.hash}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """A head from its `text`; ValueError for one without a sequence number."""
        seq, digest = text.split(" ", 1)
        return cls(int(seq), digest)


# The store's head as `GET /admin/audit` read it with its first entries (`ChainHead.text`).
AUDIT_HEAD_HEADER = "X-Audit-Head"


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
        if event.client_ip is not None:  # absent otherwise: entries as they always were
            entry["client_ip"] = event.client_ip
        text = _compact(entry)
        prev = hashlib.sha256(text.encode()).hexdigest()
        # The entry with its hash: `"hash"` sorts between `"details"` and `"kind"`, so it goes
        # just before the last `,"kind":` (the entry's own: after it come only a kind, a
        # `prev` and a `seq`, and no string holds an unescaped quote).
        at = text.rindex(',"kind":') + 1
        lines.append(f'{text[:at]}"hash":"{prev}",{text[at:]}')
    return lines


def _compact(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Verdict:
    """What verifying a chain found: `bad_line` (1-based) and why, or None when intact.
    `trimmed` entries were taken from the store's front while it was read: the chain is
    verified on both sides of that gap, not across it."""

    entries: int
    bad_line: int | None = None
    reason: str = ""
    first_seq: int | None = None
    head: str | None = None  # the last entry's hash
    trimmed: int = 0
    # Whether the file said where it starts and ends (an export's start and end records), so
    # that entries cut from either end were looked for; an older export cannot say.
    ends_checked: bool = False

    @property
    def intact(self) -> bool:
        return self.bad_line is None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"intact": self.intact, "entries": self.entries}
        if self.first_seq is not None:
            found["first_seq"] = self.first_seq
        if self.head is not None:
            found["head"] = self.head
        if self.trimmed:
            found["trimmed_while_read"] = self.trimmed
        if not self.intact:
            found["bad_line"] = self.bad_line
            found["reason"] = self.reason
        return found


class ChainCheck:
    """Verifies a chain a line at a time (a chain too long to hold whole): `add` each line,
    then `verdict`. The first line's `prev` must be `anchor` when one is given (the genesis
    for a chain never trimmed); otherwise it is taken on trust."""

    def __init__(self, anchor: str | None = None) -> None:
        self._prev = anchor
        self._seq: int | None = None
        self._first_seq: int | None = None
        self._count = 0
        self._number = 0
        self._trimmed = 0
        self._bad: tuple[int, str] | None = None

    def add(self, line: str) -> bool:
        """Check the next line; False once the chain is broken (later lines are ignored)."""
        self._number += 1
        if self._bad is not None or not line.strip():
            return self._bad is None
        entry = _entry_of(line)
        digest = None if entry is None else _hash_of(entry)
        if entry is None or digest is None:
            return self._broken(
                "not an audit entry (unreadable JSON, or seq, prev or hash missing or mistyped)"
            )
        if digest != entry["hash"]:
            return self._broken("entry edited: its hash does not match its content")
        if self._prev is not None and entry["prev"] != self._prev:
            return self._broken(
                "chain broken: prev is not the hash of the entry "
                "before (an entry removed, inserted or moved)"
            )
        if self._seq is not None and entry["seq"] != self._seq + 1:
            return self._broken(f"sequence broken: {entry['seq']} follows {self._seq}")
        if self._first_seq is None:
            self._first_seq = entry["seq"]
        self._count += 1
        self._seq, self._prev = entry["seq"], entry["hash"]
        return True

    @property
    def entries(self) -> int:
        """The entries checked so far."""
        return self._count

    @property
    def last(self) -> int | None:
        """The seq of the entry checked last (after `add`)."""
        return self._seq

    def skip(self) -> None:
        """A line that is no entry, nor to be checked as one (an export's own record)."""
        self._number += 1

    def resume(self, anchor: str, first_seq: int) -> bool:
        """The next entry is the first the store kept: seq `first_seq`, `prev` the `anchor`
        recorded at the trim. Between entries, the ones before it were trimmed while the chain
        was read: verified up to the gap and from it on, not across it. False (broken) for a
        first kept entry that is not after the last one checked."""
        if self._seq is not None:
            if first_seq <= self._seq + 1:
                return self._broken(f"export record out of place: {first_seq} after {self._seq}")
            self._trimmed += first_seq - self._seq - 1
        self._prev, self._seq = anchor, first_seq - 1
        return True

    def end(self, head: ChainHead) -> bool:
        """The chain read whole ends at the store's `head` (its seq and hash, set with each
        append): the last entries removed, or the last edited and hashed again, leave the
        chain consistent up to its new end, and only the head tells. False (broken) if not."""
        if self._bad is not None:
            return False
        last = self._seq or 0
        if (last, self._prev if self._seq is not None else GENESIS) == (head.seq, head.hash):
            return True
        reason = (
            f"the chain ends at seq {last}, the store's head is seq {head.seq} with hash "
            f"{head.hash}: its last entries were removed, or the last was edited"
        )
        # Where the first missing entry would be, or the last entry itself.
        self.refuse(reason, self._number + 1 if head.seq > last else self._number)
        return False

    def refuse(self, reason: str, line: int | None = None) -> None:
        """The line last counted (or `line`) breaks the chain, for `reason`."""
        self._broken(reason)
        if line is not None:
            self._bad = (line, reason)

    def _broken(self, reason: str) -> bool:
        self._bad = (self._number, reason)
        return False

    def verdict(self) -> Verdict:
        bad_line, reason = self._bad or (None, "")
        return Verdict(self._count, bad_line, reason, self._first_seq, self._prev, self._trimmed)


def verify_lines(lines: Iterable[str], anchor: str | None = None) -> Verdict:
    """Check a chain line by line (see `ChainCheck`)."""
    check = ChainCheck(anchor)
    for line in lines:
        if not check.add(line):
            break
    return check.verdict()


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


EXPORT_RECORD = "export"  # the key of an export's own lines, which no entry has
TRIMMED = "trimmed"  # the record of entries trimmed from the store while it was exported
START = "start"  # `gateway audit export`'s first line: where the exported chain starts
END = "end"  # and its last, written once the whole trail came: where it ends


def export_text(chunk: ChainChunk, first: bool) -> str:
    """A chunk as an export's JSON lines. Entries trimmed from the store while it was read are
    said where they are missing: a record of where the chain goes on (seq, anchor), which
    `verify_file` checks the next entry against."""
    text = "".join(line + "\n" for line in chunk.lines)
    if first or chunk.anchor is None:
        return text
    record = {EXPORT_RECORD: TRIMMED, "first_seq": chunk.first_seq, "anchor": chunk.anchor}
    return json.dumps(record, separators=(",", ":")) + "\n" + text


def _export_record(line: str) -> dict[str, Any] | None:
    """The line as one of an export's own records, or None if it is not one."""
    if EXPORT_RECORD not in line:
        return None
    try:
        found = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return found if isinstance(found, dict) and EXPORT_RECORD in found else None


def _record_line(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


class ExportEnds:
    """`gateway audit export`'s envelope around the trail the gateway streams: a start record
    before the first entry (its seq and the `prev` it holds) and, once the whole trail came,
    an end record (the entries, the last seq, the head, and `store_head`: the store's head
    as the gateway read it when the export began, `began`). `verify_file` then finds entries
    cut from either end of the file, an export that broke off (no end record), and a trail
    whose newest entries were removed from the store, or the last edited, before it was
    exported; what was cut and the head set back to match, only a head kept elsewhere can
    tell (`--expect-head`)."""

    def __init__(self) -> None:
        self.entries = 0
        self._started = False
        self._last: tuple[int, str] | None = None
        self._store_head: ChainHead | None = None

    def began(self, head: str | None) -> None:
        """The store's head as the response said it (AUDIT_HEAD_HEADER; None from a gateway
        that does not say it). ValueError for a value that is no head."""
        if head is None:
            return
        parsed = ChainHead.parse(head.strip())
        if parsed.seq < 0 or len(parsed.hash) != 64 or parsed.hash.strip("0123456789abcdef"):
            raise ValueError(head)
        self._store_head = parsed

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        pending = b""
        for chunk in chunks:
            *whole, pending = (pending + chunk).split(b"\n")
            if whole:
                yield b"".join(self._line(line) for line in whole)
        if pending.strip():
            yield self._line(pending)
        if not self._started:
            yield _record_line({EXPORT_RECORD: START})
        end: dict[str, Any] = {EXPORT_RECORD: END, "entries": self.entries}
        if self._last is not None:
            end["last_seq"], end["head"] = self._last
        if self._store_head is not None:
            end["store_head"] = {"seq": self._store_head.seq, "hash": self._store_head.hash}
        yield _record_line(end)

    def _line(self, line: bytes) -> bytes:
        text = line.decode("utf-8", errors="replace")
        entry = _entry_of(text) if _export_record(text) is None else None
        start = b""
        if entry is not None:
            if not self._started:
                first = {EXPORT_RECORD: START, "first_seq": entry["seq"], "anchor": entry["prev"]}
                start, self._started = _record_line(first), True
            self.entries += 1
            self._last = (entry["seq"], entry["hash"])
        return start + line + b"\n"


def verify_file(lines: Sequence[str]) -> Verdict:
    """Check an exported chain: one that starts at the first entry ever must start from the
    genesis; one trimmed earlier is taken from its first line (anchored there). Where the
    export says entries were trimmed from the store while it read them, the chain must go on
    from the first entry kept, as the record says. An export that says where it starts and
    ends (`ExportEnds`) must hold every entry in between: none cut from either end."""
    anchor = None
    for line in lines:
        if line.strip() and _export_record(line) is None:
            first = _entry_of(line)
            if first is not None and first["seq"] == 1:
                anchor = GENESIS
            break
    opening = next((_export_record(line) for line in lines if line.strip()), None)
    enveloped = opening is not None and opening[EXPORT_RECORD] == START
    closing = next((_export_record(line) for line in reversed(lines) if line.strip()), None)
    store_head = _store_head(closing) if enveloped else None
    reached: str | None = None  # the hash of the file's entry at the store head's seq
    check = ChainCheck(anchor)
    end: tuple[int, dict[str, Any]] | None = None
    starts_at: int | None = None  # the seq the start record says the first entry has
    for number, line in enumerate(lines, 1):
        record = _export_record(line)
        if end is not None and line.strip():
            check.skip()
            check.refuse("a line after the export's end record")
            break
        if record is None:
            entry = _entry_of(line) if starts_at is not None else None
            if entry is not None and entry["seq"] != starts_at:
                check.skip()
                check.refuse(
                    f"the export's start record says its first entry is seq {starts_at}; it "
                    f"is seq {entry['seq']}: entries were cut from its start"
                )
                break
            if line.strip():
                starts_at = None
            if not check.add(line):
                break
            if store_head is not None and check.last == store_head.seq:
                reached = check.verdict().head
            continue
        check.skip()
        kind = record[EXPORT_RECORD]
        if enveloped and kind == START and check.entries == 0:
            seq, at = record.get("first_seq"), record.get("anchor")
            if seq is None and at is None:
                continue  # an export of an empty trail
            if type(seq) is not int or not isinstance(at, str) or not check.resume(at, seq):
                check.refuse("an export's start record that is not one")
                break
            starts_at = seq
            continue
        if enveloped and kind == END:
            end = (number, record)
            continue
        seq, at = record.get("first_seq"), record.get("anchor")
        if kind != TRIMMED or type(seq) is not int or not isinstance(at, str):
            check.refuse("not an audit entry, nor a record an export writes")
            break
        if not check.resume(at, seq):
            break
    verdict = check.verdict()
    if not enveloped or not verdict.intact:
        return verdict
    ended = _end_problem(end[1] if end else None, verdict) or _store_head_problem(
        end[1] if end else None, reached, verdict
    )
    if ended is not None:  # at the end record, or just past the last line when there is none
        check.refuse(ended, end[0] if end else len(lines) + 1)
        verdict = check.verdict()
    return replace(verdict, ends_checked=True)


def _end_problem(end: Mapping[str, Any] | None, verdict: Verdict) -> str | None:
    """Why an export's end record does not end what was verified; None when it does."""
    last = (verdict.first_seq or 0) + verdict.entries + verdict.trimmed - 1
    if end is None:
        return (
            "the export has no end record: it broke off, or its last lines were cut "
            f"(entries after seq {last} may be missing)"
        )
    if end.get("entries") != verdict.entries or (
        verdict.entries and (end.get("last_seq") != last or end.get("head") != verdict.head)
    ):
        return (
            f"the export's end record says {end.get('entries')} entries up to seq "
            f"{end.get('last_seq')}; the file holds {verdict.entries} up to seq {last}: entries "
            "were cut from its end"
        )
    return None


def _store_head(end: Mapping[str, Any] | None) -> ChainHead | None:
    """The store's head an export's end record says the gateway read, if it says one."""
    found = end.get("store_head") if end is not None and end[EXPORT_RECORD] == END else None
    if not isinstance(found, dict):
        return None
    seq, digest = found.get("seq"), found.get("hash")
    return ChainHead(seq, digest) if type(seq) is int and isinstance(digest, str) else None


def _store_head_problem(
    end: Mapping[str, Any] | None, reached: str | None, verdict: Verdict
) -> str | None:
    """Why the file's chain does not reach the store's head its end record says the gateway
    read when the export began; None when it does (or cannot tell: that entry was trimmed
    from the store while it was read, which the verdict says)."""
    if end is None or "store_head" not in end:
        return None
    head = _store_head(end)
    if head is None:
        return "an export's end record whose store_head is not a head"
    last = (verdict.first_seq or 0) + verdict.entries + verdict.trimmed - 1
    said = f"the store's head when the export began was seq {head.seq} with hash {head.hash}; "
    if head.seq == 0 or reached == head.hash:
        return None
    if reached is not None:
        return said + (
            f"the file's entry seq {head.seq} has hash {reached}: the store's last entry was "
            "edited and hashed again"
        )
    if verdict.entries == 0 or last < head.seq:
        return said + (
            f"the file's chain ends at seq {max(last, 0)}: the store's last entries were removed "
            "before it was exported"
        )
    return None


@dataclass(frozen=True)
class AuditRead:
    """Entries as the store held them at one moment: `lines` (oldest first), the seq of the
    first entry it kept (the next seq when it keeps none) and that entry's anchor."""

    lines: list[str]
    first_kept: int
    anchor: str  # the `prev` the first kept entry must hold: GENESIS until a trim
    head: ChainHead = ChainHead(0, GENESIS)  # the last entry appended, at that moment


class AuditStore(Protocol):
    async def append(self, events: Sequence[AuditEvent], max_entries: int) -> None:
        """Chain `events` onto the head, atomically; trim to `max_entries` (oldest first).
        A batch appended already (the same first event) is not chained again."""
        ...

    async def read(self, from_seq: int, count: int, skip: int = 0) -> AuditRead:
        """Up to `count` entries from the first kept whose seq is at least `from_seq`, and
        `skip` entries further on; read at one moment with where the kept entries start."""
        ...


class MemoryAudit:
    def __init__(self) -> None:
        self._lines: list[str] = []
        self._head = ChainHead(0, GENESIS)
        self._anchor = GENESIS
        self._batches: dict[str, None] = {}  # the newest batches' ids, oldest first

    async def append(self, events: Sequence[AuditEvent], max_entries: int) -> None:
        if not events or events[0].id in self._batches:
            return
        self._batches[events[0].id] = None
        if len(self._batches) > BATCHES_KEPT:
            del self._batches[next(iter(self._batches))]
        lines = chained(events, self._head)
        last = json.loads(lines[-1])
        self._lines += lines
        self._head = ChainHead(last["seq"], last["hash"])
        if len(self._lines) > max_entries:
            dropped = self._lines[: len(self._lines) - max_entries]
            self._anchor = json.loads(dropped[-1])["hash"]
            del self._lines[: len(dropped)]

    async def read(self, from_seq: int, count: int, skip: int = 0) -> AuditRead:
        first_kept = self._head.seq - len(self._lines) + 1
        index = max(0, from_seq - first_kept) + skip
        return AuditRead(self._lines[index : index + count], first_kept, self._anchor, self._head)


@dataclass(frozen=True)
class ChainChunk:
    """Entries read from the store, in order. Where they do not simply follow the entries
    before (the start of the chain; entries trimmed from the store's front past the read),
    the first line is the first entry kept: seq `first_seq`, `prev` the `anchor`."""

    lines: list[str]
    anchor: str | None = None
    first_seq: int | None = None
    # Set on the read that found nothing further: the store's head at that moment, which the
    # last entry read must be.
    head: ChainHead | None = None
    # The store's head when these entries were read (the chain reaches at least that far).
    read_at: ChainHead = ChainHead(0, GENESIS)


async def chain_chunks(
    store: AuditStore,
    start: int = 0,
    limit: int | None = None,
    chunk: int = 1000,
    snapshot: bool = False,
) -> AsyncIterator[ChainChunk]:
    """The chain from position `start` of the entries kept, `limit` entries at most, a chunk
    at a time. Read by sequence number, so that entries trimmed from the front by other
    writers meanwhile shift nothing; if they trim past the read, it goes on from the first
    entry kept and the chunk says so. The first chunk is read on the first `anext`, even when
    the chain holds nothing (a caller learns that the store is down before it answers).
    A `snapshot` ends at the head the first read found: what is appended meanwhile (the
    export's own audit entry among it) is left for the next read, so that one export of a
    trail nobody else writes is the same each time."""
    left = limit
    until: int | None = None  # the last seq a snapshot holds

    def size() -> int:
        return chunk if left is None else min(chunk, left)

    read = await store.read(0, size(), start)
    if snapshot:
        until = read.head.seq
    ended = read.head if not read.lines else None
    if start == 0:
        yield ChainChunk(read.lines, read.anchor, read.first_kept, ended, read.head)
    else:
        yield ChainChunk(read.lines, head=ended, read_at=read.head)
    wanted = read.first_kept + start  # the seq of the line read first, then of the next
    while read.lines:
        wanted += len(read.lines)
        if left is not None:
            left -= len(read.lines)
            if left <= 0:
                return
        if until is not None and wanted > until:
            return
        read = await store.read(wanted, size())
        first_seq = max(wanted, read.first_kept)
        lines = read.lines
        if until is not None and first_seq + len(lines) - 1 > until:
            lines = lines[: max(0, until - first_seq + 1)]
        ended = read.head if not read.lines else None
        if read.first_kept > wanted:
            yield ChainChunk(lines, read.anchor, read.first_kept, ended, read.head)
            wanted = read.first_kept
        else:
            yield ChainChunk(lines, head=ended, read_at=read.head)
        if lines is not read.lines:
            return


APPEND = """
-- KEYS: the chain (a list), its head ("seq hash"), its anchor, the newest batches' ids (a
--       sorted set by the seq of their last entry)
-- ARGV: the head the lines were hashed onto, the new head, most entries kept, the batch's id,
--       most batch ids kept, lines...
-- 1: the batch is in already (written again because its reply was lost); a head: the lines
-- were hashed onto another, to be hashed again onto it; nil: appended.
if redis.call('ZSCORE', KEYS[4], ARGV[4]) then
  return 1
end
local head = redis.call('GET', KEYS[2])
if not head then
  head = '0 ' .. string.rep('0', 64)
end
if head ~= ARGV[1] then
  return head
end
for i = 6, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[4], string.match(ARGV[2], '^%d+'), ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[5]) - 1)
local excess = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[3])
if excess > 0 then
  local last = redis.call('LINDEX', KEYS[1], excess - 1)
  redis.call('SET', KEYS[3], cjson.decode(last)['hash'])
  redis.call('LTRIM', KEYS[1], excess, -1)
end
return false
"""


READ = """
-- KEYS: the chain, its head, its anchor
-- ARGV: the seq to read from, most entries, entries to skip past it
-- The first kept entry's seq is read from that entry (a list trimmed from the front keeps
-- consecutive seqs), or worked out from the head if it is unreadable (a tampered chain: its
-- verification says where).
local first
local oldest = redis.call('LINDEX', KEYS[1], 0)
if oldest then
  local ok, entry = pcall(cjson.decode, oldest)
  if ok and type(entry) == 'table' and type(entry['seq']) == 'number' then
    first = entry['seq']
  end
end
if not first or first ~= math.floor(first) then
  local head = redis.call('GET', KEYS[2])
  first = (head and tonumber(string.match(head, '^(%d+) ')) or 0)
    - redis.call('LLEN', KEYS[1]) + 1
end
local index = math.max(0, tonumber(ARGV[1]) - first) + tonumber(ARGV[3])
local lines = redis.call('LRANGE', KEYS[1], index, index + tonumber(ARGV[2]) - 1)
return {first, redis.call('GET', KEYS[3]) or '', lines, redis.call('GET', KEYS[2]) or ''}
"""


class RedisAudit:
    """The chain on Redis: one list and its head under one hash tag, shared by all processes."""

    def __init__(self, client: aioredis.Redis, prefix: str, pipelines: Pipelines) -> None:
        self._redis = client
        self._pipelines = pipelines  # the appends
        base = f"{prefix}{{audit}}:"
        self._keys = [base + "chain", base + "head", base + "anchor", base + "batches"]
        self._append = client.register_script(APPEND)
        self._read = client.register_script(READ)
        self._head: ChainHead | None = None  # this process's last known head

    async def append(self, events: Sequence[AuditEvent], max_entries: int) -> None:
        if not events:
            return
        with unavailable_as_problem():
            head = self._head
            if head is None:
                raw = await self._redis.get(self._keys[1])
                head = ChainHead.parse(_text(raw)) if raw else ChainHead(0, GENESIS)
            for attempt in range(_APPEND_TRIES):
                if attempt >= _APPEND_EAGER:
                    ceiling = min(_APPEND_MAX_BACKOFF_S, _APPEND_BACKOFF_S * 2**attempt)
                    await asyncio.sleep(random.uniform(0, ceiling))
                lines = chained(events, head)
                last = json.loads(lines[-1])
                new_head = ChainHead(last["seq"], last["hash"])
                args = [
                    head.text(),
                    new_head.text(),
                    max_entries,
                    events[0].id,
                    BATCHES_KEPT,
                    *lines,
                ]
                current = await run_script(self._pipelines, self._append, self._keys, args)
                if current is None:
                    self._head = new_head
                    return
                if isinstance(current, int):  # in already (its reply was lost): head unknown
                    self._head = None
                    return
                head = ChainHead.parse(_text(current))  # another process appended first
        self._head = None
        raise StoreUnavailable("The audit chain kept moving; the entries are kept for later.")

    async def read(self, from_seq: int, count: int, skip: int = 0) -> AuditRead:
        with unavailable_as_problem():
            first, anchor, raw, head = await self._read(
                keys=self._keys, args=[from_seq, count, skip]
            )
        lines = [_text(line) for line in raw]
        kept = ChainHead.parse(_text(head)) if head else ChainHead(0, GENESIS)
        return AuditRead(lines, int(first), _text(anchor) or GENESIS, kept)


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

    def record(
        self, kind: str, actor: str, details: Mapping[str, Any], client_ip: str | None = None
    ) -> None:
        self._writer.put(AuditEvent(kind, actor, details, self._clock(), client_ip))

    @property
    def pending(self) -> int:
        """Entries not written yet (kept for later when the store refused them)."""
        return self._writer.pending

    async def flush(self) -> bool:
        return await self._writer.flush()

    async def aclose(self) -> None:
        await self._writer.aclose()
