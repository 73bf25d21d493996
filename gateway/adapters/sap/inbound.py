"""SAP answers to canonical results: business partners, sales orders and their status, deliveries,
billing documents and simulated quotes. Pure functions; an answer of the wrong shape raises
`SapAnswerError`.

Not the payloads sent (see `outbound.py`) nor refusals (see `errors.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
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
)
from gateway.adapters.sap.odata import (
    amount_of,
    date_of,
    decimal_of,
    one_of,
    quantity_of,
    required_text,
    rows_of,
    text_of,
)
from gateway.adapters.sap.services import CREDIT_LIMIT_FIELD, GATEWAY_REF_FIELD, ORGANIZATION
from gateway.adapters.sap.value_maps import SapMaps
from gateway.domain.models import (
    AddressType,
    CreditCheck,
    CustomerAddress,
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    SalesOrderStatus,
    ShipmentStatus,
)

_CENT = Decimal("0.01")


def customer_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpCustomer:
    number = required_text(entity, "BusinessPartner")
    customer = one_of(entity, "to_Customer") or {}
    companies = rows_of(customer, "to_CustomerCompany")
    areas = rows_of(customer, "to_CustomerSalesArea")
    company = companies[0] if companies else {}
    area = areas[0] if areas else {}
    legal_entity = maps.legal_entity_by_company_code.get(
        text_of(company, "CompanyCode")
    ) or maps.legal_entity_by_sales_org.get(text_of(area, "SalesOrganization"))
    terms_key = text_of(company, "PaymentTerms") or text_of(area, "CustomerPaymentTerms")
    addresses = rows_of(entity, "to_BusinessPartnerAddress")
    taxes = rows_of(entity, "to_BusinessPartnerTax")
    emails = rows_of(addresses[0], "to_EmailAddress") if addresses else []
    if text_of(entity, "BusinessPartnerCategory") == ORGANIZATION:
        name = text_of(entity, "OrganizationBPName1") + text_of(entity, "OrganizationBPName2")
    else:
        name = text_of(entity, "BusinessPartnerFullName")
    blocked = entity.get("BusinessPartnerIsBlocked") is True
    return ErpCustomer(
        erp_id=number,
        document_number=number,
        status=CustomerStatus.BLOCKED if blocked else CustomerStatus.ACTIVE,
        legal_name=name,
        display_name=text_of(entity, "SearchTerm1") or None,
        legal_entity=legal_entity,
        currency=text_of(area, "Currency") or None,
        external_ref=text_of(entity, "BusinessPartnerIDByExtSystem") or None,
        gateway_ref=text_of(entity, GATEWAY_REF_FIELD) or None,
        tax_id=(text_of(taxes[0], "BPTaxNumber") or None) if taxes else None,
        email=(text_of(emails[0], "EmailAddress") or None) if emails else None,
        payment_terms=maps.terms_by_key.get(terms_key),
        credit_limit=decimal_of(entity, CREDIT_LIMIT_FIELD),
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
            line1=text_of(row, "StreetName"),
            line2=text_of(row, "StreetSuffixName") or None,
            city=text_of(row, "CityName"),
            postal_code=text_of(row, "PostalCode"),
            region=text_of(row, "Region") or None,
            country=text_of(row, "Country"),
        )
    except ValidationError:
        return None  # an address maintained in SAP by hand may not fit the canonical schema


def order_status(entity: Mapping[str, Any]) -> tuple[SalesOrderStatus, HoldReason | None]:
    """The canonical status of an A_SalesOrder from its header statuses.

    Billed is as far as the order itself knows; whether the invoice is paid needs the billing
    documents (see `with_payment`).
    """
    if text_of(entity, "OverallSDDocumentRejectionSts") == "C":
        return SalesOrderStatus.CANCELLED, None
    if text_of(entity, "OverallSDProcessStatus") == "C":
        return SalesOrderStatus.INVOICED, None
    delivery = text_of(entity, "OverallDeliveryStatus")
    if delivery == "C":
        return SalesOrderStatus.SHIPPED, None
    if delivery == "B" or text_of(entity, "OverallSDProcessStatus") == "B":
        return SalesOrderStatus.IN_FULFILLMENT, None
    if text_of(entity, "TotalCreditCheckStatus") == "B":
        return SalesOrderStatus.ON_HOLD, HoldReason.CREDIT
    if text_of(entity, "DeliveryBlockReason"):
        return SalesOrderStatus.ON_HOLD, HoldReason.DELIVERY
    return SalesOrderStatus.ACCEPTED, None


def sales_order_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpSalesOrder:
    number = required_text(entity, "SalesOrder")
    items = rows_of(entity, "to_Item")
    status, hold = order_status(entity)
    net = amount_of(entity, "TotalNetAmount")
    open_items = [item for item in items if not text_of(item, "SalesDocumentRjcnReason")]
    tax = sum((amount_of(item, "TaxAmount") for item in open_items), Decimal("0.00"))
    return ErpSalesOrder(
        erp_id=number,
        document_number=number,
        status=status,
        hold_reason=hold,
        customer_erp_id=required_text(entity, "SoldToParty"),
        currency=required_text(entity, "TransactionCurrency"),
        lines=[_line_of(item, maps) for item in items],
        net_amount=net,
        tax_amount=tax if items else None,
        total_amount=net + tax if items else None,
        requested_delivery_date=date_of(entity.get("RequestedDeliveryDate")),
        external_ref=text_of(entity, "PurchaseOrderByCustomer") or None,
        gateway_ref=text_of(entity, GATEWAY_REF_FIELD) or None,
    )


def _line_of(item: Mapping[str, Any], maps: SapMaps) -> ErpLine:
    material = required_text(item, "Material")
    quantity = quantity_of(item, "RequestedQuantity")
    amount = amount_of(item, "NetAmount")
    unit_price = decimal_of(item, "NetPriceAmount")
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
    for item in rows_of(entity, "to_Item"):
        if text_of(item, "SalesDocumentRjcnReason"):
            continue
        metadata = item.get("__metadata")
        etag = metadata.get("etag") if isinstance(metadata, dict) else None
        pairs.append(
            (required_text(item, "SalesOrderItem"), etag if isinstance(etag, str) else "*")
        )
    return pairs


def document_numbers(rows: Sequence[Mapping[str, Any]], field: str) -> list[str]:
    """The distinct document numbers of item rows, in order of appearance."""
    return list(dict.fromkeys(required_text(row, field) for row in rows))


def shipment_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpShipment:
    number = required_text(entity, "DeliveryDocument")
    items = rows_of(entity, "to_DeliveryDocumentItem")
    issued = text_of(entity, "OverallGoodsMovementStatus") == "C"
    return ErpShipment(
        erp_id=number,
        document_number=number,
        sales_order_erp_id=text_of(items[0], "ReferenceSDDocument") if items else "",
        status=ShipmentStatus.SHIPPED if issued else ShipmentStatus.PENDING,
        shipped_at=date_of(entity.get("ActualGoodsMovementDate")) if issued else None,
        lines=[
            ErpShipmentLine(
                sku=maps.sku_by_material.get(text_of(i, "Material"), text_of(i, "Material")),
                quantity=quantity_of(i, "ActualDeliveryQuantity"),
            )
            for i in items
        ],
    )


def invoice_from_sap(entity: Mapping[str, Any]) -> ErpInvoice:
    number = required_text(entity, "BillingDocument")
    items = rows_of(entity, "to_Item")
    if entity.get("BillingDocumentIsCancelled") is True:
        status = InvoiceStatus.CANCELLED
    elif text_of(entity, "InvoiceClearingStatus") == "C":
        status = InvoiceStatus.PAID
    else:
        status = InvoiceStatus.OPEN
    return ErpInvoice(
        erp_id=number,
        document_number=number,
        sales_order_erp_id=(text_of(items[0], "SalesDocument") or None) if items else None,
        status=status,
        currency=required_text(entity, "TransactionCurrency"),
        net_amount=amount_of(entity, "TotalNetAmount"),
        tax_amount=decimal_of(entity, "TotalTaxAmount"),
        total_amount=amount_of(entity, "TotalGrossAmount"),
        invoice_date=date_of(entity.get("BillingDocumentDate")),
    )


def quote_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpQuote:
    items = rows_of(entity, "to_Item")
    net = amount_of(entity, "TotalNetAmount")
    tax = decimal_of(entity, "TotalTaxAmount")
    if tax is None:
        tax = sum((amount_of(item, "TaxAmount") for item in items), Decimal("0.00"))
    total = decimal_of(entity, "TotalGrossAmount")
    blocked = text_of(entity, "TotalCreditCheckStatus") == "B"
    return ErpQuote(
        currency=required_text(entity, "TransactionCurrency"),
        lines=[_line_of(item, maps) for item in items],
        net_amount=net,
        tax_amount=tax,
        total_amount=total if total is not None else net + tax,
        credit_check=CreditCheck.WOULD_BLOCK if blocked else CreditCheck.PASSED,
    )
