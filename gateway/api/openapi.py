"""The OpenAPI 3.1 document of each API version, generated from the route table and the models.

Built once at start-up and served as cached bytes. Not the docs page (see `docs.py`).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.api.endpoints import ENDPOINTS, Endpoint
from gateway.domain import models
from gateway.domain.errors import Code, spec_of
from gateway.domain.operations import Operation
from gateway.domain.versions import LATEST, VERSIONS, downgrade_response
from gateway.domain.versions.v1_models import V1_MODELS
from gateway.pipeline.operation import OperationSpec

REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
Document = dict[str, Any]

_DESCRIPTION = """\
One stable, versioned domain API over the legacy and the cloud ERP. Every error is an
`application/problem+json` document (RFC 9457). Version {version}; supported versions:
{versions}. See `/changelog` for what changed between versions.
"""

# The problems each kind of operation can answer, beyond those every operation can.
_EVERY_OPERATION = (400, 401, 403, 410, 429, 431, 502, 503, 504)
_WITH_BODY = (408, 413, 415, 422)
_WRITE = (409, 422)  # idempotency (in progress, key reused) and business refusals
_WITH_RECORD = (404,)
_RETRY_AFTER = (429, 503)

_EXAMPLE_ADDRESS = {
    "line1": "1 Main St",
    "city": "Austin",
    "postal_code": "78701",
    "region": "TX",
    "country": "US",
}
_REQUEST_EXAMPLES: dict[str, dict[Operation, Document]] = {
    "v2": {
        Operation.CUSTOMERS_CREATE: {
            "external_ref": "CRM-ACC-1001",
            "legal_entity": "US01",
            "legal_name": "Acme Corporation",
            "display_name": "Acme",
            "tax_id": "US-12-3456789",
            "email": "ap@acme.example",
            "currency": "USD",
            "payment_terms": "NET30",
            "credit_limit": "50000.00",
            "addresses": [{**_EXAMPLE_ADDRESS, "type": "billing"}],
        },
        Operation.SALES_ORDERS_CREATE: {
            "external_ref": "CRM-OPP-77",
            "legal_entity": "US01",
            "customer_id": "cus_01hzx3k9m2",
            "currency": "USD",
            "requested_delivery_date": "2026-12-15",
            "items": [
                {
                    "product_id": "WIDGET-1",
                    "quantity": 3,
                    "price": {"amount": "19.99", "currency": "USD"},
                }
            ],
        },
        Operation.QUOTES_VALIDATE: {
            "legal_entity": "US01",
            "customer_id": "cus_01hzx3k9m2",
            "currency": "USD",
            "items": [
                {
                    "product_id": "WIDGET-1",
                    "quantity": 3,
                    "price": {"amount": "19.99", "currency": "USD"},
                }
            ],
        },
    },
    "v1": {
        Operation.CUSTOMERS_CREATE: {
            "external_ref": "CRM-ACC-1001",
            "legal_entity": "US01",
            "name": "Acme Corp",
            "tax_id": "US-12-3456789",
            "email": "ap@acme.example",
            "currency": "USD",
            "payment_terms": "NET30",
            "credit_limit": "50000.00",
            "address": _EXAMPLE_ADDRESS,
        },
        Operation.SALES_ORDERS_CREATE: {
            "external_ref": "CRM-OPP-77",
            "legal_entity": "US01",
            "customer_id": "cus_01hzx3k9m2",
            "currency": "USD",
            "requested_delivery_date": "2026-12-15",
            "lines": [{"sku": "WIDGET-1", "quantity": 3, "unit_price": "19.99"}],
        },
        Operation.QUOTES_VALIDATE: {
            "legal_entity": "US01",
            "customer_id": "cus_01hzx3k9m2",
            "currency": "USD",
            "lines": [{"sku": "WIDGET-1", "quantity": 3, "unit_price": "19.99"}],
        },
    },
}


def _money(amount: str) -> Document:
    return {"amount": amount, "currency": "USD"}


# Newest-version response examples; older versions' are these, downgraded.
_RESPONSE_EXAMPLES: dict[type[BaseModel], Document] = {
    models.Customer: {
        "id": "cus_01hzx3k9m2",
        "status": "active",
        "erp_reference": "CUS-1001",
        "external_ref": "CRM-ACC-1001",
        "legal_entity": "US01",
        "legal_name": "Acme Corporation",
        "display_name": "Acme",
        "tax_id": "US-12-3456789",
        "email": "ap@acme.example",
        "currency": "USD",
        "payment_terms": "NET30",
        "credit_limit": "50000.00",
        "addresses": [{**_EXAMPLE_ADDRESS, "type": "billing"}],
    },
    models.SalesOrder: {
        "id": "so_01hzx3m7qa",
        "status": "accepted",
        "erp_reference": "SO-5001",
        "external_ref": "CRM-OPP-77",
        "legal_entity": "US01",
        "customer_id": "cus_01hzx3k9m2",
        "currency": "USD",
        "requested_delivery_date": "2026-12-15",
        "items": [
            {
                "product_id": "WIDGET-1",
                "quantity": 3,
                "price": _money("19.99"),
                "amount": _money("59.97"),
            }
        ],
        "net_amount": _money("59.97"),
        "tax_amount": _money("4.95"),
        "total_amount": _money("64.92"),
    },
}

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
            "enum": sorted({spec_of(c)[0].value for c in Code}),
        },
        "code": {"type": "string", "enum": [c.value for c in Code]},
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
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes a write exactly-once: a retry with the same key replays the first "
        "outcome. Required for sales-order creates and cancels (policies/idempotency.yaml).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 257},
        "example": '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
    },
    "CorrelationId": {
        "name": "X-Correlation-ID",
        "in": "header",
        "required": False,
        "description": "Echoed on every response and written into every problem; generated "
        "when absent or malformed.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._~+/=-]{1,128}$"},
    },
    "Traceparent": {
        "name": "traceparent",
        "in": "header",
        "required": False,
        "description": "W3C Trace Context; propagated to the ERP.",
        "schema": {"type": "string"},
        "example": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    },
}

_HEADERS: Document = {
    "CorrelationId": {
        "description": "The request's correlation id.",
        "schema": {"type": "string"},
    },
    "ApiVersion": {
        "description": "The API version that served the request.",
        "schema": {"type": "string", "enum": list(VERSIONS)},
    },
    "RateLimitPolicy": {
        "description": 'The client\'s quota policy, e.g. `"standard";q=100;w=10`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of the quota, e.g. `"standard";r=42;t=3`.',
        "schema": {"type": "string"},
    },
    "RetryAfter": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string"},
    },
    "Deprecation": {
        "description": "RFC 9745: when this version was (or will be) deprecated.",
        "schema": {"type": "string"},
    },
    "Sunset": {
        "description": "RFC 8594: when this version stops answering (410 afterwards).",
        "schema": {"type": "string"},
    },
}

_HEADER_NAMES = {
    "CorrelationId": "X-Correlation-ID",
    "ApiVersion": "API-Version",
    "RateLimitPolicy": "RateLimit-Policy",
    "RateLimit": "RateLimit",
    "RetryAfter": "Retry-After",
    "Deprecation": "Deprecation",
    "Sunset": "Sunset",
}


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
    schemas = {**definitions.get("$defs", {}), "Problem": _PROBLEM_SCHEMA}
    return by_model, dict(sorted(schemas.items()))


def _query_parameters(spec: OperationSpec) -> list[Document]:
    if spec.query_model is None:
        return []
    schema = spec.query_model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _problem_statuses(method: str, spec: OperationSpec) -> list[int]:
    statuses = set(_EVERY_OPERATION)
    if spec.body_model is not None:
        statuses.update(_WITH_BODY)
    if method == "POST":
        statuses.update(_WRITE)
    if spec.record_kind is not None:
        statuses.update(_WITH_RECORD)
    return sorted(statuses)


def _response_headers(status: int) -> Document:
    names = ["CorrelationId", "ApiVersion", "RateLimitPolicy", "RateLimit"]
    if status in _RETRY_AFTER:
        names.append("RetryAfter")
    names += ["Deprecation", "Sunset"]
    return {_HEADER_NAMES[n]: {"$ref": f"#/components/headers/{n}"} for n in names}


def _response_example(model: type[BaseModel], version: str, operation: Operation) -> Any:
    example = _RESPONSE_EXAMPLES.get(model)
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
        parameters.append(
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        )
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
        example = _REQUEST_EXAMPLES[version].get(spec.operation)
        if example is not None:
            content["example"] = example
        operation["requestBody"] = {"required": True, "content": {"application/json": content}}
    model = _versioned(endpoint.response_model, version)
    success: Document = {"schema": refs[model]}
    example = _response_example(endpoint.response_model, version, spec.operation)
    if example is not None:
        success["example"] = example
    operation["responses"][str(endpoint.success_status)] = {
        "description": "Success",
        "headers": _response_headers(endpoint.success_status),
        "content": {"application/json": success},
    }
    for status in _problem_statuses(method, spec):
        operation["responses"][str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    return operation


def _problem_responses() -> Document:
    statuses = sorted({*_EVERY_OPERATION, *_WITH_BODY, *_WRITE, *_WITH_RECORD})
    titles = {status: [c.value for c in Code if spec_of(c)[1] == status] for status in statuses}
    return {
        f"Problem{status}": {
            "description": f"Problem: {', '.join(titles[status])}",
            "headers": _response_headers(status),
            "content": {"application/problem+json": {"schema": PROBLEM_REF}},
        }
        for status in statuses
    }


def openapi_document(version: str) -> Document:
    """The OpenAPI 3.1 document of `version`, deterministic (keys in a stable order)."""
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
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "parameters": _PARAMETERS,
            "headers": _HEADERS,
            "responses": _problem_responses(),
            "schemas": schemas,
        },
    }


@functools.cache
def openapi_bytes(version: str) -> bytes:
    """The document as served: built once per process, indented for people reading it."""
    return json.dumps(openapi_document(version), indent=2).encode() + b"\n"
