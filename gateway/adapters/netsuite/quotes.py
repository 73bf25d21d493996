"""Pricing a quote from NetSuite's records, since NetSuite has no validate-only mode: item
prices in the order's currency, the customer's tax rate and available credit.

Not the reads themselves (see `adapter.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway.adapters.base import (
    ErpLine,
    ErpQuote,
)
from gateway.adapters.netsuite.fields import (
    money,
    number,
    ref_id,
    ref_name,
    sublist,
)
from gateway.adapters.netsuite.records import BASE_PRICE_LEVEL_ID
from gateway.adapters.prices import minor_unit, unit_price
from gateway.config.backends import NetSuiteLegalEntity
from gateway.domain.errors import Code, FieldError, GatewayError
from gateway.domain.models import (
    CreditCheck,
    OrderItem,
)


def item_price(item: Mapping[str, Any], currency_id: str) -> Decimal | None:
    """The item's base price in a currency, from its expanded `price` sublist."""
    for price in sublist(item, "price"):
        level = price.get("priceLevel")
        if ref_id(price.get("currencyPage")) != currency_id:
            continue
        if ref_id(level) != BASE_PRICE_LEVEL_ID and ref_name(level) != "Base Price":
            continue
        quantity = price.get("quantity")
        minimum = quantity.get("value") if isinstance(quantity, dict) else quantity
        if minimum in (None, "", 0, "0") and price.get("price") is not None:
            return number(price["price"])
    return None


def tax_rate(tax_item: Mapping[str, Any]) -> Decimal:
    """A tax code's rate as a fraction (NetSuite shows percent, e.g. 8.25 or "8.25%")."""
    rate = tax_item["rate"]
    text = rate.strip().rstrip("%") if isinstance(rate, str) else rate
    return number(text) / 100


def customer_for_order(
    customer: Mapping[str, Any] | None,
    legal: NetSuiteLegalEntity,
    currency_id: str,
    currency: str,
) -> Mapping[str, Any]:
    """Refuses, as NetSuite refuses an order, a customer that cannot buy in this subsidiary."""
    if customer is None or customer.get("isInactive") is True:
        raise GatewayError(
            Code.CUSTOMER_NOT_FOUND,
            "The customer does not exist in the ERP, or is inactive there.",
            [FieldError("/customer_id", "Unknown customer.")],
        )
    if ref_id(customer.get("subsidiary")) != legal.subsidiary:
        raise GatewayError(
            Code.CUSTOMER_LEGAL_ENTITY_MISMATCH,
            "The customer is not a customer of the order's legal entity in the ERP.",
            [FieldError("/customer_id", "The customer belongs to another legal entity.")],
        )
    customer_currency = ref_id(customer.get("currency"))
    if customer_currency is not None and customer_currency != currency_id:
        raise GatewayError(
            Code.ERP_REJECTED,
            f"The customer does not trade in {currency}.",
            [FieldError("/currency", "Not a currency of this customer.")],
        )
    return customer


def available_credit(customer: Mapping[str, Any], currency: str) -> Decimal | None:
    """Credit limit less open receivables and unbilled orders; None when there is no limit."""
    limit = customer.get("creditLimit")
    if limit is None:
        return None
    exposure = sum(
        (money(customer.get(f) or 0, currency) for f in ("balance", "unbilledOrders")),
        Decimal(0),
    )
    return money(limit, currency) - exposure


def priced_quote(
    items: Sequence[OrderItem],
    amounts: Sequence[Decimal],
    item_ids: Sequence[str],
    prices: Mapping[str, Decimal | None],
    currency: str,
    rate: Decimal | None,
    credit: Decimal | None,
) -> ErpQuote:
    """Prices the lines as NetSuite would price the order, refusing stale prices by line;
    `amounts` are the lines' amounts as NetSuite keeps them (`fields.held_line_amounts`)."""
    stale = []
    missing = []
    for i, (item, item_id) in enumerate(zip(items, item_ids, strict=True)):
        price = prices.get(item_id)
        sku, quoted = item.product_id, item.price.amount
        if price is None:
            missing.append(
                FieldError(f"/items/{i}/product_id", f"{sku} has no price in {currency}.")
            )
        elif price != quoted:
            stale.append(
                FieldError(
                    f"/items/{i}/price/amount",
                    f"The ERP's price of {sku} is {price} {currency}, not {quoted}.",
                )
            )
    if missing:
        raise GatewayError(
            Code.UNKNOWN_SKU, "Some products cannot be sold in this currency.", missing
        )
    if stale:
        raise GatewayError(
            Code.PRICE_MISMATCH,
            "Prices differ from the ERP's current prices; the quote was stale.",
            stale,
        )
    unit = minor_unit(currency)
    # The unit price as an order's read-back writes it (149.00 dollars, 149 yen), not as the
    # CRM happened to write the same figure ("149", "149.0000").
    priced = [
        ErpLine(item.product_id, item.quantity, unit_price(item.price.amount, unit), amount)
        for item, amount in zip(items, amounts, strict=True)
    ]
    net = sum((ln.amount for ln in priced), Decimal(0))
    tax = (net * rate).quantize(unit, rounding=ROUND_HALF_UP) if rate is not None else None
    total = net + (tax or Decimal(0))
    blocked = credit is not None and total > credit
    return ErpQuote(
        currency=currency,
        lines=priced,
        net_amount=net,
        credit_check=CreditCheck.WOULD_BLOCK if blocked else CreditCheck.PASSED,
        tax_amount=tax,
        total_amount=total,
    )
