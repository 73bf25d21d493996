"""The Store protocol every state strategy implements, and the records it keeps.

Not an implementation: `memory.py` (embedded, one process) and `redis.py` (shared) are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import orjson

if TYPE_CHECKING:
    from gateway.store.audit import AuditStore
    from gateway.store.events import EventStore
    from gateway.store.journal import JournalStore
    from gateway.store.shadow import ShadowStore
    from gateway.store.subscription_states import SubscriptionStates

from gateway.domain.errors import Code, GatewayError
from gateway.domain.operations import Kind


class StoreUnavailable(GatewayError):
    """The gateway's own state store cannot be reached (503 store_unavailable, retryable)."""

    def __init__(
        self, detail: str = "The gateway's state store is unavailable; retry shortly."
    ) -> None:
        super().__init__(Code.STORE_UNAVAILABLE, detail, headers={"Retry-After": "1"})


@dataclass(frozen=True)
class ErpDocument:
    """A record as one ERP holds it: the backend, its internal id and its document number."""

    backend: str
    erp_id: str  # the ERP's internal id (SAP key, NetSuite internal id)
    erp_document_number: str  # what ERP users see (SAP document number, NetSuite tranId)


@dataclass(frozen=True)
class XrefRecord:
    """One gateway id and everything the gateway knows about where that record lives.

    `backend`, `erp_id` and `erp_document_number` are its home: where it was created (or, for
    a record moved by a migration, where it lives now); reads, amendments and cancels of orders,
    shipments and invoices go there. A customer may also be present in other ERPs (`replicas`):
    during coexistence it is created in, or copied to, each ERP its orders are routed to.
    """

    gateway_id: str
    kind: Kind
    legal_entity: str
    client_id: str
    backend: str
    erp_id: str
    erp_document_number: str
    gateway_ref: str
    external_ref: str | None = None
    parent_id: str | None = None  # a shipment's or invoice's sales order; an order's customer
    created_at: float = 0.0
    replicas: tuple[ErpDocument, ...] = ()

    @property
    def home(self) -> ErpDocument:
        return ErpDocument(self.backend, self.erp_id, self.erp_document_number)

    @property
    def documents(self) -> tuple[ErpDocument, ...]:
        """Every ERP document of the record, its home first."""
        return (self.home, *self.replicas)

    def document_in(self, backend: str) -> ErpDocument | None:
        """The record's document in `backend`, if it is present there."""
        return next((d for d in self.documents if d.backend == backend), None)

    def with_document(self, document: ErpDocument, *, home: bool = False) -> XrefRecord:
        """The record bound to `document` too, or with `home` living there from now on (a
        customer keeps its other documents; an order, shipment or invoice has one home)."""
        others = [d for d in self.documents if d.backend != document.backend]
        if home:
            if self.kind is not Kind.CUSTOMER:
                others = [d for d in others if d != self.home]
            return replace(
                self,
                backend=document.backend,
                erp_id=document.erp_id,
                erp_document_number=document.erp_document_number,
                replicas=tuple(others),
            )
        if document.backend == self.backend:
            return replace(
                self, erp_id=document.erp_id, erp_document_number=document.erp_document_number
            )
        return replace(self, replicas=(*(d for d in others if d != self.home), document))

    def to_json(self) -> str:
        # orjson writes the dataclass's fields in order, as `asdict` did, without its copies.
        return orjson.dumps(self).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> XrefRecord:
        data: dict[str, Any] = orjson.loads(raw)
        data["kind"] = Kind(data["kind"])
        data["replicas"] = tuple(ErpDocument(**d) for d in data.get("replicas", ()))
        return cls(**data)


@dataclass(frozen=True)
class Binding:
    """Bind a record (by gateway id) to a document in an ERP: present there too, or, with
    `home`, living there from now on (a record moved by a migration)."""

    gateway_id: str
    document: ErpDocument
    home: bool = False


