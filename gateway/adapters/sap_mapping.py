"""Pure translation between canonical requests and SAP OData v2 payloads, answers and errors.

Not the ERP client (see `sap_odata`): no I/O here, so every mapping is testable on its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from gateway.adapters.base import (
    ErpCustomer,
    ErpInvoice,
    ErpLine,
    ErpQuote,
    ErpSalesOrder,
    ErpShipment,
    ErpShipmentLine,
    References,
)
from gateway.adapters.http import ErpFailure
from gateway.config.backends import SapLegalEntity, SapValueMaps
from gateway.domain.errors import Code, FieldError, GatewayError, business
from gateway.domain.models import (
    Address,
    AddressType,
    CreditCheck,
    CustomerAddress,
    CustomerCreate,
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    OrderItem,
    SalesOrderStatus,
    ShipmentStatus,
)

# --- where things live in SAP -----------------------------------------------------------------

ODATA_ROOT = "/sap/opu/odata/sap"
BP_SERVICE = ODATA_ROOT + "/API_BUSINESS_PARTNER"
SALES_ORDER_SERVICE = ODATA_ROOT + "/API_SALES_ORDER_SRV"
SIMULATION_SERVICE = ODATA_ROOT + "/API_SALES_ORDER_SIMULATION_SRV"
DELIVERY_SERVICE = ODATA_ROOT + "/API_OUTBOUND_DELIVERY_SRV"
BILLING_SERVICE = ODATA_ROOT + "/API_BILLING_DOCUMENT_SRV"

BUSINESS_PARTNERS = BP_SERVICE + "/A_BusinessPartner"
SALES_ORDERS = SALES_ORDER_SERVICE + "/A_SalesOrder"
SALES_ORDER_ITEMS = SALES_ORDER_SERVICE + "/A_SalesOrderItem"
SIMULATIONS = SIMULATION_SERVICE + "/A_SalesOrderSimulation"
DELIVERIES = DELIVERY_SERVICE + "/A_OutbDeliveryHeader"
DELIVERY_ITEMS = DELIVERY_SERVICE + "/A_OutbDeliveryItem"
BILLING_DOCUMENTS = BILLING_SERVICE + "/A_BillingDocument"
BILLING_ITEMS = BILLING_SERVICE + "/A_BillingDocumentItem"

CUSTOMER_EXPAND = (
    "to_BusinessPartnerAddress/to_EmailAddress,to_BusinessPartnerTax,"
    "to_Customer/to_CustomerCompany,to_Customer/to_CustomerSalesArea"
)
ORDER_EXPAND = "to_Item"
DELIVERY_EXPAND = "to_DeliveryDocumentItem"
BILLING_EXPAND = "to_Item"

GATEWAY_REF_FIELD = "YY1_GatewayRef_SDH"  # custom field on BP and sales order header
CREDIT_LIMIT_FIELD = "YY1_CreditLimit_bus"  # custom field on the BP, in the customer's currency
ORGANIZATION = "2"  # BusinessPartnerCategory
CUSTOMER_ROLES = ("FLCU00", "FLCU01")  # FI customer (company code data), SD customer (sales)
NAME_PART_LENGTH = 40  # OrganizationBPName1/2
EXPECTED_PRICE_CONDITION = "EDI1"  # customer expected price: SAP checks it against its price
CANCEL_REJECTION_REASON = "10"  # the reason for rejection the gateway sets when cancelling
ITEM_STEP = 10  # line i is item (i + 1) * 10
_CENT = Decimal("0.01")

_ITEM_TARGET_RE = re.compile(r"to_Item\((?:SalesOrderItem=)?'?(\d+)'?\)")
_KEY_SUFFIX_RE = re.compile(r"\(.*\)$")
_DATE_RE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")


class SapAnswerError(ValueError):
    """An SAP answer without the shape the mapping needs (the caller reports erp_bad_response)."""


# --- value maps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SapMaps:
    """The backend's value maps both ways, built once per configuration load."""

    legal_entities: Mapping[str, SapLegalEntity]
    payment_terms: Mapping[str, str]
    skus: Mapping[str, str]
    legal_entity_by_company_code: Mapping[str, str]
    legal_entity_by_sales_org: Mapping[str, str]
    terms_by_key: Mapping[str, str]
    sku_by_material: Mapping[str, str]

    @classmethod
    def from_config(cls, maps: SapValueMaps) -> SapMaps:
        return cls(
            legal_entities=dict(maps.legal_entities),
            payment_terms=dict(maps.payment_terms),
            skus=dict(maps.skus),
            legal_entity_by_company_code=_reverse(
                {le: m.company_code for le, m in maps.legal_entities.items()}
            ),
            legal_entity_by_sales_org=_reverse(
                {le: m.sales_organization for le, m in maps.legal_entities.items()}
            ),
            terms_by_key=_reverse(maps.payment_terms),
            sku_by_material=_reverse(maps.skus),
        )

    def legal_entity(self, code: str, pointer: str = "/legal_entity") -> SapLegalEntity:
        mapped = self.legal_entities.get(code)
        if mapped is None:
            raise business(
                Code.ERP_REJECTED,
                f"Legal entity {code} has no company code in the legacy ERP's value maps.",
                FieldError(pointer, f"{code} is not set up in the legacy ERP."),
            )
        return mapped


