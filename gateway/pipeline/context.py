"""The per-request context the pipeline steps fill in, in order, and the handler reads.

Not behaviour. Each field is written by one step, named beside it; the ERP-call fields at the
end are written by the service layer's ERP calls (`gateway.service.erp_calls`) and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.routing.rules import HOME_RULE_ID

if TYPE_CHECKING:
    from gateway.domain.errors import GatewayError
    from gateway.observability.spans import Span
    from gateway.observability.trace_context import TraceContext
    from gateway.pipeline.entitlements import Entitlement
    from gateway.pipeline.operation import OperationSpec
    from gateway.pipeline.versioning import BodyUpgrade
    from gateway.routing.rules import RouteDecision
    from gateway.store.base import ClaimRequest, XrefRecord


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: its client id, the token's subject and its scopes (None: the
    token carries no scope claim, so its client's scopes in clients.yaml apply)."""

    client_id: str
    subject: str
    issuer: str
    scopes: frozenset[str] | None


@dataclass(frozen=True)
class DocumentOutcome:
    """What the ERP answered a transaction with: the gateway id, the ERP's own document number
    and the canonical status (e.g. open, on_hold, cancelled; a quote's valid or invalid)."""

    gateway_id: str | None
    erp_reference: str | None
    status: str | None


@dataclass(slots=True)
class RequestContext:
    # On arrival (the endpoint): what was asked, and by when it must be answered.
    request: Request
    spec: OperationSpec
    path_version: str = ""  # the version the path names; empty on an unversioned path
    arrived: float = field(default_factory=time.monotonic)
    arrived_at: float = field(default_factory=time.time)  # the wall clock: what routing decides on
    deadline: float = 0.0  # arrival plus the runtime's request timeout
    config_version: str = ""  # the configuration the request is served by
    # On arrival, for a replay only: the transaction replayed and who replays it.
    journal_id: str | None = None  # else the journal step names the transaction
    replayed_by: str | None = None
    # What this attempt comes after in its journal entry (see `JournalRecord.after_ms`): on
    # arrival, a replay's entry as it read it; admission step, what the key's claim followed.
    after_ms: int | None = None
    correlation_id: str = ""  # tracing step
    trace: TraceContext | None = None  # tracing step
    span: Span | None = None  # tracing step: the request's span, when spans are exported
    api_version: str = ""  # versioning step: the path's, else the client's pin, else the default
    body_upgrade: BodyUpgrade | None = None  # versioning step: an older version's body, upgraded
    principal: Principal | None = None  # auth step
    entitlement: Entitlement | None = None  # authorization step
    raw_body: bytes | None = None  # body step: the JSON body as sent (less any byte order mark)
    payload: Any = None  # body step: the validated request model
    query: Any = None  # body step: the validated query model
    record: XrefRecord | None = None  # records step: the record the request addresses
    legal_entity: str | None = None  # records step
    # records step: `record` is this process's last knowledge of it, not read for this
    # request; admission reads it fresh in its round trip and checks (see `records.py`).
    record_hinted: bool = False
    # records step: other records the handler will read (the customer an order names), which
    # admission reads in its round trip into `related` (None where there is none).
    related_ids: tuple[str, ...] = ()
    related: dict[str, XrefRecord | None] = field(default_factory=dict)
    backend: str | None = None  # routing step: the system of record for this request
    route: RouteDecision | None = None  # routing step
    routed_at: float | None = None  # routing step: the wall clock when it decided
    # routing step: a frozen write's refusal (with no backend routed), which admission gives
    # unless the key holds a stored answer to replay (a replay writes nothing).
    frozen: GatewayError | None = None
    # admission step: it took the request (its client's rate is counted there, or not at all
    # when the store is down and limits fail open); a refusal before it is counted on its own.
    admitted: bool = False
    idempotency_key: str | None = None  # admission step
    claim: ClaimRequest | None = None  # admission step: the key this request holds, if any
    # admission step: the wall clock when it settled the key this request held (the attempt's
    # end, as its journal entry and the key's next claim place it); None: it held none.
    settled_at: float | None = None
    # admission step: the ERP an earlier attempt under the same key reached with an unknown
    # outcome; this request must look for that attempt's document there before submitting.
    reconcile_on: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)  # added to by any step
    # service layer: the xref of a document this request created under the key it holds,
    # bound when admission settles, with the outcome (see `gateway.service.xrefs`).
    binding: XrefRecord | None = None
    # handler: the document the ERP answered with (its ids and status), for the journal.
    document: DocumentOutcome | None = None
    # handler, where shadowing is on: its last answer, or the refusal it raised, for the shadow
    # step (see `gateway.service.shadow`).
    answer: Response | GatewayError | None = None
    # ERP calls (service layer): whether the request left the gateway, and its ERP deadlines.
    forwarded: bool = False
    erp_deadlines: dict[str, float] = field(default_factory=dict)  # by backend, from 1st call
    submitted_at: float | None = None  # the wall clock of the first ERP call

    @property
    def path(self) -> str:
        """`request.url.path` without building the URL (which parses the Host header, on every
        request): the ASGI path, with `?`, `#` and `\\` escaped as the URL escapes them."""
        path: str = self.request.scope["path"]
        return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")

    @property
    def reconcile(self) -> bool:
        """Whether an earlier attempt's outcome is unknown (look for its document first)."""
        return self.reconcile_on is not None

    @property
    def system_of_record(self) -> str:
        """Where this request's ERP calls go: the ERP to reconcile with, else the routed one."""
        backend = self.reconcile_on or self.backend
        assert backend is not None, "routing runs before handlers"
        return backend

    @property
    def served_by(self) -> str | None:
        """What placed the request where its ERP calls went, as X-Route-Rule, the journal and
        the access log name it: the routing step's rule, or `home` when an earlier attempt under
        its key made its document in another ERP (a wave moved the legal entity since)."""
        route = self.route
        if route is None:
            return None
        if self.reconcile_on is not None and self.reconcile_on != route.backend:
            return HOME_RULE_ID
        return route.rule_id

    @property
    def client_id(self) -> str:
        assert self.principal is not None, "auth step runs before any handler"
        return self.principal.client_id
