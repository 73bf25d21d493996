"""Amounts in a currency's minor unit (ISO 4217: none for JPY, three for KWD, two for most):
unit prices read back from an ERP in the API's precision (the decimals the ERP holds, up to the
four a request may carry: 0.1234 stays 0.1234, and at least the minor unit), and an amount to
be written that the ERP cannot hold in the currency (a credit limit, an order line's amount),
refused before it is sent.

Not the amounts each adapter reads as its ERP writes them, nor what the CRM sends
(see `gateway.domain.models`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from gateway.domain.errors import Code, FieldError, RefusedBeforeSending
from gateway.domain.models import DECIMAL_PLACES, OrderItem

_PRICE_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
# Minor units of the currencies that do not have two (ISO 4217); the rest have two.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}
_QUANTA = {currency: Decimal(1).scaleb(-units) for currency, units in _MINOR_UNITS.items()}
_CENTS = 2
_CENT = Decimal(1).scaleb(-_CENTS)
# The quantum of each number of decimals an ERP keeps a currency to (`_as_kept`), made once.
_KEPT_QUANTA = {decimals: Decimal(1).scaleb(-decimals) for decimals in range(DECIMAL_PLACES + 1)}


def minor_unit(currency: str | None) -> Decimal:
    """The currency's smallest amount (1 for JPY, 0.001 for KWD, 0.01 for most)."""
    return _QUANTA.get(currency or "", _CENT)


def unit_price(exact: Decimal, minor_unit: Decimal) -> Decimal:
    """`exact` to the API's four decimals, written with the currency's `minor_unit` at least:
    149 is 149.00 and 0.1230 is 0.123, as a price list shows them."""
    price = exact.quantize(_PRICE_QUANTUM, rounding=ROUND_HALF_UP)
    in_minor_units = price.quantize(minor_unit, rounding=ROUND_HALF_UP)
    # Not whole in minor units: a digit past them is not zero, so normalize() keeps a point.
    return in_minor_units if in_minor_units == price else price.normalize()


def in_minor_units(
    amount: Decimal, currency: str, pointer: str, most_decimals: int | None = None
) -> Decimal:
    """`amount`, refused (422 erp_rejected at `pointer`) when it is finer than the ERP keeps
    it: in the currency's minor unit, or in `most_decimals` where the ERP keeps fewer (NetSuite:
    two at most). An ERP rounds such an amount unasked (a credit limit of 50000.001 US
    dollars, of 1000.5 yen); the gateway refuses it instead, whichever the ERP."""
    decimals = _kept_decimals(currency, most_decimals)
    if _as_kept(amount, decimals) != amount:
        kept = _what_is_kept(currency, decimals)
        raise RefusedBeforeSending(
            Code.ERP_REJECTED,
            f"{kept}: {amount} has more decimals.",
            [FieldError(pointer, f"{kept}.")],
        )
    return amount


def line_amounts(
    items: Sequence[OrderItem], currency: str, most_decimals: int | None = None
) -> list[Decimal]:
    """Each line's amount (quantity times unit price) in the currency's minor unit; refused
    (422 erp_rejected, a pointer at each such line's unit price) when the ERP would keep one
    rounded (the problem says "the ERP", as every refusal does, not which one): NetSuite keeps
    the dinar to two decimals (`most_decimals`), so 3 x 6.125 = 18.375 would be stored as 18.38
    and the order's total would differ from the CRM's. Unit prices themselves are not checked:
    an ERP keeps a rate with its decimals."""
    decimals = _kept_decimals(currency, most_decimals)
    amounts = [item.price.amount * item.quantity for item in items]
    rounded = [
        FieldError(
            f"/items/{i}/price/amount",
            f"{item.quantity} x {item.price.amount} = {amount} {currency}, which the ERP would "
            f"keep as {_as_kept(amount, decimals)}.",
        )
        for i, (item, amount) in enumerate(zip(items, amounts, strict=True))
        if _as_kept(amount, decimals) != amount
    ]
    if rounded:
        raise RefusedBeforeSending(
            Code.ERP_REJECTED,
            f"{_what_is_kept(currency, decimals)} and would round the amount "
            "(quantity times unit price) of the lines pointed at: change their quantities so "
            "that each amount comes out exact.",
            rounded,
        )
    unit = minor_unit(currency)
    return [amount.quantize(unit) for amount in amounts]


def _kept_decimals(currency: str, most_decimals: int | None) -> int:
    decimals = _MINOR_UNITS.get(currency, _CENTS)
    return decimals if most_decimals is None else min(decimals, most_decimals)


def _what_is_kept(currency: str, decimals: int) -> str:
    """How every refusal here says what the ERP keeps of a currency's amounts."""
    if decimals == 0:
        return f"The ERP keeps {currency} in whole units"
    return f"The ERP keeps {currency} to {decimals} decimals"


def _as_kept(amount: Decimal, decimals: int) -> Decimal:
    """`amount` as an ERP keeping `decimals` stores it: rounded half up, as both ERPs round."""
    quantum = _KEPT_QUANTA.get(decimals) or Decimal(1).scaleb(-decimals)
    return amount.quantize(quantum, rounding=ROUND_HALF_UP)