def _reverse(mapping: Mapping[str, str]) -> dict[str, str]:
    """ERP key -> canonical code; the first canonical code wins if two share a key."""
    reverse: dict[str, str] = {}
    for canonical, key in mapping.items():
        reverse.setdefault(key, canonical)
    return reverse


# --- canonical -> SAP -------------------------------------------------------------------------


def customer_payload(request: CustomerCreate, refs: References, maps: SapMaps) -> dict[str, Any]:
    """The A_BusinessPartner deep insert: organization, roles, address, tax, customer data."""
    entity = maps.legal_entity(request.legal_entity)
    terms = maps.payment_terms.get(request.payment_terms)
    if terms is None:
        raise business(
            Code.INVALID_PAYMENT_TERMS,
            f"Payment terms {request.payment_terms} are not known; use one of "
            f"{', '.join(sorted(maps.payment_terms))}.",
            FieldError("/payment_terms", f"{request.payment_terms} is not a known payment term."),
        )
    payload: dict[str, Any] = {
        "BusinessPartnerCategory": ORGANIZATION,
        "OrganizationBPName1": request.legal_name[:NAME_PART_LENGTH],
        "YY1_GatewayRef_SDH": refs.gateway_ref,
        CREDIT_LIMIT_FIELD: format(request.credit_limit, "f"),
        "to_BusinessPartnerRole": _results([{"BusinessPartnerRole": r} for r in CUSTOMER_ROLES]),
        "to_BusinessPartnerAddress": _results(_address_rows(request)),
        "to_Customer": {
            "to_CustomerCompany": _results(
                [{"CompanyCode": entity.company_code, "PaymentTerms": terms}]
            ),
            "to_CustomerSalesArea": _results(
                [
                    {
                        "SalesOrganization": entity.sales_organization,
                        "DistributionChannel": entity.distribution_channel,
                        "Division": entity.division,
                        "Currency": request.currency,
                        "CustomerPaymentTerms": terms,
                    }
                ]
            ),
        },
    }
    if len(request.legal_name) > NAME_PART_LENGTH:
        payload["OrganizationBPName2"] = request.legal_name[NAME_PART_LENGTH:]
    if request.display_name:
        payload["SearchTerm1"] = request.display_name  # the short name SAP users search by
    if refs.external_ref:
        payload["BusinessPartnerIDByExtSystem"] = refs.external_ref
    if request.tax_id:
        tax_type = request.billing_address.country + "0"  # e.g. DE0: the country's VAT number
        payload["to_BusinessPartnerTax"] = _results(
            [{"BPTaxType": tax_type, "BPTaxNumber": request.tax_id}]
        )
    return payload