@dataclass(frozen=True)
class BindOutcome:
    """What a binding did: the record as it now stands, or why not (`missing`: no record with
    that gateway id; `taken_by`: the ERP document is bound to another gateway id already)."""

    record: XrefRecord | None = None
    missing: bool = False
    taken_by: str | None = None


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one GCRA check (STANDARDS.md, rate limits)."""

    allowed: bool
    remaining: int  # requests still allowed right now, after this one
    retry_after_s: float  # 0 when allowed; else seconds until one request would pass
    reset_after_s: float  # seconds until the bucket is full again


@dataclass(frozen=True)
class StoredResponse:
    """A definitive outcome kept under an idempotency key and replayed byte for byte."""

    status: int
    headers: dict[str, str]
    body: bytes
    backend: str | None = None

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "status": self.status,
                "headers": self.headers,
                "body": self.body.decode("utf-8"),
                "backend": self.backend,
            }
        ).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> StoredResponse:
        data = orjson.loads(raw)
        return cls(data["status"], data["headers"], data["body"].encode("utf-8"), data["backend"])


@dataclass(frozen=True)
class IdempotencyClaim:
    """What `claim_idempotency` found.

    state: "claimed" (the caller owns the key now and must complete or release it),
    "in_progress" (another owner holds a live lease), "completed" (`response` holds the stored
    outcome), "mismatch" (the key was used with another fingerprint).
    `backend` and `attempts` survive a lost lease: a caller who claims a key whose earlier owner
    forwarded it (attempts > 0) must reconcile with that backend before submitting again.
    `held_s`, "in_progress" only: the seconds left of a hold (`settle` with `hold_s`: no request
    is running under the key, which waits out an ERP that may still commit an earlier attempt);
    None while a request holds it.
    `after_ms`, "claimed" only: the latest `position_ms` an earlier claim under the key was
    settled with (released or held), kept with its record: the caller follows that attempt,
    and its journal entry places it after it whatever the hosts' clocks say.
    """

    state: str
    response: StoredResponse | None = None
    backend: str | None = None
    attempts: int = 0
    held_s: float | None = None
    after_ms: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BucketRequest:
    """One GCRA check: a bucket, its rate and its burst."""

    key: str
    rate_per_s: float
    burst: int


@dataclass(frozen=True)
class SlotRequest:
    """One in-flight slot of `limit` under `key`, held by `token` for at most `lease_s`."""

    key: str
    limit: int
    token: str
    lease_s: float


@dataclass(frozen=True)
class ClaimRequest:
    """An idempotency claim, and the backend the request is bound for (recorded as forwarded).

    `fingerprint` is the request's own, the one stored; `equivalents` are the same request's
    under the other paths it could have been sent on (`/v2/...` for `/v1/...`, the unversioned
    path): a key stored with any of them is this request's too."""

    key: str
    fingerprint: str
    owner: str
    lease_s: float
    retention_s: float
    backend: str | None = None
    equivalents: tuple[str, ...] = ()


@dataclass(frozen=True)
class GiveBack:
    """Slots to release, and buckets to give one request back to (counted, never served):
    what requests that store no outcome give back, in a batch."""

    slots: Sequence[SlotRequest] = ()
    refunds: Sequence[BucketRequest] = ()

    def __bool__(self) -> bool:
        return bool(self.slots or self.refunds)


NOTHING_BACK = GiveBack()


@dataclass(frozen=True)
class Admission:
    """What `admit` decided: one RateDecision per bucket, the slot, the claim, and the xref
    records it was asked to read (fresh, in order; None where there is none)."""

    rates: list[RateDecision]
    slot_taken: bool | None
    claim: IdempotencyClaim | None
    records: list[XrefRecord | None] = field(default_factory=list)


