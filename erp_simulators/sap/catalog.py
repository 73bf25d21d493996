"""The legacy ERP's customizing: company codes, sales areas, materials, taxes and payment terms.

Not business data (see `records`): this is what consultants configured before go-live; it is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

SYSTEM_ID = "S4H"  # the SID in session cookie names, SAP_SESSIONID_<SID>_<client>
CLIENT = "100"  # the only client (Mandant) of this system


@dataclass(frozen=True)
class CompanyCode:
    code: str
    country: str
    currency: str


@dataclass(frozen=True)
class Material:
    number: str
    description: str
    price: Decimal  # net price per base unit; the same figure in every currency but those below
    unit: str = "EA"
    # What availability check confirms for any one requested delivery date; None: no limit
    # (a service). More is accepted, with a warning, and confirmed later.
    available: Decimal | None = None


COMPANY_CODES: dict[str, CompanyCode] = {
    cc.code: cc
    for cc in (
        CompanyCode("1710", "US", "USD"),
        CompanyCode("1720", "CA", "CAD"),
        CompanyCode("1010", "DE", "EUR"),
        CompanyCode("1510", "FR", "EUR"),
        CompanyCode("1410", "GB", "GBP"),
        CompanyCode("2810", "SG", "SGD"),
        CompanyCode("2910", "JP", "JPY"),
        CompanyCode("4610", "KW", "KWD"),
    )
}
# The currencies this system defines (table TCURC): those of its company codes, the only ones
# its price list (PR00 condition records, below) has prices in. A document in any other is
# refused (V1/220, CVI_API/005) rather than priced with another currency's figures.
CURRENCIES = frozenset(cc.currency for cc in COMPANY_CODES.values())
# Decimals of the currencies that do not have two (table TCURX: SAP keeps every amount with two
# and shifts these; its APIs show them with their own); the rest have two.
CURRENCY_DECIMALS: dict[str, int] = {"JPY": 0, "KWD": 3}
# Each sales organization sells on behalf of the company code with the same key.
SALES_ORGANIZATIONS: dict[str, CompanyCode] = dict(COMPANY_CODES)
DISTRIBUTION_CHANNELS = frozenset({"10"})
DIVISIONS = frozenset({"00"})
SALES_ORDER_TYPES = frozenset({"OR"})

MATERIALS: dict[str, Material] = {
    m.number: m
    for m in (
        Material("FG-WIDGET1", "Widget", Decimal("19.99"), available=Decimal("1000")),
        Material("FG-GADGET2", "Gadget", Decimal("149.00"), available=Decimal("50")),
        Material("SV-SUPPORT1Y", "Support, one year", Decimal("1200.00")),
    )
}

# Condition records (PR00) in the currencies whose figures differ: whole yen, dinars in fils.
CURRENCY_PRICES: dict[str, dict[str, Decimal]] = {
    "JPY": {
        "FG-WIDGET1": Decimal("3000"),
        "FG-GADGET2": Decimal("22000"),
        "SV-SUPPORT1Y": Decimal("180000"),
    },
    "KWD": {
        "FG-WIDGET1": Decimal("6.125"),
        "FG-GADGET2": Decimal("45.750"),
        "SV-SUPPORT1Y": Decimal("368.500"),
    },
}


def currency_decimals(currency: str) -> int:
    return CURRENCY_DECIMALS.get(currency, 2)


def price_of(material: Material, currency: str) -> Decimal:
    """The material's net price in `currency`."""
    return CURRENCY_PRICES.get(currency, {}).get(material.number, material.price)


OUTPUT_TAX_RATES: dict[str, Decimal] = {
    "US": Decimal("0.0825"),
    "CA": Decimal("0.05"),
    "DE": Decimal("0.19"),
    "FR": Decimal("0.20"),
    "GB": Decimal("0.20"),
    "SG": Decimal("0.09"),
    "JP": Decimal("0.10"),
    "KW": Decimal("0"),  # Kuwait levies no VAT
}

PAYMENT_TERMS: dict[str, int] = {"NT15": 15, "NT30": 30, "NT45": 45, "NT60": 60}  # net days

# EU member states: a customer there must carry a VAT registration number.
TAX_NUMBER_REQUIRED = frozenset({"DE", "FR"})

BP_CATEGORIES = frozenset({"1", "2"})  # person, organization
BP_ROLES = frozenset({"FLCU00", "FLCU01", "FLVN00", "FLVN01"})
COMPANY_ROLE = "FLCU00"  # FI customer: needed for company-code data
SALES_ROLE = "FLCU01"  # SD customer: needed for sales-area data
DEFAULT_RECONCILIATION_ACCOUNT = "0012100000"

# Reasons for rejection (customizing table TVAG); "" removes a rejection.
REJECTION_REASONS: dict[str, str] = {
    "01": "Delivery date too late",
    "02": "Poor quality",
    "03": "Too expensive",
    "04": "Competitor better",
    "05": "Guarantee",
    "10": "Unreasonable request",
    "11": "Cust.to receive replacement",
    "50": "Transaction being checked",
}

EXPECTED_PRICE_CONDITION = "EDI1"  # the customer's expected price, checked against the price
NET_PRICE_CONDITION = "PPR0"
OUTPUT_TAX_CONDITION = "TTX1"
PRICE_CONDITION_CLASS = "B"  # condition classes: B prices, D taxes
TAX_CONDITION_CLASS = "D"