def _address_rows(request: CustomerCreate) -> list[dict[str, Any]]:
    """The business partner's addresses: the billing (standard) address first, then shipping."""
    rows = [_address_row(request.billing_address, request.email)]
    if request.shipping_address is not None:
        rows.append(_address_row(request.shipping_address, None))
    return rows


def _address_row(address: Address, email: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "StreetName": address.line1,
        "CityName": address.city,
        "PostalCode": address.postal_code,
        "Country": address.country,
        "Language": "EN",
    }
    if address.line2:
        row["StreetSuffixName"] = address.line2
    if address.region:
        row["Region"] = address.region
    if email:
        row["to_EmailAddress"] = _results([{"EmailAddress": email}])
    return row


def sales_order_payload(
    entity: SapLegalEntity,
    customer_erp_id: str,
    currency: str,
    requested_delivery_date: dt.date | None,
    items: Sequence[OrderItem],
    maps: SapMaps,
    refs: References | None = None,
) -> dict[str, Any]:
    """The A_SalesOrder (or A_SalesOrderSimulation) deep insert with its items.

    Each item carries the CRM's unit price as an EDI1 condition (customer expected price), so
    SAP refuses the order when its own price differs: the CRM's quote was stale.
    """
    unknown = [
        FieldError(
            f"/items/{i}/product_id", f"{item.product_id} is not a product of the legacy ERP."
        )
        for i, item in enumerate(items)
        if item.product_id not in maps.skus
    ]
    if unknown:
        skus = ", ".join(sorted({i.product_id for i in items if i.product_id not in maps.skus}))
        raise business(Code.UNKNOWN_SKU, f"Unknown product: {skus}.", *unknown)
    payload: dict[str, Any] = {
        "SalesOrderType": entity.sales_order_type,
        "SalesOrganization": entity.sales_organization,
        "DistributionChannel": entity.distribution_channel,
        "OrganizationDivision": entity.division,
        "SoldToParty": customer_erp_id,
        "TransactionCurrency": currency,
    }
    if requested_delivery_date is not None:
        payload["RequestedDeliveryDate"] = odata_date(requested_delivery_date)
    if refs is not None:
        if refs.external_ref:
            payload["PurchaseOrderByCustomer"] = refs.external_ref
        payload[GATEWAY_REF_FIELD] = refs.gateway_ref
    payload["to_Item"] = _results(
        [_item_payload(i, item, currency, maps) for i, item in enumerate(items)]
    )
    return payload


def _item_payload(index: int, item: OrderItem, currency: str, maps: SapMaps) -> dict[str, Any]:
    return {
        "SalesOrderItem": str((index + 1) * ITEM_STEP),
        "Material": maps.skus[item.product_id],
        "RequestedQuantity": str(item.quantity),
        "to_PricingElement": _results(
            [
                {
                    "ConditionType": EXPECTED_PRICE_CONDITION,
                    "ConditionRateValue": format(item.price.amount, "f"),
                    "ConditionCurrency": currency,
                }
            ]
        ),
    }


def rejection_payload() -> dict[str, str]:
    return {"SalesDocumentRjcnReason": CANCEL_REJECTION_REASON}


def _results(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"results": rows}


def odata_date(day: dt.date) -> str:
    """An Edm.DateTime for a calendar date: `/Date(ms since epoch at UTC midnight)/`."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return f"/Date({int(midnight.timestamp()) * 1000})/"


def string_literal(value: str) -> str:
    """An OData string literal: quoted, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def entity_path(entity_set: str, **keys: str) -> str:
    if len(keys) == 1:
        return f"{entity_set}({string_literal(next(iter(keys.values())))})"
    return entity_set + "(" + ",".join(f"{k}={string_literal(v)}" for k, v in keys.items()) + ")"


