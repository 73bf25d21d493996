"""Amounts in a currency's minor unit (ISO 4217: none for JPY, three for KWD, two for most):
unit prices read back from an ERP in the API's precision (the decimals the ERP holds, up to the
four a request may carry: 0.1234 stays 0.1234, and at least the minor unit), and an amount to
be written that the currency cannot hold, refused before it is sent.

Not the amounts each adapter reads as its ERP writes them, nor what the CRM sends
(see `gateway.domain.models`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from gateway.domain.errors import Code, FieldError, RefusedBeforeSending
from gateway.domain.models import DECIMAL_PLACES

_PRICE_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
# Minor units of the currencies that do not have two (ISO 4217); the rest have two.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}
_QUANTA = {currency: Decimal(1).scaleb(-units) for currency, units in _MINOR_UNITS.items()}
_CENTS = 2
_CENT = Decimal(1).scaleb(-_CENTS)


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
    decimals = _MINOR_UNITS.get(currency, _CENTS)
    if most_decimals is not None:
        decimals = min(decimals, most_decimals)
    if amount != amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP):
        allowed = f"at most {decimals} decimals" if decimals else "no decimals"
        raise RefusedBeforeSending(
            Code.ERP_REJECTED,
            f"{amount} has more decimals than the ERP keeps in {currency}: {allowed}.",
            [FieldError(pointer, f"The ERP keeps {currency} amounts with {allowed}.")],
        )
    return amount
