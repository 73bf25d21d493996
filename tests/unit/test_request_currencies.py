"""A request's currency is an ISO 4217 code, in every version's request models: a code that is
none (`XYZ`) is a validation problem at its pointer, before anything reaches an ERP."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import BaseModel

from gateway.api.openapi_examples import REQUEST_EXAMPLES
from gateway.domain import models
from gateway.domain.currencies import ISO_4217
from gateway.domain.errors import Code, GatewayError
from gateway.domain.operations import Operation
from gateway.domain.versions import v1_models
from gateway.pipeline.body import parse_json_model

MODELS: dict[str, dict[Operation, type[BaseModel]]] = {
    "v1": dict(v1_models.V1_REQUESTS),
    "v2": {
        Operation.CUSTOMERS_CREATE: models.CustomerCreate,
        Operation.SALES_ORDERS_CREATE: models.SalesOrderCreate,
        Operation.QUOTES_VALIDATE: models.QuoteRequest,
    },
}
# Every request of each version, with each place it carries a currency.
CASES = [
    pytest.param(version, operation, path, id=f"{version}-{operation}-{'/'.join(map(str, path))}")
    for version, operation, path in [
        ("v1", Operation.CUSTOMERS_CREATE, ("currency",)),
        ("v1", Operation.SALES_ORDERS_CREATE, ("currency",)),
        ("v1", Operation.QUOTES_VALIDATE, ("currency",)),
        ("v2", Operation.CUSTOMERS_CREATE, ("currency",)),
        ("v2", Operation.SALES_ORDERS_CREATE, ("currency",)),
        ("v2", Operation.SALES_ORDERS_CREATE, ("items", 0, "price", "currency")),
        ("v2", Operation.QUOTES_VALIDATE, ("currency",)),
        ("v2", Operation.QUOTES_VALIDATE, ("items", 0, "price", "currency")),
    ]
]


def _with(body: dict[str, Any], path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    node: Any = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


def _parsed(version: str, operation: Operation, body: dict[str, Any]) -> BaseModel:
    result: BaseModel = parse_json_model(json.dumps(body).encode(), MODELS[version][operation])
    return result


def _refusal(version: str, operation: Operation, body: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        _parsed(version, operation, body)
    return info.value


@pytest.mark.parametrize(("version", "operation", "path"), CASES)
def test_a_code_that_is_no_iso_4217_currency_is_a_validation_problem_at_its_field(
    version: str, operation: Operation, path: tuple[str | int, ...]
) -> None:
    body = _with(REQUEST_EXAMPLES[version][operation], path, "XYZ")

    error = _refusal(version, operation, body)

    assert error.code is Code.VALIDATION_FAILED
    assert error.status == 400
    pointer = "/" + "/".join(map(str, path))
    assert [e.pointer for e in error.errors] == [pointer]
    assert error.errors[0].detail == (
        "XYZ is no currency: a currency is an ISO 4217 code, such as USD, EUR or JPY."
    )


@pytest.mark.parametrize(("version", "operation", "path"), CASES)
@pytest.mark.parametrize("code", ["CHF", "JPY", "KWD", "XAU"])
def test_any_iso_4217_code_passes_whether_or_not_an_erp_trades_in_it(
    version: str, operation: Operation, path: tuple[str | int, ...], code: str
) -> None:
    body = _with(REQUEST_EXAMPLES[version][operation], path, code)

    parsed = _parsed(version, operation, body)

    node: Any = parsed
    for step in path:
        node = node[step] if isinstance(step, int) else getattr(node, step)
    assert node == code


@pytest.mark.parametrize("code", ["usd", "US", "USDX", "XXX", "XTS"])
def test_a_code_in_the_wrong_form_or_for_no_currency_is_refused_too(code: str) -> None:
    body = _with(REQUEST_EXAMPLES["v1"][Operation.CUSTOMERS_CREATE], ("currency",), code)

    error = _refusal("v1", Operation.CUSTOMERS_CREATE, body)

    assert [e.pointer for e in error.errors] == ["/currency"]


def test_every_code_of_the_list_is_a_currency_the_requests_take() -> None:
    example = REQUEST_EXAMPLES["v2"][Operation.CUSTOMERS_CREATE]
    for code in sorted(ISO_4217):
        body = json.dumps({**example, "currency": code}).encode()
        assert parse_json_model(body, models.CustomerCreate).currency == code