class Store(Protocol):
    """Every method raises `StoreUnavailable` when the store cannot be reached."""

    journal: JournalStore  # the transaction journal (see `gateway.store.journal`)
    audit: AuditStore  # the hash-chained audit trail (see `gateway.store.audit`)
    events: EventStore  # domain events and their deliveries (see `gateway.store.events`)
    shadow: ShadowStore  # the shadow report's counters (see `gateway.store.shadow`)
    # The webhook subscriptions disabled by a 410 (see `gateway.store.subscription_states`).
    subscriptions: SubscriptionStates

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...

    # -- ID cross-reference -------------------------------------------------------------
    async def put_xref(self, record: XrefRecord) -> XrefRecord:
        """Store the record, its reverse index (backend, kind, erp_id) and its external_ref
        index, atomically. If the reverse index already names another gateway id, store
        nothing and return that existing record (so concurrent readers agree on one id)."""
        ...

    async def get_xref(self, gateway_id: str) -> XrefRecord | None: ...

    async def get_xref_by_erp(self, backend: str, kind: Kind, erp_id: str) -> XrefRecord | None: ...

    async def find_xrefs_by_external_ref(self, kind: Kind, external_ref: str) -> list[XrefRecord]:
        """Every record of `kind` created with this external_ref, oldest first."""
        ...

    async def get_xrefs(self, gateway_ids: Sequence[str]) -> list[XrefRecord | None]:
        """Many records at once (bulk work: imports), in order, None where there is none."""
        ...

    async def get_xrefs_by_erp(
        self, documents: Sequence[tuple[str, Kind, str]]
    ) -> list[XrefRecord | None]:
        """The records bound to many (backend, kind, erp id) at once, in order."""
        ...

    async def xrefs_of(self, kind: Kind, legal_entity: str) -> list[XrefRecord]:
        """Every record of `kind` in `legal_entity`, oldest first (migrations, exports)."""
        ...

    async def bind_documents(self, bindings: Sequence[Binding]) -> list[BindOutcome]:
        """Apply each binding atomically with its reverse index (backend, kind, erp id); one
        outcome per binding, in order. Bindings of one record apply one after the other. A
        document already bound to the record is no change; one bound to another record is
        refused (`taken_by`)."""
        ...

    # -- jobs (migrations) -----------------------------------------------------------------
    async def put_job(self, job_id: str, state: str, retention_s: float) -> None:
        """Keep a job's state (JSON) for `retention_s`, for any gateway process to show."""
        ...

    async def get_job(self, job_id: str) -> str | None: ...

    # -- rate limits (GCRA) --------------------------------------------------------------
    async def rate_limit(self, key: str, rate_per_s: float, burst: int) -> RateDecision:
        """One GCRA check of one request against the bucket `key` (O(1) state per key)."""
        ...

    # -- concurrency leases (ERP in-flight budgets) --------------------------------------
    async def acquire_slot(self, key: str, limit: int, token: str, lease_s: float) -> bool:
        """Take one of `limit` slots under `key` for `token`, unless all are held by live
        leases. A slot whose lease expired (its holder died) is free again."""
        ...

    async def release_slot(self, key: str, token: str) -> None: ...

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
        """Claim `key` atomically (SET NX semantics) for `owner` with an in-flight lease of
        `lease_s`, separate from the record's retention. The key was used by the same request
        if it was stored with `fingerprint` or one of its `equivalents` (see `ClaimRequest`);
        what is stored is `fingerprint`."""
        ...

    async def mark_forwarded(self, key: str, owner: str, backend: str) -> bool:
        """Count one attempt toward a backend (compare owner). The first backend recorded for
        a key stays: a retry goes back where the original went, whatever the routes say now."""
        ...

    async def move_forwarded(self, key: str, owner: str, backend: str) -> bool:
        """The backend recorded for `key` becomes `backend` (compare owner; no attempt
        counted): a retry that found nothing where the earlier attempts went (past their
        commit window) and sends its request on to the ERP the routes name now, so that a
        later retry searches there first, whatever the routes say then."""
        ...

    async def complete_idempotency(
        self, key: str, owner: str, response: StoredResponse, retention_s: float
    ) -> bool:
        """Store the definitive outcome if `owner` still holds the claim (compare-and-set)."""
        ...

    async def release_idempotency(
        self, key: str, owner: str, *, unforward: bool = False, position_ms: int | None = None
    ) -> bool:
        """Drop the in-flight claim if `owner` holds it (compare-and-delete), keeping what is
        known of earlier forwarding so the next claimer reconciles. With `unforward`, the claim
        was marked forwarded at admission but never reached an ERP: that attempt is taken back
        (and the key forgotten if it was its only one). `position_ms`, the attempt's place in
        its journal entry, is kept (the latest, for the key's retention) for the next claim to
        follow (`IdempotencyClaim.after_ms`), even of a key forgotten."""
        ...

    async def forget_refusal(self, key: str) -> bool:
        """Drop a key's stored business refusal (a 4xx outcome), so that the same key can carry
        a corrected request (an operator's replay); never an accepted outcome or a key in
        progress. What is known of earlier forwarding stays, so the next claimer reconciles."""
        ...

    # -- admission: the request path's one round trip ------------------------------------
    async def admit(
        self,
        buckets: Sequence[BucketRequest],
        slot: SlotRequest | None,
        claim: ClaimRequest | None,
        reads: Sequence[str] = (),
        back: GiveBack = NOTHING_BACK,
    ) -> Admission:
        """`back` given back first (as `give_back`), then every bucket checked, the slot taken
        and the key claimed (and, if claimed with a backend, marked forwarded), and the xref
        records of `reads` (gateway ids) read, in one round trip. Each decision is atomic on
        its own; the caller gives back what it does not use (`settle`)."""
        ...

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
        """Release the slot, complete the claim with `response` (or, when None, release it
        (`unforward`, `position_ms`: see `release_idempotency`), or with `hold_s` keep it in
        progress that much longer, its `position_ms` kept alike: an ERP that may still commit
        must not see the request again before then) and give back one request to each of
        `refunds` (counted at admission, never served), in one round trip. A completed claim
        keeps no position: a later request under the key is answered its outcome (which
        settles nothing in the journal), or is a replay, which follows the entry it read.

        With `bind`, the xref of a document the request created is written too (as `put_xref`),
        on one Redis in the same round trip; if the document has another gateway id already
        (the ERP handed back an earlier attempt's document), the claim and the slot are left
        held, neither completed nor released, and that id is returned: the caller answers for
        it, calling the ERP again under that slot, and settles again (the refunds are given
        back either way)."""
        ...

    async def give_back(self, back: GiveBack) -> None:
        """Release `back`'s slots and give back one request to each of its refunds, in one
        round trip (see `gateway.pipeline.releases`)."""
        ...


# How far apart the clocks of the gateway's hosts, and Redis's, may be (ms): a store that reads
# from an instant one clock dated, in an index another clock dated, reads from this much below.
CLOCKS_APART_MS = 60_000
