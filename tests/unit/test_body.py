"""Request validation (on v1 bodies): one JSON pointer per bad field, unknown fields refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.domain.errors import Code, GatewayError
from gateway.domain.versions.v1_models import CustomerCreate, SalesOrderCreate
from gateway.pipeline.body import json_pointer, parse_json_model

ORDER: dict[str, Any] = {
    "external_ref": "CRM-OPP-77",
    "legal_entity": "US01",
    "customer_id": "cus_abc",
    "currency": "USD",
    "requested_delivery_date": "2026-12-15",
    "lines": [{"sku": "WIDGET-1", "quantity": 3, "unit_price": "19.99"}],
}


def _problem(body: Any, model: type = SalesOrderCreate) -> GatewayError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(GatewayError) as info:
        parse_json_model(raw, model)
    return info.value


def test_a_valid_order_parses_with_decimal_prices() -> None:
    order = parse_json_model(json.dumps(ORDER).encode(), SalesOrderCreate)
    assert str(order.lines[0].unit_price) == "19.99"


def test_each_bad_field_gets_its_own_pointer() -> None:
    bad = {**ORDER, "currency": "usd", "lines": [{"sku": "W", "quantity": 0, "unit_price": 19.99}]}
    error = _problem(bad)
    assert error.code is Code.VALIDATION_FAILED
    assert error.status == 400
    assert {e.pointer for e in error.errors} == {
        "/currency",
        "/lines/0/quantity",
        "/lines/0/unit_price",
    }


def test_unknown_fields_are_rejected() -> None:
    error = _problem({**ORDER, "discount": "10"})
    assert [e.pointer for e in error.errors] == ["/discount"]


def test_a_quantity_sent_as_a_string_is_not_coerced() -> None:
    bad = {**ORDER, "lines": [{"sku": "W", "quantity": "3", "unit_price": "1.00"}]}
    assert [e.pointer for e in _problem(bad).errors] == ["/lines/0/quantity"]


def test_missing_fields_are_named() -> None:
    body = {k: v for k, v in ORDER.items() if k != "customer_id"}
    assert [e.pointer for e in _problem(body).errors] == ["/customer_id"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]"])
def test_malformed_or_empty_json_is_a_validation_problem(raw: bytes) -> None:
    assert _problem(raw, CustomerCreate).code is Code.VALIDATION_FAILED


def test_json_pointer_escapes_tilde_and_slash() -> None:
    assert json_pointer(("a/b", "c~d", 0)) == "/a~1b/c~0d/0"


@pytest.mark.parametrize(
    ("price", "says"),
    [("19.99999", "4 decimals"), ("1234567890123456", "15 digits"), ("1" * 41, "15 digits")],
)
def test_a_decimal_with_more_digits_than_the_api_takes_says_how_many_it_takes(
    price: str, says: str
) -> None:
    error = _problem({**ORDER, "lines": [{**ORDER["lines"][0], "unit_price": price}]})
    assert [e.pointer for e in error.errors] == ["/lines/0/unit_price"]
    assert says in error.errors[0].detail
    assert "written as a string" not in error.errors[0].detail  # it was: the detail misled
