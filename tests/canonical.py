"""Canonical (newest-version) request models as the tests write them, in one place.

Not fixtures or fakes: plain constructors, so a schema change is fixed here once.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.domain.models import AddressType, CustomerAddress, OrderItem, Price


def order_item(sku: str, quantity: int, unit_price: Decimal, currency: str = "USD") -> OrderItem:
    return OrderItem(
        product_id=sku, quantity=quantity, price=Price(amount=unit_price, currency=currency)
    )


def billing(**fields: str) -> CustomerAddress:
    return CustomerAddress(type=AddressType.BILLING, **fields)  # type: ignore[arg-type]
