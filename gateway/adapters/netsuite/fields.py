"""Reading NetSuite record fields and amounts: references (`{"id", "refName"}`), text, dates,
sublists, quantities, and money in a currency's minor units, exact as JSON numbers. A field of
the wrong shape raises (`TypeError`, `ValueError`...); the adapter's answer boundary
(`gateway.adapters.answers`) turns that into erp_bad_response.

Not any one record's mapping (see `outbound.py`, `inbound.py`, `quotes.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway.adapters.prices import line_amounts, minor_unit
from gateway.domain.errors import Code, ErpFailure, FieldError, RefusedBeforeSending
from gateway.domain.models import (
    OrderItem,
)

# NetSuite keeps a currency's amounts with 0 or 2 decimals (a currency's `currencyPrecision`
# has no other value): one of three (the Kuwaiti dinar's fils) is held to two.
MOST_DECIMALS = 2
_MAX_JSON_DIGITS = 15  # what a JSON number (an IEEE double) carries exactly
# No amount or quantity of a sales document has more integer digits: a bigger number (say
# "1E+999999999") is no amount, and turning it into an int would take the process's memory.
_MAX_INTEGER_DIGITS = 18
_MAX_INTEGER = 10**_MAX_INTEGER_DIGITS


def number(value: Any) -> Decimal:
    """A NetSuite number (a JSON number, or its text) as an exact, finite Decimal of a size a
    sales document can hold."""
    kind = type(value)
    if kind is float:
        exact = Decimal(repr(value))  # the shortest text that reads back as the same double
    elif kind is int or kind is str or kind is Decimal:
        exact = Decimal(value)
    elif isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TypeError(f"not a number: {value!r}")
    else:
        exact = Decimal(str(value))  # a subclass of a number type
    if not exact.is_finite() or exact.adjusted() >= _MAX_INTEGER_DIGITS:
        raise ValueError(f"not a plausible amount or quantity: {exact}")
    return exact


def money(value: Any, currency: str | None) -> Decimal:
    """A NetSuite amount (a JSON number) as an exact Decimal in the currency's minor unit."""
    return money_in(value, minor_unit(currency))


def money_in(value: Any, unit: Decimal) -> Decimal:
    """`money`, given the currency's `minor_unit` (a document's amounts share one)."""
    return number(value).quantize(unit, rounding=ROUND_HALF_UP)


def json_number(value: Decimal, pointer: str) -> float:
    """A Decimal as the JSON number NetSuite expects; refused if a double would change it."""
    as_float = float(value)
    if len(value.as_tuple().digits) > _MAX_JSON_DIGITS or Decimal(repr(as_float)) != value:
        raise RefusedBeforeSending(
            Code.ERP_REJECTED,
            f"{value} has more digits than the ERP keeps.",
            [FieldError(pointer, "Too many digits for the ERP.")],
        )
    return as_float


def held_line_amounts(items: Sequence[OrderItem], currency: str) -> list[Decimal]:
    """Each line's amount as NetSuite keeps it; refused before anything is sent where NetSuite
    would round it (a line of 3 x 6.125 dinars: 18.375, kept as 18.38)."""
    return line_amounts(items, currency, MOST_DECIMALS)


def ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    if type(value) is str:
        return value  # the usual case, as below
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def ref_name(value: Any) -> str | None:
    name = value.get("refName") if isinstance(value, dict) else None
    return name if isinstance(name, str) else None


def text_field(record: Mapping[str, Any], field: str) -> str | None:
    value = record.get(field)
    if type(value) is str:
        return value or None  # the usual case, as below
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise TypeError(f"{field} is not text")
    return str(value)


def required_text(record: Mapping[str, Any], field: str) -> str:
    value = text_field(record, field)
    if value is None:
        raise KeyError(field)
    return value


def date_field(record: Mapping[str, Any], field: str) -> dt.date | None:
    value = text_field(record, field)
    return dt.date.fromisoformat(value[:10]) if value else None


def sublist(record: Mapping[str, Any], field: str) -> list[dict[str, Any]]:
    value = record.get(field)
    items = value.get("items") if isinstance(value, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise TypeError(f"{field} is not a sublist")
    for item in items:
        if not isinstance(item, dict):
            raise TypeError(f"{field} is not a sublist")
    return items


def quantity_of(value: Any) -> int:
    if type(value) is int and -_MAX_INTEGER < value < _MAX_INTEGER:
        return value  # the usual case, as `number` would take it
    quantity = number(value)
    if quantity != quantity.to_integral_value():
        raise ValueError("fractional quantity")
    return int(quantity)


def bad_response(detail: str, *, ambiguous: bool = False) -> ErpFailure:
    return ErpFailure(Code.ERP_BAD_RESPONSE, detail, ambiguous=ambiguous)
