"""Cancelling a NetSuite order: its open lines closed, once, and only before fulfilment."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.adapters.netsuite.cancellation import closing_patch
from gateway.domain.errors import Code, GatewayError


def order(status: str, *lines: dict[str, Any]) -> dict[str, Any]:
    return {"id": "7001", "orderStatus": {"id": status}, "item": {"items": list(lines)}}


def line(number: int, **fields: Any) -> dict[str, Any]:
    return {"line": number, "item": {"id": "1001"}, "quantity": 2, **fields}


@pytest.mark.parametrize("status", ["A", "B"])
def test_an_order_nothing_has_happened_to_has_each_open_line_closed(status: str) -> None:
    patch = closing_patch(order(status, line(1), line(2, isClosed=True), line(3)))
    assert patch == {
        "item": {"items": [{"line": 1, "isClosed": True}, {"line": 3, "isClosed": True}]}
    }


@pytest.mark.parametrize("status", ["C", "H"])
def test_an_order_cancelled_or_closed_already_needs_no_patch(status: str) -> None:
    assert closing_patch(order(status, line(1, isClosed=True))) is None


@pytest.mark.parametrize(
    ("status", "name"),
    [("D", "Partially Fulfilled"), ("E", "Pending Billing/Partially Fulfilled"),
     ("F", "Pending Billing"), ("G", "Billed")],
)  # fmt: skip
def test_an_order_the_erp_has_begun_to_fulfil_or_bill_is_refused_as_invalid_state(
    status: str, name: str
) -> None:
    with pytest.raises(GatewayError) as raised:
        closing_patch(order(status, line(1)))
    assert raised.value.code is Code.INVALID_STATE
    assert name in raised.value.detail


def test_a_fulfilled_quantity_refuses_the_cancel_whatever_the_status_says() -> None:
    with pytest.raises(GatewayError) as raised:
        closing_patch(order("B", line(1, quantityFulfilled=1)))
    assert raised.value.code is Code.INVALID_STATE


def test_an_order_with_a_line_without_its_number_is_a_bad_answer_not_a_guess() -> None:
    with pytest.raises(KeyError):
        closing_patch(order("B", {"item": {"id": "1001"}}))
