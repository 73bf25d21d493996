"""A request field that does not fit its type says in words what it expects (a currency `usd`:
"Enter a currency as its ISO 4217 code in capitals, such as EUR."), never pydantic's pattern or
bound, and says the same for every field of that type in every version."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from gateway.api.endpoints import EventsQuery
from gateway.api.openapi_examples import REQUEST_EXAMPLES
from gateway.domain import models
from gateway.domain.errors import Code, GatewayError
from gateway.domain.operations import Operation
from gateway.domain.versions import v1_models
from gateway.pipeline.body import parse_json_model, validation_problem

MODELS: dict[str, dict[Operation, type[BaseModel]]] = {
    "v1": dict(v1_models.V1_REQUESTS),
    "v2": {
        Operation.CUSTOMERS_CREATE: models.CustomerCreate,
        Operation.SALES_ORDERS_CREATE: models.SalesOrderCreate,
        Operation.QUOTES_VALIDATE: models.QuoteRequest,
    },
}
CUSTOMER = Operation.CUSTOMERS_CREATE
ORDER = Operation.SALES_ORDERS_CREATE
QUOTE = Operation.QUOTES_VALIDATE

CURRENCY = "Enter a currency as its ISO 4217 code in capitals, such as EUR."
COUNTRY = "Enter a country as its ISO 3166-1 code of two capitals, such as US or DE."
LEGAL_ENTITY = "Enter a legal entity as its code of 2 to 10 capitals or digits, such as US01."
EXTERNAL_REF = "Enter the CRM's reference in 1 to 35 characters, such as CRM-ACC-1001."
EMAIL = "Enter an email address of at most 241 characters, such as ap@acme.example."
TEXT = "Enter 1 to 80 characters."
CUSTOMER_ID = (
    "Enter a customer's id as the gateway gave it: cus_ and up to 40 lower-case letters or "
    "digits, such as cus_01hzx3k9m2."
)
SKU = "Enter a product's SKU in 1 to 40 characters, such as WIDGET-1."
QUANTITY = "Enter a quantity as a whole number from 1 to 1000000."
PAYMENT_TERMS = "Enter payment terms as their code of 1 to 10 characters, such as NET30."
TAX_ID = "Enter a tax number of 1 to 20 characters, such as US-12-3456789."
POSTAL_CODE = "Enter a postal code of 1 to 10 characters."
REGION = "Enter a region as its code of 1 to 3 characters, such as TX."
DISPLAY_NAME = "Enter a short name of 1 to 20 characters."
AMOUNT = 'Enter an amount of zero or more as a string with up to 4 decimals, such as "19.99".'

# (version, operation, where, bad value, the words), one bad value per constrained type and
# version, wherever the field sits in that version's body.
CASES: list[tuple[str, Operation, tuple[str | int, ...], Any, str]] = [
    ("v1", CUSTOMER, ("currency",), "usd", CURRENCY),
    ("v2", CUSTOMER, ("currency",), "usd", CURRENCY),
    ("v2", ORDER, ("items", 0, "price", "currency"), "US", CURRENCY),
    ("v1", CUSTOMER, ("address", "country"), "usa", COUNTRY),
    ("v2", CUSTOMER, ("addresses", 0, "country"), "us", COUNTRY),
    ("v1", ORDER, ("legal_entity",), "us-01", LEGAL_ENTITY),
    ("v2", QUOTE, ("legal_entity",), "U", LEGAL_ENTITY),
    ("v1", CUSTOMER, ("external_ref",), "", EXTERNAL_REF),
    ("v2", ORDER, ("external_ref",), "R" * 36, EXTERNAL_REF),
    ("v1", CUSTOMER, ("email",), "ap.acme.example", EMAIL),
    ("v2", CUSTOMER, ("email",), "ap@acme", EMAIL),
    ("v1", CUSTOMER, ("name",), "", TEXT),
    ("v2", CUSTOMER, ("legal_name",), "N" * 81, TEXT),
    ("v2", CUSTOMER, ("addresses", 0, "city"), "", TEXT),
    ("v1", ORDER, ("customer_id",), "CUS_1", CUSTOMER_ID),
    ("v2", QUOTE, ("customer_id",), "cus_", CUSTOMER_ID),
    ("v1", ORDER, ("lines", 0, "sku"), "S" * 41, SKU),
    ("v2", ORDER, ("items", 0, "product_id"), "", SKU),
    ("v1", QUOTE, ("lines", 0, "quantity"), 0, QUANTITY),
    ("v2", ORDER, ("items", 0, "quantity"), 1_000_001, QUANTITY),
    ("v1", CUSTOMER, ("payment_terms",), "", PAYMENT_TERMS),
    ("v2", CUSTOMER, ("payment_terms",), "NET30-DAYS!", PAYMENT_TERMS),
    ("v1", CUSTOMER, ("tax_id",), "T" * 21, TAX_ID),
    ("v2", CUSTOMER, ("tax_id",), "", TAX_ID),
    ("v1", CUSTOMER, ("address", "postal_code"), "", POSTAL_CODE),
    ("v2", CUSTOMER, ("addresses", 0, "postal_code"), "P" * 11, POSTAL_CODE),
    ("v1", CUSTOMER, ("address", "region"), "TEXAS", REGION),
    ("v2", CUSTOMER, ("addresses", 0, "region"), "", REGION),
    ("v2", CUSTOMER, ("display_name",), "D" * 21, DISPLAY_NAME),
    ("v1", CUSTOMER, ("credit_limit",), "-1.00", AMOUNT),
    ("v1", ORDER, ("lines", 0, "unit_price"), "19,99", AMOUNT),
    ("v2", QUOTE, ("items", 0, "price", "amount"), "-0.01", AMOUNT),
]


def _with(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    node: Any = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


def _refusal(version: str, operation: Operation, body: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        parse_json_model(json.dumps(body).encode(), MODELS[version][operation])
    return info.value


@pytest.mark.parametrize(
    ("version", "operation", "path", "value", "words"),
    [
        pytest.param(*case, id=f"{case[0]}-{case[1]}-{'/'.join(map(str, case[2]))}")
        for case in CASES
    ],
)
def test_a_value_that_does_not_fit_its_field_is_told_in_words_at_its_pointer(
    version: str, operation: Operation, path: tuple[str | int, ...], value: Any, words: str
) -> None:
    body = _with(REQUEST_EXAMPLES[version][operation], path, value)

    error = _refusal(version, operation, body)

    assert error.code is Code.VALIDATION_FAILED
    pointer = "/" + "/".join(map(str, path))
    assert [(e.pointer, e.detail) for e in error.errors] == [(pointer, words)]


@pytest.mark.parametrize("value", [3, None, ["USD"]])
def test_a_value_of_the_wrong_json_type_is_told_the_same_words(value: Any) -> None:
    body = _with(REQUEST_EXAMPLES["v1"][CUSTOMER], ("currency",), value)

    error = _refusal("v1", CUSTOMER, body)

    assert [(e.pointer, e.detail) for e in error.errors] == [("/currency", CURRENCY)]


@pytest.mark.parametrize(
    ("version", "operation", "path"),
    [
        ("v1", CUSTOMER, ("credit_limit",)),
        ("v1", QUOTE, ("lines", 0, "unit_price")),
        ("v2", CUSTOMER, ("credit_limit",)),
        ("v2", ORDER, ("items", 0, "price", "amount")),
    ],
)
@pytest.mark.parametrize("value", ["1234567890123456", "19.99999"])
def test_a_decimal_with_too_many_digits_still_says_how_many_it_may_have(
    version: str, operation: Operation, path: tuple[str | int, ...], value: str
) -> None:
    body = _with(REQUEST_EXAMPLES[version][operation], path, value)

    error = _refusal(version, operation, body)

    assert [e.pointer for e in error.errors] == ["/" + "/".join(map(str, path))]
    assert "15 digits before the decimal point" in error.errors[0].detail


def test_a_currency_of_the_right_form_that_is_none_still_names_the_code() -> None:
    body = _with(REQUEST_EXAMPLES["v2"][CUSTOMER], ("currency",), "XYZ")

    error = _refusal("v2", CUSTOMER, body)

    assert [e.detail for e in error.errors] == [
        "XYZ is no currency: a currency is an ISO 4217 code, such as USD, EUR or JPY."
    ]


def test_a_control_character_is_still_named_as_such() -> None:
    body = _with(REQUEST_EXAMPLES["v2"][CUSTOMER], ("legal_name",), "Acme\u202eCorp")

    error = _refusal("v2", CUSTOMER, body)

    assert [e.pointer for e in error.errors] == ["/legal_name"]
    assert "control characters" in error.errors[0].detail


def test_a_bad_item_in_a_list_keeps_its_own_pointer_and_words() -> None:
    body = REQUEST_EXAMPLES["v2"][ORDER]
    body = {**body, "items": [body["items"][0], {**body["items"][0], "quantity": 0}]}

    error = _refusal("v2", ORDER, body)

    assert [(e.pointer, e.detail) for e in error.errors] == [("/items/1/quantity", QUANTITY)]


def test_an_events_cursor_that_is_none_is_told_in_words() -> None:
    with pytest.raises(ValidationError) as info:
        EventsQuery.model_validate({"after": "next page"})

    error = validation_problem(info.value, "query string")

    assert [(e.pointer, e.detail) for e in error.errors] == [
        (
            "/after",
            "Enter the cursor of the previous answer's next link: digits and dashes, such as "
            "1764504000000-0.",
        )
    ]
