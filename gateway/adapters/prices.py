"""Unit prices read back from an ERP in the API's precision: the decimals the ERP holds, up to
the four a request may carry (0.1234 stays 0.1234), and at least the currency's minor unit.

Not amounts, which each adapter reads in the currency's minor unit, nor what the CRM sends
(see `gateway.domain.models`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from gateway.domain.models import DECIMAL_PLACES

_PRICE_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)


def unit_price(exact: Decimal, minor_unit: Decimal) -> Decimal:
    """`exact` to the API's four decimals, written with the currency's `minor_unit` at least:
    149 is 149.00 and 0.1230 is 0.123, as a price list shows them."""
    price = exact.quantize(_PRICE_QUANTUM, rounding=ROUND_HALF_UP)
    in_minor_units = price.quantize(minor_unit, rounding=ROUND_HALF_UP)
    # Not whole in minor units: a digit past them is not zero, so normalize() keeps a point.
    return in_minor_units if in_minor_units == price else price.normalize()
