"""JSON Schemas of the configuration files, generated from their models, for editors.

Not validation (see `loader.py`, which decides): a schema lets an editor flag a mistake early.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from gateway.config.api_versions import ApiVersionsPolicy
from gateway.config.auth import AuthPolicy
from gateway.config.backends import BackendConfig
from gateway.config.clients import ClientsPolicy
from gateway.config.events import SubscriptionsPolicy
from gateway.config.idempotency import IdempotencyPolicy
from gateway.config.issues import (
    API_VERSIONS_FILE,
    AUTH_FILE,
    BACKENDS_DIR,
    CLIENTS_FILE,
    IDEMPOTENCY_FILE,
    OPERATIONS_FILE,
    RATE_LIMITS_FILE,
    ROUTES_FILE,
    SUBSCRIPTIONS_FILE,
)
from gateway.config.operations import OperationsPolicy
from gateway.config.rate_limits import RateLimitPolicy
from gateway.config.routes import RoutesConfig
from gateway.config.yamlfile import ENV_REFERENCE_PATTERN

JsonSchema = dict[str, Any]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS_DIR = "schemas"  # beside routes.yaml, backends/ and policies/: what the modelines assume
MODELINE_PREFIX = "# yaml-language-server: $schema="

_REFERENCE_DEF = "EnvReference"
_REFERENCE = {"$ref": f"#/$defs/{_REFERENCE_DEF}"}
_REFERENCE_SCHEMA: JsonSchema = {
    "description": "A reference to an environment variable, `${VAR}` or `${VAR:-default}`, "
    "expanded when the gateway loads the file; `gateway check` validates the value it expands to.",
    "pattern": ENV_REFERENCE_PATTERN,
    "type": "string",
}
# What describes a value rather than constrains it: kept outside when a value's schema is
# widened to accept a reference, so that an editor's hover and completion still show it.
_ANNOTATIONS = frozenset({"default", "description", "examples", "title"})
_STRING_CONSTRAINTS = frozenset({"const", "enum", "format", "maxLength", "minLength", "pattern"})


@dataclass(frozen=True)
class ConfigSchema:
    """One schema file under schemas/ and the configuration file(s) it describes."""

    file: str  # its name under schemas/
    describes: str  # the configuration files, a glob relative to the config directory
    model: Any  # the type the loader validates those files with
    description: str | None = None  # the model's docstring when None

    def document(self) -> JsonSchema:
        """The JSON Schema (draft 2020-12), accepting `${...}` wherever a value may be."""
        generated = TypeAdapter(self.model).json_schema(schema_generator=_WithoutFieldTitles)
        defs: dict[str, JsonSchema] = generated.pop("$defs", {})
        # A reference to a definition that is itself a value (an enum) is widened where used:
        # the same enum may also describe keys, which are never expanded.
        scalars = frozenset(
            f"#/$defs/{name}" for name, d in defs.items() if _is_constrained_scalar(d, frozenset())
        )
        widened = {name: _with_references_inside(d, scalars) for name, d in defs.items()}
        schema = _with_references_inside(generated, scalars)
        return {
            **schema,
            "$defs": {**widened, _REFERENCE_DEF: dict(_REFERENCE_SCHEMA)},
            "$schema": DIALECT,
            "title": self.describes,
            "description": self.description or schema["description"],
        }


CONFIG_SCHEMAS: tuple[ConfigSchema, ...] = (
    ConfigSchema("routes.schema.json", ROUTES_FILE, RoutesConfig),
    ConfigSchema(
        "backend.schema.json",
        f"{BACKENDS_DIR}/*.yaml",
        BackendConfig,
        "`backends/<name>.yaml`: one ERP backend, its connection and its value maps; `kind` "
        "says which ERP it is and so which keys it takes.",
    ),
    ConfigSchema("auth.schema.json", AUTH_FILE, AuthPolicy),
    ConfigSchema("clients.schema.json", CLIENTS_FILE, ClientsPolicy),
    ConfigSchema("rate-limits.schema.json", RATE_LIMITS_FILE, RateLimitPolicy),
    ConfigSchema("idempotency.schema.json", IDEMPOTENCY_FILE, IdempotencyPolicy),
    ConfigSchema("operations.schema.json", OPERATIONS_FILE, OperationsPolicy),
    ConfigSchema("api-versions.schema.json", API_VERSIONS_FILE, ApiVersionsPolicy),
    ConfigSchema("subscriptions.schema.json", SUBSCRIPTIONS_FILE, SubscriptionsPolicy),
)


def schema_documents() -> dict[str, str]:
    """Each schema's file name -> its text: sorted keys, two-space indent, a final newline."""
    return {
        entry.file: json.dumps(entry.document(), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
        for entry in CONFIG_SCHEMAS
    }


def schema_for(config_file: str) -> ConfigSchema:
    """The schema of `config_file` (relative to the config directory); LookupError if none."""
    for entry in CONFIG_SCHEMAS:
        if fnmatchcase(config_file, entry.describes):
            return entry
    raise LookupError(f"no schema describes {config_file}")


def modeline(config_file: str) -> str:
    """The first line of `config_file`: its schema for the YAML language server.

    The path is relative to the file, so that it works in any checkout.
    """
    target = f"{SCHEMAS_DIR}/{schema_for(config_file).file}"
    return MODELINE_PREFIX + posixpath.relpath(target, posixpath.dirname(config_file) or ".")


class _WithoutFieldTitles(GenerateJsonSchema):
    """Pydantic's generator without its per-field titles ("Timeout S"): the key says as much,
    and an editor's hover then shows the description alone."""

    def field_title_should_be_set(self, schema: object) -> bool:
        return False


def _with_references_inside(schema: JsonSchema, scalars: frozenset[str]) -> JsonSchema:
    """`schema` with every value below it also accepting a reference (its keys never do)."""
    node = _keys_as_property_names(schema)
    if isinstance(node.get("properties"), dict):
        node["properties"] = {
            key: _with_references(value, scalars) for key, value in node["properties"].items()
        }
    for part in ("additionalProperties", "items"):
        if isinstance(node.get(part), dict):
            node[part] = _with_references(node[part], scalars)
    for union in ("anyOf", "oneOf"):
        if union in node:
            node[union] = [_with_references_inside(member, scalars) for member in node[union]]
    return node


def _with_references(schema: JsonSchema, scalars: frozenset[str]) -> JsonSchema:
    """A value's schema, widened to accept a `${...}` reference wherever it takes a scalar.

    The loader expands references in every string value before it validates, and coerces the
    result ("5" to 5): a reference is valid wherever a value is, so an editor must not flag it.
    """
    if "anyOf" in schema:
        node = _with_references_inside(schema, scalars)
        if any(_is_constrained_scalar(member, scalars) for member in schema["anyOf"]):
            node["anyOf"] = [*node["anyOf"], _REFERENCE]
        return node
    if not _is_constrained_scalar(schema, scalars):
        return _with_references_inside(schema, scalars)
    outside = {k: v for k, v in schema.items() if k in _ANNOTATIONS}
    value = {k: v for k, v in schema.items() if k not in _ANNOTATIONS}
    return {**outside, "anyOf": [value, _REFERENCE]}


def _is_constrained_scalar(schema: Mapping[str, Any], scalars: frozenset[str]) -> bool:
    """Whether a reference would fail `schema` as it is: a number, a boolean, a fixed value,
    or a string with a constraint (a plain string takes a reference already)."""
    if "$ref" in schema:
        return schema["$ref"] in scalars
    if "enum" in schema or "const" in schema:
        return True
    kind = schema.get("type")
    if kind in ("integer", "number", "boolean"):
        return True
    return kind == "string" and not _STRING_CONSTRAINTS.isdisjoint(schema)


def _keys_as_property_names(schema: JsonSchema) -> JsonSchema:
    """A map whose keys have a pattern, as `propertyNames` with `additionalProperties`.

    Pydantic writes `patternProperties`, under which a key that misses the pattern is simply
    not described, so an editor would accept it; the loader refuses it.
    """
    node = dict(schema)
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict) and len(patterns) == 1 and "additionalProperties" not in node:
        ((pattern, values),) = patterns.items()
        del node["patternProperties"]
        node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
        node["additionalProperties"] = values
    return node
