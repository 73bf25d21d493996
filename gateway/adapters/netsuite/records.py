"""Where things live in NetSuite: record types, their REST paths and metadata, the `eid:`
external-id key, the `q` query that finds an order's documents, and the kinds of interaction
error paths depend on.

Not how to call them (see `client.py`, `adapter.py`).
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import quote as url_quote

from gateway.adapters.netsuite.fields import bad_response
from gateway.domain.digits import ascii_digits

RECORD_ROOT = "/services/rest/record/v1"
CUSTOMER = "customer"
SALES_ORDER = "salesOrder"
ITEM_FULFILLMENT = "itemFulfillment"
INVOICE = "invoice"
SALES_TAX_ITEM = "salesTaxItem"
SUBSIDIARY = "subsidiary"
TERM = "term"
CURRENCY = "currency"
# Each record type's fields, custom ones included, as JSON Schema (Accept: application/schema+json).
METADATA_ROOT = RECORD_ROOT + "/metadata-catalog"


# Item internal ids are unique across item types, but each type has its own endpoint; the
# value maps only know the id, so the adapter tries these in turn and remembers the answer.
ITEM_RECORD_TYPES = ("inventoryItem", "serviceSaleItem", "nonInventorySaleItem")
BASE_PRICE_LEVEL_ID = "1"
CREDIT_HOLD_FIELD = "custbody_credit_hold"


class Documents(StrEnum):
    """Which documents decide an order's canonical status beyond its own fields."""

    NONE = "none"
    SHIPMENTS = "shipments"
    INVOICES = "invoices"


class Interaction(StrEnum):
    """What the gateway was doing when NetSuite refused: decides codes and pointers."""

    CUSTOMER_CREATE = "customer_create"
    SALES_ORDER_CREATE = "sales_order_create"
    CANCEL = "cancel"
    READ = "read"


def record_path(record_type: str, key: str | None = None) -> str:
    if key is None:
        return f"{RECORD_ROOT}/{record_type}"
    if key.isascii() and key.isalnum():  # an internal id: nothing to quote
        return f"{RECORD_ROOT}/{record_type}/{key}"
    return f"{RECORD_ROOT}/{record_type}/{url_quote(key, safe=':')}"


def metadata_path(record_type: str) -> str:
    return f"{METADATA_ROOT}/{record_type}"


def external_id_key(gateway_ref: str) -> str:
    return "eid:" + gateway_ref


def created_from_query(sales_order_erp_id: str) -> str | None:
    """The `q` that lists documents created from an order; None for an id NetSuite never has."""
    if not ascii_digits(sales_order_erp_id):
        return None
    return f"createdFrom ANY_OF [{sales_order_erp_id}]"


def record_id_from_location(location: str | None, record_type: str) -> str:
    """The internal id in a create's `Location` header. Without one the outcome is unknown: the
    record may exist, so the failure is ambiguous (the retry searches by gateway reference)."""
    marker = f"/{record_type}/"
    if location and marker in location:
        internal_id = location.rstrip("/").rpartition("/")[2]
        if ascii_digits(internal_id):
            return internal_id
    raise bad_response(
        "The ERP did not say where it saved the record; the outcome is unknown.", ambiguous=True
    )
