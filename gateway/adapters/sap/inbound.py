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
from gateway.adapters.prices import minor_unit, unit_price
from gateway.adapters.sap.names import organization_name
from gateway.adapters.sap.odata import (
    SapAnswerError,
    amount_of,
    date_of,
    decimal_of,
    one_of,
    quantity_of,
    required_text,
    rows_of,
    sap_number,
    text_of,
)
from gateway.adapters.sap.services import (
    CREDIT_LIMIT_FIELD,
    GATEWAY_REF_FIELD,
    ORGANIZATION,
    SIMULATE_CREDIT,
    SIMULATE_PRICING,
    TAX_CONDITION_CLASS,
)
from gateway.adapters.sap.value_maps import SapMaps
from gateway.adapters.value_maps import CREDIT_STATUS, LEGAL_ENTITY, PAYMENT_TERMS, SKU
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


def customer_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpCustomer:
    shown = required_text(entity, "BusinessPartner")
    customer = one_of(entity, "to_Customer") or {}
    companies = rows_of(customer, "to_CustomerCompany")
    areas = rows_of(customer, "to_CustomerSalesArea")
    company = companies[0] if companies else {}
    area = areas[0] if areas else {}
    legal_entity = _legal_entity(company, area, maps)
    terms_key = text_of(company, "PaymentTerms") or text_of(area, "CustomerPaymentTerms")
    addresses = rows_of(entity, "to_BusinessPartnerAddress")
    taxes = rows_of(entity, "to_BusinessPartnerTax")
    emails = rows_of(addresses[0], "to_EmailAddress") if addresses else []
    if text_of(entity, "BusinessPartnerCategory") == ORGANIZATION:
        name = organization_name(entity)
    else:
        name = text_of(entity, "BusinessPartnerFullName")
    blocked = entity.get("BusinessPartnerIsBlocked") is True
    return ErpCustomer(
        erp_id=sap_number(shown),
        document_number=shown,
        status=CustomerStatus.BLOCKED if blocked else CustomerStatus.ACTIVE,
        legal_name=name,
        display_name=text_of(entity, "SearchTerm1") or None,
        legal_entity=legal_entity,
        currency=text_of(area, "Currency") or None,
        external_ref=text_of(entity, "BusinessPartnerIDByExtSystem") or None,
        gateway_ref=text_of(entity, GATEWAY_REF_FIELD) or None,
        tax_id=(text_of(taxes[0], "BPTaxNumber") or None) if taxes else None,
        email=(text_of(emails[0], "EmailAddress") or None) if emails else None,
        payment_terms=maps.unmapped.canonical(maps.terms_by_key, PAYMENT_TERMS, terms_key),
        credit_limit=decimal_of(entity, CREDIT_LIMIT_FIELD),
        addresses=_addresses_of(addresses),
    )


def _legal_entity(company: Mapping[str, Any], area: Mapping[str, Any], maps: SapMaps) -> str | None:
    """The legal entity of the partner's company code, else of its sales organization; None,
    reported, when it has one the maps do not know."""
    company_code = text_of(company, "CompanyCode")
    sales_org = text_of(area, "SalesOrganization")
    legal_entity = maps.legal_entity_by_company_code.get(
        company_code
    ) or maps.legal_entity_by_sales_org.get(sales_org)
    if legal_entity is None and (company_code or sales_org):
        maps.unmapped.report(LEGAL_ENTITY, company_code or sales_org)
    return legal_entity


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


# TotalCreditCheckStatus (SAP's domain CMGST): blank, not checked (or not relevant); A, checked
# and OK; B, checked and not OK; C, not OK and only partly released; D, released by a credit
# representative. B and C hold the order; a letter outside the list is reported and holds it
# too, so that a block the gateway cannot read never reads as cleared.
_CREDIT_CLEARED = frozenset({"", "A", "D"})
_CREDIT_BLOCKED = frozenset({"B", "C"})


def credit_blocked(status: str, maps: SapMaps) -> bool:
    """Whether SAP's credit check status holds the document."""
    if status in _CREDIT_CLEARED:
        return False
    if status not in _CREDIT_BLOCKED:
        maps.unmapped.report(CREDIT_STATUS, status)
    return True


