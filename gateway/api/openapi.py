"""The OpenAPI 3.1 document of each API version, generated from the route table and the models.

Built once at start-up and served as cached bytes. Not the docs page (see `docs.py`).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.api import openapi_examples as examples
from gateway.api.endpoints import ENDPOINTS, Endpoint
from gateway.config.idempotency import DEFAULT_RETENTION_S
from gateway.domain import models
from gateway.domain.errors import ROUTE_ONLY_CODES, Code, spec_of
from gateway.domain.ids import MAX_GATEWAY_ID_LENGTH
from gateway.domain.operations import Kind, Operation
from gateway.domain.versions import LATEST, VERSIONS, downgrade_response
from gateway.domain.versions.v1_models import V1_MODELS
from gateway.observability.trace_context import CORRELATION_HEADER
from gateway.pipeline.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.pipeline.idempotency import REPLAYED_HEADER
from gateway.pipeline.operation import OperationSpec
from gateway.pipeline.versioning import VERSION_HEADER

REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
Document = dict[str, Any]

_DESCRIPTION = """\
One stable, versioned domain API over the legacy and the cloud ERP. Every error is an
`application/problem+json` document (RFC 9457): each response lists the problems it can be, with
an example of each code. Version {version}; supported versions: {versions}. See
[the changelog](/changelog) for what changed between versions.

