"""The one base of every configuration model: unknown keys refused, values frozen after load,
no number read from a YAML boolean, no boolean from a number or a word, no infinite number.

Not the API's request models (see `gateway.domain.models`, which are strict about JSON types).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# pydantic's error types; the loader shows the words.
_ERROR_TYPE = "number_not_boolean"
_NUMBER_FOR_BOOLEAN = "boolean_not_number"
_WORD_FOR_BOOLEAN = "boolean_not_word"
# Parts of a core schema that hold no validator of a value: what describes the schema, how a
# value is written back out, and a field's default value.
_NOT_VALIDATION = frozenset({"metadata", "serialization", "default"})
# The strings read as a boolean: a variable's value is always one (`${FLAG:-true}`). Those the
# YAML 1.2 core schema reads as true or false, no more: pydantic would also take yes/no, on/off,
# 1/0, t/f and y/n, where a quoted word or a mistyped variable is more likely a slip than a
# choice.
_TRUE_WORDS = frozenset({"true", "True", "TRUE"})
_FALSE_WORDS = frozenset({"false", "False", "FALSE"})


def _not_boolean(expected: str) -> Callable[[object], object]:
    """A guard refusing a boolean where `expected` ("a valid integer", "a valid number") goes."""

    def guard(value: object) -> object:
        if isinstance(value, bool):
            raise PydanticCustomError(
                _ERROR_TYPE, f"Input should be {expected}, not true/false, yes/no or on/off"
            )
        return value

    return guard


def _boolean_not_number_nor_word(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        raise PydanticCustomError(
            _NUMBER_FOR_BOOLEAN, "Input should be a valid boolean, true or false, not a number"
        )
    if isinstance(value, str):
        if value in _TRUE_WORDS:
            return True
        if value in _FALSE_WORDS:
            return False
        raise PydanticCustomError(
            _WORD_FOR_BOOLEAN, "Input should be a valid boolean, true or false"
        )
    return value  # anything else (a list, a mapping, null): pydantic's own error


_GUARD_OF = {
    "int": _not_boolean("a valid integer"),
    "float": _not_boolean("a valid number"),
    "bool": _boolean_not_number_nor_word,
}
_GUARDS = tuple(_GUARD_OF.values())


def _guarded_scalars(schema: CoreSchema) -> CoreSchema:
    """`schema` with every `int` and `float` schema in it first refusing a boolean, every
    `float` schema refusing inf and nan, and every `bool` schema refusing a number and taking
    only true or false from a string."""
    return cast(CoreSchema, _guarded(schema))


def _guarded(part: object) -> object:
    """A part of a core schema, guarded. A nested model's schema is built by this same hook,
    its numbers guarded already: a guard found is kept as it is, not wrapped again."""
    if isinstance(part, list | tuple):
        return type(part)(_guarded(item) for item in part)
    if not isinstance(part, dict):
        return part
    if part.get("type") == "function-before" and any(
        part["function"]["function"] is guard for guard in _GUARDS
    ):
        return part
    walked = {
        key: value if key in _NOT_VALIDATION else _guarded(value) for key, value in part.items()
    }
    guard = _GUARD_OF.get(str(part.get("type")))
    if guard is None:
        return walked
    if part.get("type") == "float":
        walked["allow_inf_nan"] = False
    return core_schema.no_info_before_validator_function(guard, cast(CoreSchema, walked))


class ConfigModel(BaseModel):
    """A model mirroring part of a YAML file: a misspelt key is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /
    ) -> CoreSchema:
        # Lax mode, which turns a variable's "3600" into 3600, also turns a boolean into 1 or 0.
        # YAML reads true/yes/on and false/no/off as booleans, so `timeout_s: yes` or
        # `max_entries: off` would load as a number no one wrote; the other way round, it turns
        # `enabled: 0` or `demo: "off"` into a boolean. And a float takes `.inf` and `.nan`,
        # which only an upper bound would refuse (a tolerance, a list's delays have none).
        # Refused wherever such a value is, at any depth, here once rather than field by field.
        return _guarded_scalars(handler(source))


EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
"""The name of an environment variable that holds a secret (the secret is never in a file)."""


def off_as_written(value: object) -> object:
    """An `off` among a setting's words, as the operator wrote it: YAML 1.1 reads a bare `off`
    (or `no`) as the boolean false. For the settings whose words include `off`."""
    return "off" if value is False else value
