"""A canonical code a backend's value maps lack is refused before anything is sent, by either
adapter in the same words (the ERP's, never which one it is), so a client cannot tell which
ERP holds its legal entity from a refusal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import yaml

from gateway.adapters.base import References
from gateway.adapters.netsuite import outbound as netsuite
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.adapters.sap import outbound as sap
from gateway.adapters.sap.value_maps import SapMaps
from gateway.config.backends import NetSuiteValueMaps, SapValueMaps
from gateway.domain.errors import Category, Code, GatewayError, RefusedBeforeSending
from gateway.domain.models import AddressType, CustomerCreate
from tests.canonical import order_item
from tests.unit.adapters.netsuite.samples import REPO

REFS = References("CRM-ACC-1001", "gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _maps(backend: str) -> Any:
    raw = yaml.safe_load((REPO / "backends" / f"{backend}.yaml").read_text())["value_maps"]
    if backend == "cloud":
        return NetSuiteMaps.from_config(NetSuiteValueMaps.model_validate(raw))
    return SapMaps.from_config(SapValueMaps.model_validate(raw))


NETSUITE, SAP = _maps("cloud"), _maps("legacy")


def _customer(**overrides: Any) -> CustomerCreate:
    body: dict[str, Any] = {
        "external_ref": "CRM-ACC-1001",
        "legal_entity": "US01",
        "legal_name": "Acme Corp",
        "currency": "USD",
        "payment_terms": "NET30",
        "credit_limit": "50000.00",
        "addresses": [
            {
                "type": AddressType.BILLING,
                "line1": "1 Main St",
                "city": "Austin",
                "postal_code": "78701",
                "country": "US",
            }
        ],
    } | overrides
    return CustomerCreate.model_validate(body)


def _netsuite_order(legal_entity: str, skus: list[str]) -> Any:
    items = [order_item(s, 1, Decimal("19.99")) for s in skus]
    return netsuite.sales_order_record(legal_entity, "301", "USD", None, items, REFS, NETSUITE)


def _sap_order(legal_entity: str, skus: list[str]) -> Any:
    items = [order_item(s, 1, Decimal("19.99")) for s in skus]
    entity = SAP.legal_entity(legal_entity)
    return sap.sales_order_payload(entity, "1", "USD", dt.date(2026, 12, 15), items, SAP, REFS)


def _refusal(make: Callable[[], Any]) -> RefusedBeforeSending:
    with pytest.raises(RefusedBeforeSending) as raised:
        make()
    return raised.value


def _said(error: GatewayError) -> tuple[Any, ...]:
    return (error.code, error.status, error.detail, [(e.pointer, e.detail) for e in error.errors])


@pytest.mark.parametrize(
    ("netsuite_call", "sap_call", "code", "pointers"),
    [
        pytest.param(
            lambda: netsuite.customer_record(_customer(legal_entity="XX01"), REFS, NETSUITE),
            lambda: sap.customer_payload(_customer(legal_entity="XX01"), REFS, SAP),
            Code.ERP_REJECTED,
            ["/legal_entity"],
            id="legal entity",
        ),
        pytest.param(
            lambda: netsuite.customer_record(_customer(payment_terms="NET99"), REFS, NETSUITE),
            lambda: sap.customer_payload(_customer(payment_terms="NET99"), REFS, SAP),
            Code.INVALID_PAYMENT_TERMS,
            ["/payment_terms"],
            id="payment terms",
        ),
        pytest.param(
            lambda: _netsuite_order("US01", ["NOPE-1", "WIDGET-1", "NOPE-2"]),
            lambda: _sap_order("US01", ["NOPE-1", "WIDGET-1", "NOPE-2"]),
            Code.UNKNOWN_SKU,
            ["/items/0/product_id", "/items/2/product_id"],
            id="skus",
        ),
    ],
)
def test_a_code_the_value_maps_lack_is_refused_unsent_in_the_same_words_by_either_adapter(
    netsuite_call: Callable[[], Any], sap_call: Callable[[], Any], code: Code, pointers: list[str]
) -> None:
    from_netsuite, from_sap = _refusal(netsuite_call), _refusal(sap_call)

    assert _said(from_sap) == _said(from_netsuite)
    assert (from_sap.code, from_sap.category, from_sap.status) == (code, Category.BUSINESS, 422)
    assert [e.pointer for e in from_sap.errors] == pointers
    for text in (from_sap.detail, *(e.detail for e in from_sap.errors)):
        # Which ERP, or its own words for the code (a subsidiary, a company code), are no
        # business of the client's.
        for word in ("legacy", "cloud", "SAP", "NetSuite", "subsidiary", "company code"):
            assert word not in text, text


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda: netsuite.customer_record(_customer(currency="CHF"), REFS, NETSUITE),
            id="customer",
        ),
        pytest.param(
            lambda: netsuite.sales_order_record(
                "US01",
                "301",
                "CHF",
                None,
                [order_item("WIDGET-1", 1, Decimal("19.99"))],
                REFS,
                NETSUITE,
            ),
            id="order",
        ),
    ],
)
def test_a_currency_the_netsuite_maps_lack_is_refused_unsent_as_a_legal_entity_is(
    make: Callable[[], Any],
) -> None:
    error = _refusal(make)
    legal_entity = _refusal(
        lambda: netsuite.customer_record(_customer(legal_entity="XX01"), REFS, NETSUITE)
    )

    assert (error.code, error.status, error.type_uri) == (
        legal_entity.code,
        legal_entity.status,
        legal_entity.type_uri,
    )
    assert [e.pointer for e in error.errors] == ["/currency"]
    assert error.detail == legal_entity.detail.replace("Legal entity XX01", "Currency CHF")
