"""Records step: resolves the legal entity a request acts for, and the record it addresses.

From the body for creates, from the xref for reads and cancels, so that entitlements, limits and
routing all decide on the same facts. Not authorization: that is the next step.

A record this process has seen lately is taken from its hints, without a round trip to the
store: what a hint may get wrong (where the record lives: its home and its replicas, which a
migration changes) is checked by the admission step, which reads the record fresh in its own
round trip. A stale hint sends the request through the next steps again, once, with the fresh
record; what cannot change (the record's kind and legal entity) is decided on the hint. The
customer an order or a quote names is read by admission too, in the same round trip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection

from starlette.responses import Response

from gateway.domain.errors import Code, FieldError, GatewayError, echoed, not_found
from gateway.domain.ids import MAX_GATEWAY_ID_LENGTH
from gateway.domain.listing import some_of
from gateway.domain.operations import Kind, kind_of_id
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.operation import OperationSpec
from gateway.store.base import Store, XrefRecord

HINTS = 50_000  # records kept per process: a few MiB


def no_record(kind: Kind, gateway_id: str) -> GatewayError:
    """The 404 for a record that does not exist, and (word for word, so that existence is not
    leaked) for one in a legal entity the client may not see. An id longer than any gateway id
    is shown cut (see `record_ids`)."""
    shown = echoed(gateway_id, MAX_GATEWAY_ID_LENGTH)
    return not_found(f"No {kind.value.replace('_', ' ')} {shown}.")


class StaleRecord(Exception):
    """Raised by admission before anything is held: the hinted record is not what the store
    holds now (`record`, None if it is gone)."""

    def __init__(self, record: XrefRecord | None) -> None:
        super().__init__("stale record hint")
        self.record = record


class RecordHints:
    """The xref records a process read lately, by gateway id, the oldest forgotten first."""

    def __init__(self, size: int = HINTS) -> None:
        self._size = size
        self._records: dict[str, XrefRecord] = {}

    def get(self, gateway_id: str) -> XrefRecord | None:
        return self._records.get(gateway_id)

    def put(self, record: XrefRecord) -> None:
        records = self._records
        if record.gateway_id not in records and len(records) >= self._size:
            del records[next(iter(records))]
        records[record.gateway_id] = record

    def forget(self, gateway_id: str) -> None:
        self._records.pop(gateway_id, None)


class ResolveRecord:
    """Pipeline step: sets `ctx.record` and `ctx.legal_entity`; 404 for an unknown record."""

    def __init__(self, store: Store, legal_entities: Collection[str]) -> None:
        self._store = store
        self._legal_entities = legal_entities
        self._known = some_of(legal_entities)
        self._hints = RecordHints()

    def __call__(self, ctx: RequestContext, call_next: Handler) -> Awaitable[Response]:
        spec = ctx.spec
        if spec.record_kind is not None:
            return self._addressed(ctx, call_next, spec)
        # A new record: decided from the body, nothing to do on the way out (see `Step`).
        payload = ctx.payload
        legal_entity = getattr(payload, "legal_entity", None)
        if legal_entity is not None:
            if legal_entity not in self._legal_entities:
                raise self._unknown_legal_entity(legal_entity, ctx)
            ctx.legal_entity = legal_entity
        customer_id = getattr(payload, "customer_id", None)
        if isinstance(customer_id, str) and kind_of_id(customer_id) is Kind.CUSTOMER:
            ctx.related_ids = (customer_id,)
        return call_next(ctx)

    async def _addressed(
        self, ctx: RequestContext, call_next: Handler, spec: OperationSpec
    ) -> Response:
        """A request about an existing record: from its hint (sent through again, once, with
        the fresh record when admission finds the hint stale), else from the store."""
        assert spec.record_kind is not None, "a request about a record"
        gateway_id = spec.record_id(ctx.request.path_params, ctx.query)
        record = None
        if kind_of_id(gateway_id) is spec.record_kind:
            hint = self._hints.get(gateway_id)
            if hint is not None:
                ctx.record, ctx.legal_entity, ctx.record_hinted = hint, hint.legal_entity, True
                try:
                    return await call_next(ctx)
                except StaleRecord as stale:
                    record = stale.record
                    ctx.record_hinted = False
                    self._hints.forget(gateway_id)
            else:
                record = await self._store.get_xref(gateway_id)
        if record is None or record.kind is not spec.record_kind:
            raise no_record(spec.record_kind, gateway_id)
        self._hints.put(record)
        ctx.record = record
        ctx.legal_entity = record.legal_entity
        return await call_next(ctx)

    def _unknown_legal_entity(self, code: str, ctx: RequestContext) -> GatewayError:
        """400 naming the legal entities the client may act for: the others are not its to
        learn of (a client for US01 is not told which other entities the company runs)."""
        entitled = ctx.entitlement.legal_entities if ctx.entitlement is not None else None
        shown = (
            self._known
            if entitled is None
            else some_of(c for c in entitled if c in self._legal_entities)
        )
        return GatewayError(
            Code.VALIDATION_FAILED,
            f"Unknown legal entity {code!r}.",
            [FieldError("/legal_entity", f"Unknown legal entity; known: {shown}.")],
        )