**Authentication**: a bearer JWT (`Authorization: Bearer <token>`; the demo issues one with
`gateway token --client crm-demo`). **Writes**: send an `Idempotency-Key` (required for
sales-order creates and cancels) and the same key on every retry.
"""

# The problems each kind of operation can answer, beyond those every operation can.
_EVERY_OPERATION = (400, 401, 403, 410, 429, 431, 502, 503, 504)
_WITH_BODY = (408, 413, 415, 422)
_WRITE = (409, 422)  # idempotency (in progress, key reused) and business refusals
_WITH_RECORD = (404,)
_RETRY_AFTER = (409, 429, 503)  # 409: a request with the same key still in progress
_CHALLENGED = (401, 403)  # WWW-Authenticate
_MEDIA_REFUSED = (415,)  # Accept-Post

_STATUS_MEANINGS = {
    400: "The request is malformed (body, query, API version or Idempotency-Key): fix it "
    "before sending it again; `errors` points at each bad field.",
    401: "No valid bearer token: get a new one.",
    403: "The client may not perform this operation, or not for this legal entity.",
    404: "No such record, or one in a legal entity the client may not see.",
    409: "A request with the same Idempotency-Key is still in progress: send it again, "
    "unchanged, after `Retry-After`.",
    410: "This API version has passed its sunset date: move to a newer one (see `/changelog`).",
    408: "The request (its headers or body) did not arrive in time and the connection was "
    "closed: send it again, whole and promptly.",
    413: "The request body is larger than the gateway accepts.",
    415: "The body is not declared as JSON: send `Content-Type: application/json`.",
    431: "The request's headers are too large or too many: send fewer or smaller ones.",
    422: "A business rule refused the request and the user can fix it (`category: business`, "
    "with `errors` pointing at the field), or the Idempotency-Key was used for another request.",
    429: "The client's rate limit is exhausted: send the same request again after `Retry-After`.",
    502: "The ERP answered with something the gateway could not read: retryable.",
    503: "The ERP (or the gateway's state store) is unavailable or at capacity, the gateway "
    "instance is at its connection limit or stopping, or the legal entity is frozen while it "
    "moves between ERPs: send the same request, with the same Idempotency-Key, after "
    "`Retry-After`.",
    504: "The ERP did not answer in time and the outcome is unknown: send the same request with "
    "the same Idempotency-Key; the gateway reconciles with the ERP and never creates twice.",
}

# The codes an operation answers with, in their order: a 405's is the answer to no operation.
DOCUMENTED_CODES: tuple[Code, ...] = tuple(c for c in Code if c not in ROUTE_ONLY_CODES)

_PROBLEM_SCHEMA: Document = {
    "type": "object",
    "description": "An RFC 9457 problem with the gateway's extension members.",
    "required": ["type", "title", "status", "detail", "category", "code", "correlation_id"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "category": {
            "type": "string",
            "enum": sorted({spec_of(c)[0].value for c in DOCUMENTED_CODES}),
        },
        "code": {"type": "string", "enum": [c.value for c in DOCUMENTED_CODES]},
        "retryable": {"type": "boolean"},
        "correlation_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {"type": "string", "description": "RFC 6901 JSON pointer"},
                    "detail": {"type": "string"},
                },
            },
        },
        "erp_message": {
            "type": "string",
            "description": "What the ERP said, in its own words and keys, for support; "
            "`detail` says it in canonical terms.",
        },
        "supported_versions": {"type": "array", "items": {"type": "string"}},
        "violated-policies": {"type": "array", "items": {"type": "string"}},
        "documentation": {"type": "string"},
    },
    "additionalProperties": True,
    "example": {
        "type": "https://gateway.example/problems/price-mismatch",
        "title": "Price differs from the ERP's",
        "status": 422,
        "detail": "Prices differ from the ERP's current prices; the quote was stale.",
        "category": "business",
        "code": "price_mismatch",
        "retryable": False,
        "correlation_id": "3f6c1e9e-0f4b-4c1e-9f43-5b2b8f0f6a10",
        "errors": [{"pointer": "/items/0/price/amount", "detail": "The ERP's price is 19.99."}],
    },
}

_PARAMETERS: Document = {
    "IdempotencyKey": {
        "name": IDEMPOTENCY_HEADER,
        "in": "header",
        "required": False,
        "description": "Makes a write exactly-once: a retry with the same key replays the first "
        "outcome byte for byte (marked `Idempotent-Replayed: true`); the same key with another "
        "request is 422 `idempotency_key_reused`, and while the first is still in flight 409 "
        "`idempotency_in_progress`. 1 to 255 printable ASCII characters, quoted (an RFC 8941 "
        "string) or bare; scoped to the client; outcomes kept {retention} after they are final "
        "(`retention_s`, policies/idempotency.yaml). **Required** for sales-order "
        "creates and cancels (400 `idempotency_key_missing` without it), optional for customer "
        "creates and ignored elsewhere, as `policies/idempotency.yaml` ships. Send a new key per "
        "intended request and the same key on its retries.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 257},
        "example": examples.IDEMPOTENCY_KEY,
    },
    "CorrelationId": {
        "name": CORRELATION_HEADER,
        "in": "header",
        "required": False,
        "description": "Your id for this request: echoed on every response, written into every "
        "problem and log line and forwarded to the ERP; generated when absent or malformed.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._~+/=-]{1,128}$"},
        "example": examples.CORRELATION_ID,
    },
    "Traceparent": {
        "name": "traceparent",
        "in": "header",
        "required": False,
        "description": "W3C Trace Context: the gateway continues your trace and propagates it "
        "to the ERP.",
        "schema": {"type": "string"},
        "example": examples.TRACEPARENT,
    },
}

# Each response header: its component name, its name on the wire and what it says.
_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("CorrelationId", CORRELATION_HEADER, "The request's correlation id (yours, or generated)."),
    ("ApiVersion", VERSION_HEADER, "The API version that served the request."),
    ("RateLimitPolicy", "RateLimit-Policy", "The client's quota: `q` requests per `w` seconds."),
    ("RateLimit", "RateLimit", "What is left of the quota: `r` requests, full again in `t` s."),
    ("RetryAfter", "Retry-After", "Seconds to wait before sending the same request again."),
    (
        "Deprecation",
        "Deprecation",
        "RFC 9745: when this version was (or will be) deprecated, as `@<epoch seconds>`; only "
        "on a deprecated version's responses.",
    ),
    (
        "Sunset",
        "Sunset",
        "RFC 8594: when this version stops answering (410 `version_sunset` afterwards).",
    ),
    (
        "Link",
        "Link",
        "On a deprecated version's responses: the changelog section that says how to move on "
        '(`rel="deprecation"`); on the events poll also where to continue (`rel="next"`).',
    ),
    ("Location", "Location", "Where the created resource is read (its gateway id's URL)."),
    (
        "IdempotentReplayed",
        REPLAYED_HEADER,
        "`true` when this is the stored answer to an earlier request with the same "
        "Idempotency-Key, replayed byte for byte.",
    ),
    (
        "WwwAuthenticate",
        "WWW-Authenticate",
        "RFC 6750: the bearer challenge, with the error (`invalid_token`) or missing scope.",
    ),
    ("AcceptPost", "Accept-Post", "On a 415: the media type a body must be sent as."),
)
_HEADER_NAMES = {component: name for component, name, _ in _HEADERS}


def _versioned(model: type[BaseModel], version: str) -> type[BaseModel]:
    """The model of `version` that stands in for the newest version's `model`."""
    if version == LATEST:
        return model
    metadata = model.__pydantic_generic_metadata__
    if metadata["origin"] is models.Page:
        page: type[BaseModel] = models.Page[_versioned(metadata["args"][0], version)]  # type: ignore[misc,assignment]
        return page
    return V1_MODELS.get(model, model)


