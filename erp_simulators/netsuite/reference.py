"""The cloud ERP's reference data: subsidiaries, currencies, terms, items and tax codes.

Not records that change (see `books`); these are fixed, read-only and keyed by internal id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

BASE_PRICE_LEVEL_ID = "1"
BASE_PRICE_LEVEL_NAME = "Base Price"


@dataclass(frozen=True)
class Currency:
    id: str
    symbol: str
    name: str
    # Decimals of its amounts (`currencyPrecision`): NetSuite supports only 0 and 2, so a
    # currency of three decimals (the dinar's fils) is kept to two.
    precision: int = 2

    @property
    def minor_unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.precision)


@dataclass(frozen=True)
class Subsidiary:
    id: str
    name: str
    country: str
    currency_id: str


@dataclass(frozen=True)
class Term:
    id: str
    name: str
    days_until_due: int


@dataclass(frozen=True)
class Item:
    id: str
    item_id: str  # what a NetSuite user calls the item's "name/number"
    record_type: str
    display_name: str
    base_price: Decimal  # the same figure in every currency but those of CURRENCY_PRICES


@dataclass(frozen=True)
class SalesTaxItem:
    id: str
    item_id: str
    country: str
    rate: Decimal  # percent, as NetSuite shows tax code rates (8.25 means 8.25 %)


CURRENCIES: dict[str, Currency] = {
    c.id: c
    for c in (
        Currency("1", "USD", "US Dollar"),
        Currency("2", "GBP", "British pound"),
        Currency("3", "CAD", "Canadian Dollar"),
        Currency("4", "EUR", "Euro"),
        Currency("5", "SGD", "Singapore Dollar"),
        Currency("6", "JPY", "Japanese Yen", precision=0),
        Currency("7", "KWD", "Kuwaiti Dinar"),
    )
}

SUBSIDIARIES: dict[str, Subsidiary] = {
    s.id: s
    for s in (
        Subsidiary("2", "US01", "US", "1"),
        Subsidiary("3", "CA01", "CA", "3"),
        Subsidiary("4", "DE01", "DE", "4"),
        Subsidiary("5", "FR01", "FR", "4"),
        Subsidiary("6", "GB01", "GB", "2"),
        Subsidiary("7", "SG01", "SG", "5"),
        Subsidiary("8", "JP01", "JP", "6"),
        Subsidiary("9", "KW01", "KW", "7"),
    )
}

TERMS: dict[str, Term] = {
    t.id: t
    for t in (
        Term("1", "Net 15", 15),
        Term("2", "Net 30", 30),
        Term("3", "Net 45", 45),
        Term("4", "Net 60", 60),
    )
}

ITEMS: dict[str, Item] = {
    i.id: i
    for i in (
        Item("1001", "WIDGET-1", "inventoryItem", "Widget", Decimal("19.99")),
        Item("1002", "GADGET-2", "inventoryItem", "Gadget", Decimal("149.00")),
        Item("1003", "SUPPORT-1Y", "serviceSaleItem", "Support, one year", Decimal("1200.00")),
    )
}
ITEM_RECORD_TYPES = ("inventoryItem", "serviceSaleItem")

# The base price level in the currencies whose figures differ (multiple-currency pricing), by
# currency and item internal id: whole yen; dinars in fils, kept as rates to three decimals.
CURRENCY_PRICES: dict[str, dict[str, Decimal]] = {
    "6": {"1001": Decimal("3000"), "1002": Decimal("22000"), "1003": Decimal("180000")},
    "7": {"1001": Decimal("6.125"), "1002": Decimal("45.750"), "1003": Decimal("368.500")},
}


def price_of(item: Item, currency: Currency) -> Decimal:
    """The item's base price in `currency`."""
    return CURRENCY_PRICES.get(currency.id, {}).get(item.id, item.base_price)


SALES_TAX_ITEMS: dict[str, SalesTaxItem] = {
    t.id: t
    for t in (
        SalesTaxItem("11", "US-SALES-8.25", "US", Decimal("8.25")),
        SalesTaxItem("12", "CA-GST-5", "CA", Decimal("5")),
        SalesTaxItem("13", "DE-VAT-19", "DE", Decimal("19")),
        SalesTaxItem("14", "FR-TVA-20", "FR", Decimal("20")),
        SalesTaxItem("15", "GB-VAT-20", "GB", Decimal("20")),
        SalesTaxItem("16", "SG-GST-9", "SG", Decimal("9")),
        SalesTaxItem("17", "JP-CT-10", "JP", Decimal("10")),
    )  # none for Kuwait, which levies no VAT
}
TAX_ITEM_BY_COUNTRY: dict[str, SalesTaxItem] = {t.country: t for t in SALES_TAX_ITEMS.values()}

# Customers of subsidiaries in these countries need a VAT registration number.
EU_COUNTRIES = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
        *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
    }
)

COUNTRY_NAMES = {
    "US": "United States",
    "CA": "Canada",
    "DE": "Germany",
    "FR": "France",
    "GB": "United Kingdom",
    "SG": "Singapore",
    "JP": "Japan",
    "KW": "Kuwait",
}
