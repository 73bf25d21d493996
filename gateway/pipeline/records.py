"""Records step: resolves the legal entity a request acts for, and the record it addresses.

From the body for creates, from the xref for reads and cancels, so that entitlements, limits and
routing all decide on the same facts. Not authorization: that is the next step.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.responses import Response

from gateway.domain.errors import Code, FieldError, GatewayError, not_found
from gateway.domain.operations import kind_of_id
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.store.base import Store


class ResolveRecord:
    """Pipeline step: sets `ctx.record` and `ctx.legal_entity`; 404 for an unknown record."""

    def __init__(self, store: Store, legal_entities: Collection[str]) -> None:
        self._store = store
        self._legal_entities = legal_entities
        self._known = ", ".join(sorted(legal_entities))

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        spec = ctx.spec
        if spec.record_kind is not None:
            gateway_id = spec.record_id(ctx.request.path_params, ctx.query)
            record = None
            if kind_of_id(gateway_id) is spec.record_kind:
                record = await self._store.get_xref(gateway_id)
            if record is None or record.kind is not spec.record_kind:
                raise not_found(f"No {spec.record_kind.value.replace('_', ' ')} {gateway_id}.")
            ctx.record = record
            ctx.legal_entity = record.legal_entity
        else:
            legal_entity = getattr(ctx.payload, "legal_entity", None)
            if legal_entity is not None:
                if legal_entity not in self._legal_entities:
                    raise self._unknown_legal_entity(legal_entity)
                ctx.legal_entity = legal_entity
        return await call_next(ctx)

    def _unknown_legal_entity(self, code: str) -> GatewayError:
        return GatewayError(
            Code.VALIDATION_FAILED,
            f"Unknown legal entity {code!r}.",
            [FieldError("/legal_entity", f"Unknown legal entity; known: {self._known}.")],
        )
