"""Record id step: an id in the path longer than any id the gateway issues names no record, so
it is 404 at once, before the journal, the store or an ERP sees it.

Not whether a record of a plausible id exists, nor who may see it (the records and entitlements
steps); an id in the query string is held to the same bound by its schema (400 at its pointer).
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.responses import Response

from gateway.domain.ids import MAX_GATEWAY_ID_LENGTH
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.operation import OperationSpec
from gateway.pipeline.records import no_record


class BoundRecordIds:
    """Pipeline step, after authorization (a refusal never depends on an id) and before the
    journal: a path id over `MAX_GATEWAY_ID_LENGTH` is the 404 of an unknown record, its
    detail showing a bounded prefix. The request is no transaction on any record: journaling
    it would keep the id twice (its path and its path parameters), and looking it up costs a
    store round trip for a key that cannot be there."""

    @staticmethod
    def applies(spec: OperationSpec) -> bool:
        return spec.record_kind is not None and not spec.record_in_query

    def __call__(self, ctx: RequestContext, call_next: Handler) -> Awaitable[Response]:
        spec = ctx.spec
        assert spec.record_kind is not None, "applies only to operations on a record"
        gateway_id = spec.record_id(ctx.request.path_params, None)
        if len(gateway_id) > MAX_GATEWAY_ID_LENGTH:
            raise no_record(spec.record_kind, gateway_id)
        return call_next(ctx)  # nothing to do on the way out (see `Step`)
