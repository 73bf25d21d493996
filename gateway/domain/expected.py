"""What a request field of a constrained type expects, in words: the one message a client reads
for any value that does not fit the type (a currency `usd`, a quantity 0), in every version.

Not the constraints themselves (they stay in each type's `Field`, and in the OpenAPI schemas) nor
the translation of errors into a problem (see `gateway.pipeline.body`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

_ERROR_TYPE = "expected"  # pydantic's error type; clients see the words only


@dataclass(frozen=True)
class Expected:
    """Annotated metadata: any error of the type's own schema (its pattern, bounds or JSON type)
    is reported as `words`, a sentence a CRM user can act on ("Enter a currency as its ISO 4217
    code in capitals, such as EUR."). Validators after it keep their own, more precise, words.

    pydantic-core replaces the error itself, with no Python call on a valid value. For scalar
    types only: on a list or a model it would hide the inner fields' errors and pointers."""

    words: str

    def __post_init__(self) -> None:
        # pydantic-core formats the message with the error's context: no placeholders.
        if "{" in self.words or "}" in self.words:
            raise ValueError(f"no braces in the words of a field: {self.words!r}")

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.custom_error_schema(
            handler(source), custom_error_type=_ERROR_TYPE, custom_error_message=self.words
        )