def _schemas(version: str) -> tuple[dict[type[BaseModel], Document], Document]:
    """Each operation's request and response schema (a $ref) and every component schema."""
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for endpoint in ENDPOINTS:
        if endpoint.spec.body_model is not None:
            pairs.append((_versioned(endpoint.spec.body_model, version), "validation"))
        pairs.append((_versioned(endpoint.response_model, version), "serialization"))
    unique = list(dict.fromkeys(pairs))
    refs, definitions = models_json_schema(unique, ref_template=REF_TEMPLATE)
    by_model = {model: refs[(model, mode)] for model, mode in unique}
    schemas = {**definitions.get("$defs", {}), "Problem": _problem_schema(version)}
    return by_model, dict(sorted(schemas.items()))


def _problem_schema(version: str) -> Document:
    """The problem document's schema, its example's pointers in `version`'s field names."""
    if version == LATEST:
        return _PROBLEM_SCHEMA
    example = _PROBLEM_SCHEMA["example"]
    shown = downgrade_response(version, examples.PROBLEM_OPERATION, example["status"], example)
    return {**_PROBLEM_SCHEMA, "example": shown}


def _query_parameters(spec: OperationSpec) -> list[Document]:
    """Each field of the operation's query model as a parameter, described by the field (every
    query field has a description and an example: the documents promise both)."""
    if spec.query_model is None:
        return []
    schema = spec.query_model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": prop["description"],
            "schema": prop,
            "example": prop["examples"][0],
        }
        for name, prop in schema["properties"].items()
    ]


def _id_parameter(kind: Kind) -> Document:
    words = kind.value.replace("_", " ")
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": f"The {words}'s gateway id (`{kind.prefix}...`), as the gateway returned "
        f"it; 404 for an unknown id (any longer than {MAX_GATEWAY_ID_LENGTH} characters is one) "
        f"or a {words} in a legal entity the client may not see.",
        "schema": {"type": "string", "maxLength": MAX_GATEWAY_ID_LENGTH},
        "example": examples.RECORD_IDS[kind],
    }


def _problem_statuses(method: str, spec: OperationSpec) -> list[int]:
    statuses = set(_EVERY_OPERATION)
    if spec.body_model is not None:
        statuses.update(_WITH_BODY)
    if method == "POST":
        statuses.update(_WRITE)
    if spec.record_kind is not None:
        statuses.update(_WITH_RECORD)
    return sorted(statuses)


def _response_headers(status: int, method: str = "GET") -> Document:
    names = ["CorrelationId", "ApiVersion", "RateLimitPolicy", "RateLimit"]
    if status in _RETRY_AFTER:
        names.append("RetryAfter")
    if status in _CHALLENGED:
        names.append("WwwAuthenticate")
    if status in _MEDIA_REFUSED:
        names.append("AcceptPost")
    if method == "POST" and status < 400:
        names.append("IdempotentReplayed")
    if status == 201:
        names.append("Location")
    names += ["Deprecation", "Sunset", "Link"]
    return {_HEADER_NAMES[n]: {"$ref": f"#/components/headers/{n}"} for n in names}


def _headers(version: str) -> Document:
    """The response headers' components, each with its description and an example."""
    wire_examples = examples.header_examples(version)
    components: Document = {}
    for component, name, description in _HEADERS:
        schema: Document = {"type": "string"}
        if component == "ApiVersion":
            schema["enum"] = list(VERSIONS)
        components[component] = {
            "description": description,
            "schema": schema,
            "example": wire_examples[name],
        }
    return components


def _response_example(model: type[BaseModel], version: str, operation: Operation) -> Any:
    """A success body of `version`, from the newest version's example of its resource."""
    metadata = model.__pydantic_generic_metadata__
    if metadata["origin"] is models.Page:
        item = examples.RESPONSE_EXAMPLES.get(metadata["args"][0])
        example = None if item is None else {"items": [item]}
    else:
        example = examples.RESPONSE_EXAMPLES.get(model)
    if example is None:
        return None
    return downgrade_response(version, operation, 200, example) if version != LATEST else example


