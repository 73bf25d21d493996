"""The embedded Store: all state in this process's dictionaries, no I/O (the default for demos).

Not shared: two gateway processes each have their own; use the Redis store to run several.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.domain.operations import Kind
from gateway.store.audit import AuditStore, MemoryAudit
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
    XrefRecord,
)
from gateway.store.events import EventStore, MemoryEvents
from gateway.store.gcra import gcra, gcra_refund
from gateway.store.journal import JournalStore, MemoryJournal
from gateway.store.shadow import MemoryShadow, ShadowStore
from gateway.store.subscription_states import MemorySubscriptionStates, SubscriptionStates

# Expired entries are dropped when touched, and all of them at most this often (clock seconds),
# so a long-running demo does not keep every key it ever saw.
SWEEP_INTERVAL_S = 60.0


@dataclass
class _Lease:
    owner: str
    fingerprint: str
    retention_s: float  # kept so mark_forwarded can give the record its retention
    expires_at: float
    held: bool = False  # no request runs under it: an ambiguous outcome's hold (`settle`)


@dataclass
class _IdempotencyRecord:
    fingerprint: str
    expires_at: float
    backend: str | None = None
    attempts: int = 0
    response: StoredResponse | None = None
    after_ms: int | None = None  # the latest position a claim was settled with


class MemoryStore:
    """A `Store` held in memory. Every method runs without awaiting, so each is atomic."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.journal: JournalStore = MemoryJournal()
        self.audit: AuditStore = MemoryAudit()
        self.events: EventStore = MemoryEvents()
        self.shadow: ShadowStore = MemoryShadow()
        self.subscriptions: SubscriptionStates = MemorySubscriptionStates()
        self._xrefs: dict[str, XrefRecord] = {}
        self._by_erp: dict[tuple[str, Kind, str], str] = {}
        self._by_external_ref: dict[tuple[Kind, str], list[str]] = {}
        self._by_legal_entity: dict[tuple[Kind, str], list[str]] = {}
        self._jobs: dict[str, tuple[str, float]] = {}  # id -> (state, expires at)
        self._tats: dict[str, float] = {}
        self._slots: dict[str, dict[str, float]] = {}
        self._leases: dict[str, _Lease] = {}
        self._records: dict[str, _IdempotencyRecord] = {}
        self._last_sweep = clock()

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    # -- ID cross-reference -------------------------------------------------------------
    async def put_xref(self, record: XrefRecord) -> XrefRecord:
        return self._put_xref(record)

    def _put_xref(self, record: XrefRecord) -> XrefRecord:
        erp_key = (record.backend, record.kind, record.erp_id)
        existing = self._by_erp.get(erp_key)
        if existing is not None and existing != record.gateway_id:
            return self._xrefs[existing]
        is_new = record.gateway_id not in self._xrefs
        self._xrefs[record.gateway_id] = record
        self._by_erp[erp_key] = record.gateway_id
        if is_new and record.external_ref is not None:
            ids = self._by_external_ref.setdefault((record.kind, record.external_ref), [])
            ids.append(record.gateway_id)
        if is_new:
            self._by_legal_entity.setdefault((record.kind, record.legal_entity), []).append(
                record.gateway_id
            )
        return record

    async def get_xref(self, gateway_id: str) -> XrefRecord | None:
        return self._xrefs.get(gateway_id)

    async def get_xref_by_erp(self, backend: str, kind: Kind, erp_id: str) -> XrefRecord | None:
        gateway_id = self._by_erp.get((backend, kind, erp_id))
        return None if gateway_id is None else self._xrefs.get(gateway_id)

    async def find_xrefs_by_external_ref(self, kind: Kind, external_ref: str) -> list[XrefRecord]:
        ids = self._by_external_ref.get((kind, external_ref), [])
        return [self._xrefs[gateway_id] for gateway_id in ids]

    async def get_xrefs(self, gateway_ids: Sequence[str]) -> list[XrefRecord | None]:
        return [self._xrefs.get(gateway_id) for gateway_id in gateway_ids]

    async def get_xrefs_by_erp(
        self, documents: Sequence[tuple[str, Kind, str]]
    ) -> list[XrefRecord | None]:
        ids = [self._by_erp.get(document) for document in documents]
        return [self._xrefs.get(i) if i is not None else None for i in ids]

    async def xrefs_of(self, kind: Kind, legal_entity: str) -> list[XrefRecord]:
        ids = self._by_legal_entity.get((kind, legal_entity), [])
        return [self._xrefs[gateway_id] for gateway_id in ids]

    async def bind_documents(self, bindings: Sequence[Binding]) -> list[BindOutcome]:
        return [self._bind(binding) for binding in bindings]

    def _bind(self, binding: Binding) -> BindOutcome:
        record = self._xrefs.get(binding.gateway_id)
        if record is None:
            return BindOutcome(missing=True)
        document = binding.document
        erp_key = (document.backend, record.kind, document.erp_id)
        owner = self._by_erp.get(erp_key)
        if owner is not None and owner != record.gateway_id:
            return BindOutcome(taken_by=owner)
        bound = record.with_document(document, home=binding.home)
        self._xrefs[record.gateway_id] = bound
        self._by_erp[erp_key] = record.gateway_id
        return BindOutcome(record=bound)

    # -- jobs ------------------------------------------------------------------------------
    async def put_job(self, job_id: str, state: str, retention_s: float) -> None:
        self._jobs[job_id] = (state, self._clock() + retention_s)

    async def get_job(self, job_id: str) -> str | None:
        found = self._jobs.get(job_id)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    # -- rate limits (GCRA) --------------------------------------------------------------
    async def rate_limit(self, key: str, rate_per_s: float, burst: int) -> RateDecision:
        return self._rate_limit(key, rate_per_s, burst, self._now())

    def _rate_limit(self, key: str, rate_per_s: float, burst: int, now: float) -> RateDecision:
        result = gcra(now, self._tats.get(key), rate_per_s, burst)
        if result.decision.allowed:
            self._tats[key] = result.tat
        return result.decision

    def _refund(self, bucket: BucketRequest, now: float) -> None:
        refunded = gcra_refund(now, self._tats.get(bucket.key), bucket.rate_per_s)
        if refunded is None:
            self._tats.pop(bucket.key, None)
        else:
            self._tats[bucket.key] = refunded

    # -- concurrency leases --------------------------------------------------------------
    async def acquire_slot(self, key: str, limit: int, token: str, lease_s: float) -> bool:
        return self._acquire_slot(key, limit, token, lease_s, self._now())

    def _acquire_slot(self, key: str, limit: int, token: str, lease_s: float, now: float) -> bool:
        leases = self._slots.get(key)
        if leases is None:
            leases = self._slots[key] = {}
        elif token not in leases and len(leases) >= limit:
            # Full as counted: only then do the expired leases (gone holders) matter.
            leases = self._live_slots(key, now)
            if len(leases) >= limit:
                return False
            self._slots[key] = leases
        leases[token] = now + lease_s
        return True

    async def release_slot(self, key: str, token: str) -> None:
        self._release_slot(key, token)

    def _release_slot(self, key: str, token: str) -> None:
        leases = self._slots.get(key)
        if leases is not None:
            leases.pop(token, None)
            if not leases:
                del self._slots[key]

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
        return self._claim_idempotency(
            key, fingerprint, owner, lease_s, retention_s, self._now(), equivalents=equivalents
        )

    def _claim_idempotency(
        self,
        key: str,
        fingerprint: str,
        owner: str,
        lease_s: float,
        retention_s: float,
        now: float,
        *,
        equivalents: Sequence[str] = (),
    ) -> IdempotencyClaim:
        same = (fingerprint, *equivalents)
        record = self._live_record(key, now)
        if record is not None and record.response is not None:
            if record.fingerprint not in same:
                return IdempotencyClaim("mismatch")
            return IdempotencyClaim("completed", record.response, record.backend, record.attempts)
        lease = self._live_lease(key, now)
        if lease is not None:
            if lease.fingerprint not in same:
                return IdempotencyClaim("mismatch")
            held_s = lease.expires_at - now if lease.held else None
            return IdempotencyClaim("in_progress", held_s=held_s)
        if record is not None and record.fingerprint and record.fingerprint not in same:
            return IdempotencyClaim("mismatch")
        self._leases[key] = _Lease(owner, fingerprint, retention_s, now + lease_s)
        if record is None:
            return IdempotencyClaim("claimed")
        return IdempotencyClaim(
            "claimed", None, record.backend, record.attempts, after_ms=record.after_ms
        )

    async def mark_forwarded(self, key: str, owner: str, backend: str) -> bool:
        return self._mark_forwarded(key, owner, backend, self._now())

    def _mark_forwarded(self, key: str, owner: str, backend: str, now: float) -> bool:
        lease = self._owned_lease(key, owner, now)
        if lease is None:
            return False
        record = self._live_record(key, now)
        expires_at = now + lease.retention_s
        if record is None:
            record = _IdempotencyRecord(lease.fingerprint, expires_at)
            self._records[key] = record
        if record.backend is None:
            record.backend = backend
        record.fingerprint = lease.fingerprint
        record.attempts += 1
        record.expires_at = expires_at
        return True

    async def move_forwarded(self, key: str, owner: str, backend: str) -> bool:
        now = self._now()
        record = self._live_record(key, now)
        if self._owned_lease(key, owner, now) is None or record is None:
            return False
        record.backend = backend
        return True

    async def complete_idempotency(
        self, key: str, owner: str, response: StoredResponse, retention_s: float
    ) -> bool:
        return self._complete_idempotency(key, owner, response, retention_s, self._now())

    def _complete_idempotency(
        self, key: str, owner: str, response: StoredResponse, retention_s: float, now: float
    ) -> bool:
        lease = self._owned_lease(key, owner, now)
        if lease is None:
            return False
        record = self._live_record(key, now)
        if record is None:
            record = self._records[key] = _IdempotencyRecord(lease.fingerprint, 0.0)
        # In place: no one else holds the record (a claim copies what it says of it).
        record.response = response
        record.fingerprint = lease.fingerprint
        record.expires_at = now + retention_s
        del self._leases[key]
        return True

    async def release_idempotency(
        self, key: str, owner: str, *, unforward: bool = False, position_ms: int | None = None
    ) -> bool:
        return self._release_idempotency(key, owner, self._now(), unforward, position_ms)

    def _release_idempotency(
        self, key: str, owner: str, now: float, unforward: bool, position_ms: int | None
    ) -> bool:
        lease = self._owned_lease(key, owner, now)
        if lease is None:
            return False
        del self._leases[key]
        record = self._records.get(key)
        if unforward and record is not None:
            record.attempts -= 1
            if record.attempts <= 0:  # forgotten as forwarded; not what it followed
                record.fingerprint, record.backend, record.attempts = "", None, 0
                if record.after_ms is None:
                    del self._records[key]
        self._keep_position(key, lease, position_ms, now)
        return True

    def _keep_position(self, key: str, lease: _Lease, position_ms: int | None, now: float) -> None:
        """The latest position a claim under `key` was settled with, for the next claim."""
        if position_ms is None:
            return
        record = self._live_record(key, now)
        if record is None:
            record = self._records[key] = _IdempotencyRecord("", now + lease.retention_s)
        if record.after_ms is None or position_ms > record.after_ms:
            record.after_ms = position_ms

    async def forget_refusal(self, key: str) -> bool:
        now = self._now()
        record = self._live_record(key, now)
        if record is None or record.response is None or self._live_lease(key, now) is not None:
            return False
        if not 400 <= record.response.status < 500:
            return False
        record.response = None
        record.fingerprint = ""
        return True

    # -- expiry --------------------------------------------------------------------------
    def _now(self) -> float:
        """The clock's time, after a full sweep of expired state when one is due."""
        now = self._clock()
        if now - self._last_sweep >= SWEEP_INTERVAL_S:
            self._sweep(now)
            self._last_sweep = now
        return now

    def _sweep(self, now: float) -> None:
        self._leases = {k: v for k, v in self._leases.items() if v.expires_at > now}
        self._records = {k: v for k, v in self._records.items() if v.expires_at > now}
        # A TAT in the past means a full bucket, which is what a missing key means too.
        self._tats = {k: v for k, v in self._tats.items() if v > now}
        self._jobs = {k: v for k, v in self._jobs.items() if v[1] > now}
        for key in list(self._slots):
            self._live_slots(key, now)

    def _live_slots(self, key: str, now: float) -> dict[str, float]:
        leases = {t: end for t, end in self._slots.get(key, {}).items() if end > now}
        if leases:
            self._slots[key] = leases
        else:
            self._slots.pop(key, None)
        return leases

    def _live_lease(self, key: str, now: float) -> _Lease | None:
        lease = self._leases.get(key)
        if lease is not None and lease.expires_at <= now:
            del self._leases[key]
            return None
        return lease

    def _owned_lease(self, key: str, owner: str, now: float) -> _Lease | None:
        lease = self._live_lease(key, now)
        return lease if lease is not None and lease.owner == owner else None

    def _live_record(self, key: str, now: float) -> _IdempotencyRecord | None:
        record = self._records.get(key)
        if record is not None and record.expires_at <= now:
            del self._records[key]
            return None
        return record

    # -- admission -----------------------------------------------------------------------
    async def admit(
        self,
        buckets: Sequence[BucketRequest],
        slot: SlotRequest | None,
        claim: ClaimRequest | None,
        reads: Sequence[str] = (),
        back: GiveBack = NOTHING_BACK,
    ) -> Admission:
        # The same steps as the public calls, without a coroutine each (nothing here waits),
        # at one reading of the clock.
        now = self._now()
        self._give_back(back, now)
        rates = [self._rate_limit(b.key, b.rate_per_s, b.burst, now) for b in buckets]
        taken = None
        if slot is not None:
            taken = self._acquire_slot(slot.key, slot.limit, slot.token, slot.lease_s, now)
        outcome = None
        if claim is not None:
            outcome = self._claim_idempotency(
                claim.key,
                claim.fingerprint,
                claim.owner,
                claim.lease_s,
                claim.retention_s,
                now,
                equivalents=claim.equivalents,
            )
            if outcome.state == "claimed" and claim.backend is not None:
                self._mark_forwarded(claim.key, claim.owner, claim.backend, now)
        records = [self._xrefs.get(gateway_id) for gateway_id in reads] if reads else []
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
        # The same steps as the public calls, without a coroutine each (nothing here waits),
        # at one reading of the clock.
        now = self._now()
        for bucket in refunds:
            self._refund(bucket, now)
        if bind is not None:
            bound = self._put_xref(bind)
            if bound.gateway_id != bind.gateway_id:
                return bound.gateway_id  # the claim and the slot stay held
        if slot is not None:
            self._release_slot(slot.key, slot.token)
        if claim is not None:
            if response is None and hold_s > 0:
                lease = self._owned_lease(claim.key, claim.owner, now)
                if lease is not None:
                    lease.expires_at = now + hold_s
                    lease.held = True
                    self._keep_position(claim.key, lease, position_ms, now)
            elif response is None:
                self._release_idempotency(claim.key, claim.owner, now, unforward, position_ms)
            else:
                self._complete_idempotency(claim.key, claim.owner, response, retention_s, now)
        return None

    async def give_back(self, back: GiveBack) -> None:
        self._give_back(back, self._now())

    def _give_back(self, back: GiveBack, now: float) -> None:
        for bucket in back.refunds:
            self._refund(bucket, now)
        for slot in back.slots:
            self._release_slot(slot.key, slot.token)
