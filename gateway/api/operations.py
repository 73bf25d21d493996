"""What the pipeline needs to know about one API operation: its schema, record and handler.

Not the HTTP route table (see `routes.py`); a spec is the operation's description for the steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel
from starlette.responses import Response

from gateway.domain.operations import Kind, Operation

if TYPE_CHECKING:
    from gateway.pipeline.context import RequestContext


@dataclass(frozen=True)
class OperationSpec:
    operation: Operation
    handler: Callable[[RequestContext], Awaitable[Response]]
    body_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    record_kind: Kind | None = None  # the kind of record the request addresses, if any
    record_param: str = "id"  # path parameter (or query field) that names that record
    record_in_query: bool = False
    # For the OpenAPI documents: what a success returns, with which status, and a summary.
    response_model: type[BaseModel] | None = None
    success_status: int = 200
    summary: str = ""

    def record_id(self, ctx: RequestContext) -> str:
        if self.record_in_query:
            return str(getattr(ctx.query, self.record_param))
        return str(ctx.request.path_params[self.record_param])