def equals_filter(field: str, value: str) -> str:
    return f"{field} eq {string_literal(value)}"


# --- SAP answers -> canonical -----------------------------------------------------------------


def entity_of(body: Any) -> dict[str, Any]:
    """The entity in a `{"d": {...}}` envelope."""
    d = body.get("d") if isinstance(body, dict) else None
    if not isinstance(d, dict) or isinstance(d.get("results"), list):
        raise SapAnswerError("expected a single entity in a 'd' envelope")
    return d


def results_of(body: Any) -> list[dict[str, Any]]:
    """The entities in a `{"d": {"results": [...]}}` envelope."""
    d = body.get("d") if isinstance(body, dict) else None
    rows = d.get("results") if isinstance(d, dict) else d
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise SapAnswerError("expected a collection in a 'd' envelope")
    return rows


def _rows(entity: Mapping[str, Any], navigation: str) -> list[dict[str, Any]]:
    """An expanded to-many navigation; deferred or absent means none were sent."""
    value = entity.get(navigation)
    if isinstance(value, dict):
        value = value.get("results", [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise SapAnswerError(f"{navigation} is not a collection")
    return value


def _one(entity: Mapping[str, Any], navigation: str) -> dict[str, Any] | None:
    value = entity.get(navigation)
    if not isinstance(value, dict) or "__deferred" in value:
        return None
    return value


def _text(entity: Mapping[str, Any], name: str) -> str:
    value = entity.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SapAnswerError(f"{name} is not a string")
    return value


def _required(entity: Mapping[str, Any], name: str) -> str:
    value = _text(entity, name)
    if not value:
        raise SapAnswerError(f"{name} is missing")
    return value


def _decimal(entity: Mapping[str, Any], name: str) -> Decimal | None:
    """An Edm.Decimal (a JSON string); None when absent or empty."""
    value = entity.get(name)
    if value is None or value == "":
        return None
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise SapAnswerError(f"{name} is not a decimal")
    return number


def _amount(entity: Mapping[str, Any], name: str) -> Decimal:
    value = _decimal(entity, name)
    if value is None:
        raise SapAnswerError(f"{name} is missing")
    return value


def _quantity(entity: Mapping[str, Any], name: str) -> int:
    return int(_amount(entity, name))


def date_of(value: Any) -> dt.date | None:
    """A calendar date from an Edm.DateTime (`/Date(ms)/`); None for null."""
    if value is None or value == "":
        return None
    match = _DATE_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise SapAnswerError(f"{value!r} is not an Edm.DateTime")
    return dt.datetime.fromtimestamp(int(match[1]) / 1000, dt.UTC).date()


def customer_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpCustomer:
    number = _required(entity, "BusinessPartner")
    customer = _one(entity, "to_Customer") or {}
    companies = _rows(customer, "to_CustomerCompany")
    areas = _rows(customer, "to_CustomerSalesArea")
    company = companies[0] if companies else {}
    area = areas[0] if areas else {}
    legal_entity = maps.legal_entity_by_company_code.get(
        _text(company, "CompanyCode")
    ) or maps.legal_entity_by_sales_org.get(_text(area, "SalesOrganization"))
    terms_key = _text(company, "PaymentTerms") or _text(area, "CustomerPaymentTerms")
    addresses = _rows(entity, "to_BusinessPartnerAddress")
    taxes = _rows(entity, "to_BusinessPartnerTax")
    emails = _rows(addresses[0], "to_EmailAddress") if addresses else []
    if _text(entity, "BusinessPartnerCategory") == ORGANIZATION:
        name = _text(entity, "OrganizationBPName1") + _text(entity, "OrganizationBPName2")
    else:
        name = _text(entity, "BusinessPartnerFullName")
    blocked = entity.get("BusinessPartnerIsBlocked") is True
    return ErpCustomer(
        erp_id=number,
        document_number=number,
        status=CustomerStatus.BLOCKED if blocked else CustomerStatus.ACTIVE,
        legal_name=name,
        display_name=_text(entity, "SearchTerm1") or None,
        legal_entity=legal_entity,
        currency=_text(area, "Currency") or None,
        external_ref=_text(entity, "BusinessPartnerIDByExtSystem") or None,
        gateway_ref=_text(entity, GATEWAY_REF_FIELD) or None,
        tax_id=(_text(taxes[0], "BPTaxNumber") or None) if taxes else None,
        email=(_text(emails[0], "EmailAddress") or None) if emails else None,
        payment_terms=maps.terms_by_key.get(terms_key),
        credit_limit=_decimal(entity, CREDIT_LIMIT_FIELD),
        addresses=_addresses_of(addresses),
    )


def _addresses_of(rows: Sequence[Mapping[str, Any]]) -> tuple[CustomerAddress, ...]:
    """The standard address is the billing one; a second, the shipping one (as the adapter
    writes them); rows maintained by hand that do not fit the canonical schema are left out."""
    typed = zip(rows, (AddressType.BILLING, AddressType.SHIPPING), strict=False)
    found = (_address_of(row, kind) for row, kind in typed)
    return tuple(a for a in found if a is not None)


def _address_of(row: Mapping[str, Any], kind: AddressType) -> CustomerAddress | None:
    try:
        return CustomerAddress(
            type=kind,
            line1=_text(row, "StreetName"),
            line2=_text(row, "StreetSuffixName") or None,
            city=_text(row, "CityName"),
            postal_code=_text(row, "PostalCode"),
            region=_text(row, "Region") or None,
            country=_text(row, "Country"),
        )
    except ValidationError:
        return None  # an address maintained in SAP by hand may not fit the canonical schema


def order_status(entity: Mapping[str, Any]) -> tuple[SalesOrderStatus, HoldReason | None]:
    """The canonical status of an A_SalesOrder from its header statuses.

    Billed is as far as the order itself knows; whether the invoice is paid needs the billing
    documents (see `with_payment`).
    """
    if _text(entity, "OverallSDDocumentRejectionSts") == "C":
        return SalesOrderStatus.CANCELLED, None
    if _text(entity, "OverallSDProcessStatus") == "C":
        return SalesOrderStatus.INVOICED, None
    delivery = _text(entity, "OverallDeliveryStatus")
    if delivery == "C":
        return SalesOrderStatus.SHIPPED, None
    if delivery == "B" or _text(entity, "OverallSDProcessStatus") == "B":
        return SalesOrderStatus.IN_FULFILLMENT, None
    if _text(entity, "TotalCreditCheckStatus") == "B":
        return SalesOrderStatus.ON_HOLD, HoldReason.CREDIT
    if _text(entity, "DeliveryBlockReason"):
        return SalesOrderStatus.ON_HOLD, HoldReason.DELIVERY
    return SalesOrderStatus.ACCEPTED, None


def sales_order_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpSalesOrder:
    number = _required(entity, "SalesOrder")
    items = _rows(entity, "to_Item")
    status, hold = order_status(entity)
    net = _amount(entity, "TotalNetAmount")
    open_items = [item for item in items if not _text(item, "SalesDocumentRjcnReason")]
    tax = sum((_amount(item, "TaxAmount") for item in open_items), Decimal("0.00"))
    return ErpSalesOrder(
        erp_id=number,
        document_number=number,
        status=status,
        hold_reason=hold,
        customer_erp_id=_required(entity, "SoldToParty"),
        currency=_required(entity, "TransactionCurrency"),
        lines=[_line_of(item, maps) for item in items],
        net_amount=net,
        tax_amount=tax if items else None,
        total_amount=net + tax if items else None,
        requested_delivery_date=date_of(entity.get("RequestedDeliveryDate")),
        external_ref=_text(entity, "PurchaseOrderByCustomer") or None,
        gateway_ref=_text(entity, GATEWAY_REF_FIELD) or None,
    )


def _line_of(item: Mapping[str, Any], maps: SapMaps) -> ErpLine:
    material = _required(item, "Material")
    quantity = _quantity(item, "RequestedQuantity")
    amount = _amount(item, "NetAmount")
    unit_price = _decimal(item, "NetPriceAmount")
    if unit_price is None:
        unit_price = (amount / quantity).quantize(_CENT) if quantity else amount
    return ErpLine(
        sku=maps.sku_by_material.get(material, material),
        quantity=quantity,
        unit_price=unit_price,
        amount=amount,
    )


def with_payment(order: ErpSalesOrder, invoices: Sequence[ErpInvoice]) -> ErpSalesOrder:
    """An invoiced order whose every live invoice is cleared is paid."""
    live = [i for i in invoices if i.status is not InvoiceStatus.CANCELLED]
    paid = bool(live) and all(i.status is InvoiceStatus.PAID for i in live)
    if order.status is SalesOrderStatus.INVOICED and paid:
        return replace(order, status=SalesOrderStatus.PAID)
    return order


def open_item_etags(entity: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(item number, ETag) of each item not yet rejected, for the cancel PATCHes."""
    pairs = []
    for item in _rows(entity, "to_Item"):
        if _text(item, "SalesDocumentRjcnReason"):
            continue
        metadata = item.get("__metadata")
        etag = metadata.get("etag") if isinstance(metadata, dict) else None
        pairs.append((_required(item, "SalesOrderItem"), etag if isinstance(etag, str) else "*"))
    return pairs


def document_numbers(rows: Sequence[Mapping[str, Any]], field: str) -> list[str]:
    """The distinct document numbers of item rows, in order of appearance."""
    return list(dict.fromkeys(_required(row, field) for row in rows))


def shipment_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpShipment:
    number = _required(entity, "DeliveryDocument")
    items = _rows(entity, "to_DeliveryDocumentItem")
    issued = _text(entity, "OverallGoodsMovementStatus") == "C"
    return ErpShipment(
        erp_id=number,
        document_number=number,
        sales_order_erp_id=_text(items[0], "ReferenceSDDocument") if items else "",
        status=ShipmentStatus.SHIPPED if issued else ShipmentStatus.PENDING,
        shipped_at=date_of(entity.get("ActualGoodsMovementDate")) if issued else None,
        lines=[
            ErpShipmentLine(
                sku=maps.sku_by_material.get(_text(i, "Material"), _text(i, "Material")),
                quantity=_quantity(i, "ActualDeliveryQuantity"),
            )
            for i in items
        ],
    )


def invoice_from_sap(entity: Mapping[str, Any]) -> ErpInvoice:
    number = _required(entity, "BillingDocument")
    items = _rows(entity, "to_Item")
    if entity.get("BillingDocumentIsCancelled") is True:
        status = InvoiceStatus.CANCELLED
    elif _text(entity, "InvoiceClearingStatus") == "C":
        status = InvoiceStatus.PAID
    else:
        status = InvoiceStatus.OPEN
    return ErpInvoice(
        erp_id=number,
        document_number=number,
        sales_order_erp_id=(_text(items[0], "SalesDocument") or None) if items else None,
        status=status,
        currency=_required(entity, "TransactionCurrency"),
        net_amount=_amount(entity, "TotalNetAmount"),
        tax_amount=_decimal(entity, "TotalTaxAmount"),
        total_amount=_amount(entity, "TotalGrossAmount"),
        invoice_date=date_of(entity.get("BillingDocumentDate")),
    )


def quote_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpQuote:
    items = _rows(entity, "to_Item")
    net = _amount(entity, "TotalNetAmount")
    tax = _decimal(entity, "TotalTaxAmount")
    if tax is None:
        tax = sum((_amount(item, "TaxAmount") for item in items), Decimal("0.00"))
    total = _decimal(entity, "TotalGrossAmount")
    blocked = _text(entity, "TotalCreditCheckStatus") == "B"
    return ErpQuote(
        currency=_required(entity, "TransactionCurrency"),
        lines=[_line_of(item, maps) for item in items],
        net_amount=net,
        tax_amount=tax,
        total_amount=total if total is not None else net + tax,
        credit_check=CreditCheck.WOULD_BLOCK if blocked else CreditCheck.PASSED,
    )


# --- SAP errors -> canonical problems ---------------------------------------------------------


class Subject(StrEnum):
    """What the refused request was, so that SAP's targets become pointers into it."""

    CUSTOMER = "customer"
    SALES_ORDER = "sales_order"  # also a quote: the same fields
    CANCEL = "cancel"  # no request body: nothing to point at
    READ = "read"


# SAP message numbers (class/number) the ERP uses for refusals a CRM user can fix.
SAP_MESSAGE_CODES: dict[str, Code] = {
    "V1/392": Code.UNKNOWN_SKU,  # material does not exist
    "V1/841": Code.PRICE_MISMATCH,  # customer expected price differs from the net price
    "CVI_API/012": Code.TAX_ID_REQUIRED,
    "CVI_API/011": Code.INVALID_PAYMENT_TERMS,
    "V1/212": Code.INVALID_PAYMENT_TERMS,
    "V1/302": Code.CUSTOMER_NOT_FOUND,  # sold-to party does not exist
    "V1/324": Code.CUSTOMER_LEGAL_ENTITY_MISMATCH,  # sold-to not in the order's sales area
    "V1/446": Code.INVALID_STATE,  # subsequent documents exist (delivered, billed)
}

# SAP's error targets do not say which address; the billing one is the partner's standard address.
BILLING_ADDRESS = "/addresses/0"
_CUSTOMER_POINTERS = {
    "OrganizationBPName1": "/legal_name",
    "OrganizationBPName2": "/legal_name",
    "SearchTerm1": "/display_name",
    "BusinessPartnerIDByExtSystem": "/external_ref",
    CREDIT_LIMIT_FIELD: "/credit_limit",
    "BPTaxNumber": "/tax_id",
    "BPTaxType": "/tax_id",
    "EmailAddress": "/email",
    "StreetName": BILLING_ADDRESS + "/line1",
    "StreetSuffixName": BILLING_ADDRESS + "/line2",
    "CityName": BILLING_ADDRESS + "/city",
    "PostalCode": BILLING_ADDRESS + "/postal_code",
    "Region": BILLING_ADDRESS + "/region",
    "Country": BILLING_ADDRESS + "/country",
    "PaymentTerms": "/payment_terms",
    "CustomerPaymentTerms": "/payment_terms",
    "CompanyCode": "/legal_entity",
    "SalesOrganization": "/legal_entity",
    "DistributionChannel": "/legal_entity",
    "Division": "/legal_entity",
    "Currency": "/currency",
}
_ORDER_POINTERS = {
    "SoldToParty": "/customer_id",
    "SalesOrderType": "/legal_entity",
    "SalesOrganization": "/legal_entity",
    "DistributionChannel": "/legal_entity",
    "OrganizationDivision": "/legal_entity",
    "TransactionCurrency": "/currency",
    "RequestedDeliveryDate": "/requested_delivery_date",
    "PurchaseOrderByCustomer": "/external_ref",
    "CustomerPaymentTerms": "/customer_id",  # the order takes the customer's terms
}
_ITEM_FIELDS = {
    "Material": "product_id",
    "RequestedQuantity": "quantity",
    "RequestedQuantityUnit": "quantity",
    "ConditionRateValue": "price/amount",
}
_DEFAULT_POINTERS = {
    Code.TAX_ID_REQUIRED: "/tax_id",
    Code.INVALID_PAYMENT_TERMS: "/payment_terms",
    Code.CUSTOMER_NOT_FOUND: "/customer_id",
    Code.CUSTOMER_LEGAL_ENTITY_MISMATCH: "/customer_id",
}


@dataclass(frozen=True)
class SapMessage:
    code: str
    message: str
    target: str


def sap_messages(body: Any) -> list[SapMessage]:
    """The error details of an SAP error envelope (the top-level message if there are none)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise SapAnswerError("not an SAP error envelope")
    message = error.get("message")
    text = message.get("value") if isinstance(message, dict) else message
    top = SapMessage(str(error.get("code", "")), str(text or "The ERP refused the request."), "")
    inner = error.get("innererror")
    details = inner.get("errordetails") if isinstance(inner, dict) else None
    messages = [
        SapMessage(str(d.get("code", "")), str(d.get("message", "")), str(d.get("target") or ""))
        for d in details or []
        if isinstance(d, dict) and d.get("severity", "error") == "error" and d.get("message")
    ]
    return messages or [top]


def pointer_for(target: str, subject: Subject, code: Code) -> str:
    """The JSON pointer into the canonical request that an SAP error target names."""
    if subject in (Subject.CANCEL, Subject.READ):
        return ""
    field = _KEY_SUFFIX_RE.sub("", target.rstrip("/").rsplit("/", 1)[-1])
    if subject is Subject.SALES_ORDER:
        item = _ITEM_TARGET_RE.search(target)
        if item is not None:
            line = f"/items/{int(item[1]) // ITEM_STEP - 1}"
            return f"{line}/{_ITEM_FIELDS[field]}" if field in _ITEM_FIELDS else line
        pointer = _ORDER_POINTERS.get(field)
    else:
        pointer = _CUSTOMER_POINTERS.get(field)
    return pointer or _DEFAULT_POINTERS.get(code, "")


def at_billing_address(error: GatewayError, index: int) -> GatewayError:
    """`error` with its address pointers moved to where the request has its billing address."""
    prefix = BILLING_ADDRESS + "/"
    if index:
        error.errors = [
            FieldError(f"/addresses/{index}/" + e.pointer.removeprefix(prefix), e.detail)
            if e.pointer.startswith(prefix)
            else e
            for e in error.errors
        ]
    return error


def error_from_sap(body: Any, subject: Subject) -> GatewayError:
    """An SAP business refusal as one problem: the first detail's code, every detail's pointer.

    SAP's own message texts are kept for the user; unknown message numbers are erp_rejected.
    """
    messages = sap_messages(body)
    codes = [SAP_MESSAGE_CODES.get(m.code, Code.ERP_REJECTED) for m in messages]
    errors = [
        FieldError(pointer_for(m.target, subject, code), m.message)
        for m, code in zip(messages, codes, strict=True)
    ]
    detail = "; ".join(dict.fromkeys(m.message for m in messages))
    if subject in (Subject.CANCEL, Subject.READ):
        errors = []
    return GatewayError(codes[0], detail, errors)


def technical_error(status: int, *, write: bool, retry_after: str | None = None) -> ErpFailure:
    """A non-business HTTP status from SAP as a retryable technical problem."""
    headers = {"Retry-After": retry_after} if retry_after else {}
    if status in (401, 403):
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            "The ERP refused the gateway's logon; an operator must check the backend credentials.",
            headers=headers,
        )
    if status in (408, 504):
        return ErpFailure(
            Code.ERP_TIMEOUT,
            "The ERP did not answer in time; the outcome is unknown. Retry the same request with "
            "the same Idempotency-Key.",
            headers=headers,
            ambiguous=write,
        )
    if status == 429 or status >= 500:
        return ErpFailure(
            Code.ERP_UNAVAILABLE, f"The ERP is unavailable (HTTP {status}).", headers=headers
        )
    return ErpFailure(Code.ERP_BAD_RESPONSE, f"The ERP answered with an unexpected HTTP {status}.")
