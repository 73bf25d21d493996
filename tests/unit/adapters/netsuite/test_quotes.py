"""Pricing a quote from NetSuite records: prices, tax and available credit."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from gateway.adapters.base import ErpQuote
from gateway.adapters.netsuite.fields import held_line_amounts
from gateway.adapters.netsuite.quotes import available_credit, item_price, priced_quote
from gateway.domain.errors import Code, GatewayError
from gateway.domain.models import (
    CreditCheck,
    OrderItem,
)
from tests.unit.adapters.netsuite.samples import lines


def quote_of(
    items: list[OrderItem],
    item_ids: list[str],
    prices: Mapping[str, Decimal | None],
    currency: str,
    rate: Decimal | None,
    credit: Decimal | None,
) -> ErpQuote:
    """The quote of `items`, their amounts as NetSuite keeps them (as the adapter passes them)."""
    amounts = held_line_amounts(items, currency)
    return priced_quote(items, amounts, item_ids, prices, currency, rate, credit)


def test_the_base_price_in_the_orders_currency_is_read_from_the_price_sublist() -> None:
    item = {
        "price": {
            "items": [
                {"currencyPage": {"id": "1"}, "priceLevel": {"id": "2"}, "price": 10},
                {"currencyPage": {"id": "4"}, "priceLevel": {"id": "1"}, "price": 18.5},
                {"currencyPage": {"id": "1"}, "priceLevel": {"id": "1"}, "price": 19.99},
            ]
        }
    }
    assert item_price(item, "1") == Decimal("19.99")
    assert item_price(item, "4") == Decimal("18.5")
    assert item_price(item, "5") is None


def test_a_quote_prices_lines_adds_tax_and_checks_credit() -> None:
    quoted = quote_of(
        lines(("WIDGET-1", 3, "19.99"), ("GADGET-2", 1, "149.00")),
        ["1001", "1002"],
        {"1001": Decimal("19.99"), "1002": Decimal("149")},
        "USD",
        Decimal("0.0825"),
        Decimal("226.21"),
    )
    assert (quoted.net_amount, quoted.tax_amount, quoted.total_amount) == (
        Decimal("208.97"),
        Decimal("17.24"),
        Decimal("226.21"),
    )
    assert quoted.credit_check is CreditCheck.PASSED
    blocked = quote_of(
        lines(("WIDGET-1", 3, "19.99")), ["1001"], {"1001": Decimal("19.99")}, "USD", None, None
    )
    assert blocked.credit_check is CreditCheck.PASSED  # no credit limit at all
    over = quote_of(
        lines(("WIDGET-1", 3, "19.99")),
        ["1001"],
        {"1001": Decimal("19.99")},
        "USD",
        None,
        Decimal("59.96"),
    )
    assert over.credit_check is CreditCheck.WOULD_BLOCK


def test_a_stale_price_in_a_quote_points_at_that_lines_unit_price() -> None:
    with pytest.raises(GatewayError) as raised:
        quote_of(
            lines(("WIDGET-1", 1, "19.99"), ("GADGET-2", 1, "99.00")),
            ["1001", "1002"],
            {"1001": Decimal("19.99"), "1002": Decimal("149.00")},
            "USD",
            None,
            None,
        )
    assert raised.value.code is Code.PRICE_MISMATCH
    assert [e.pointer for e in raised.value.errors] == ["/items/1/price/amount"]
    assert "149.00" in raised.value.errors[0].detail


def test_available_credit_is_the_limit_less_open_balance_and_unbilled_orders() -> None:
    customer = {"creditLimit": 1000, "balance": 226.21, "unbilledOrders": 100.5}
    assert available_credit(customer, "USD") == Decimal("673.29")
    assert available_credit({"balance": 5}, "USD") is None


@pytest.mark.parametrize(
    ("currency", "quoted", "shown"),
    [("USD", "149", "149.00"), ("USD", "149.0000", "149.00"), ("JPY", "149.00", "149")],
)
def test_a_quotes_unit_price_is_written_as_the_orders_read_back_writes_it(
    currency: str, quoted: str, shown: str
) -> None:
    quote = quote_of(
        lines(("GADGET-2", 1, quoted)), ["1002"], {"1002": Decimal("149")}, currency, None, None
    )

    assert [format(line.unit_price, "f") for line in quote.lines] == [shown]
