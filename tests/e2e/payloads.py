"""Request bodies for the end-to-end tests, in the v1 schema of DESIGN.md."""

from __future__ import annotations

import uuid
from typing import Any

ADDRESSES = {
    "US01": {
        "line1": "1 Main St",
        "city": "Austin",
        "postal_code": "78701",
        "region": "TX",
        "country": "US",
    },
    "CA01": {
        "line1": "2 Bay St",
        "city": "Toronto",
        "postal_code": "M5J 2N8",
        "region": "ON",
        "country": "CA",
    },
    "DE01": {"line1": "Hauptstr. 5", "city": "Berlin", "postal_code": "10115", "country": "DE"},
    "FR01": {"line1": "5 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"},
    "GB01": {"line1": "10 High St", "city": "London", "postal_code": "EC1A 1BB", "country": "GB"},
    "SG01": {
        "line1": "1 Raffles Pl",
        "city": "Singapore",
        "postal_code": "048616",
        "country": "SG",
    },
}
CURRENCIES = {
    "US01": "USD",
    "CA01": "CAD",
    "DE01": "EUR",
    "FR01": "EUR",
    "GB01": "GBP",
    "SG01": "SGD",
}


def unique_ref(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def customer(legal_entity: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": unique_ref("CRM-ACC"),
        "legal_entity": legal_entity,
        "name": "Acme Corp",
        "tax_id": f"{legal_entity[:2]}123456789",
        "email": "ap@acme.example",
        "currency": CURRENCIES[legal_entity],
        "payment_terms": "NET30",
        "credit_limit": "50000.00",
        "address": ADDRESSES[legal_entity],
    }
    body.update(overrides)
    return body


def order(legal_entity: str, customer_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": unique_ref("CRM-OPP"),
        "legal_entity": legal_entity,
        "customer_id": customer_id,
        "currency": CURRENCIES[legal_entity],
        "requested_delivery_date": "2026-12-15",
        "lines": [
            {"sku": "WIDGET-1", "quantity": 3, "unit_price": "19.99"},
            {"sku": "GADGET-2", "quantity": 1, "unit_price": "149.00"},
        ],
    }
    body.update(overrides)
    return body


def new_key() -> dict[str, str]:
    """A fresh Idempotency-Key header: one per intended request."""
    return {"Idempotency-Key": uuid.uuid4().hex}
