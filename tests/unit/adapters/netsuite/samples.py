"""Sample NetSuite value maps, canonical requests and records shared by the NetSuite mapping
tests."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.adapters.base import ErpInvoice, ErpShipment, References
from gateway.adapters.http import ErpResponse
from gateway.domain.models import (
    AddressType,
    CustomerCreate,
    InvoiceStatus,
    OrderItem,
    SalesOrderStatus,
    ShipmentStatus,
)
from tests.canonical import order_item

REPO = Path(__file__).resolve().parents[4]
REFS = References(external_ref="CRM-ACC-1001", gateway_ref="gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def customer_request(**overrides: Any) -> CustomerCreate:
    body: dict[str, Any] = {
        "external_ref": "CRM-ACC-1001",
        "legal_entity": "US01",
        "legal_name": "Acme Corp",
        "tax_id": "US-12-3456789",
        "email": "ap@acme.example",
        "currency": "USD",
        "payment_terms": "NET30",
        "credit_limit": "50000.00",
        "addresses": [
            {
                "type": AddressType.BILLING,
                "line1": "1 Main St",
                "city": "Austin",
                "postal_code": "78701",
                "region": "TX",
                "country": "US",
            }
        ],
    }
    body.update(overrides)
    return CustomerCreate.model_validate(body)


def lines(*specs: tuple[str, int, str]) -> list[OrderItem]:
    return [order_item(s, q, Decimal(p)) for s, q, p in specs]


def netsuite_error(status: int, *details: dict[str, str]) -> ErpResponse:
    body = {"type": "about:blank", "title": "Bad Request", "status": status}
    body["o:errorDetails"] = list(details)  # type: ignore[assignment]
    return ErpResponse(status, {}, json.dumps(body).encode())


def detail(path: str | None, text: str = "Refused.", code: str = "USER_ERROR") -> dict[str, str]:
    d = {"detail": text, "o:errorCode": code}
    if path is not None:
        d["o:errorPath"] = path
    return d


def customer_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "links": [],
        "id": "301",
        "entityId": "CUST-000001",
        "externalId": "gw-ABC",
        "companyName": "Acme GmbH",
        "subsidiary": {"id": "4", "refName": "DE01"},
        "currency": {"id": "4", "refName": "Euro"},
        "terms": {"id": "3", "refName": "Net 45"},
        "creditLimit": 1234.5,
        "vatRegNumber": "DE123456789",
        "accountNumber": "CRM-ACC-9",
        "email": "ap@acme.example",
        "isInactive": False,
        "addressBook": {
            "items": [
                {
                    "defaultBilling": True,
                    "addressBookAddress": {
                        "addr1": "Hauptstr. 5",
                        "city": "Berlin",
                        "zip": "10115",
                        "country": {"id": "DE", "refName": "Germany"},
                    },
                }
            ]
        },
    }
    document.update(overrides)
    return document


def order_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "7001",
        "tranId": "SO-000001",
        "externalId": "gw-ORDER",
        "otherRefNum": "CRM-OPP-77",
        "entity": {"id": "301", "refName": "CUST-000001 Acme"},
        "currency": {"id": "1", "refName": "US Dollar"},
        "shipDate": "2026-12-15",
        "orderStatus": {"id": "B", "refName": "Pending Fulfillment"},
        "custbody_credit_hold": False,
        "subtotal": 208.97000000000003,
        "taxTotal": 17.24,
        "total": 226.21,
        "item": {
            "items": [
                {"item": {"id": "1001"}, "quantity": 3, "rate": 19.99, "amount": 59.97},
                {"item": {"id": "1002"}, "quantity": 1.0, "rate": 149, "amount": 149},
            ]
        },
    }
    document.update(overrides)
    return document


def fulfillment_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "7002",
        "tranId": "IF-000001",
        "tranDate": "2026-12-01",
        "createdFrom": {"id": "7001"},
        "shipStatus": {"id": "C", "refName": "Shipped"},
        "item": {"items": [{"item": {"id": "1003"}, "quantity": 2}]},
    }
    document.update(overrides)
    return document


def invoice_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "7003",
        "tranId": "INV-000001",
        "tranDate": "2026-12-02",
        "dueDate": "2027-01-01",
        "createdFrom": {"id": "7001"},
        "currency": {"id": "4"},
        "status": {"id": "Paid In Full", "refName": "Paid In Full"},
        "subtotal": 100.1,
        "taxTotal": 19.02,
        "total": 119.12,
    }
    document.update(overrides)
    return document


def shipment(status: ShipmentStatus) -> ErpShipment:
    return ErpShipment("1", "IF-1", "7001", status, None)


IN_FULFILLMENT = SalesOrderStatus.IN_FULFILLMENT


def invoice(status: InvoiceStatus) -> ErpInvoice:
    return ErpInvoice("2", "INV-1", "7001", status, "USD", Decimal(1), Decimal(1))
