"""The metadata catalog of the simulated account: each record type's fields as a JSON Schema,
custom fields included (and flagged), as NetSuite describes its records at
`/services/rest/record/v1/metadata-catalog/<type>` with `Accept: application/schema+json`.

Not the records (see `documents`): what fields they have, so that a client can check the
account before relying on them. An account started without the custom fields lists none.
"""

from __future__ import annotations

from typing import Any

CATALOG_PATH = "/services/rest/record/v1/metadata-catalog"
SCHEMA_MEDIA_TYPE = "application/schema+json"
OPENAPI_MEDIA_TYPE = "application/swagger+json"
CUSTOM_FIELD_PREFIXES = ("custbody", "custentity", "custcol", "custitem")

# name -> (label, JSON type; "ref" is a reference `{"id", "refName"}`, "list" a sublist)
_Fields = dict[str, tuple[str, str]]
_COMMON: _Fields = {
    "id": ("Internal ID", "string"),
    "externalId": ("External ID", "string"),
    "links": ("Links", "array"),
}
_TRANSACTION: _Fields = {
    **_COMMON,
    "tranId": ("Document Number", "string"),
    "tranDate": ("Date", "date"),
    "entity": ("Customer", "ref"),
    "subsidiary": ("Subsidiary", "ref"),
    "createdFrom": ("Created From", "ref"),
    "status": ("Status", "ref"),
    "createdDate": ("Date Created", "date-time"),
    "item": ("Items", "list"),
}
_ITEM: _Fields = {
    **_COMMON,
    "itemId": ("Item Name/Number", "string"),
    "displayName": ("Display Name/Code", "string"),
    "isInactive": ("Inactive", "boolean"),
    "price": ("Pricing", "list"),
}
STANDARD_FIELDS: dict[str, _Fields] = {
    "customer": {
        **_COMMON,
        "entityId": ("Customer ID", "string"),
        "companyName": ("Company Name", "string"),
        "isPerson": ("Type", "boolean"),
        "email": ("Email", "string"),
        "phone": ("Phone", "string"),
        "subsidiary": ("Primary Subsidiary", "ref"),
        "currency": ("Currency", "ref"),
        "terms": ("Terms", "ref"),
        "creditLimit": ("Credit Limit", "number"),
        "balance": ("Balance", "number"),
        "unbilledOrders": ("Unbilled Orders", "number"),
        "overdueBalance": ("Overdue Balance", "number"),
        "vatRegNumber": ("Tax Reg. Number", "string"),
        "accountNumber": ("Account", "string"),
        "taxable": ("Taxable", "boolean"),
        "taxItem": ("Tax Item", "ref"),
        "comments": ("Comments", "string"),
        "isInactive": ("Inactive", "boolean"),
        "entityStatus": ("Status", "ref"),
        "dateCreated": ("Date Created", "date-time"),
        "addressBook": ("Address Book", "list"),
    },
    "salesOrder": {
        **_TRANSACTION,
        "otherRefNum": ("PO/Check Number", "string"),
        "currency": ("Currency", "ref"),
        "terms": ("Terms", "ref"),
        "shipDate": ("Ship Date", "date"),
        "memo": ("Memo", "string"),
        "orderStatus": ("Order Status", "ref"),
        "subtotal": ("Subtotal", "number"),
        "taxItem": ("Tax Item", "ref"),
        "taxRate": ("Tax Rate", "number"),
        "taxTotal": ("Tax", "number"),
        "total": ("Total", "number"),
    },
    "itemFulfillment": {**_TRANSACTION, "shipStatus": ("Status", "ref")},
    "invoice": {
        **_TRANSACTION,
        "dueDate": ("Due Date", "date"),
        "currency": ("Currency", "ref"),
        "terms": ("Terms", "ref"),
        "subtotal": ("Subtotal", "number"),
        "taxTotal": ("Tax", "number"),
        "total": ("Total", "number"),
        "amountRemaining": ("Amount Remaining", "number"),
        "amountPaid": ("Amount Paid", "number"),
        "paidInFull": ("Paid In Full", "boolean"),
    },
    "inventoryItem": _ITEM,
    "serviceSaleItem": _ITEM,
    "subsidiary": {
        **_COMMON,
        "name": ("Name", "string"),
        "country": ("Country", "ref"),
        "currency": ("Currency", "ref"),
        "isInactive": ("Inactive", "boolean"),
    },
    "term": {
        **_COMMON,
        "name": ("Terms", "string"),
        "daysUntilNetDue": ("Days Till Net Due", "integer"),
        "isInactive": ("Inactive", "boolean"),
    },
    "currency": {
        **_COMMON,
        "name": ("Name", "string"),
        "symbol": ("ISO Code", "string"),
        "isBaseCurrency": ("Is Base Currency", "boolean"),
        "isInactive": ("Inactive", "boolean"),
    },
    "salesTaxItem": {
        **_COMMON,
        "itemId": ("Tax Name", "string"),
        "rate": ("Rate", "number"),
        "country": ("Country", "ref"),
        "isInactive": ("Inactive", "boolean"),
    },
}
# The account's custom fields (Customization > Lists, Records, & Fields), by record type.
CUSTOM_FIELDS: dict[str, _Fields] = {
    "salesOrder": {"custbody_credit_hold": ("Credit Hold", "boolean")},
}


def is_custom_field(name: str) -> bool:
    return name.startswith(CUSTOM_FIELD_PREFIXES)


def _property(label: str, kind: str, custom: bool) -> dict[str, Any]:
    if kind == "ref":
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {"id": {"type": "string"}, "refName": {"type": "string"}},
        }
    elif kind == "list":
        schema = {"type": "object", "properties": {"items": {"type": "array"}}}
    elif kind in ("date", "date-time"):
        schema = {"type": "string", "format": kind}
    else:
        schema = {"type": kind}
    schema = {"title": label, **schema, "nullable": True}
    if custom:
        schema["x-ns-custom-field"] = True
    return schema


def record_schema(record_type: str, custom_fields: bool) -> dict[str, Any]:
    """The JSON Schema of one record type, with the account's custom fields if it has them."""
    fields = dict(STANDARD_FIELDS[record_type])
    custom = CUSTOM_FIELDS.get(record_type, {}) if custom_fields else {}
    properties = {name: _property(label, kind, False) for name, (label, kind) in fields.items()}
    properties |= {name: _property(label, kind, True) for name, (label, kind) in custom.items()}
    return {"type": "object", "title": record_type, "properties": properties}


def catalog(root: str) -> dict[str, Any]:
    """The list of record types, each with links to its metadata in both media types."""
    return {
        "items": [
            {
                "name": record_type,
                "links": [
                    {
                        "rel": "alternate",
                        "href": f"{root}/{record_type}",
                        "mediaType": media_type,
                    }
                    for media_type in (OPENAPI_MEDIA_TYPE, SCHEMA_MEDIA_TYPE)
                ],
            }
            for record_type in STANDARD_FIELDS
        ]
    }