def order_status(
    entity: Mapping[str, Any], maps: SapMaps
) -> tuple[SalesOrderStatus, HoldReason | None]:
    """The canonical status of an A_SalesOrder as far as its header tells.

    Once a delivery exists the order is in fulfilment; whether its goods are issued (shipped)
    or it is billed is for the delivery and billing documents to say (see `with_follow_on`):
    SAP sets the order's delivery status when the delivery is created, not at goods issue.
    """
    if text_of(entity, "OverallSDDocumentRejectionSts") == "C":
        return SalesOrderStatus.CANCELLED, None
    if delivery_status(entity) in ("B", "C"):
        return SalesOrderStatus.IN_FULFILLMENT, None
    if credit_blocked(text_of(entity, "TotalCreditCheckStatus"), maps):
        return SalesOrderStatus.ON_HOLD, HoldReason.CREDIT
    if text_of(entity, "DeliveryBlockReason"):
        return SalesOrderStatus.ON_HOLD, HoldReason.DELIVERY
    return SalesOrderStatus.ACCEPTED, None


def delivery_status(entity: Mapping[str, Any]) -> str:
    """A: not delivered, B: partly, C: fully. Newer releases name it OverallDeliveryStatus;
    every release has OverallTotalDeliveryStatus."""
    return text_of(entity, "OverallDeliveryStatus") or text_of(entity, "OverallTotalDeliveryStatus")


def with_follow_on(
    order: ErpSalesOrder,
    goods_movements: Sequence[str],
    invoices: Sequence[ErpInvoice],
    *,
    fully_delivered: bool,
) -> ErpSalesOrder:
    """An order in fulfilment, moved on by its follow-on documents: the goods-movement status
    of each delivery item (C: goods issued) and the billing documents; paid when every live
    billing document is cleared."""
    if order.status is not SalesOrderStatus.IN_FULFILLMENT:
        return order
    live = [i for i in invoices if i.status is not InvoiceStatus.CANCELLED]
    issued = [movement == "C" for movement in goods_movements]
    if live:
        paid = all(i.status is InvoiceStatus.PAID for i in live)
        status = SalesOrderStatus.PAID if paid else SalesOrderStatus.INVOICED
    elif issued and all(issued) and fully_delivered:
        status = SalesOrderStatus.SHIPPED
    elif any(issued):
        status = SalesOrderStatus.PARTIALLY_SHIPPED
    else:
        return order
    return replace(order, status=status)


def sales_order_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpSalesOrder:
    shown = required_text(entity, "SalesOrder")
    items = rows_of(entity, "to_Item")
    status, hold = order_status(entity, maps)
    net = amount_of(entity, "TotalNetAmount")
    currency = required_text(entity, "TransactionCurrency")
    open_items = [item for item in items if not text_of(item, "SalesDocumentRjcnReason")]
    tax = _tax_of(open_items, currency) if items else None
    return ErpSalesOrder(
        erp_id=sap_number(shown),
        document_number=shown,
        status=status,
        hold_reason=hold,
        customer_erp_id=sap_number(required_text(entity, "SoldToParty")),
        currency=currency,
        lines=[_line_of(item, currency, maps) for item in items],
        net_amount=net,
        tax_amount=tax,
        total_amount=net + tax if tax is not None else None,
        requested_delivery_date=date_of(entity.get("RequestedDeliveryDate")),
        external_ref=text_of(entity, "PurchaseOrderByCustomer") or None,
        gateway_ref=text_of(entity, GATEWAY_REF_FIELD) or None,
    )


def _tax_of(items: Sequence[Mapping[str, Any]], currency: str) -> Decimal | None:
    """The items' tax: each item's TaxAmount where the release has it, else its tax pricing
    elements; None when an item carries neither (its pricing elements were not expanded).
    Counted from zero in the currency's minor unit: no tax at all is 0 yen, 0.00 euros."""
    total = Decimal(0).quantize(minor_unit(currency))
    for item in items:
        tax = _item_tax(item)
        if tax is None:
            return None
        total += tax
    return total


def _item_tax(item: Mapping[str, Any]) -> Decimal | None:
    if item.get("TaxAmount") is not None:
        return amount_of(item, "TaxAmount")
    elements = item.get("to_PricingElement")
    if not isinstance(elements, (dict, list)) or (
        isinstance(elements, dict) and "__deferred" in elements
    ):
        return None
    return sum(
        (
            amount_of(element, "ConditionAmount")
            for element in rows_of(item, "to_PricingElement")
            if text_of(element, "ConditionClass") == TAX_CONDITION_CLASS
            and element.get("ConditionIsForStatistics") is not True
        ),
        Decimal(0),
    )


