"""Canonical resources of the domain API, as pydantic models (the newest version's schema).

Not ERP payloads (see `gateway.adapters`) and not HTTP handling (see `gateway.api`).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from gateway.domain.currencies import ISO_4217
from gateway.domain.expected import Expected

DECIMAL_PLACES = 4
"""The most decimals a decimal of the API carries (a unit price of "0.1234")."""
INTEGER_DIGITS = 15
"""The most digits a decimal of the API carries before its decimal point."""
# ASCII digits only, matched whole: `\d` would take Arabic-Indic digits, `$` a trailing newline.
_DECIMAL_PATTERN = rf"-?[0-9]{{1,{INTEGER_DIGITS}}}(\.[0-9]{{1,{DECIMAL_PLACES}}})?"
_DECIMAL_RE = re.compile(_DECIMAL_PATTERN)
# A decimal the pattern refuses for its length only: told how many digits it may have, not
# that it is no decimal written as a string (which the client did write).
_ANY_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# What no string in a client's request may hold: C0 and C1 controls (NUL, CR, LF, TAB...), DEL,
# and the invisible marks that reorder or hide text (bidirectional overrides and isolates).
_CONTROL_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
CLIENT_REQUEST = {"client_request": True}
"""The validation context of a client's request: strings are checked for control characters
(an ERP's own data, read back through the same models, is not judged by the client's rules)."""


def _digits_within_limits(value: Any) -> Any:
    """`value` unless it is a decimal written as a string with more digits than the API takes:
    told how many it may have, not that it is no decimal written as a string (which it is)."""
    if (
        isinstance(value, str)
        and not _DECIMAL_RE.fullmatch(value)
        and _ANY_DECIMAL_RE.fullmatch(value)
    ):
        raise ValueError(
            f"must have at most {INTEGER_DIGITS} digits before the decimal point and "
            f'{DECIMAL_PLACES} decimals after it, such as "19.99"'
        )
    return value


def _decimal_from_string(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(_digits_within_limits(value)):
        raise ValueError('must be a decimal number written as a string, such as "19.99"')
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes these
        raise ValueError("not a decimal number") from exc


def _decimal_to_string(value: Decimal) -> str:
    return format(value, "f")


DecimalStr = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_string),
    PlainSerializer(_decimal_to_string, return_type=str),
    WithJsonSchema({"type": "string", "pattern": f"^{_DECIMAL_PATTERN}$", "examples": ["19.99"]}),
]
"""A decimal that travels as a JSON string (never a float), e.g. "19.99"."""


def no_number(written: str) -> BeforeValidator:
    """A time that refuses a number, or a string of one: pydantic would read either as seconds
    since 1970 (`20270104`, a date typed without its dashes, is 1970-08-23; `since=2024`, the
    year typed alone, 1970-01-01T00:33:44Z). `written` says how to write it instead."""

    def refuse(value: object) -> object:
        if isinstance(value, int | float) or (isinstance(value, str) and _numeric(value)):
            raise ValueError(f"must be {written}, not a number")
        return value

    return BeforeValidator(refuse)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# A calendar date as the API writes it, and nothing else: pydantic would also read a number
# written as a string ("1797292800") as a Unix timestamp, a date the client never wrote.
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date_as_written(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # a date already (a model built in code), or refused as no date
    if not _DATE_RE.fullmatch(value):
        raise ValueError('must be a calendar date written as "YYYY-MM-DD", such as "2026-12-15"')
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is no day of the calendar") from None


CalendarDate = Annotated[dt.date, BeforeValidator(_date_as_written)]
"""A date of a client's request: `YYYY-MM-DD` only (no timestamp, no time of day)."""

T = TypeVar("T")

# The constrained types of requests, each with the words a client reads for a value that does
# not fit it (`Expected`), whichever field and version carries it.
NonNegativeDecimalStr = Annotated[
    DecimalStr,
    Field(ge=0),
    Expected(
        f"Enter an amount of zero or more as a string with up to {DECIMAL_PLACES} decimals, "
        'such as "19.99".'
    ),
    # Outside the words: a decimal with too many digits is told how many it may have.
    BeforeValidator(_digits_within_limits),
]


def _iso_currency(code: str) -> str:
    # After the pattern: three capitals, so naming the code back cannot echo anything else.
    if code not in ISO_4217:
        raise ValueError(
            f"{code} is no currency: a currency is an ISO 4217 code, such as USD, EUR or JPY."
        )
    return code


CurrencyCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}$",
        description="An ISO 4217 currency code, in capitals.",
        examples=["USD"],
    ),
    Expected("Enter a currency as its ISO 4217 code in capitals, such as EUR."),
    AfterValidator(_iso_currency),
]
"""A currency: one of ISO 4217's codes (`gateway.domain.currencies`), whether or not an ERP is set
up with it (the ERP refuses one it is not). Its schema is the pattern and a description naming
ISO 4217: an enum of every code would fill each document that shows a currency."""
CountryCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{2}$", examples=["US"]),
    Expected("Enter a country as its ISO 3166-1 code of two capitals, such as US or DE."),
]
_LEGAL_ENTITY_CODE = re.compile(r"^[A-Z0-9]{2,10}$")
LegalEntityCode = Annotated[
    str,
    Field(pattern=_LEGAL_ENTITY_CODE.pattern, examples=["US01"]),
    Expected("Enter a legal entity as its code of 2 to 10 capitals or digits, such as US01."),
]


def is_legal_entity_code(text: str) -> bool:
    """Whether `text` is written as a legal entity's code (`LegalEntityCode`), known or not."""
    return _LEGAL_ENTITY_CODE.fullmatch(text) is not None


ExternalRef = Annotated[
    str,
    Field(min_length=1, max_length=35, examples=["CRM-ACC-1001"]),
    Expected("Enter the CRM's reference in 1 to 35 characters, such as CRM-ACC-1001."),
]
Email = Annotated[
    str,
    Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=241, examples=["ap@acme.example"]),
    Expected("Enter an email address of at most 241 characters, such as ap@acme.example."),
]
Text = Annotated[str, Field(min_length=1, max_length=80), Expected("Enter 1 to 80 characters.")]
ShortName = Annotated[
    str, Field(min_length=1, max_length=20), Expected("Enter a short name of 1 to 20 characters.")
]
TaxId = Annotated[
    str,
    Field(min_length=1, max_length=20),
    Expected("Enter a tax number of 1 to 20 characters, such as US-12-3456789."),
]
PaymentTerms = Annotated[
    str,
    Field(min_length=1, max_length=10, examples=["NET30"]),
    Expected("Enter payment terms as their code of 1 to 10 characters, such as NET30."),
]
PostalCode = Annotated[
    str,
    Field(min_length=1, max_length=10),
    Expected("Enter a postal code of 1 to 10 characters."),
]
Region = Annotated[
    str,
    Field(min_length=1, max_length=3),
    Expected("Enter a region as its code of 1 to 3 characters, such as TX."),
]
CustomerId = Annotated[
    str,
    Field(pattern=r"^cus_[a-z0-9]{1,40}$"),
    Expected(
        "Enter a customer's id as the gateway gave it: cus_ and up to 40 lower-case letters or "
        "digits, such as cus_01hzx3k9m2."
    ),
]
Sku = Annotated[
    str,
    Field(min_length=1, max_length=40, examples=["WIDGET-1"]),
    Expected("Enter a product's SKU in 1 to 40 characters, such as WIDGET-1."),
]
Quantity = Annotated[
    int,
    Field(gt=0, le=1_000_000),
    Expected("Enter a quantity as a whole number from 1 to 1000000."),
]


