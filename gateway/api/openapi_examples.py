"""The examples the OpenAPI documents show: request bodies, resources, and one problem per code.

Written for the newest version; older versions see them downgraded. Not the documents themselves
(see `openapi.py`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel

from gateway.adapters.value_maps import unknown_skus
from gateway.config.api_versions import VersionPolicy
from gateway.config.rate_limits import TierConfig
from gateway.domain import models
from gateway.domain.errors import Code, FieldError, GatewayError, business, not_found
from gateway.domain.operations import REQUIRED_SCOPE, Kind, Operation
from gateway.domain.versions import LATEST, VERSIONS
from gateway.observability.trace_context import CORRELATION_HEADER
from gateway.pipeline.body import JSON_MEDIA_TYPE, parse_json_model
from gateway.pipeline.entitlements import insufficient_scope
from gateway.pipeline.idempotency import DOCS as IDEMPOTENCY_DOCS
from gateway.pipeline.idempotency import REPLAYED_HEADER, key_reused
from gateway.pipeline.ratelimit import limit_header, policy_header, rate_limited, shed
from gateway.pipeline.routing import legal_entity_frozen
from gateway.pipeline.versioning import (
    VERSION_HEADER,
    lifecycle_headers,
    unsupported_version,
    version_sunset,
)
from gateway.routing.rules import CompiledFreeze, Window
from gateway.store.base import RateDecision, StoreUnavailable

Document = dict[str, Any]

CORRELATION_ID = "3f6c1e9e-0f4b-4c1e-9f43-5b2b8f0f6a10"
IDEMPOTENCY_KEY = '"8e03978e-40d5-43e8-bc93-6894a57f9324"'
_TIER = "standard"  # the rate-limit tier the examples show
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# One made-up id per kind of record, the same everywhere in the documents.
RECORD_IDS: dict[Kind, str] = {
    Kind.CUSTOMER: "cus_01hzx3k9m2",
    Kind.SALES_ORDER: "so_01hzx3m7qa",
    Kind.SHIPMENT: "shp_01hzx4c8d5",
    Kind.INVOICE: "inv_01hzx4a1b2",
}
_CUSTOMER_ID = RECORD_IDS[Kind.CUSTOMER]

_EXAMPLE_ADDRESS = {
    "line1": "1 Main St",
    "city": "Austin",
    "postal_code": "78701",
    "region": "TX",
    "country": "US",
}
_ITEM = {"product_id": "WIDGET-1", "quantity": 3, "price": {"amount": "19.99", "currency": "USD"}}
_CUSTOMER = {
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
}
_ORDER = {
    "external_ref": "CRM-OPP-77",
    "legal_entity": "US01",
    "customer_id": _CUSTOMER_ID,
    "currency": "USD",
    "requested_delivery_date": "2026-12-15",
    "items": [_ITEM],
}
_V1_LINE = {"sku": "WIDGET-1", "quantity": 3, "unit_price": "19.99"}
REQUEST_EXAMPLES: dict[str, dict[Operation, Document]] = {
    "v2": {
        Operation.CUSTOMERS_CREATE: _CUSTOMER,
        Operation.SALES_ORDERS_CREATE: _ORDER,
        Operation.QUOTES_VALIDATE: {
            "legal_entity": "US01",
            "customer_id": _CUSTOMER_ID,
            "currency": "USD",
            "items": [_ITEM],
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
            "customer_id": _CUSTOMER_ID,
            "currency": "USD",
            "requested_delivery_date": "2026-12-15",
            "lines": [_V1_LINE],
        },
        Operation.QUOTES_VALIDATE: {
            "legal_entity": "US01",
            "customer_id": _CUSTOMER_ID,
            "currency": "USD",
            "lines": [_V1_LINE],
        },
    },
}


def _money(amount: str) -> Document:
    return {"amount": amount, "currency": "USD"}


# The example order, priced: three widgets at 19.99, with tax.
_PRICED_ITEM = {**_ITEM, "price": _money("19.99"), "amount": _money("59.97")}
_TOTALS = {
    "net_amount": _money("59.97"),
    "tax_amount": _money("4.95"),
    "total_amount": _money("64.92"),
}

# Newest-version resources (the example requests, as the ERP accepted them); older versions'
# are these, downgraded.
RESPONSE_EXAMPLES: dict[type[BaseModel], Document] = {
    models.Customer: {
        "id": _CUSTOMER_ID,
        "status": "active",
        "erp_reference": "CUS-1001",
        **_CUSTOMER,
    },
    models.SalesOrder: {
        "id": RECORD_IDS[Kind.SALES_ORDER],
        "status": "accepted",
        "erp_reference": "SO-5001",
        **_ORDER,
        "items": [_PRICED_ITEM],
        **_TOTALS,
    },
    models.Shipment: {
        "id": RECORD_IDS[Kind.SHIPMENT],
        "sales_order_id": RECORD_IDS[Kind.SALES_ORDER],
        "status": "shipped",
        "erp_reference": "DL-8001",
        "shipped_at": "2026-12-14",
        "items": [{"product_id": "WIDGET-1", "quantity": 3}],
    },
    models.Invoice: {
        "id": RECORD_IDS[Kind.INVOICE],
        "sales_order_id": RECORD_IDS[Kind.SALES_ORDER],
        "status": "open",
        "erp_reference": "INV-9001",
        "currency": "USD",
        "invoice_date": "2026-12-15",
        "due_date": "2027-01-14",
        **_TOTALS,
    },
    models.QuoteResult: {
        "valid": True,
        "legal_entity": "US01",
        "customer_id": _CUSTOMER_ID,
        "currency": "USD",
        "items": [_PRICED_ITEM],
        **_TOTALS,
        "credit_check": "passed",
    },
}

# The operation whose field names the problem examples' pointers use (downgraded per version).
PROBLEM_OPERATION = Operation.SALES_ORDERS_CREATE

# One problem for each code a client can meet, as the gateway raises it (through the same
# factory where there is one), with pointers into a v2 sales-order create.
_CUTOVER_START = dt.datetime(2026, 12, 1, 5, 45, tzinfo=dt.UTC).timestamp()
_CUTOVER = CompiledFreeze(
    "ca01-cutover",
    frozenset({"CA01"}),
    frozenset({Operation.SALES_ORDERS_CREATE}),
    Window(_CUTOVER_START, _CUTOVER_START + 900),
    "CA01 is moving to the cloud ERP",
)
_CUTOVER_NOW = _CUTOVER_START + 600


def _validation_failed() -> GatewayError:
    """What the body step says to the example order with its currency in lower case."""
    try:
        parse_json_model(
            json.dumps({**_ORDER, "currency": "usd"}).encode(), models.SalesOrderCreate
        )
    except GatewayError as error:
        return error
    raise AssertionError("the example order with the currency usd passed validation")


PROBLEM_EXAMPLES: tuple[GatewayError, ...] = (
    _validation_failed(),
    unsupported_version("v9", list(VERSIONS)),
    GatewayError(
        Code.IDEMPOTENCY_KEY_MISSING,
        "This operation needs an Idempotency-Key header; send a new unique key per intended "
        "request and the same key on its retries.",
        extra={"documentation": IDEMPOTENCY_DOCS},
    ),
    GatewayError(
        Code.IDEMPOTENCY_KEY_INVALID,
        "An Idempotency-Key is 1 to 255 printable ASCII characters.",
        extra={"documentation": IDEMPOTENCY_DOCS},
    ),
    GatewayError(
        Code.UNAUTHORIZED,
        "The access token is missing, malformed, expired or not issued for this gateway.",
    ),
    insufficient_scope(REQUIRED_SCOPE[PROBLEM_OPERATION]),
    not_found(f"No sales order {RECORD_IDS[Kind.SALES_ORDER]}."),
    GatewayError(
        Code.IDEMPOTENCY_IN_PROGRESS,
        "A request with this key is still being processed; retry it unchanged.",
    ),
    version_sunset("v1", [LATEST]),
    GatewayError(Code.PAYLOAD_TOO_LARGE, "The request body exceeds the limit of 1048576 bytes."),
    GatewayError(
        Code.UNSUPPORTED_MEDIA_TYPE,
        "The body is declared as 'text/plain'; this API takes `Content-Type: application/json` "
        "only.",
    ),
    GatewayError(
        Code.HEADERS_TOO_LARGE,
        "The request's headers are larger than 32768 bytes; send fewer or smaller ones.",
    ),
    GatewayError(
        Code.REQUEST_TIMEOUT,
        "The request body did not arrive within 10 s; send it again, whole.",
    ),
    GatewayError(
        Code.GATEWAY_BUSY,
        "The gateway has as many connections open as it takes; retry shortly.",
    ),
    unknown_skus([(0, "NOPE-1")]),
    business(
        Code.PRICE_MISMATCH,
        "Prices differ from the ERP's current prices; the quote was stale.",
        FieldError("/items/0/price/amount", "The ERP's price is 19.99."),
    ),
    business(
        Code.TAX_ID_REQUIRED,
        "A tax id is required for customers in this legal entity.",
        FieldError("/tax_id", "Required by the ERP for this legal entity."),
    ),
    business(
        Code.INVALID_PAYMENT_TERMS,
        "Payment terms NET99 are not known in this legal entity.",
        FieldError("/payment_terms", "Unknown payment terms."),
    ),
    business(
        Code.CUSTOMER_NOT_FOUND,
        f"Customer {_CUSTOMER_ID} does not exist. Create it first, or look it up by its "
        "external_ref.",
        FieldError("/customer_id", "Unknown customer."),
    ),
    business(
        Code.CUSTOMER_LEGAL_ENTITY_MISMATCH,
        f"Customer {_CUSTOMER_ID} belongs to legal entity US01, not DE01. An order must use "
        "its customer's legal entity.",
        FieldError("/legal_entity", "The customer belongs to US01."),
    ),
    business(
        Code.INVALID_STATE,
        "The order cannot be cancelled: it has already been shipped.",
    ),
    business(
        Code.ERP_REJECTED,
        "The ERP rejected the requested delivery date.",
        FieldError("/requested_delivery_date", "Must be a working day."),
    ),
    key_reused(),
    rate_limited(_TIER, RateDecision(False, 0, 0.4, 2.0)),
    GatewayError(Code.ERP_BAD_RESPONSE, "The ERP answered with an unexpected HTTP 302."),
    shed("legacy", 1.0),
    StoreUnavailable(),
    legal_entity_frozen(_CUTOVER, _CUTOVER_NOW),
    GatewayError(
        Code.ERP_TIMEOUT,
        "The ERP did not answer in time; the outcome is unknown. Retry the same request with "
        "the same Idempotency-Key.",
    ),
)


def header_examples(version: str) -> dict[str, str]:
    """An example of each response header by name, as the gateway writes it (for a deprecated
    `version` on the example tier)."""
    lifecycle = lifecycle_headers(
        version, VersionPolicy(deprecated=dt.date(2026, 6, 1), sunset=dt.date(2027, 6, 1))
    )
    return {
        CORRELATION_HEADER: CORRELATION_ID,
        VERSION_HEADER: version,
        "RateLimit-Policy": policy_header(_TIER, TierConfig(rate_per_s=10, burst=100)),
        "RateLimit": limit_header(_TIER, RateDecision(True, 42, 0.0, 3.0)),
        "Retry-After": "1",
        **lifecycle,
        REPLAYED_HEADER: "true",
        "WWW-Authenticate": 'Bearer realm="gateway", error="invalid_token"',
        "Location": f"/{version}/sales-orders/{RECORD_IDS[Kind.SALES_ORDER]}",
        "Accept-Post": JSON_MEDIA_TYPE,
    }