def _operation(endpoint: Endpoint, version: str, refs: dict[type[BaseModel], Any]) -> Document:
    method, path, spec = endpoint.method, endpoint.path, endpoint.spec
    parameters: list[Document] = [
        {"$ref": "#/components/parameters/CorrelationId"},
        {"$ref": "#/components/parameters/Traceparent"},
    ]
    if method == "POST":
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if "{id}" in path:
        assert spec.record_kind is not None, f"{path} names a record: give it a record_kind"
        parameters.append(_id_parameter(spec.record_kind))
    parameters += _query_parameters(spec)
    operation: Document = {
        "operationId": f"{spec.operation.value.replace('.', '_')}_{endpoint.handler.__name__}",
        "summary": endpoint.summary,
        "tags": [spec.operation.value.split(".")[0]],
        "parameters": parameters,
        "responses": {},
    }
    if spec.body_model is not None:
        content: Document = {"schema": refs[_versioned(spec.body_model, version)]}
        example = examples.REQUEST_EXAMPLES[version].get(spec.operation)
        if example is not None:
            content["example"] = example
        operation["requestBody"] = {"required": True, "content": {"application/json": content}}
    model = _versioned(endpoint.response_model, version)
    success: Document = {"schema": refs[model]}
    example = _response_example(endpoint.response_model, version, spec.operation)
    if example is not None:
        success["example"] = example
    operation["responses"][str(endpoint.success_status)] = {
        "description": "Created" if endpoint.success_status == 201 else "Success",
        "headers": _response_headers(endpoint.success_status, method),
        "content": {endpoint.media_type: success},
    }
    for status in _problem_statuses(method, spec):
        operation["responses"][str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    return operation


def _problem_examples(version: str) -> dict[int, Document]:
    """By status, one example of each problem code, as `version` shows it (its pointers)."""
    by_status: dict[int, Document] = {}
    for error in examples.PROBLEM_EXAMPLES:
        body = error.problem(examples.CORRELATION_ID)
        if version != LATEST:
            body = downgrade_response(version, examples.PROBLEM_OPERATION, error.status, body)
        summary = f"{error.code.value}: {spec_of(error.code)[2]}"
        by_status.setdefault(error.status, {})[error.code.value] = {
            "summary": summary,
            "value": body,
        }
    return by_status


def _problem_responses(version: str) -> Document:
    statuses = sorted({*_EVERY_OPERATION, *_WITH_BODY, *_WRITE, *_WITH_RECORD})
    codes = {
        status: [c.value for c in DOCUMENTED_CODES if spec_of(c)[1] == status]
        for status in statuses
    }
    problem_examples = _problem_examples(version)
    return {
        f"Problem{status}": {
            "description": f"{_STATUS_MEANINGS[status]} Codes: "
            + ", ".join(f"`{code}`" for code in codes[status])
            + ".",
            "headers": _response_headers(status),
            "content": {
                "application/problem+json": {
                    "schema": PROBLEM_REF,
                    "examples": problem_examples[status],
                }
            },
        }
        for status in statuses
    }


def _duration(seconds: int) -> str:
    """`86400` as `24 h`, `5400` as `90 min`, else in seconds."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _parameters(retention_s: int) -> Document:
    key = dict(_PARAMETERS["IdempotencyKey"])
    key["description"] = key["description"].format(retention=_duration(retention_s))
    return {**_PARAMETERS, "IdempotencyKey": key}


def openapi_document(version: str, retention_s: int = DEFAULT_RETENTION_S) -> Document:
    """The OpenAPI 3.1 document of `version`, deterministic (keys in a stable order); it says
    how long outcomes are replayed (`retention_s`, as configured)."""
    refs, schemas = _schemas(version)
    paths: Document = {}
    for endpoint in ENDPOINTS:
        full = f"/{version}{endpoint.path}"
        paths.setdefault(full, {})[endpoint.method.lower()] = _operation(endpoint, version, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ERP coexistence gateway",
            "version": version,
            "description": _DESCRIPTION.format(version=version, versions=", ".join(VERSIONS)),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT from an issuer in `policies/auth.yaml`, for a client "
                    "in `policies/clients.yaml`. For the demo: `gateway token --client crm-demo`.",
                }
            },
            "parameters": _parameters(retention_s),
            "headers": _headers(version),
            "responses": _problem_responses(version),
            "schemas": schemas,
        },
    }


@functools.cache
def openapi_bytes(version: str, retention_s: int = DEFAULT_RETENTION_S) -> bytes:
    """The document as served: built once per process (and retention), indented for people
    reading it."""
    return json.dumps(openapi_document(version, retention_s), indent=2).encode() + b"\n"