class Strict(BaseModel):
    """Request models: unknown fields rejected, no silent type coercion, immutable; validated
    with `CLIENT_REQUEST` as context, no string may hold a control character or be blank."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and info.context and _CONTROL_RE.search(value):
            raise ValueError(
                "control characters (such as NUL, CR, LF, TAB or bidirectional overrides) "
                "are not allowed"
            )
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _not_blank(cls, value: Any, info: ValidationInfo) -> Any:
        # A name of spaces only is no name: one ERP stores it, the other refuses it in its own
        # words ("Enter a name (Name 1)"); the gateway refuses it for both, at the field.
        if isinstance(value, str) and info.context and value.isspace():
            raise ValueError("must not be blank: send a value, or leave an optional field out")
        return value


class Resource(BaseModel):
    """Response models: immutable; new fields may appear within a version."""

    model_config = ConfigDict(frozen=True)


class Address(Strict):
    line1: Text
    line2: Text | None = None
    city: Text
    postal_code: PostalCode
    region: Region | None = None
    country: CountryCode


class AddressType(StrEnum):
    BILLING = "billing"
    SHIPPING = "shipping"


class CustomerAddress(Address):
    type: AddressType


def _one_address_per_type(addresses: list[CustomerAddress]) -> list[CustomerAddress]:
    types = [a.type for a in addresses]
    if AddressType.BILLING not in types:
        raise ValueError("a billing address is required")
    if len(set(types)) != len(types):
        raise ValueError("at most one address of each type")
    return addresses


CustomerAddresses = Annotated[
    list[CustomerAddress],
    Field(min_length=1, max_length=len(AddressType)),
    AfterValidator(_one_address_per_type),
]


class CustomerCreate(Strict):
    external_ref: ExternalRef
    legal_entity: LegalEntityCode
    legal_name: Text
    display_name: ShortName | None = None
    tax_id: TaxId | None = None
    email: Email | None = None
    currency: CurrencyCode
    payment_terms: PaymentTerms
    credit_limit: NonNegativeDecimalStr
    addresses: CustomerAddresses

    @property
    def billing_index(self) -> int:
        """Where the billing address sits in `addresses` (the ERP's main address)."""
        return next(i for i, a in enumerate(self.addresses) if a.type is AddressType.BILLING)

    @property
    def billing_address(self) -> CustomerAddress:
        return self.addresses[self.billing_index]

    @property
    def shipping_address(self) -> CustomerAddress | None:
        return next((a for a in self.addresses if a.type is AddressType.SHIPPING), None)


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class Notice(Resource):
    """Something the ERP said while accepting the request, in canonical terms (a price taken
    from a list, a delivery date moved...), and its own words for support."""

    message: str
    erp_message: str | None = None


class Customer(Resource):
    id: str
    status: CustomerStatus
    erp_reference: str
    external_ref: str | None
    legal_entity: str
    legal_name: str
    display_name: str | None = None
    tax_id: str | None = None
    email: str | None = None
    currency: str
    payment_terms: str | None = None
    credit_limit: DecimalStr | None = None
    addresses: list[CustomerAddress]
    warnings: list[Notice] = []


class Price(Strict):
    """A unit price the CRM quotes, in the order's currency."""

    amount: NonNegativeDecimalStr
    currency: CurrencyCode


class Money(Resource):
    amount: DecimalStr
    currency: str


class OrderItem(Strict):
    product_id: Sku
    quantity: Quantity
    price: Price


OrderItems = Annotated[list[OrderItem], Field(min_length=1, max_length=500)]


class SalesOrderCreate(Strict):
    external_ref: ExternalRef
    legal_entity: LegalEntityCode
    customer_id: CustomerId
    currency: CurrencyCode
    requested_delivery_date: CalendarDate
    items: OrderItems


class QuoteRequest(Strict):
    legal_entity: LegalEntityCode
    customer_id: CustomerId
    currency: CurrencyCode
    requested_delivery_date: CalendarDate | None = None
    items: OrderItems


class SalesOrderStatus(StrEnum):
    """The newest version's closed list; clients must survive new values only at a new version."""

    ACCEPTED = "accepted"
    ON_HOLD = "on_hold"
    IN_FULFILLMENT = "in_fulfillment"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    INVOICED = "invoiced"
    PAID = "paid"
    CANCELLED = "cancelled"


class HoldReason(StrEnum):
    CREDIT = "credit"
    DELIVERY = "delivery"


class PricedItem(Resource):
    product_id: str
    quantity: int
    price: Money
    amount: Money


class SalesOrder(Resource):
    id: str
    status: SalesOrderStatus
    hold_reason: HoldReason | None = None
    erp_reference: str
    external_ref: str | None
    legal_entity: str
    customer_id: str
    currency: str
    requested_delivery_date: dt.date | None
    items: list[PricedItem]
    net_amount: Money
    tax_amount: Money | None = None
    total_amount: Money | None = None
    warnings: list[Notice] = []


class ShipmentStatus(StrEnum):
    PENDING = "pending"  # delivery created, goods not yet issued
    SHIPPED = "shipped"


class ShipmentItem(Resource):
    product_id: str
    quantity: int


class Shipment(Resource):
    id: str
    sales_order_id: str
    status: ShipmentStatus
    erp_reference: str
    shipped_at: dt.date | None = None
    items: list[ShipmentItem]


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"


class Invoice(Resource):
    id: str
    sales_order_id: str | None
    status: InvoiceStatus
    erp_reference: str
    currency: str
    invoice_date: dt.date | None = None
    due_date: dt.date | None = None
    net_amount: Money
    tax_amount: Money | None = None
    total_amount: Money


class CreditCheck(StrEnum):
    PASSED = "passed"
    WOULD_BLOCK = "would_block"  # the order would be saved on credit hold


class QuoteResult(Resource):
    valid: bool
    legal_entity: str
    customer_id: str
    currency: str
    items: list[PricedItem]
    net_amount: Money
    tax_amount: Money | None = None
    total_amount: Money | None = None
    credit_check: CreditCheck
    warnings: list[Notice] = []


class Page(Resource, Generic[T]):
    items: list[T]