def _line_of(item: Mapping[str, Any], currency: str, maps: SapMaps) -> ErpLine:
    material = required_text(item, "Material")
    quantity = quantity_of(item, "RequestedQuantity")
    amount = amount_of(item, "NetAmount")
    return ErpLine(
        sku=_sku(material, maps),
        quantity=quantity,
        # No release has the item's net price (NetPriceAmount): net value over quantity, in
        # the currency's minor unit at least (149 yen, not 149.00).
        unit_price=unit_price(amount / quantity, minor_unit(currency)) if quantity else amount,
        amount=amount,
    )


def _sku(material: str, maps: SapMaps) -> str:
    """The material's SKU; one the maps do not know shows as SAP's material number, reported."""
    return maps.unmapped.canonical(maps.sku_by_material, SKU, material) or material


def open_items(entity: Mapping[str, Any]) -> list[str]:
    """The numbers of the order's items not yet rejected, for the cancel PATCHes."""
    return [
        required_text(item, "SalesOrderItem")
        for item in rows_of(entity, "to_Item")
        if not text_of(item, "SalesDocumentRjcnReason")
    ]


def document_numbers(rows: Sequence[Mapping[str, Any]], field: str) -> list[str]:
    """The distinct document numbers of item rows, in order of appearance."""
    return list(dict.fromkeys(sap_number(required_text(row, field)) for row in rows))


def shipment_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpShipment:
    shown = required_text(entity, "DeliveryDocument")
    items = rows_of(entity, "to_DeliveryDocumentItem")
    issued = text_of(entity, "OverallGoodsMovementStatus") == "C"
    order = text_of(items[0], "ReferenceSDDocument") if items else ""
    return ErpShipment(
        erp_id=sap_number(shown),
        document_number=shown,
        sales_order_erp_id=sap_number(order) if order else "",
        status=ShipmentStatus.SHIPPED if issued else ShipmentStatus.PENDING,
        shipped_at=date_of(entity.get("ActualGoodsMovementDate")) if issued else None,
        lines=[
            ErpShipmentLine(
                sku=_sku(text_of(i, "Material"), maps),
                quantity=quantity_of(i, "ActualDeliveryQuantity"),
            )
            for i in items
        ],
    )


def invoice_from_sap(entity: Mapping[str, Any]) -> ErpInvoice:
    shown = required_text(entity, "BillingDocument")
    items = rows_of(entity, "to_Item")
    order = text_of(items[0], "SalesDocument") if items else ""
    if entity.get("BillingDocumentIsCancelled") is True:
        status = InvoiceStatus.CANCELLED
    elif text_of(entity, "InvoiceClearingStatus") == "C":
        status = InvoiceStatus.PAID
    else:
        status = InvoiceStatus.OPEN
    # The billing document's tax is TaxAmount; TotalTaxAmount is read only where a service
    # sends it unasked (no release we know of declares it).
    tax = decimal_of(entity, "TaxAmount")
    return ErpInvoice(
        erp_id=sap_number(shown),
        document_number=shown,
        sales_order_erp_id=sap_number(order) if order else None,
        status=status,
        currency=required_text(entity, "TransactionCurrency"),
        net_amount=amount_of(entity, "TotalNetAmount"),
        tax_amount=tax if tax is not None else decimal_of(entity, "TotalTaxAmount"),
        total_amount=amount_of(entity, "TotalGrossAmount"),
        invoice_date=date_of(entity.get("BillingDocumentDate")),
    )


def quote_from_sap(entity: Mapping[str, Any], maps: SapMaps) -> ErpQuote:
    """A_SalesOrderSimulation's answer: the totals under to_Pricing and the credit status under
    to_Credit (the header has neither), tax from the items."""
    items = rows_of(entity, "to_Item")
    pricing = one_of(entity, SIMULATE_PRICING)
    credit = one_of(entity, SIMULATE_CREDIT)
    if pricing is not None:
        net = amount_of(pricing, "TotalNetAmount")
    elif entity.get("TotalNetAmount") is not None:
        net = amount_of(entity, "TotalNetAmount")
    else:
        raise SapAnswerError(f"no totals: {SIMULATE_PRICING} is missing")
    currency = required_text(entity, "TransactionCurrency")
    tax = _tax_of(items, currency)
    status = text_of(credit if credit is not None else entity, "TotalCreditCheckStatus")
    return ErpQuote(
        currency=currency,
        lines=[_line_of(item, currency, maps) for item in items],
        net_amount=net,
        tax_amount=tax,
        total_amount=net + tax if tax is not None else None,
        credit_check=(
            CreditCheck.WOULD_BLOCK if credit_blocked(status, maps) else CreditCheck.PASSED
        ),
    )
