"""What the pipeline needs to know of one API operation: its name, its request's schemas and
the record it addresses.

Not the HTTP endpoint (path, method, handler, response: see `gateway.api.endpoints`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from gateway.domain.operations import Kind, Operation


@dataclass(frozen=True)
class OperationSpec:
    operation: Operation
    body_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    record_kind: Kind | None = None  # the kind of record the request addresses, if any
    record_param: str = "id"  # path parameter (or query field) that names that record
    record_in_query: bool = False

    def record_id(self, path_params: Mapping[str, Any], query: Any) -> str:
        """The gateway id of the addressed record, from the path or the validated query."""
        if self.record_in_query:
            return str(getattr(query, self.record_param))
        return str(path_params[self.record_param])
