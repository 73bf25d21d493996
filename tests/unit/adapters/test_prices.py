"""Order lines' amounts as an ERP keeps them in a currency: refused before sending where the
ERP would round one, never rounded in silence."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.adapters.prices import in_minor_units, line_amounts
from gateway.domain.errors import Category, Code, RefusedBeforeSending
from gateway.domain.models import OrderItem
from tests.canonical import order_item


def _lines(*specs: tuple[int, str]) -> list[OrderItem]:
    return [order_item("WIDGET-1", quantity, Decimal(price)) for quantity, price in specs]


def test_a_dinar_line_in_fils_is_refused_where_the_erp_keeps_two_decimals() -> None:
    with pytest.raises(RefusedBeforeSending) as raised:
        line_amounts(_lines((2, "6.125"), (3, "6.125"), (5, "6.125")), "KWD", 2)

    problem = raised.value
    assert (problem.code, problem.category, problem.status) == (
        Code.ERP_REJECTED,
        Category.BUSINESS,
        422,
    )
    assert [e.pointer for e in problem.errors] == ["/items/1/price/amount", "/items/2/price/amount"]
    assert "The ERP keeps KWD to 2 decimals" in problem.detail
    assert problem.errors[0].detail == (
        "3 x 6.125 = 18.375 KWD, which the ERP would keep as 18.38."
    )


def test_the_same_lines_pass_where_the_erp_keeps_the_dinars_three_decimals() -> None:
    assert line_amounts(_lines((3, "6.125"), (1, "45.75")), "KWD") == [
        Decimal("18.375"),
        Decimal("45.750"),
    ]


def test_lines_that_come_out_exact_are_written_in_the_currencys_minor_unit() -> None:
    assert line_amounts(_lines((2, "6.125")), "KWD", 2) == [Decimal("12.250")]
    assert line_amounts(_lines((3, "19.99"), (1, "149")), "USD", 2) == [
        Decimal("59.97"),
        Decimal("149.00"),
    ]
    assert line_amounts(_lines((4, "0.25")), "JPY", 2) == [Decimal("1")]


@pytest.mark.parametrize(("currency", "price"), [("JPY", "1000.5"), ("USD", "0.125")])
def test_a_line_finer_than_its_currency_is_refused_whatever_the_erp_keeps(
    currency: str, price: str
) -> None:
    with pytest.raises(RefusedBeforeSending) as raised:
        line_amounts(_lines((1, price)), currency, 2)
    assert [e.pointer for e in raised.value.errors] == ["/items/0/price/amount"]


@pytest.mark.parametrize(
    ("currency", "price", "most", "kept"),
    [
        ("KWD", "6.1255", 2, "The ERP keeps KWD to 2 decimals"),
        ("USD", "0.125", None, "The ERP keeps USD to 2 decimals"),
        ("JPY", "1000.5", None, "The ERP keeps JPY in whole units"),
    ],
)
def test_a_credit_limit_and_a_line_the_erp_would_round_are_refused_in_the_same_words(
    currency: str, price: str, most: int | None, kept: str
) -> None:
    with pytest.raises(RefusedBeforeSending) as limit:
        in_minor_units(Decimal(price), currency, "/credit_limit", most)
    with pytest.raises(RefusedBeforeSending) as line:
        line_amounts(_lines((1, price)), currency, most)

    assert kept in limit.value.detail
    assert limit.value.errors[0].detail.startswith(kept)
    assert kept in line.value.detail
